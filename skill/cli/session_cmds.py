"""Subcommands for live sessions: run (the default)."""

from __future__ import annotations

import argparse

from skill.cli.routine_cmds import add_tempo_option, check_tempo, open_events
from skill.history import History
from skill.routine import load_routine
from skill.session import run_text_session


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="a guided session (the default when no command is given)")
    p.add_argument("routine", nargs="?", help="name or path (default: the built-in routine)")
    p.add_argument("--text", action="store_true", help="in the terminal: print what it says, type commands")
    p.add_argument("--events", metavar="FILE", help="write the session's events as JSON lines")
    add_tempo_option(p, default=None)
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("history", help="recent sessions and your current streak")
    p.add_argument("-n", type=int, default=10, help="how many sessions to show (default 10)")
    p.set_defaults(func=cmd_history)


def cmd_run(args: argparse.Namespace) -> int:
    routine = load_routine(args.routine)
    tempo = check_tempo(args.tempo)
    with open_events(args.events) as events:
        run_text_session(routine, tempo=tempo, events=events)
    return 0


def cmd_history(args: argparse.Namespace) -> int:
    history = History()
    sessions = history.recent(args.n)
    if not sessions:
        print("No sessions yet. Tonight's the night: run bedtime-stretch.")
        return 0
    print("when              routine               minutes  stretches  tempo  finished")
    for s in sessions:
        start = s.started_at.astimezone()
        minutes = f"{(s.ended_at - s.started_at).total_seconds() / 60:5.1f}" if s.ended_at else "    -"
        done = "yes" if s.completed else ("no" if s.ended_at else "interrupted")
        print(f"{start:%Y-%m-%d %H:%M}  {s.routine[:20]:20}  {minutes:>7}  {s.stretches_done:9d}  "
              f"{s.tempo:5.2f}  {done}")
    streak = history.streak()
    nights = "night" if streak == 1 else "nights"
    print(f"\nCurrent streak: {streak} {nights} in a row.")
    return 0
