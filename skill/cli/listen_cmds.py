"""Subcommands of this area (placeholder until the area lands)."""

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    """Add this area's subcommands to the parser."""
