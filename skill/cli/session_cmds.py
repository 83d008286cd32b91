"""Subcommands for live sessions: run (the default)."""

from __future__ import annotations

import argparse

from skill.cli.routine_cmds import add_tempo_option, check_tempo, open_events
from skill.routine import load_routine
from skill.session import run_text_session


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="a guided session (the default when no command is given)")
    p.add_argument("routine", nargs="?", help="name or path (default: the built-in routine)")
    p.add_argument("--text", action="store_true", help="in the terminal: print what it says, type commands")
    p.add_argument("--events", metavar="FILE", help="write the session's events as JSON lines")
    add_tempo_option(p)
    p.set_defaults(func=cmd_run)


def cmd_run(args: argparse.Namespace) -> int:
    routine = load_routine(args.routine)
    tempo = check_tempo(args.tempo)
    with open_events(args.events) as events:
        run_text_session(routine, tempo=tempo, events=events)
    return 0
