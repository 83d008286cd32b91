"""Subcommands for live sessions: run (the default), serve, history, doctor."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from skill.cli.listen_cmds import add_engine_option
from skill.cli.routine_cmds import add_tempo_option, check_tempo, open_events
from skill.cli.speech_cmds import add_voice_option
from skill.records.history import History
from skill.routine.definition import load_routine
from skill.session.lock import one_session
from skill.session.wiring import run_text_session
from skill.speaking.preparing import preparing_in_background

if TYPE_CHECKING:
    from skill.session.live import AudioOptions


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text}: give 1 or more")
    return value


def add_device_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--input-device", metavar="NAME|INDEX", help="the microphone (part of its name; see devices)")
    p.add_argument("--output-device", metavar="NAME|INDEX", help="the speaker (part of its name; see devices)")
    p.add_argument("--noise", action="store_true", help="a soft background rumble under the voice")
    add_engine_option(p)
    add_voice_option(p)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="a guided session (the default when no command is given)")
    p.add_argument("routine", nargs="?", help="name or path (default: the built-in routine)")
    p.add_argument("--text", action="store_true", help="in the terminal: print what it says, type commands")
    p.add_argument("--events", metavar="FILE", help="write the session's events as JSON lines")
    add_tempo_option(p, default=None)
    add_device_options(p)
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("serve", help="bedside service: idle until \"start stretching\", run a session, repeat")
    p.add_argument("routine", nargs="?", help="name or path (default: the built-in routine)")
    add_device_options(p)
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("history", help="recent sessions and your current streak")
    p.add_argument("-n", type=_count, default=10, help="how many sessions to show (default 10)")
    p.set_defaults(func=cmd_history)

    p = sub.add_parser("doctor", help="check the microphone, speaker, models, voice and cache; say what to fix")
    add_device_options(p)
    p.set_defaults(func=cmd_doctor)


def _audio_options(args: argparse.Namespace) -> AudioOptions:
    from skill.session.live import AudioOptions

    return AudioOptions(input_device=args.input_device, output_device=args.output_device, engine=args.engine,
                        noise=args.noise)


def notice(text: str) -> None:
    print(f"bedtime-stretch: {text}", flush=True)


def cmd_run(args: argparse.Namespace) -> int:
    routine = load_routine(args.routine)
    tempo = check_tempo(args.tempo)
    with one_session("run --text" if args.text else "run"), open_events(args.events) as events:
        if args.text:
            run_text_session(routine, tempo=tempo, events=events)
            return 0
        from skill.session.live import run_audio_session

        with preparing_in_background(args.routine, args.voice, tempo or History().preferences().tempo,
                                     notice) as cache:
            run_audio_session(routine, cache, _audio_options(args), tempo=tempo, events=events)
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from skill.session.live import serve

    with one_session("serve"):
        serve(args.routine, args.voice, _audio_options(args))
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


def cmd_doctor(args: argparse.Namespace) -> int:
    from skill.cli import doctor

    findings = doctor.run_checks(doctor.all_checks(args.input_device, args.output_device, args.voice))
    print(doctor.report(findings))
    return 0 if all(f.ok for f in findings) else 1
