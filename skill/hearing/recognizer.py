"""Offline command recognition: the Recognizer protocol, the engines behind it, and rejection.

Audio is cut into utterances by an energy endpointer (shared by the engines), and the loud part of each is
decoded against a grammar of the command phrases, then judged. Vosk weighs its own "[unk]" and word
confidences; pocketsphinx has the steady noise taken out first, and a small learnt model
(skill/data/rejection.json) weighs how well the phrase explains the audio against the best any sound
could, how its words cover the speech, whether a second search of the grammar agrees, and durations.
Everything else is "no command": a partner talking, breathing, the guide's own sentences."""

from __future__ import annotations

import json
import logging
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Protocol

import numpy as np
import soxr

from skill.audio import ASR_RATE, FRAME, AudioChunk, frame_db, read_wav, resample
from skill.hearing.commands import WAKE_PHRASES, Intent, all_phrases, normalize, parse
from skill.hearing.denoise import reduce_noise
from skill.errors import UserError
from skill.stage_clock import stage

log = logging.getLogger(__name__)

MAX_COMMAND_SECONDS = 2.2
"""Longer speech is a sentence, not a command ("Repeat on the opposite side")."""
MIN_COMMAND_SECONDS = 0.12
HANGOVER_SECONDS = 0.22
"""Quiet after speech before the utterance is decoded: short, so commands act quickly."""
PREROLL_SECONDS = 0.25
PREROLL_FRAMES = int(PREROLL_SECONDS * ASR_RATE / FRAME)
REJECTION_FILE = Path(__file__).resolve().parent / "data" / "rejection.json"
GARBAGE_WORDS_FILE = Path(__file__).resolve().parent / "data" / "garbage_words.txt"
"""Common English words that are not commands (scripts/make_garbage_words.py): the competition a command
phrase must beat."""
GARBAGE_BEAM, GARBAGE_WORD_BEAM = 1e-30, 1e-20
"""The garbage search's pruning (pocketsphinx's defaults are 1e-48 and 7e-29)."""
DITHER = 2e-3
"""A noise floor under the audio: exact digital silence confuses the acoustic models."""


@dataclass(frozen=True)
class Recognition:
    intent: Intent | None
    """None: not a command."""
    text: str
    """The words heard."""
    confidence: float
    """0..1."""
    start: float
    """Seconds of stream time (chunk timestamps) where the utterance begins."""
    end: float
    """Seconds of stream time where the speech ends."""
    reason: str = ""
    """Why it was rejected, when it was."""
    candidate: Intent | None = None
    """What the grammar heard, even when rejected (barge-in weighs it while the guide talks)."""
    coverage: float = 0.0
    """The share of the speech the grammar's words account for."""
    margin: float | None = None
    """How much better the phrase explains the speech than common English words do, per 10 ms frame (None:
    the engine does not measure it)."""


class Recognizer(Protocol):
    def feed(self, chunk: AudioChunk) -> list[Recognition]: ...

    def flush(self) -> list[Recognition]: ...

    def reset(self) -> None: ...


class Engine(Protocol):
    name: str

    def decode(self, samples: np.ndarray) -> Recognition:
        """One utterance (16 kHz mono float32, with a little silence around it)."""


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


def with_dither(samples: np.ndarray, seed: int = 0) -> np.ndarray:
    noise = np.random.default_rng(seed).normal(0, DITHER, len(samples)).astype(np.float32)
    return np.clip(samples + noise, -1, 1)


def to_pcm16(samples: np.ndarray) -> bytes:
    return (np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes()


def phrase_intent(text: str) -> Intent | None:
    """The intent of a grammar phrase; the bedside service's wake phrases mean "start"."""
    return parse(text) or (Intent.START if text in WAKE_PHRASES else None)


# ---- pocketsphinx -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Evidence:
    """What the grammar decode of one utterance says, to judge whether it was a command."""

    text: str
    """The phrase the grammar matched ("" for none)."""
    intent: Intent | None
    start: float
    end: float
    """Seconds into the utterance where its speech begins and ends."""
    speech_seconds: float
    coverage: float
    """The share of the speech the grammar's words account for."""
    score_per_frame: float
    """The grammar path's log score per 10 ms frame of its words. pocketsphinx scores each frame against
    its best-scoring senone, so this is how far the phrase falls short of the best any sound could do:
    near zero when the audio is the phrase, far below when a phrase was forced onto other speech."""
    score_total: float
    """The same over the whole utterance, in thousands."""
    lattice_agrees: float
    """1 when a second search of the grammar, rescoring its word lattice, ends on the same phrase; 0 when it
    names another or none (a close call)."""
    garbage_margin: float
    """How much better the phrase explains the utterance than any run of common English words does, per
    10 ms frame: a real "yes", "bed" or "alexa" is matched better by ordinary words (negative), a command
    by itself (positive). The open-vocabulary competitor a closed grammar lacks."""


    @property
    def command_length(self) -> bool:
        """Whether the speech is as long as a command can be (longer is a sentence, shorter a click)."""
        return MIN_COMMAND_SECONDS <= self.speech_seconds <= MAX_COMMAND_SECONDS

    FEATURES: ClassVar[tuple[str, ...]] = ("score_per_frame", "score_total", "coverage", "lattice_agrees",
                                           "garbage_margin")
    """What the learnt judgement weighs. Phones' lengths and the speech's length added nothing once real
    people's words were among the negatives (scripts/tune_rejection.py); length is a rule of its own."""

    def vector(self) -> np.ndarray:
        return np.array([getattr(self, name) for name in self.FEATURES], dtype=np.float64)


@dataclass(frozen=True)
class RejectionModel:
    """Logistic regression over `Evidence.FEATURES`: the probability that the grammar's phrase is what was
    said. Fitted by scripts/tune_rejection.py on the tuning voices; stored in skill/data/rejection.json."""

    mean: np.ndarray
    scale: np.ndarray
    weights: np.ndarray
    bias: float
    threshold: float

    @classmethod
    def load(cls, path: Path = REJECTION_FILE) -> RejectionModel:
        data = json.loads(path.read_text())
        if list(data["features"]) != list(Evidence.FEATURES):
            raise ValueError(f"{path}: features {data['features']} are not {list(Evidence.FEATURES)}; "
                             "run scripts/tune_rejection.py")
        return cls(np.array(data["mean"]), np.array(data["scale"]), np.array(data["weights"]),
                   float(data["bias"]), float(data["threshold"]))

    def probability(self, evidence: Evidence) -> float:
        z = float(((evidence.vector() - self.mean) / self.scale) @ self.weights + self.bias)
        return float(1 / (1 + np.exp(-np.clip(z, -50, 50))))


def garbage_words(lookup: Callable[[str], str | None]) -> list[str]:
    """The competing words that the engine's dictionary can pronounce."""
    return [w for w in GARBAGE_WORDS_FILE.read_text().split() if lookup(w)]


class PocketsphinxEngine:
    """pocketsphinx 5 with the en-us model its wheel ships: noise reduction, a JSGF grammar of the phrases,
    and a learned judgement over what the decode says (its score against the best possible, how the
    words fit the speech, whether a lattice-rescored search of the same grammar agrees)."""

    name = "pocketsphinx"

    def __init__(self, phrases: Sequence[str], rejection: RejectionModel | None = None):
        from pocketsphinx import Decoder, get_model_path

        model = Path(get_model_path()) / "en-us"
        # bestpath off: the lattice rescoring it enables often loses the grammar's final state and hands
        # back the start of a phrase ("where am" for "back"); the Viterbi path is the grammar's own
        self._decoder = Decoder(hmm=str(model / "en-us"), dict=str(model / "cmudict-en-us.dict"), bestpath=False,
                                loglevel="FATAL")
        self._logmath = self._decoder.get_logmath()
        self._phrases = list(phrases)
        grammar = "#JSGF V1.0;\ngrammar commands;\npublic <command> = " + " | ".join(
            f"( {p} )" for p in self._phrases) + " ;\n"
        self._decoder.add_jsgf_string("commands", grammar)
        # a search reads the config when it is added, so this one rescores its lattice and "commands" does not
        self._decoder.config["bestpath"] = True
        self._decoder.add_jsgf_string("lattice", grammar)
        self._decoder.config["bestpath"] = False
        # the competitor needs only about the best words' score, not the best path: a narrower beam halves
        # its search (RTF 0.145 -> 0.078 here), and the rejection was fitted on the margin it gives
        beams = {k: self._decoder.config[k] for k in ("beam", "wbeam")}
        self._decoder.config["beam"], self._decoder.config["wbeam"] = GARBAGE_BEAM, GARBAGE_WORD_BEAM
        self._decoder.add_jsgf_string("garbage", "#JSGF V1.0;\ngrammar garbage;\npublic <words> = ( "
                                      + " | ".join(garbage_words(self._decoder.lookup_word)) + " )+ ;\n")
        for key, value in beams.items():
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
        """The evidence for the grammar's phrase in one utterance; None when the grammar matched no whole
        phrase (then it is not a command whatever the audio)."""
        return self._examine(with_dither(reduce_noise(samples)))

    def _examine(self, samples: np.ndarray, span: tuple[np.ndarray, int, int] | None = None) -> Evidence | None:
        """`examine` on samples already denoised and dithered (and their `voiced_span`, when known)."""
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
        lattice_agrees = garbage_margin = 0.0
        if MIN_COMMAND_SECONDS <= speech_seconds <= MAX_COMMAND_SECONDS:  # (Evidence.command_length)
            # the second opinions only where the length allows a command (the garbage search is the dearest)
            lattice, _, _ = self._run("lattice", pcm)
            _, garbage, _ = self._run("garbage", pcm)
            lattice_agrees = float(normalize(lattice) == text)
            if garbage > -1e9:  # (a search pruned to nothing says nothing either way)
                garbage_margin = (score - garbage) / max(1, len(pcm) // 320)  # per 10 ms frame of 16-bit samples
        return Evidence(
            text=text, intent=intent, start=first * FRAME / ASR_RATE, end=(last + 1) * FRAME / ASR_RATE,
            speech_seconds=speech_seconds, coverage=coverage,
            score_per_frame=score / word_frames, score_total=score / 1000,
            lattice_agrees=lattice_agrees,
            garbage_margin=garbage_margin)

    def decode(self, samples: np.ndarray) -> Recognition:
        samples = with_dither(reduce_noise(samples))
        span = voiced_span(samples)
        speech_seconds = (span[2] - span[1] + 1) * FRAME / ASR_RATE
        if not MIN_COMMAND_SECONDS <= speech_seconds <= MAX_COMMAND_SECONDS:
            # turned down by its length whatever the grammar makes of it: no search at all (the guide's echo
            # remains, seconds long, were most of the recognizer's work in a session)
            reason = f"too long for a command ({speech_seconds:.1f} s)" if speech_seconds > 0 else "too short"
            return Recognition(None, "", 0.0, 0.0, len(samples) / ASR_RATE, reason)
        e = self._examine(samples, span)
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
                               f"{e.coverage:.2f} of the speech, {'' if e.lattice_agrees else 'not '}confirmed, "
                               f"{e.garbage_margin:+.1f} per frame against common words)",
                               candidate=e.intent, coverage=e.coverage, margin=e.garbage_margin)
        return Recognition(e.intent, e.text, confidence, e.start, e.end, coverage=e.coverage, margin=e.garbage_margin)


# ---- Vosk -------------------------------------------------------------------------------------------


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


# ---- endpointing: a stream of chunks -> utterances -------------------------------------------------


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
        self.reset()

    def reset(self) -> None:
        self._pending = np.zeros(0, np.float32)
        self._time = 0.0  # stream time of the first pending sample
        self._floor = -60.0
        self._history: deque[np.ndarray] = deque(maxlen=PREROLL_FRAMES + 1)
        self._speech: list[np.ndarray] | None = None
        self._speech_start = 0.0
        self._loud_run = 0
        self._quiet_run = 0

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
            result = self._frame(frame, level, t)
            if result is not None:
                out.append(result)
        return out

    def _frame(self, frame: np.ndarray, level: float, t: float) -> Recognition | None:
        # the floor follows quiet quickly and loudness slowly, so speech does not raise it
        self._floor = level if level < self._floor else self._floor + 0.02
        loud = level > max(self._floor + 10.0, -60.0)
        if self._speech is None:
            self._history.append(frame)
            self._loud_run = self._loud_run + 1 if loud else 0
            if self._loud_run >= 3:
                self._speech = list(self._history)
                self._speech_start = t - (len(self._history) - 1) * FRAME / ASR_RATE
                self._quiet_run = 0
            return None
        self._speech.append(frame)
        self._quiet_run = 0 if loud else self._quiet_run + 1
        too_long = len(self._speech) * FRAME / ASR_RATE > MAX_COMMAND_SECONDS + 2.0
        if self._quiet_run * FRAME / ASR_RATE >= HANGOVER_SECONDS or too_long:
            return self._decode()
        return None

    def _decode(self) -> Recognition:
        audio = np.concatenate(self._speech or [])
        start = self._speech_start
        self._speech, self._loud_run = None, 0
        self._history.clear()
        first, last = prominent_span(audio)
        if (last - first) / ASR_RATE <= MAX_COMMAND_SECONDS:  # (a sentence loud throughout stays whole)
            start += first / ASR_RATE
            audio = audio[first:last]
        with stage("recognition (this process's part)"):
            rec = self.engine.decode(audio)
        return Recognition(rec.intent, rec.text, rec.confidence, start + rec.start, start + rec.end, rec.reason,
                           rec.candidate, rec.coverage, rec.margin)

    def flush(self) -> list[Recognition]:
        return [self._decode()] if self._speech else []


# ---- choosing an engine ---------------------------------------------------------------------------


def open_engine(engine: str = "auto", phrases: Sequence[str] | None = None, quiet: bool = False) -> Engine:
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
