#!/usr/bin/env python3
"""Write skill/data/garbage_words.txt: the most frequent English words that are not command words.

Usage: .venv/bin/python scripts/make_garbage_words.py [--count N]
The words compete with the command phrases in the pocketsphinx engine's second search: a real "yes",
"bed" or "alexa" is explained better by ordinary words than by a command, so it is not taken for one.
Frequencies come from the unigrams of the en-us language model in the pocketsphinx wheel, words from its
pronouncing dictionary. A word is left out when it is a one-word command or sounds exactly like one
(cmudict: "weight" for "wait"), and so is the rarest word of any longer phrase the list could spell out
("go" of "go on"). Other voice assistants' wake words follow them: a person in bed talks to the other
assistants in the room, and "alexa", "computer" were heard as "let's start", "continue" (real recordings)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from skill.hearing.commands import WAKE_PHRASES, all_phrases  # noqa: E402
from skill.hearing.pocketsphinx_engine import GARBAGE_WORDS_FILE  # noqa: E402

OTHER_ASSISTANTS = ("alexa", "computer", "google", "siri", "jarvis", "hey", "okay")
"""Their wake words ("hey google", "okay google", "hey siri"), as words of the pronouncing dictionary."""


def by_frequency(lm: Path, dictionary: Path) -> list[str]:
    """Every word of the pronouncing dictionary, most frequent first (by the language model's unigrams)."""
    from pocketsphinx import NGramModel

    model = NGramModel.readfile(str(lm))
    words = {line.split()[0] for line in dictionary.read_text().splitlines() if line and "(" not in line.split()[0]}
    return sorted(words, key=lambda w: (-model.prob([w]), w))


def non_command_words(count: int) -> list[str]:
    """The `count` most frequent words that are neither a one-word command nor sound exactly like one."""
    from pocketsphinx import Decoder, get_model_path

    model = Path(get_model_path()) / "en-us"
    decoder = Decoder(hmm=str(model / "en-us"), dict=str(model / "cmudict-en-us.dict"), loglevel="FATAL")
    whole = {p[0] for p in _phrases() if len(p) == 1}
    sounds_like_a_command = {decoder.lookup_word(w) for w in whole}

    def allowed(word: str) -> bool:
        pronunciation = decoder.lookup_word(word)
        return word.replace("'", "").isalpha() and word not in whole and bool(pronunciation) \
            and pronunciation not in sounds_like_a_command

    ranked = by_frequency(model / "en-us.lm.bin", model / "cmudict-en-us.dict")
    chosen = [w for w in ranked if allowed(w)][:count]
    return chosen + [w for w in OTHER_ASSISTANTS if w not in chosen and allowed(w)]


def _phrases() -> list[list[str]]:
    return [p.split() for p in [*all_phrases(), *WAKE_PHRASES]]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--count", type=int, default=300)
    args = ap.parse_args()
    from pocketsphinx import get_model_path

    model = Path(get_model_path()) / "en-us"
    chosen = non_command_words(args.count)
    # a run of these words must not spell out a command ("go" "on"): drop the rarest word of each
    rank = {w: i for i, w in enumerate(by_frequency(model / "en-us.lm.bin", model / "cmudict-en-us.dict"))}
    for words in _phrases():
        if len(words) > 1 and all(w in chosen for w in words):
            chosen.remove(max(words, key=lambda w: rank.get(w, len(rank))))
    GARBAGE_WORDS_FILE.write_text("\n".join(chosen) + "\n")
    print(f"{GARBAGE_WORDS_FILE}: {len(chosen)} words")
    return 0


if __name__ == "__main__":
    sys.exit(main())
