"""Offline command recognition: the Recognizer protocol, the engines behind it, and rejection.

Audio is cut into utterances by an energy endpointer (shared by the engines), and the loud part of each is
decoded against a grammar of the command phrases, then judged. Vosk weighs its own "[unk]" and word
confidences; pocketsphinx has the steady noise taken out first, and a small learnt model
(skill/data/rejection.json) weighs how well the phrase explains the audio against the best any sound
could, how its words cover the speech, whether a second search of the grammar agrees, and durations.
Everything else is "no command": a partner talking, breathing, the guide's own sentences."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import soxr

from skill.audio import ASR_RATE, FRAME, AudioChunk, frame_db, read_wav, resample
from skill.errors import UserError
from skill.hearing.commands import all_phrases
from skill.hearing.endpointer import StreamRecognizer
from skill.hearing.pocketsphinx_engine import PocketsphinxEngine
from skill.hearing.recognition import Engine, Recognition, phrase_intent
from skill.hearing.vosk_engine import VoskEngine

log = logging.getLogger(__name__)


def open_engine(engine: str = "auto", phrases: Sequence[str] | None = None, quiet: bool = False,
                personal: bool = True) -> Engine:
    """The engine, and over it the person's own voice model when they enrolled one (`personal`)."""
    general = _open_general(engine, phrases, quiet)
    if not personal:
        return general
    from skill.hearing.personal import PersonalEngine, load_personal_model

    model = load_personal_model()
    if model is None:
        return general
    log.info("using your personal voice model (%d takes)", len(model.labels))
    return PersonalEngine(general, model, {i for p in (phrases or all_phrases()) if (i := phrase_intent(p))})


def _open_general(engine: str, phrases: Sequence[str] | None, quiet: bool) -> Engine:
    from skill.hearing.models import find_vosk_model

    phrases = list(phrases or all_phrases())
    if engine not in ("auto", "vosk", "pocketsphinx"):
        raise UserError(f"--engine {engine}: must be auto, vosk or pocketsphinx")
    if engine in ("auto", "vosk"):
        model = find_vosk_model()
        if model is not None:
            return VoskEngine(model, phrases)
        if engine == "vosk":
            raise UserError("no Vosk model installed: run `bedtime-stretch models download`, or use --engine "
                            "pocketsphinx")
        if not quiet:
            log.warning("using the built-in recognizer; `bedtime-stretch models download` improves accuracy")
    return PocketsphinxEngine(phrases)


def open_recognizer(engine: str = "auto", phrases: Sequence[str] | None = None,
                    quiet: bool = False) -> StreamRecognizer:
    return StreamRecognizer(open_engine(engine, phrases, quiet))


def recognize_samples(engine: Engine, samples: np.ndarray, rate: int) -> Recognition:
    """A whole recording (any rate) as one utterance, with a little quiet padded around it."""
    return engine.decode(as_utterance(samples, rate))


def as_utterance(samples: np.ndarray, rate: int) -> np.ndarray:
    """A recording (any rate) at 16 kHz with 0.3 s of its own background either side, as the endpointer
    would hand it over."""
    audio = resample(samples, rate, ASR_RATE)
    pad = background(audio, int(0.3 * ASR_RATE))
    return _crossfade(_crossfade(pad, audio), pad)


SPLICE = FRAME // 2
"""Samples over which padding and recording are blended: a butt joint is a step, and a step is a click."""


def background(audio: np.ndarray, n: int) -> np.ndarray:
    """`n` samples of the recording's own background: its quietest fifth of frames, overlapped and added.

    Padding with the recording's own noise, as a live stream would continue, keeps its spectrum: a white
    pad at the level of a low rumble (brown noise) sounds like a hiss burst and ruins the decode. The
    frames are blended under sine windows (whose squares sum to one at half overlap, so the noise keeps its
    power): laid end to end, a rumble's frames meet at different heights, and each step clicks like the
    start of a word.
    """
    levels = frame_db(audio)
    if len(levels) == 0:
        return np.zeros(n, np.float32)
    quiet = np.sort(np.argsort(levels)[: max(1, len(levels) // 5)])
    frames = audio[: len(levels) * FRAME].reshape(len(levels), FRAME)[quiet].astype(np.float64)
    window = np.sin(np.pi * (np.arange(FRAME) + 0.5) / FRAME)
    out = np.zeros(n + 2 * FRAME)
    for k, start in enumerate(range(0, n + FRAME, SPLICE)):
        out[start: start + FRAME] += frames[k % len(frames)] * window
    return out[SPLICE: SPLICE + n].astype(np.float32)


def _crossfade(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """`a` then `b`, the last SPLICE samples of one blended into the first of the other (at constant power,
    as both are noise where they meet)."""
    k = min(SPLICE, len(a), len(b))
    if k == 0:
        return np.concatenate([a, b]).astype(np.float32)
    angle = np.linspace(0, np.pi / 2, k)
    joint = a[len(a) - k:] * np.cos(angle) + b[:k] * np.sin(angle)
    return np.concatenate([a[: len(a) - k], joint, b[k:]]).astype(np.float32)


LONG_RECORDING_SECONDS = 30.0
"""A recording longer than this is not one command: it is listened to as a stream, utterance by utterance."""


def recognize_file(engine: Engine, path: str | Path) -> Recognition:
    samples, rate = read_wav(path)
    return recognize_samples(engine, samples, rate)


def recognize_stream_file(engine: Engine, path: str | Path) -> Iterator[Recognition]:
    """Each utterance of a long recording, read a second at a time through the endpointer (an hour costs
    a second of memory, not the hour), with its start and end in seconds from the top."""
    from skill.wav_reader import wav_blocks

    fmt, blocks = wav_blocks(path)
    stream = soxr.ResampleStream(fmt.rate, ASR_RATE, 1, dtype="float32") if fmt.rate != ASR_RATE else None
    recognizer = StreamRecognizer(engine)
    t = 0.0
    for block in blocks:
        audio = stream.resample_chunk(block) if stream is not None else block
        yield from recognizer.feed(AudioChunk.from_samples(audio, ASR_RATE, timestamp=t))
        t += len(audio) / ASR_RATE
    tail = np.zeros(ASR_RATE, np.float32)  # a second of quiet ends an utterance still open at the end
    if stream is not None:
        tail = np.concatenate([stream.resample_chunk(np.zeros(0, np.float32), last=True), tail])
    yield from recognizer.feed(AudioChunk.from_samples(tail, ASR_RATE, timestamp=t))
    yield from recognizer.flush()
