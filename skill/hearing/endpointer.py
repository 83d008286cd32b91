"""Endpointing: a stream of microphone chunks cut into utterances (an energy endpointer shared by the
engines), each handed to an engine while the person is still settling after it."""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable

import numpy as np

from skill.audio import ASR_RATE, FRAME, AudioChunk, frame_db, resample
from skill.hearing.recognition import Engine, Recognition
from skill.stage_clock import stage

log = logging.getLogger(__name__)

MAX_COMMAND_SECONDS = 2.2
"""Longer speech is a sentence, not a command ("Repeat on the opposite side")."""
MIN_COMMAND_SECONDS = 0.12
HANGOVER_SECONDS = 0.22
"""Quiet after speech before the utterance is decoded: short, so commands act quickly."""
FAINT_HANGOVER_SECONDS = 0.4
"""While the guide talks, an utterance also ends after this long far below its loudest (PROMINENCE_DB): the
canceller's remains of the guide's voice stay above the room's floor, and held a "pause" said over a cue
open until the cue ended (0.9-1.3 s after the word under a 25 % CPU quota). Not shorter: applied to every
utterance, 0.4 s split 19 of 1265 synthetic clips in two (0.22 s: 60) and 0.6 s split 13."""
FLOOR_START_DB = -60.0
"""The floor never starts lower: a frame must be louder than this (and 10 dB over the floor) to be speech."""
SEED_SECONDS = 0.5
"""After a start or reset, the floor is the quietest frame of this much audio: rising from FLOOR_START_DB at
1 dB/s, it took 30 s to reach a real fan at -27 dBFS, and every frame until then was "speech": 4.2 s cuts,
and of felixchen's commands said 1 s in, 21 of 24 taken were decided late (by 1.8 s, median)."""
SEED_FRAMES = round(SEED_SECONDS * ASR_RATE / FRAME)
DIGITAL_SILENCE_DB = -90.0
"""Frames this quiet are a stream's start (zeros), not the room: they seed nothing."""
PREROLL_SECONDS = 0.25
PREROLL_FRAMES = int(PREROLL_SECONDS * ASR_RATE / FRAME)


def speech_levels(samples: np.ndarray) -> np.ndarray:
    """20 ms frame levels (dB) of the audio pre-emphasised as the recognizers' front ends do: a fan's rumble
    swings by 10 dB from frame to frame below 150 Hz, which would read as speech and stretch a command
    into a sentence."""
    emphasised = np.append(samples[:1], samples[1:] - 0.97 * samples[:-1])
    return frame_db(emphasised)


def voiced_span(samples: np.ndarray) -> tuple[np.ndarray, int, int]:
    """Which 20 ms frames are speech (well above the clip's own floor, by `speech_levels`), and the
    first/last such frame."""
    levels = speech_levels(samples)
    if len(levels) == 0:
        return np.zeros(0, bool), 0, -1
    floor = float(np.percentile(levels, 10))
    voiced = (levels > floor + 9.0) & (levels > -62.0)
    idx = np.nonzero(voiced)[0]
    return voiced, (int(idx[0]) if len(idx) else 0), (int(idx[-1]) if len(idx) else -1)


PROMINENCE_DB = 15.0
"""Within an utterance, the person's words stand this far above what else kept the endpointer open."""


def prominent_span(audio: np.ndarray) -> tuple[int, int]:
    """The sample range of an utterance that holds its loud part, with the pre-roll and hangover's worth of
    context either side.

    While the guide talks, what the echo canceller leaves of its voice keeps the endpointer open, so a
    "pause" said over it arrives inside seconds of that residue (and would be "too long for a command").
    The person is much louder than the residue: their words are the frames near the loudest."""
    levels = frame_db(audio)
    if len(levels) == 0:
        return 0, len(audio)
    loud = np.nonzero(levels > levels.max() - PROMINENCE_DB)[0]
    first = max(0, int(loud[0]) * FRAME - int(PREROLL_SECONDS * ASR_RATE))
    last = min(len(audio), (int(loud[-1]) + 1) * FRAME + int(HANGOVER_SECONDS * ASR_RATE))
    return first, last


class StreamRecognizer:
    """Cuts a live 16 kHz stream into utterances with an adaptive-floor energy endpointer and decodes
    each with the engine. Decisions come HANGOVER_SECONDS after the last word."""

    def __init__(self, engine: Engine):
        self.engine = engine
        self.worth_decoding: Callable[[float, float], bool] | None = None
        """Asked of each utterance about to be decoded (its stream times): False leaves it undecoded."""
        self.echo_present = False
        """Set while the guide's voice may be in the microphone: then FAINT_HANGOVER_SECONDS applies."""
        self.reset()

    def reset(self) -> None:
        self._pending = np.zeros(0, np.float32)
        self._time = 0.0  # stream time of the first pending sample
        self._floor = FLOOR_START_DB
        self._seeding = SEED_FRAMES
        self._seed_level = np.inf
        self._history: deque[np.ndarray] = deque(maxlen=PREROLL_FRAMES + 1)
        self._speech: list[np.ndarray] | None = None
        self._speech_start = 0.0
        self._loud_run = 0
        self._quiet_run = 0
        self._peak = -120.0
        self._faint_run = 0

    def feed(self, chunk: AudioChunk) -> list[Recognition]:
        if not len(self._pending):
            self._time = chunk.timestamp
        samples = chunk.samples() if chunk.rate == ASR_RATE else resample(chunk.samples(), chunk.rate, ASR_RATE)
        self._pending = np.concatenate([self._pending, samples])
        n = len(self._pending) // FRAME
        frames = self._pending[: n * FRAME].reshape(n, FRAME)
        levels = frame_db(frames.ravel()).tolist()  # the chunk's frames at once, not one numpy call each
        self._pending = self._pending[n * FRAME:]
        out: list[Recognition] = []
        for frame, level in zip(frames, levels, strict=True):
            t = self._time
            self._time += FRAME / ASR_RATE
            if self._frame(frame, level, t) and (result := self._decode()) is not None:
                out.append(result)
        return out

    def _frame(self, frame: np.ndarray, level: float, t: float) -> bool:
        """Take in one frame; True once it ends an utterance."""
        if self._seeding and level > DIGITAL_SILENCE_DB:
            self._seed_level = min(self._seed_level, level)
            self._floor = max(FLOOR_START_DB, self._seed_level)
            self._seeding -= 1
        else:
            # the floor follows quiet quickly and loudness slowly, so speech does not raise it
            self._floor = level if level < self._floor else self._floor + 0.02
        loud = level > max(self._floor + 10.0, FLOOR_START_DB)
        if self._speech is None:
            self._history.append(frame)
            self._loud_run = self._loud_run + 1 if loud else 0
            if self._loud_run >= 3:
                self._speech = list(self._history)
                self._speech_start = t - (len(self._history) - 1) * FRAME / ASR_RATE
                self._quiet_run = 0
                self._peak = level
                self._faint_run = 0
            return False
        self._speech.append(frame)
        self._peak = max(self._peak, level)
        self._quiet_run = 0 if loud else self._quiet_run + 1
        self._faint_run = 0 if level > self._peak - PROMINENCE_DB else self._faint_run + 1
        faded = self.echo_present and self._faint_run * FRAME / ASR_RATE >= FAINT_HANGOVER_SECONDS
        too_long = len(self._speech) * FRAME / ASR_RATE > MAX_COMMAND_SECONDS + 2.0
        return self._quiet_run * FRAME / ASR_RATE >= HANGOVER_SECONDS or faded or too_long

    def _decode(self) -> Recognition | None:
        """The utterance heard so far, decoded (None: `worth_decoding` said it was not)."""
        audio = np.concatenate(self._speech or [])
        start = self._speech_start
        self._speech, self._loud_run = None, 0
        self._history.clear()
        first, last = prominent_span(audio)
        if (last - first) / ASR_RATE <= MAX_COMMAND_SECONDS:  # (a sentence loud throughout stays whole)
            start += first / ASR_RATE
            audio = audio[first:last]
        if self.worth_decoding is not None and not self.worth_decoding(start, start + len(audio) / ASR_RATE):
            return None
        with stage("recognition (this process's part)"):
            rec = self.engine.decode(audio)
        return Recognition(rec.intent, rec.text, rec.confidence, start + rec.start, start + rec.end, rec.reason,
                           rec.candidate, rec.coverage, rec.margin)

    def flush(self) -> list[Recognition]:
        rec = self._decode() if self._speech else None
        return [rec] if rec is not None else []
