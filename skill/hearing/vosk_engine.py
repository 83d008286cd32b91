"""Vosk with a model on disk (none can be had here): a grammar of the phrases, its own [unk] and word
confidences."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from skill.audio import ASR_RATE, FRAME
from skill.errors import UserError
from skill.hearing.commands import normalize
from skill.hearing.endpointer import MAX_COMMAND_SECONDS, voiced_span
from skill.hearing.recognition import Recognition, phrase_intent, to_pcm16, with_dither

log = logging.getLogger(__name__)


class VoskEngine:
    """Vosk with a grammar of the phrases plus "[unk]", loaded by path (never Model(lang=...): that
    downloads silently)."""

    name = "vosk"
    MIN_WORD_CONFIDENCE = 0.65

    def __init__(self, model_path: Path, phrases: Sequence[str]):
        try:
            import vosk
        except OSError as err:  # its libvosk.so did not load, e.g. no libatomic.so.1 on arm64
            raise UserError(f"the Vosk library does not load ({err}); run scripts/setup (on arm64 it installs "
                            "libatomic1), or use --engine pocketsphinx") from None

        vosk.SetLogLevel(-1)
        try:
            self._model = vosk.Model(str(model_path))
        except Exception as err:
            raise UserError(f"{model_path}: not a usable Vosk model ({err}); run "
                            "`bedtime-stretch models download` again") from None
        self._phrases = list(phrases)
        self._grammar = json.dumps([*self._phrases, "[unk]"])
        self._vosk = vosk

    def decode(self, samples: np.ndarray) -> Recognition:
        samples = with_dither(samples)
        rec = self._vosk.KaldiRecognizer(self._model, ASR_RATE, self._grammar)
        rec.SetWords(True)
        rec.AcceptWaveform(to_pcm16(samples))
        result = json.loads(rec.FinalResult())
        words = result.get("result", [])
        text = normalize(result.get("text", ""))
        seconds = len(samples) / ASR_RATE
        if not words or "[unk]" in result.get("text", ""):
            return Recognition(None, text, 0.0, 0.0, seconds, "not a command")
        confidence = float(min(w.get("conf", 0.0) for w in words))
        t0, t1 = float(words[0]["start"]), float(words[-1]["end"])
        _, first, last = voiced_span(samples)
        speech = (last - first + 1) * FRAME / ASR_RATE
        intent = phrase_intent(text) if text in self._phrases else None
        if intent is None:
            return Recognition(None, text, confidence, t0, t1, "not a whole phrase")
        if speech > MAX_COMMAND_SECONDS:
            return Recognition(None, text, confidence, t0, t1, f"too long for a command ({speech:.1f} s)")
        if confidence < self.MIN_WORD_CONFIDENCE:
            return Recognition(None, text, confidence, t0, t1, f"unsure ({confidence:.2f})", candidate=intent,
                               coverage=confidence)
        return Recognition(intent, text, confidence, t0, t1)
