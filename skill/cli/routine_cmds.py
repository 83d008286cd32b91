"""Subcommands about routines and the session engine: check, routines, show, simulate, run."""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from skill.session.loop import LogEvent, simulate
from skill.errors import UserError
from skill.routine.pacer import TEMPO_MAX, TEMPO_MIN
from skill.routine.definition import available_routines, load_routine, load_routine_file, routine_dirs


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("check", help="validate a routine file")
    p.add_argument("file", help="a routine .toml file")
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("routines", help="list the built-in routines and your own")
    p.set_defaults(func=cmd_routines)

    p = sub.add_parser("show", help="print a routine's script as it will be spoken")
    p.add_argument("routine", nargs="?", help="name or path (default: the built-in routine)")
    p.set_defaults(func=cmd_show)

    p = sub.add_parser("simulate", help="run a whole session on a virtual clock, in well under a second")
    p.add_argument("routine", nargs="?", help="name or path (default: the built-in routine)")
    p.add_argument("--command", action="append", default=[], metavar="T:PHRASE",
                   help="a phrase heard at session time T seconds, e.g. 95:slower (repeatable)")
    p.add_argument("--events", metavar="FILE", help="write the events as JSON lines (- for stdout)")
    add_tempo_option(p)
    p.set_defaults(func=cmd_simulate)


def add_tempo_option(p: argparse.ArgumentParser, default: float | None = 1.0) -> None:
    remembered = "the pace you last set" if default is None else str(default)
    p.add_argument("--tempo", type=float, default=default,
                   help=f"pace: above 1 is slower, below 1 faster ({TEMPO_MIN}-{TEMPO_MAX}, default {remembered})")


def check_tempo(tempo: float | None) -> float | None:
    if tempo is not None and not TEMPO_MIN <= tempo <= TEMPO_MAX:
        raise UserError(f"--tempo {tempo}: must be between {TEMPO_MIN} and {TEMPO_MAX} (1 is the normal pace)")
    return tempo


def cmd_check(args: argparse.Namespace) -> int:
    from skill.session.rehearsal import rehearse

    routine = load_routine_file(args.file)
    rehearsal = rehearse(routine)
    sides = sum(len(s.sides) for s in routine.stretches)
    print(f"{args.file}: ok: {routine.name}, {len(routine.stretches)} stretches, {sides} sides, "
          f"{rehearsal.seconds / 60:.0f} min at the normal pace")
    return 0


def cmd_routines(args: argparse.Namespace) -> int:
    user = routine_dirs()[-1]
    found = available_routines()
    for name, path in found.items():
        where = "yours" if path.parent == user else "built-in"
        try:
            title = load_routine_file(path).name
        except UserError as err:
            title = f"(broken: {err})"
        print(f"{name}\t{where}\t{title}")
    print(f"(your own routines go in {user})", file=sys.stderr)
    return 0


def _clock(t: float) -> str:
    return f"{int(t // 60):2d}:{int(t % 60):02d}"


def cmd_show(args: argparse.Namespace) -> int:
    routine = load_routine(args.routine)
    print(f"{routine.name}  ({routine.path})")
    for item in simulate(routine):
        if item.event == "stretch":
            side = f", {item.data['side']} side" if item.data["side"] else ""
            rep = f", round {item.data['repetition']}" if item.data["repetition"] > 1 else ""
            print(f"\n[{item.data['index']}. {item.data['name']}{side}{rep}]")
        elif item.event == "say":
            print(f"{_clock(item.t)}  {item.data['text']}")
        elif item.event == "chime":
            print(f"{_clock(item.t)}  ~ chime ~")
        elif item.event == "end":
            print(f"\n{_clock(item.t)}  (end)")
    return 0


def parse_command_option(spec: str) -> tuple[float, str]:
    time_text, sep, phrase = spec.partition(":")
    try:
        t = float(time_text)
    except ValueError:
        t = -1.0
    if not sep or not phrase.strip() or t < 0:
        raise UserError(f"--command {spec!r}: expected SECONDS:PHRASE, e.g. --command 95:slower")
    return t, phrase.strip()


@contextlib.contextmanager
def open_events(path: str | None) -> Iterator[IO[str] | None]:
    if path is None:
        yield None
    elif path == "-":
        yield sys.stdout
    else:
        try:
            with Path(path).open("w", encoding="utf-8") as f:
                yield f
        except OSError as err:
            raise UserError(f"--events {path}: cannot write it: {err.strerror}") from None


def cmd_simulate(args: argparse.Namespace) -> int:
    routine = load_routine(args.routine)
    commands = sorted(parse_command_option(c) for c in args.command)
    with open_events(args.events) as stream:
        events = simulate(routine, commands, tempo=check_tempo(args.tempo) or 1.0, stream=stream)
    if args.events != "-":
        print(summary(events))
    return 0


def summary(events: list[LogEvent]) -> str:
    end = next(e for e in reversed(events) if e.event == "end")
    stretches = [e for e in events if e.event == "stretch"]
    heard = [e for e in events if e.event == "command"]
    names: dict[str, None] = {}
    for e in stretches:
        names.setdefault(e.data["name"], None)
    return (f"session: {_clock(end.t).strip()} ({end.t:.0f} s), {'completed' if end.data['completed'] else 'stopped'}; "
            f"{len(names)} stretches, {len(stretches)} sides or rounds; "
            f"{sum(e.event == 'say' for e in events)} things said; "
            f"{len(heard)} commands heard ({sum(e.data['intent'] != 'none' for e in heard)} understood)")
