"""The command line: one subcommand module per area, each with a `register(subparsers)`."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

from skill import __version__
from skill.cli import listen_cmds, routine_cmds, session_cmds, speech_cmds, voice_cmds
from skill.errors import UserError

_AREAS = (routine_cmds, speech_cmds, listen_cmds, voice_cmds, session_cmds)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bedtime-stretch",
        description="A calm voice guide through bedtime stretches for lower-back relief. "
        "With no command it runs a guided session.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="say what is heard, ignored and why")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for area in _AREAS:
        area.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    verbose = [a for a in argv[:1] if a in ("-v", "--verbose")]
    rest = argv[len(verbose):]
    if not rest or (rest[0].startswith("-") and rest[0] not in ("-h", "--help", "--version")):
        argv = [*verbose, "run", *rest]
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="bedtime-stretch: %(message)s")
    try:
        return int(args.func(args) or 0)
    except UserError as err:
        print(f"bedtime-stretch: {err}", file=sys.stderr)
        return err.exit_code
    except BrokenPipeError:
        # The reader went away (e.g. `| head`): not an error, and no traceback on the way out.
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115
        return 0
    except KeyboardInterrupt:
        print("\nbedtime-stretch: stopped.", file=sys.stderr)
        return 130
