"""The guide's own words (skill/data/phrases.toml), with a routine's overrides."""

from __future__ import annotations

import tomllib
from functools import cache
from pathlib import Path
from typing import Any

_DEFAULTS = Path(__file__).parent / "data" / "phrases.toml"


@cache
def default_phrases() -> dict[str, Any]:
    with _DEFAULTS.open("rb") as f:
        return tomllib.load(f)


class Phrases:
    def __init__(self, overrides: dict[str, Any] | None = None):
        self._table = {**default_phrases(), **(overrides or {})}

    def say(self, key: str, **values: object) -> str:
        return str(self._table[key]).format(**values)

    def lines(self, key: str) -> list[str]:
        return list(self._table[key])

    def number(self, n: int) -> str:
        """A count as the voice should say it: "Three" (words up to twenty, then digits)."""
        words = self._table["count"]
        return words[n - 1] if 1 <= n <= len(words) else str(n)

    def minutes(self, minutes: int) -> str:
        if minutes <= 1:
            return self.say("minute_one")
        return self.say("minute_many", n=minutes)
