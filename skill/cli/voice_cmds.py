"""Subcommands for the person's own voice: enroll."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("enroll", help="learn your voice: say each command three times when asked (two minutes); "
                       "the recognizer then hears you better")
    p.add_argument("--reset", action="store_true", help="forget your voice (the general recognizer alone again)")
    p.add_argument("--keep-recordings", action="store_true",
                   help="keep the takes (in the data dir, as COMMAND/N.wav); otherwise only the model is kept")
    p.add_argument("--commands", metavar="CMD,...", help="only these commands (default: all), e.g. stop,pause")
    p.add_argument("--from-files", type=Path, metavar="DIR",
                   help="learn from recordings instead of the microphone: DIR/COMMAND/*.wav, DIR/none/*.wav "
                   "(things that are not commands) and DIR/silence/*.wav (the room's quiet)")
    p.add_argument("--input-device", metavar="NAME|INDEX", help="the microphone (default: the system's)")
    p.add_argument("--output-device", metavar="NAME|INDEX", help="the speaker (default: the system's)")
    p.set_defaults(func=cmd_enroll)


def cmd_enroll(args: argparse.Namespace) -> int:
    from skill.hearing import enroll

    if args.reset:
        had = enroll.reset()
        print("Forgot your voice." if had else "There was no voice to forget.")
        return 0
    if args.from_files is not None:
        takes = enroll.takes_from_files(args.from_files)
    else:
        intents = enroll.parse_commands(args.commands)
        with enroll.LiveTakes(args.input_device, args.output_device) as live:
            takes = enroll.record(live, intents)
    model = enroll.save(takes, args.keep_recordings)
    enroll.main_message(model)
    return 0
