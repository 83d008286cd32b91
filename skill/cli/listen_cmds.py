"""Subcommands for listening: recognize, listen, models."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from skill.errors import UserError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from skill.hearing.recognition import Engine, Recognition


def add_engine_option(p: argparse.ArgumentParser) -> None:
    from skill.hearing.recognition import ENGINES

    p.add_argument("--engine", choices=ENGINES, default="auto",
                   help="recognizer (default auto: Vosk when its model is installed, else the command spotter; "
                        "pocketsphinx's grammar decode as it was before the spotter)")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("recognize", help="the command in each WAV file: FILE<TAB>INTENT per line (with -v: what "
                       "was heard, its score and why it was taken or not); a file over 30 s is listened to "
                       "as a stream: FILE<TAB>INTENT<TAB>at SECONDS per command in it")
    p.add_argument("files", nargs="+", metavar="FILE.wav")
    add_engine_option(p)
    p.set_defaults(func=cmd_recognize)

    p = sub.add_parser("listen", help="print what the microphone hears, live (for setting up a mic)")
    p.add_argument("--input-device", metavar="NAME|INDEX", help="the microphone (default: the system's)")
    add_engine_option(p)
    p.set_defaults(func=cmd_listen)

    p = sub.add_parser("models", help="speech models: list, download")
    p.add_argument("action", choices=("list", "download"))
    p.set_defaults(func=cmd_models)


def describe(rec: Recognition) -> str:
    """What was heard, its score, and why it was taken or not: one line, for `recognize -v` and `listen`."""
    intent = rec.intent.value if rec.intent else "none"
    why = rec.reason or "taken"
    return f"{intent:8} heard {rec.text or '(no phrase)'!r:26} score {rec.confidence:.2f}  {why}"


def cmd_recognize(args: argparse.Namespace) -> int:
    from skill.hearing.recognizer import LONG_RECORDING_SECONDS, open_engine, recognize_file, recognize_stream_file
    from skill.wav_reader import wav_format

    engine = open_engine(args.engine)
    failed = False
    for path in args.files:
        try:
            if wav_format(path).seconds > LONG_RECORDING_SECONDS:
                _recognize_long(engine, path, recognize_stream_file, args.verbose)
                continue
            rec = recognize_file(engine, path)
        except (OSError, EOFError, ValueError) as err:
            print(f"bedtime-stretch: {path}: cannot read it as a WAV file ({err})", file=sys.stderr)
            failed = True
            continue
        detail = f"\t{describe(rec)}" if args.verbose else ""
        print(f"{path}\t{rec.intent.value if rec.intent else 'none'}{detail}", flush=True)
    return 1 if failed else 0


def _recognize_long(engine: Engine, path: str, stream: Callable[[Engine, str], Iterable[Recognition]],
                    verbose: bool) -> None:
    """A long recording: a line per command heard in it, `FILE<TAB>INTENT<TAB>at SECONDS`, or one `none`."""
    found = False
    for rec in stream(engine, path):
        if rec.intent is not None or verbose:
            found = found or rec.intent is not None
            detail = f"\t{describe(rec)}" if verbose else ""
            print(f"{path}\t{rec.intent.value if rec.intent else 'none'}\tat {rec.start:.1f}{detail}", flush=True)
    if not found and not verbose:
        print(f"{path}\tnone", flush=True)


def cmd_listen(args: argparse.Namespace) -> int:
    from skill.hearing.enroll import describe_in_use
    from skill.hearing.microphone import Microphone
    from skill.hearing.recognizer import open_recognizer

    recognizer = open_recognizer(args.engine)
    with Microphone(args.input_device) as mic:
        print(f"Listening on {mic.device.name} ({mic.rate} Hz). Say a command; Ctrl-C to stop.", file=sys.stderr)
        if args.verbose:
            print(f"Your voice model: {describe_in_use()}", file=sys.stderr)
        for chunk in mic.chunks():
            for rec in recognizer.feed(chunk):
                print(describe(rec), flush=True)
        if mic.lost:
            raise UserError("the microphone went away (unplugged?)")
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    from skill.hearing import models

    if args.action == "list":
        print(models.describe())
        return 0
    path = models.download(progress=models.stderr_progress("Downloading the Vosk model"))
    print(f"installed: {path}")
    return 0
