"""Test sets for the recognizer, made on this machine: the command phrases spoken by the Piper voice and
several espeak-ng voices, mixed with white, pink and brown noise at 20, 10 and 5 dB SNR; non-command
speech (the routine's own sentences, everyday talk); and noise with no speech (breathing, rustling).
Cached under the cache dir, so a test run makes them once.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from skill.audio import ASR_RATE, frame_db, read_wav, resample, write_wav
from skill.hearing.commands import all_phrases, parse
from skill.paths import cache_dir

VERSION = 2
ESPEAK_VOICES = {
    # name: (voice, pitch, speed)
    "espeak-us": ("en-us", 50, 160),
    "espeak-us-f3": ("en-us+f3", 65, 145),
    "espeak-us-m7": ("en-us+m7", 35, 130),
    "espeak-gb-m3": ("en-gb+m3", 45, 150),
    "espeak-us-f2-fast": ("en-us+f2", 55, 185),
}
TUNING_VOICES = ("piper-joe", "espeak-us", "espeak-us-f3")
"""Voices used while tuning the rejection thresholds; the others are held out."""
NOISES = ("white", "pink", "brown")
SNRS = (20, 10, 5)
EVERYDAY = [
    "hello how are you", "good night", "turn off the light", "did you lock the door", "I love you",
    "what time is it", "my back hurts a little", "okay", "that feels good", "thank you",
    "the cat is on the bed", "can you pass me the water", "I'm so tired", "tomorrow is a busy day",
    "where are my glasses", "this is nice", "let me get comfortable", "is the alarm set",
    "it's cold in here", "see you in the morning",
]
ROUTINE_SENTENCES = [
    "Repeat on the opposite side.", "Slowly count to five.", "Next, we'll do the gentle bridge.",
    "Hold for ten.", "Breathe in.", "And out.", "Let's go again.", "Stretch 3 of 8: Gentle bridge.",
    "Now the left side.", "And release.", "Let's begin.", "Okay, let's carry on.", "Slowing down.",
    "If you'd like to go again, say again. Or say next, to move on.", "Ten more seconds.",
    "Sway your knees slowly back and forth, for a couple of breaths.", "Stay here for ten long, relaxing breaths.",
    "Working hard, squeeze your knee for a slow count of ten.", "Let your legs fall open.", "Sleep tight.",
]


@dataclass(frozen=True)
class Clip:
    path: str
    text: str
    intent: str  # an Intent value, or "none"
    voice: str
    noise: str  # "clean" or white/pink/brown, or the kind of non-speech sound
    snr: int | None
    kind: str  # command | speech | sound


def set_dir() -> Path:
    return cache_dir() / "asr-set" / f"v{VERSION}"


def _name(*parts: object) -> str:
    return hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()[:16] + ".wav"


def _espeak(text: str, voice: str, pitch: int, speed: int) -> np.ndarray:
    with tempfile.NamedTemporaryFile(suffix=".wav") as f:
        subprocess.run(["espeak-ng", "-v", voice, "-p", str(pitch), "-s", str(speed), "-w", f.name, text],
                       check=True, capture_output=True)
        samples, rate = read_wav(f.name)
    return resample(samples, rate, ASR_RATE)


def _piper(text: str, voice: object) -> np.ndarray:
    raw, rate = voice.synthesize(text, 1.0)  # type: ignore[attr-defined]
    return resample(raw, rate, ASR_RATE)


def noise(kind: str, n: int, rng: np.random.Generator) -> np.ndarray:
    white = rng.standard_normal(n)
    if kind == "white":
        shaped = white
    else:
        spectrum = np.fft.rfft(white)
        f = np.maximum(np.fft.rfftfreq(n, 1 / ASR_RATE), 20.0)
        spectrum /= np.sqrt(f) if kind == "pink" else f
        shaped = np.fft.irfft(spectrum, n)
    return (shaped / (np.sqrt(np.mean(shaped**2)) + 1e-12)).astype(np.float32)


def mix(speech: np.ndarray, kind: str, snr: int, rng: np.random.Generator) -> np.ndarray:
    """Speech padded with 0.4 s either side, with noise at `snr` dB below the speech's active power."""
    pad = np.zeros(int(0.4 * ASR_RATE), np.float32)
    clip = np.concatenate([pad, speech, pad])
    active = speech[np.abs(speech) > 0.02 * np.max(np.abs(speech))] if np.any(speech) else speech
    power = float(np.mean(active**2)) if len(active) else 1e-6
    n = noise(kind, len(clip), rng) * np.sqrt(power / 10 ** (snr / 10))
    out = clip + n
    peak = float(np.max(np.abs(out)))
    return (out / peak * 0.7 if peak > 0.7 else out).astype(np.float32)


def _sounds(rng: np.random.Generator) -> list[tuple[str, np.ndarray]]:
    """Non-speech: breaths (filtered noise swells), rustling (bursts), a fan, silence, a cough-like pop."""
    out = []
    n = int(2.5 * ASR_RATE)
    t = np.arange(n) / ASR_RATE
    for i in range(4):
        breath = noise("pink", n, rng) * np.clip(np.sin(np.pi * t / (1.2 + 0.2 * i)), 0, None) ** 2 * 0.05
        out.append((f"breath-{i}", breath.astype(np.float32)))
        bursts = noise("white", n, rng) * (rng.random(n // 800 + 1).repeat(800)[:n] > 0.7) * 0.03
        out.append((f"rustle-{i}", bursts.astype(np.float32)))
        out.append((f"fan-{i}", noise("brown", n, rng) * 0.02))
        pop = np.zeros(n, np.float32)
        start = int(rng.integers(ASR_RATE // 2, ASR_RATE))
        pop[start: start + 2400] = noise("white", 2400, rng) * np.exp(-np.arange(2400) / 400) * 0.3
        out.append((f"pop-{i}", pop))
    out.append(("silence", np.zeros(n, np.float32)))
    return out


def build(noisy_per_voice: int = 12, include_piper: bool = True) -> list[Clip]:
    """Make (or reuse) the set; returns its clips. Deterministic for a given VERSION."""
    folder = set_dir()
    contents = _name(all_phrases(), ROUTINE_SENTENCES, EVERYDAY, ESPEAK_VOICES)[:8]
    index = folder / f"index-{noisy_per_voice}-{int(include_piper)}-{contents}.jsonl"
    if index.exists():
        return [Clip(**json.loads(line)) for line in index.read_text().splitlines()]
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(VERSION)
    voices: dict[str, object] = {name: spec for name, spec in ESPEAK_VOICES.items()}
    piper_voice = None
    if include_piper:
        from skill.speaking.voice import Voice

        piper_voice = Voice()
        voices = {"piper-joe": None, **voices}
    clips: list[Clip] = []

    def speak(text: str, voice: str) -> np.ndarray:
        if voice == "piper-joe":
            return _piper(text, piper_voice)
        v, pitch, speed = ESPEAK_VOICES[voice]
        return _espeak(text, v, pitch, speed)

    def save(samples: np.ndarray, clip: Clip) -> None:
        path = folder / clip.path
        if not path.exists():
            write_wav(path, samples, ASR_RATE)
        clips.append(clip)

    phrases = all_phrases()
    for voice in voices:
        for i, phrase in enumerate(phrases):
            speech = speak(phrase, voice)
            intent = parse(phrase)
            assert intent is not None
            save(mix(speech, "white", 45, rng), Clip(_name(voice, phrase, "clean"), phrase, intent.value, voice,
                                                   "clean", None, "command"))
            # a rotating sample of the phrases in each noise and SNR
            for j, (kind, snr) in enumerate((k, s) for k in NOISES for s in SNRS):
                if (i + j) % max(1, len(phrases) // noisy_per_voice) == 0:
                    save(mix(speech, kind, snr, rng), Clip(_name(voice, phrase, kind, snr), phrase, intent.value,
                                                         voice, kind, snr, "command"))
        for text in [*ROUTINE_SENTENCES, *EVERYDAY]:
            speech = speak(text, voice)
            save(mix(speech, "white", 45, rng), Clip(_name(voice, text, "speech"), text, "none", voice, "clean",
                                                   None, "speech"))
    for name, sound in _sounds(rng):
        save(mix(sound, "white", 45, rng) if np.any(sound) else sound,
             Clip(_name("sound", name), name, "none", "none", name.split("-")[0], None, "sound"))
    index.write_text("\n".join(json.dumps(asdict(c)) for c in clips) + "\n")
    return clips


def spoken(text: str) -> tuple[np.ndarray, float]:
    """A command said clean by the Piper voice (16 kHz), and where its last word ends in it (s): the last
    20 ms frame within 40 dB of the loudest."""
    c = next(c for c in build() if c.voice == "piper-joe" and c.text == text and c.noise == "clean")
    samples, rate = read_wav(set_dir() / c.path)
    samples = resample(samples, rate, ASR_RATE)
    levels = frame_db(samples)
    last_word = np.nonzero(levels > levels.max() - 40)[0][-1]
    return samples, (last_word + 1) * 0.02


def loud_power(x: np.ndarray) -> float:
    """The power of a clip's sound, not its quiet: of the samples over 5 % of its peak."""
    return float(np.mean(x[np.abs(x) > 0.05 * (np.max(np.abs(x)) + 1e-12)] ** 2)) + 1e-12


def under_the_guide(command: np.ndarray, guide: np.ndarray, below_db: float) -> np.ndarray:
    """`command` as the echo canceller hands it on while the guide talks: the guide's sentence under it from
    0.3 s before the words to the end, `below_db` under them."""
    said = np.concatenate([np.zeros(int(0.3 * ASR_RATE), np.float32), command])
    under = np.resize(guide, len(said))
    return (said + under * np.sqrt(loud_power(command) / loud_power(under) / 10 ** (below_db / 10))).astype(np.float32)


def over_the_guide(clips: list[Clip], below_db: float) -> list[tuple[Clip, np.ndarray]]:
    """The held-out voices' clean commands (16 kHz), each with one of the guide's sentences (Piper) under it."""
    guides = [resample(*read_wav(set_dir() / c.path), ASR_RATE) for c in clips
              if c.kind == "speech" and c.voice == "piper-joe"]
    held_out = [c for c in clips if c.kind == "command" and c.voice not in TUNING_VOICES and c.noise == "clean"]
    return [(c, under_the_guide(resample(*read_wav(set_dir() / c.path), ASR_RATE), guides[i % len(guides)], below_db))
            for i, c in enumerate(held_out)]
