"""Subcommands for the voice: prepare, render, devices."""

from __future__ import annotations

import argparse
from pathlib import Path

from skill.cli.routine_cmds import add_tempo_option, check_tempo
from skill.errors import UserError
from skill.routine.definition import load_routine
from skill.speaking.preparing import prepare, prepare_on_request, unwritable


def add_voice_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--voice", metavar="PATH.onnx", help="a Piper voice (default: the bundled en_US joe voice)")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("prepare", help="render every phrase of a routine once, so sessions never wait")
    p.add_argument("routine", nargs="?", help="name or path (default: the built-in routine)")
    add_voice_option(p)
    add_tempo_option(p)
    # a session's child: phrases in spoken order, the asked-for ones first (speaking/background.py)
    p.add_argument("--background", action="store_true", help=argparse.SUPPRESS)
    p.set_defaults(func=cmd_prepare)

    p = sub.add_parser("render", help="the whole guided session as one WAV file")
    p.add_argument("routine", nargs="?", help="name or path (default: the built-in routine)")
    p.add_argument("-o", "--output", required=True, metavar="FILE.wav", help="where to write it")
    p.add_argument("--noise", action="store_true", help="a soft background rumble under the voice")
    add_voice_option(p)
    add_tempo_option(p)
    p.set_defaults(func=cmd_render)

    p = sub.add_parser("devices", help="list microphones and speakers")
    p.set_defaults(func=cmd_devices)


def cmd_prepare(args: argparse.Namespace) -> int:
    if args.background:
        prepare_on_request(args.routine, args.voice, check_tempo(args.tempo) or 1.0)
        return 0
    cache = prepare(args.routine, args.voice, check_tempo(args.tempo) or 1.0, strict=True)
    if cache.write_error is not None:
        raise unwritable(cache, cache.write_error)
    print(f"All phrases ready in {cache.folder}")
    return 0


def cmd_render(args: argparse.Namespace) -> int:
    from skill.speaking.render import render

    out = Path(args.output)
    if out.suffix.lower() != ".wav":
        raise UserError(f"-o {out}: the output is a WAV file: give it a .wav name")
    if out.is_dir():
        raise UserError(f"-o {out}: that is a folder: give the file's name, e.g. {out / 'session.wav'}")
    if not out.parent.is_dir():
        raise UserError(f"-o {out}: the folder {out.parent} does not exist")
    tempo = check_tempo(args.tempo) or 1.0
    cache = prepare(args.routine, args.voice, tempo)
    seconds, _ = render(load_routine(args.routine), cache, out, tempo=tempo, noise=args.noise)
    print(f"{out}: {int(seconds // 60)} min {seconds % 60:04.1f} s")
    return 0


def cmd_devices(args: argparse.Namespace) -> int:
    from skill.devices import describe

    print(describe())
    return 0
