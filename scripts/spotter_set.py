"""The command spotter's training speech, made on this machine: every command phrase and thousands of
things that are not commands, said by many synthetic voices and put through rooms, microphones and noise.

A real person is not a synthetic voice: what carries over is variety. So each clip draws its own voice
(one of espeak-ng's eight English accents with one of its hundred variants, pitch and speed; one of flite's
voices or Piper's, shifted in tempo and pitch), its own room (a reverberant tail), its own microphone (its
band and tilt, sometimes clipping) and its own noise (white, pink, brown or a fan's hum, 0-50 dB SNR).
Each clip is kept only as its speech embeddings (`skill.hearing.embedding.features`), cached under the
cache dir: each round is made once (about 12 minutes on 2 cores here) for a given recipe.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from multiprocessing import Pool
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))
os.environ.setdefault("OMP_NUM_THREADS", "1")

from make_garbage_words import non_command_words  # noqa: E402

from skill.audio import ASR_RATE, read_wav, resample, write_wav  # noqa: E402
from skill.hearing.commands import all_phrases, parse  # noqa: E402
from skill.paths import cache_dir  # noqa: E402
from skill.routine.definition import load_routine  # noqa: E402
from skill.routine.script import spoken_texts  # noqa: E402
from tests.asr_set import ESPEAK_VOICES, EVERYDAY, ROUTINE_SENTENCES, TUNING_VOICES, noise  # noqa: E402

VERSION = 1
ACCENTS = ("en-us", "en-gb", "en-gb-scotland", "en-gb-x-rp", "en-029", "en-us-nyc", "en-gb-x-gbclan",
           "en-gb-x-gbcwmd")
UNNATURAL_VARIANTS = frozenset({"whisper", "whisperf", "Demonic", "croak"})
HELD_OUT = frozenset(tuple(ESPEAK_VOICES[v][0].split("+")) for v in ESPEAK_VOICES if v not in TUNING_VOICES)
"""The espeak-ng voices tests/asr_set.py holds out: never drawn here, so its held-out table stays honest."""
FLITE_VOICES = ("kal", "kal16", "awb", "rms", "slt")
SHORT_WORDS = ("yes", "yeah", "yep", "nope", "okay", "hello", "hi", "thanks", "sure", "maybe", "night", "morning",
               "water", "light", "door", "sleep", "tired", "good", "fine", "sorry", "what", "why", "who", "when", "up",
               "down", "left", "right", "on", "off", "go", "zero", "one", "two", "three", "four", "five", "six",
               "seven", "eight", "nine", "bed", "bird", "cat", "dog", "happy", "house", "tree", "wow", "backward",
               "forward", "follow", "learn")
"""Words a person or a partner says in bed, on their own."""
OTHER_WAKE_WORDS = ("alexa", "computer", "hey google", "okay google", "hey siri", "hey jarvis", "hey mycroft",
                    "snowboy", "okay nabu")
PER_PHRASE = {"espeak": 160, "flite": 40, "piper": 30}
"""Takes of each command phrase, by synthesizer."""
PER_WORD = {"espeak": 6, "flite": 2, "piper": 1}
"""Takes of each non-command."""
COMMON_WORDS = 1500
WORD_PAIRS = 300


def negatives() -> list[str]:
    """Everything spoken that must not be a command: common words alone and in pairs, other assistants'
    wake words, everyday talk, and the guide's own sentences (those a command phrase is not)."""
    words = non_command_words(COMMON_WORDS)
    rng = np.random.default_rng(VERSION)
    pairs = [" ".join(rng.choice(words[:400], 2)) for _ in range(WORD_PAIRS)]
    guide = [t for t in spoken_texts(load_routine()) if parse(t) is None]
    phrases = set(all_phrases())
    out = dict.fromkeys(w for w in [*words, *SHORT_WORDS, *OTHER_WAKE_WORDS, *pairs, *EVERYDAY, *ROUTINE_SENTENCES,
                                    *guide] if w not in phrases and parse(w) is None)
    return list(out)


ROUNDS = {"rough": 0, "plain": 1_000_000}
"""Each round says the whole recipe once more with voices and rooms of its own, its seeds counted from here:
the rough round through any microphone and noise down to 0 dB SNR, the plain one through none and at 5 dB
SNR or better. Both together taught the spotter more than twice as many takes of either: at the same false
accepts, 45 of felixchen's 100 commands against 37."""


def recipe(round_name: str = "rough") -> list[tuple[str, str, str, int]]:
    """(text, label, synthesizer, seed) of every clip of a round."""
    jobs: list[tuple[str, str, str, int]] = []
    for phrase in all_phrases():
        intent = parse(phrase)
        assert intent is not None
        jobs += [(phrase, intent.value, synth, 0) for synth, n in PER_PHRASE.items() for _ in range(n)]
    for text in negatives():
        jobs += [(text, "none", synth, 0) for synth, n in PER_WORD.items() for _ in range(n)]
    first = ROUNDS[round_name] + 1
    return [(text, label, synth, seed) for seed, (text, label, synth, _) in enumerate(jobs, start=first)]


def _espeak(text: str, rng: np.random.Generator) -> np.ndarray:
    variants = [v for v in _espeak_variants() if v not in UNNATURAL_VARIANTS]
    while True:
        accent, variant = ACCENTS[rng.integers(len(ACCENTS))], variants[rng.integers(len(variants))]
        if (accent, variant) not in HELD_OUT:
            break
    wav = subprocess.run(["espeak-ng", "-v", f"{accent}+{variant}", "-p", str(rng.integers(20, 85)), "-s",
                          str(rng.integers(110, 200)), "--stdout", text], capture_output=True, check=True).stdout
    with tempfile.NamedTemporaryFile(suffix=".wav") as f:
        f.write(wav)
        f.flush()
        return resample(*read_wav(f.name), ASR_RATE)


_variants: list[str] = []


def _espeak_variants() -> list[str]:
    if not _variants:
        listing = subprocess.run(["espeak-ng", "--voices=variant"], capture_output=True, text=True, check=True)
        _variants.extend(word.split("/")[-1] for word in listing.stdout.split() if word.startswith("!v/"))
    return _variants


def _shifted(samples: np.ndarray, rate: int, tempo: float, cents: int) -> np.ndarray:
    with tempfile.NamedTemporaryFile(suffix=".wav") as f, tempfile.NamedTemporaryFile(suffix=".wav") as g:
        write_wav(f.name, samples, rate)
        subprocess.run(["sox", f.name, "-r", str(ASR_RATE), g.name, "tempo", f"{tempo:.3f}", "pitch", str(cents)],
                       check=True, capture_output=True)
        return resample(*read_wav(g.name), ASR_RATE)


def _flite(text: str, rng: np.random.Generator) -> np.ndarray:
    with tempfile.NamedTemporaryFile(suffix=".wav") as f:
        subprocess.run(["flite", "-voice", FLITE_VOICES[rng.integers(len(FLITE_VOICES))], "-t", text, "-o", f.name],
                       check=True, capture_output=True)
        samples, rate = read_wav(f.name)
    return _shifted(samples, rate, float(rng.uniform(0.85, 1.2)), int(rng.integers(-300, 300)))


_piper_voice = None


def _piper(text: str, rng: np.random.Generator) -> np.ndarray:
    global _piper_voice
    if _piper_voice is None:
        from skill.speaking.voice import Voice

        _piper_voice = Voice()
    samples, rate = _piper_voice.synthesize(text, float(rng.uniform(0.8, 1.25)))
    return _shifted(samples, rate, 1.0, int(rng.integers(-400, 400)))


SYNTHESIZERS: dict[str, Callable[[str, np.random.Generator], np.ndarray]] = {
    "espeak": _espeak, "flite": _flite, "piper": _piper}


def in_a_room(speech: np.ndarray, rng: np.random.Generator, rough: bool = True) -> np.ndarray:
    """The speech in a room of its own, through a microphone of its own (`rough`), in noise of its own."""
    speech = speech.astype(np.float64)
    if rng.random() < 0.5:  # a reverberant tail
        rt60 = rng.uniform(0.15, 0.6)
        n = int(rt60 * ASR_RATE)
        tail = rng.standard_normal(n) * np.exp(-6.9 * np.arange(n) / ASR_RATE / rt60)
        tail[0] = 0
        tail *= rng.uniform(0.1, 0.5) / np.sqrt(np.sum(tail**2))
        speech = np.pad(speech, (0, n - 1)) + np.convolve(speech, tail)
    clip = np.concatenate([np.zeros(int(rng.uniform(0.3, 0.8) * ASR_RATE)), speech,
                           np.zeros(int(rng.uniform(0.3, 0.8) * ASR_RATE))])
    if rough and rng.random() < 0.6:  # the microphone's band and tilt
        f = np.maximum(np.fft.rfftfreq(len(clip), 1 / ASR_RATE), 1.0)
        low, high = rng.uniform(80, 500), rng.uniform(3000, 8000)
        curve = (f / 1000) ** rng.uniform(-0.5, 0.5) / (1 + (low / f) ** 4) / (1 + (f / high) ** 4)
        clip = np.fft.irfft(np.fft.rfft(clip) * curve, len(clip))
    level = 10 ** (rng.uniform(-30, -3) / 20)
    clip *= level / (np.max(np.abs(clip)) + 1e-12)
    active = clip[np.abs(clip) > 0.05 * level]
    power = float(np.mean(active**2)) if len(active) else 1e-6
    snr = rng.choice([50, 30, 20, 15, 10, 5, 0] if rough else [50, 30, 20, 15, 10, 5])
    kind = ("white", "pink", "brown", "fan")[rng.integers(4 if rough else 3)]
    if kind == "fan":
        t = np.arange(len(clip)) / ASR_RATE
        hum = sum(np.sin(2 * np.pi * rng.uniform(40, 200) * k * t + rng.uniform(0, 6)) / k for k in (1, 2, 3))
        din = noise("brown", len(clip), rng) + 0.5 * noise("pink", len(clip), rng) + 0.3 * hum
        din /= np.sqrt(np.mean(din**2))
    else:
        din = noise(kind, len(clip), rng)
    clip += din * np.sqrt(power / 10 ** (snr / 10))
    if rng.random() < 0.15:  # a laptop's microphone clipping
        gain = rng.uniform(1.5, 4)
        clip = np.clip(clip * gain, -1, 1) / gain
    return np.clip(clip, -1, 1).astype(np.float32)


def _embed(job: tuple[str, str, str, int]) -> np.ndarray:
    from skill.hearing.embedding import features

    text, _, synth, seed = job
    rng = np.random.default_rng(seed)
    return features(in_a_room(SYNTHESIZERS[synth](text, rng), rng, rough=seed <= ROUNDS["plain"]))


def build() -> tuple[list[tuple[str, str, str, int]], list[np.ndarray]]:
    """(the recipe of every round, each clip's embeddings), made or read from the cache."""
    jobs: list[tuple[str, str, str, int]] = []
    embeddings: list[np.ndarray] = []
    for round_name in ROUNDS:
        more = recipe(round_name)
        jobs += more
        embeddings += _round(more)
    return jobs, embeddings


def _round(jobs: list[tuple[str, str, str, int]]) -> list[np.ndarray]:
    key = hashlib.sha256(json.dumps([VERSION, jobs]).encode()).hexdigest()[:12]
    path = cache_dir() / "spotter-set" / f"v{VERSION}-{key}.npz"
    if path.exists():
        with np.load(path) as data:
            return np.split(data["embeddings"], np.cumsum(data["lengths"])[:-1])
    print(f"making {len(jobs)} clips (cached at {path})", file=sys.stderr)
    with Pool(os.cpu_count() or 1) as pool:
        embeddings = pool.map(_embed, jobs, chunksize=16)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, lengths=np.array([len(e) for e in embeddings]),
                        embeddings=np.concatenate([e.reshape(-1, 96) for e in embeddings]).astype(np.float32))
    return embeddings
