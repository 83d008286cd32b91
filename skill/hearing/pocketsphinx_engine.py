"""pocketsphinx with its wheel's en-us model: noise reduction, a grammar of the command phrases, a
search of common English words to compete with it, and the learnt rejection."""

from __future__ import annotations

import logging
import math
import tempfile
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from skill import paths
from skill.audio import ASR_RATE, FRAME
from skill.hearing.commands import normalize
from skill.hearing.denoise import reduce_noise
from skill.hearing.endpointer import MAX_COMMAND_SECONDS, MIN_COMMAND_SECONDS, voiced_span
from skill.hearing.recognition import Recognition, phrase_intent, to_pcm16, with_dither
from skill.hearing.rejection import Evidence, RejectionModel

log = logging.getLogger(__name__)

GARBAGE_WORDS_FILE = paths.PACKAGE_DATA / "garbage_words.txt"
"""Common English words that are not commands, and other assistants' wake words (scripts/make_garbage_words.py):
the competition a command phrase must beat."""
GARBAGE_BEAM, GARBAGE_WORD_BEAM = 1e-30, 1e-20
"""The garbage search's pruning (pocketsphinx's defaults are 1e-48 and 7e-29)."""


def pronunciations(dictionary: Path, words: set[str]) -> str:
    """The lines of a pronouncing dictionary for `words` (their alternative pronunciations too).

    The decoder needs no others: with all 134 000 words of cmudict it took 1.16 s of CPU to start, 0.8 s
    of it the common words' language-model search setting up for every word it knows; at a 25 % CPU quota
    that held the session's microphone back until 10 s of its audio were lost. With these, 0.18 s."""
    return "".join(line + "\n" for line in dictionary.read_text().splitlines()
                   if line.split(" ", 1)[0].split("(", 1)[0] in words)


def unigram_arpa(words: Sequence[str]) -> str:
    """A language model in which any run of `words` is as likely as any other (each word, or the end, has
    the same chance next): the garbage search's loop of common words.

    A language model rather than a grammar because pocketsphinx searches it through a tree of the words'
    shared first phones, where a grammar's loop has every word's phones apart: the same competition at
    128 ms of CPU a clip instead of 320 (a quarter of the real-speech set here), its score correlating 0.95
    with the grammar's."""
    log_p = -math.log10(len(words) + 1)
    unigrams = "".join(f"{log_p:.6f} {w} 0\n" for w in ("</s>", *words))
    return f"\\data\\\nngram 1={len(words) + 2}\n\n\\1-grams:\n{unigrams}-99 <s> 0\n\n\\end\\\n"


class PocketsphinxEngine:
    """pocketsphinx 5 with the en-us model its wheel ships: noise reduction, a JSGF grammar of the phrases,
    and a learned judgement over what the decode says (its score against the best possible, how the
    words fit the speech, whether a lattice-rescored search of the same grammar agrees)."""

    name = "pocketsphinx"

    def __init__(self, phrases: Sequence[str], rejection: RejectionModel | None = None):
        from pocketsphinx import Decoder, get_model_path

        model = Path(get_model_path()) / "en-us"
        self._phrases = list(phrases)
        common = GARBAGE_WORDS_FILE.read_text().split()
        words = {w for p in self._phrases for w in p.split()} | set(common)
        with tempfile.TemporaryDirectory() as tmp:
            dictionary = Path(tmp) / "words.dict"
            dictionary.write_text(pronunciations(model / "cmudict-en-us.dict", words))
            # bestpath off: the lattice rescoring it enables often loses the grammar's final state and hands
            # back the start of a phrase ("where am" for "back"); the Viterbi path is the grammar's own
            self._decoder = Decoder(hmm=str(model / "en-us"), dict=str(dictionary), bestpath=False,
                                    loglevel="FATAL")
            self._logmath = self._decoder.get_logmath()
            grammar = "#JSGF V1.0;\ngrammar commands;\npublic <command> = " + " | ".join(
                f"( {p} )" for p in self._phrases) + " ;\n"
            self._decoder.add_jsgf_string("commands", grammar)
            # a search reads the config when it is added, so this one rescores its lattice and "commands"
            # does not
            self._decoder.config["bestpath"] = True
            self._decoder.add_jsgf_string("lattice", grammar)
            self._decoder.config["bestpath"] = False
            # the competitor needs only about the best words' score, not the best path: narrower beams cut
            # its search by an eighth (147 -> 128 ms a clip), and no second, flat pass; the rejection was
            # fitted on the margin it gives
            saved = {k: self._decoder.config[k] for k in ("beam", "wbeam", "fwdflat")}
            self._decoder.config["beam"], self._decoder.config["wbeam"] = GARBAGE_BEAM, GARBAGE_WORD_BEAM
            self._decoder.config["fwdflat"] = False
            arpa = Path(tmp) / "garbage.arpa"
            # (only the words the dictionary can pronounce)
            arpa.write_text(unigram_arpa([w for w in common if self._decoder.lookup_word(w)]))
            self._decoder.add_lm_file("garbage", str(arpa))
            for key, value in saved.items():
                self._decoder.config[key] = value
        self.rejection = rejection or RejectionModel.load()

    def _run(self, search: str, pcm: bytes) -> tuple[str, float, list[tuple[str, int, int]]]:
        d = self._decoder
        d.activate_search(search)
        d.start_utt()
        d.process_raw(pcm, full_utt=True)
        d.end_utt()
        hyp = d.hyp()
        segs = [(s.word, s.start_frame, s.end_frame) for s in (d.seg() or [])] if hyp else []
        # the score comes back as a probability; back to the log domain (an underflow means hopeless)
        score = self._logmath.log(hyp.score) if hyp and hyp.score > 0 else -1e9
        return (hyp.hypstr if hyp else ""), float(score), segs

    def examine(self, samples: np.ndarray) -> Evidence | None:
        """The evidence for the grammar's phrase in one utterance, every feature measured; None when the
        grammar matched no whole phrase (then it is not a command whatever the audio)."""
        return self._examine(with_dither(reduce_noise(samples)))

    def _examine(self, samples: np.ndarray, span: tuple[np.ndarray, int, int] | None = None,
                 judge: RejectionModel | None = None) -> Evidence | None:
        """`examine` on samples already denoised and dithered (and their `voiced_span`, when known). With a
        `judge`, the lattice search is run only where its answer could change that judge's decision."""
        pcm = to_pcm16(samples)
        text, score, segs = self._run("commands", pcm)
        text = normalize(text)
        intent = phrase_intent(text) if text in self._phrases else None
        if intent is None:
            return None
        voiced, first, last = span if span is not None else voiced_span(samples)
        # pocketsphinx frames are 10 ms; ours are 20 ms
        words = np.zeros(len(voiced), bool)
        word_frames = 0
        for word, start, end in segs:
            if not word.startswith(("<", "[", "+")):
                words[start // 2: end // 2 + 1] = True
                word_frames += end - start + 1
        coverage = float(np.sum(voiced & words) / max(1, np.sum(voiced)))
        word_frames = max(1, word_frames)
        speech_seconds = (last - first + 1) * FRAME / ASR_RATE
        evidence = Evidence(
            text=text, intent=intent, start=first * FRAME / ASR_RATE, end=(last + 1) * FRAME / ASR_RATE,
            speech_seconds=speech_seconds, coverage=coverage,
            score_per_frame=score / word_frames, score_total=score / 1000,
            lattice_agrees=0.0, garbage_margin=0.0)
        if not evidence.command_length:
            # the second opinions only where the length allows a command (the garbage search is the dearest)
            return evidence
        _, garbage, _ = self._run("garbage", pcm)
        if garbage > -1e9:  # (a search pruned to nothing says nothing either way)
            # per 10 ms frame of 16-bit samples
            evidence = replace(evidence, garbage_margin=(score - garbage) / max(1, len(pcm) // 320))
        settled = judge.settled_without(evidence, "lattice_agrees", (0.0, 1.0)) if judge is not None else None
        if settled is not None:
            # neither answer changes the decision: the search (about as dear as the common words' now) is
            # not worth its CPU; in the real-speech set 26 of 188 phrase decodes needed it
            return replace(evidence, lattice_agrees=settled, lattice_searched=False)
        lattice, _, _ = self._run("lattice", pcm)
        return replace(evidence, lattice_agrees=float(normalize(lattice) == text))

    def decode(self, samples: np.ndarray) -> Recognition:
        samples = with_dither(reduce_noise(samples))
        span = voiced_span(samples)
        speech_seconds = (span[2] - span[1] + 1) * FRAME / ASR_RATE
        if not MIN_COMMAND_SECONDS <= speech_seconds <= MAX_COMMAND_SECONDS:
            # turned down by its length whatever the grammar makes of it: no search at all (the guide's echo
            # remains, seconds long, were most of the recognizer's work in a session)
            reason = "too short" if speech_seconds < MIN_COMMAND_SECONDS else \
                f"too long for a command ({speech_seconds:.1f} s)"
            return Recognition(None, "", 0.0, 0.0, len(samples) / ASR_RATE, reason)
        e = self._examine(samples, span, judge=self.rejection)
        if e is None:
            return Recognition(None, "", 0.0, 0.0, len(samples) / ASR_RATE, "not a whole phrase")
        confidence = self.rejection.probability(e)
        if e.speech_seconds > MAX_COMMAND_SECONDS:
            return Recognition(None, e.text, confidence, e.start, e.end,
                               f"too long for a command ({e.speech_seconds:.1f} s)")
        if e.speech_seconds < MIN_COMMAND_SECONDS:
            return Recognition(None, e.text, confidence, e.start, e.end, "too short")
        if confidence < self.rejection.threshold:
            return Recognition(None, e.text, confidence, e.start, e.end,
                               f"unsure ({confidence:.2f}: {e.score_per_frame:.0f} per frame, words cover "
                               f"{e.coverage:.2f} of the speech, {_confirmation(e)}, "
                               f"{e.garbage_margin:+.1f} per frame against common words)",
                               candidate=e.intent, coverage=e.coverage, margin=e.garbage_margin)
        return Recognition(e.intent, e.text, confidence, e.start, e.end, coverage=e.coverage, margin=e.garbage_margin)


def _confirmation(e: Evidence) -> str:
    """What the lattice search said, for a reason given to the person."""
    if not e.lattice_searched:
        return "no second search needed"
    return "confirmed" if e.lattice_agrees else "not confirmed"
