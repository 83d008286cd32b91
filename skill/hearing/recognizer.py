"""Offline command recognition: the Recognizer protocol, the engines behind it, and rejection.

Audio is cut into utterances by an energy endpointer (shared by the engines), and the loud part of each is
judged. The command spotter (the default without Vosk's model) names the command, or none, from the speech
embeddings of the utterance. Vosk decodes against a grammar of the command phrases and weighs its own
"[unk]" and word confidences; pocketsphinx (`--engine pocketsphinx`, and the bedside service's wake
phrases) has the steady noise taken out first, and a small learnt model
(skill/data/rejection.json) weighs how well the phrase explains the audio against the best any sound
could, how its words cover the speech, whether a second search of the grammar agrees, and durations.
Everything else is "no command": a partner talking, breathing, the guide's own sentences."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import soxr

from skill.audio import ASR_RATE, AudioChunk, read_wav
from skill.errors import UserError
from skill.hearing.commands import all_phrases
from skill.hearing.endpointer import StreamRecognizer
from skill.hearing.padding import as_utterance
from skill.hearing.pocketsphinx_engine import PocketsphinxEngine
from skill.hearing.recognition import ENGINES, Engine, Recognition, phrase_intent
from skill.hearing.spotter import SpotterEngine
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
    if engine not in ENGINES:
        raise UserError(f"--engine {engine}: must be {', '.join(ENGINES[:-1])} or {ENGINES[-1]}")
    if engine in ("auto", "vosk"):
        model = find_vosk_model()
        if model is not None:
            return VoskEngine(model, phrases)
        if engine == "vosk":
            raise UserError("no Vosk model installed: run `bedtime-stretch models download`, or use --engine "
                            "spotter")
        if not quiet:
            log.warning("using the built-in recognizer (the command spotter); `bedtime-stretch models download` "
                        "installs Vosk's model")
    if engine in ("auto", "spotter") and set(phrases) <= set(all_phrases()):
        try:
            return SpotterEngine(phrases)
        except Exception as err:  # a damaged install must not cost the session its hearing
            if engine == "spotter":
                raise UserError(f"the command spotter did not load ({err}); reinstall with scripts/setup") from err
            log.warning("the command spotter did not load (%s): pocketsphinx listens instead", err)
    # the bedside service's wake phrases are none of the spotter's commands: a grammar hears them
    return PocketsphinxEngine(phrases)


def open_recognizer(engine: str = "auto", phrases: Sequence[str] | None = None,
                    quiet: bool = False) -> StreamRecognizer:
    return StreamRecognizer(open_engine(engine, phrases, quiet))


def recognize_samples(engine: Engine, samples: np.ndarray, rate: int) -> Recognition:
    """A whole recording (any rate) as one utterance, with a little quiet padded around it."""
    return engine.decode(as_utterance(samples, rate))


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
