"""`bedtime-stretch enroll`: learn one person's voice, in their bed, with their microphone.

The guide asks for each command three times ("Say: stop."), then for a few things that are not commands
and a few seconds of the room's quiet, checking every take (nothing heard, too quiet, clipped, too long:
it asks again), and builds the personal model (skill/hearing/personal.py). Nothing is written until the end, and
then whole: a Ctrl-C half way leaves the old model as it was.
"""

from __future__ import annotations

import logging
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from skill.audio import ASR_RATE, FRAME, AudioChunk, frame_db, read_wav, write_wav
from skill.errors import UserError
from skill.hearing.commands import PHRASES, Intent
from skill.hearing.endpointer import MAX_COMMAND_SECONDS, StreamRecognizer, voiced_span
from skill.hearing.padding import as_utterance
from skill.hearing.personal import OTHER, PersonalModel, personal_model_path, recordings_dir
from skill.hearing.recognition import Recognition

log = logging.getLogger(__name__)

TAKES = 3
NON_COMMANDS = ("okay", "good night")
NON_COMMAND_TAKES = 2
SILENCE_SECONDS = 3.0
LISTEN_SECONDS = 4.0
"""How long to wait for a take after the prompt ends before asking again."""
TRIES = 3
"""Asks per take before moving on without it."""
QUIET_DB = -45.0
"""A take whose loudest 20 ms is below this (dBFS) is too quiet to learn from: the mic is too far."""
CLIPPED_SHARE = 0.002
"""A take with more than this share of its samples at full scale was clipped (too near, or gain too high)."""
SILENCE = "silence"
"""The folder of room-quiet recordings in a takes folder (--from-files, --keep-recordings)."""


@dataclass(frozen=True)
class Prompt:
    label: str
    """An Intent value, or OTHER."""
    text: str
    """What the person is asked to say."""


def prompts(intents: Sequence[Intent]) -> list[Prompt]:
    out = [Prompt(i.value, PHRASES[i][0]) for i in intents for _ in range(TAKES)]
    return out + [Prompt(OTHER, t) for t in NON_COMMANDS for _ in range(NON_COMMAND_TAKES)]


def parse_commands(spec: str | None) -> list[Intent]:
    if not spec:
        return list(PHRASES)
    out = []
    for name in (s.strip() for s in spec.split(",") if s.strip()):
        try:
            out.append(Intent(name))
        except ValueError:
            raise UserError(f"--commands {spec}: {name!r} is not a command; use some of "
                            f"{','.join(i.value for i in PHRASES)}") from None
    return out


NOTHING = "I didn't hear anything."
TOO_LONG = "That was longer than the word; just the word, please."


def check_take(samples: np.ndarray) -> str | None:
    """Why a take should be said again (a sentence to say to the person), or None when it is fine."""
    _, first, last = voiced_span(samples)
    if last < first:
        return NOTHING
    if float(np.mean(np.abs(samples) >= 0.99)) > CLIPPED_SHARE:
        return "That was too loud for the microphone; a little further away, please."
    if float(frame_db(samples).max()) < QUIET_DB:
        return "That was too quiet; a little louder, or nearer the microphone."
    if (last - first + 1) * FRAME / ASR_RATE > MAX_COMMAND_SECONDS:
        return TOO_LONG
    return None


class _Capture:
    """An engine that keeps the utterances the endpointer cuts, instead of decoding them."""

    name = "capture"

    def __init__(self) -> None:
        self.utterances: list[np.ndarray] = []

    def decode(self, samples: np.ndarray) -> Recognition:
        self.utterances.append(np.asarray(samples, np.float32))
        return Recognition(None, "", 0.0, 0.0, len(samples) / ASR_RATE)


class LiveTakes:
    """Takes from a microphone, with prompts spoken on the speaker (and printed)."""

    def __init__(self, input_device: str | None = None, output_device: str | None = None,
                 out: Callable[[str], None] | None = None):
        from skill.devices import find_output_device, sounddevice
        from skill.hearing.microphone import Microphone
        from skill.speaking.voice import PhraseCache, Voice

        self._sd = sounddevice()
        self._output = find_output_device(output_device)
        self._cache = PhraseCache(Voice())
        self._mic = Microphone(input_device)
        self._chunks: Iterator[AudioChunk] | None = None
        self._out = out or (lambda line: print(line, flush=True))

    def __enter__(self) -> LiveTakes:
        self._mic.__enter__()
        self._chunks = self._mic.chunks(timeout=2.0)
        return self

    def __exit__(self, *exc: object) -> None:
        self._mic.close()

    def say(self, text: str) -> float:
        """Speak `text` and print it; returns the monotonic time it finished playing."""
        samples, rate = self._cache.get(text)
        self._sd.play(samples, rate, device=self._output.index)
        self._sd.wait()
        done = time.monotonic()
        self._out(text)
        return done

    def _after(self, since: float) -> Iterator[AudioChunk]:
        assert self._chunks is not None
        for chunk in self._chunks:
            if chunk.captured_at is not None and chunk.captured_at >= since:
                yield chunk
        raise UserError("the microphone stopped sending sound (unplugged?)")

    def take(self, prompt_text: str) -> np.ndarray | None:
        """Ask, and the first utterance heard after the prompt (None: nothing within LISTEN_SECONDS)."""
        since = self.say(prompt_text)
        capture = _Capture()
        recognizer = StreamRecognizer(capture)
        heard = 0.0
        for chunk in self._after(since + 0.05):
            recognizer.feed(chunk)
            heard += chunk.seconds
            if not capture.utterances and heard > LISTEN_SECONDS:
                recognizer.flush()  # (one still going on is taken as it is: check_take says if it is too long)
            if capture.utterances or heard > LISTEN_SECONDS:
                break
        return capture.utterances[0] if capture.utterances else None

    def silence(self, prompt_text: str) -> np.ndarray:
        since = self.say(prompt_text)
        parts: list[np.ndarray] = []
        for chunk in self._after(since + 0.3):
            parts.append(chunk.samples())
            if sum(map(len, parts)) >= SILENCE_SECONDS * ASR_RATE:
                break
        return np.concatenate(parts)


def silence_pieces(room: np.ndarray) -> list[np.ndarray]:
    """Room quiet as second-long non-command takes (what a rustle or the fan alone sounds like)."""
    return [room[i: i + ASR_RATE] for i in range(0, len(room) - ASR_RATE + 1, ASR_RATE)]


def record(live: LiveTakes, intents: Sequence[Intent]) -> list[tuple[str, np.ndarray]]:
    """The spoken enrollment: every prompt, each take checked and asked again, and the room's quiet."""
    takes: list[tuple[str, np.ndarray]] = []
    live.say("Let's learn your voice. When I ask, say the word once, as you would in bed.")
    for prompt in prompts(intents):
        ask = f"Say: {prompt.text}."
        for _ in range(TRIES):
            take = live.take(ask)
            problem = NOTHING if take is None else check_take(take)
            if problem is None and take is not None:
                takes.append((prompt.label, take))
                break
            ask = f"{problem} Say: {prompt.text}."
        else:
            live.say("Let's move on.")
    room = live.silence(f"Now please stay quiet for {SILENCE_SECONDS:.0f} seconds.")
    takes += [(SILENCE, piece) for piece in silence_pieces(room)]
    live.say("Thank you. I know your voice now.")
    return takes


def takes_from_files(folder: Path) -> list[tuple[str, np.ndarray]]:
    """Takes from FOLDER/<command>/*.wav, FOLDER/none/*.wav (non-commands) and FOLDER/silence/*.wav (the
    room's quiet), the layout --keep-recordings writes."""
    if not folder.is_dir():
        raise UserError(f"--from-files {folder}: not a folder; give one holding <command>/*.wav, none/*.wav "
                        "and silence/*.wav")
    takes: list[tuple[str, np.ndarray]] = []
    for sub in sorted(p for p in folder.iterdir() if p.is_dir()):
        if sub.name not in (OTHER, SILENCE):
            try:
                Intent(sub.name)
            except ValueError:
                raise UserError(f"{sub}: {sub.name!r} is not a command; name the folder after one (e.g. stop), "
                                f"or {OTHER} or {SILENCE}") from None
        for path in sorted(sub.glob("*.wav")):
            try:
                samples, rate = read_wav(path)
            except (OSError, EOFError, ValueError) as err:
                raise UserError(f"{path}: cannot read it as a WAV file ({err}); record it again") from None
            if sub.name == SILENCE:
                takes += [(SILENCE, p) for p in silence_pieces(as_utterance(samples, rate))]
                continue
            utterance = as_utterance(samples, rate)
            problem = check_take(utterance)
            # a recording cannot be said again: one too loud or quiet is still learnt from (felixchen's are
            # clipped, a median 2.4 % of samples at full scale), one with no word in it is not
            if problem in (NOTHING, TOO_LONG):
                log.warning("%s: left out: %s", path, problem.lower().rstrip("."))
                continue
            if problem:
                log.info("%s: %s", path, problem.lower().rstrip("."))
            takes.append((sub.name, utterance))
    if not any(label not in (OTHER, SILENCE) for label, _ in takes):
        raise UserError(f"--from-files {folder}: no usable command takes in <command>/*.wav (e.g. stop/1.wav)")
    return takes


def save(takes: Sequence[tuple[str, np.ndarray]], keep_recordings: bool) -> PersonalModel:
    """Build the model and put it (and the recordings, if kept) in place; all or nothing."""
    from skill.hearing.recognizer import open_engine

    # (what the general recognizer makes of each take: the model then knows what it mishears this voice as)
    general = open_engine(quiet=True, personal=False)
    model = PersonalModel.build([(OTHER if label == SILENCE else label, s) for label, s in takes], general)
    target = recordings_dir()
    staged: Path | None = None
    try:
        if keep_recordings:
            target.parent.mkdir(parents=True, exist_ok=True)
            staged = Path(tempfile.mkdtemp(prefix=".recordings-", dir=target.parent))
            counts: dict[str, int] = {}
            for label, samples in takes:
                counts[label] = counts.get(label, 0) + 1
                (staged / label).mkdir(exist_ok=True)
                write_wav(staged / label / f"{counts[label]}.wav", samples, ASR_RATE)
        model.save()
        # the old takes belong to the old model: replaced by these, or gone
        if target.exists():
            shutil.rmtree(target)
        if staged is not None:
            staged.rename(target)
            staged = None
    finally:
        if staged is not None:
            shutil.rmtree(staged, ignore_errors=True)
    return model


def reset() -> bool:
    """Forget the person's voice; whether there was anything to forget."""
    path = personal_model_path()
    had = path.exists() or recordings_dir().exists()
    path.unlink(missing_ok=True)
    shutil.rmtree(recordings_dir(), ignore_errors=True)
    return had


def summary(model: PersonalModel) -> str:
    commands = model.intents
    per = sorted({model.takes(i.value) for i in commands})
    each = f"{per[0]}" if len(per) == 1 else f"{per[0]}-{per[-1]}"
    return (f"{len(commands)} command{'s' if len(commands) != 1 else ''} ({', '.join(i.value for i in commands)}), "
            f"{each} take{'s' if per[-1] != 1 else ''} each, {model.takes(OTHER)} of other sounds")


def describe_in_use() -> str:
    """One line for `doctor` and `listen`: whether a personal model is in use."""
    from skill.hearing.personal import load_personal_model

    path = personal_model_path()
    if not path.exists():
        return "none (bedtime-stretch enroll teaches it your voice in two minutes)"
    model = load_personal_model(path)
    if model is None:
        return f"{path} cannot be read, so it is not used: run bedtime-stretch enroll again"
    return f"in use: {summary(model)}"


def main_message(model: PersonalModel) -> None:
    print(f"bedtime-stretch: learnt your voice: {summary(model)}; stored in {personal_model_path()}",
          file=sys.stderr)
