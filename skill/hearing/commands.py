"""The spoken command vocabulary: intents, the phrases that say them, and text -> Intent.

The same parser serves typed commands (`run --text`, `simulate --command`) and the recognizers, whose
grammars are built from `all_phrases()`, so a phrase added here is heard everywhere.
"""

from __future__ import annotations

import re
from enum import StrEnum


class Intent(StrEnum):
    START = "start"
    NEXT = "next"
    BACK = "back"
    REPEAT = "repeat"
    SLOWER = "slower"
    FASTER = "faster"
    PAUSE = "pause"
    RESUME = "resume"
    STOP = "stop"
    LOUDER = "louder"
    QUIETER = "quieter"
    HELP = "help"
    STATUS = "status"
    NO = "no"
    """Only ever undoes: keeps a session going in the seconds after a "stop"."""


# Every phrase is lower case words separated by single spaces, as a recognizer would write them.
PHRASES: dict[Intent, tuple[str, ...]] = {
    Intent.START: ("start", "begin", "ready", "i'm ready", "let's start", "start stretching"),
    Intent.NEXT: ("next", "next one", "next stretch", "skip"),
    Intent.BACK: ("back", "go back", "previous"),
    Intent.REPEAT: ("repeat", "again", "say that again"),
    Intent.SLOWER: ("slower", "slow down"),
    Intent.FASTER: ("faster", "speed up"),
    Intent.PAUSE: ("pause", "wait", "hold on"),
    Intent.RESUME: ("resume", "continue", "go on", "keep going"),
    Intent.STOP: ("stop", "stop stretching"),
    Intent.LOUDER: ("louder", "volume up"),
    Intent.QUIETER: ("quieter", "softer", "volume down"),
    Intent.HELP: ("help", "what can i say"),
    Intent.STATUS: ("what's next", "where am i", "how long", "how many left"),
    Intent.NO: ("no", "don't stop"),
}

# Phrases that wake the bedside service (`serve`) from idle listening.
WAKE_PHRASES: tuple[str, ...] = ("start stretching", "bedtime stretches")

# Intents that must cut in even while the assistant is speaking (barge-in).
URGENT: frozenset[Intent] = frozenset({Intent.PAUSE, Intent.STOP})

# Words people wrap around a command that do not change it.
_FILLERS = frozenset({"please", "okay", "ok", "um", "uh", "hmm", "now", "hey", "so", "and", "oh", "alright"})

_PHRASE_TO_INTENT: dict[str, Intent] = {p: intent for intent, ps in PHRASES.items() for p in ps}


def normalize(text: str) -> str:
    """Lower-case, unify apostrophes, drop punctuation and extra spaces: "What's next?" -> "what's next"."""
    text = text.lower().replace("\u2019", "'").replace("\u2018", "'")
    text = re.sub(r"[^a-z' ]+", " ", text)
    words = [w.strip("'") for w in text.split()]
    return " ".join(w for w in words if w)


def parse(text: str) -> Intent | None:
    """The intent a whole utterance says, or None.

    Strict on purpose: the utterance must be a command phrase, give or take polite fillers, so a sentence
    that merely contains a command word ("next, we'll do the bridge") is not a command.
    """
    words = [w for w in normalize(text).split() if w not in _FILLERS]
    return _PHRASE_TO_INTENT.get(" ".join(words))


def all_phrases() -> list[str]:
    """Every command phrase, each once, in a stable order (for recognizer grammars)."""
    seen: dict[str, None] = {}
    for ps in PHRASES.values():
        for p in ps:
            seen.setdefault(p, None)
    return list(seen)


def vocabulary() -> list[str]:
    """Every word of every command and wake phrase, each once."""
    words: dict[str, None] = {}
    for p in [*all_phrases(), *WAKE_PHRASES]:
        for w in p.split():
            words.setdefault(w, None)
    return list(words)
