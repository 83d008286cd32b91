"""Sound devices through sounddevice/PortAudio: finding them by name or number, and friendly errors."""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType

from skill.errors import UserError


class NoDevice(UserError):
    """There is no usable microphone or speaker (the session can fall back)."""


def sounddevice() -> ModuleType:
    """The sounddevice module, or a one-line error naming the package to install."""
    try:
        import sounddevice as sd
    except OSError:
        raise NoDevice("PortAudio is missing: install it with `sudo apt-get install libportaudio2` "
                       "(macOS: `brew install portaudio`), then try again") from None
    return sd


@dataclass(frozen=True)
class Device:
    index: int
    name: str
    hostapi: str
    inputs: int
    outputs: int
    rate: int
    """The device's default sample rate, Hz."""
    default_input: bool = False
    default_output: bool = False


def list_devices() -> list[Device]:
    sd = sounddevice()
    try:
        raw = sd.query_devices()
        apis = sd.query_hostapis()
    except sd.PortAudioError as err:
        raise NoDevice(f"cannot list sound devices: {err}") from None
    default_in, default_out = _defaults(sd)
    return [Device(index=i, name=d["name"], hostapi=apis[d["hostapi"]]["name"], inputs=d["max_input_channels"],
                   outputs=d["max_output_channels"], rate=int(d["default_samplerate"]),
                   default_input=i == default_in, default_output=i == default_out) for i, d in enumerate(raw)]


def _defaults(sd: ModuleType) -> tuple[int, int]:
    try:
        dev_in, dev_out = sd.default.device
    except (TypeError, ValueError):
        dev_in = dev_out = sd.default.device
    return (dev_in if dev_in is not None else -1), (dev_out if dev_out is not None else -1)


def _find(spec: str | int | None, kind: str) -> Device:
    devices = list_devices()
    usable = [d for d in devices if (d.inputs if kind == "input" else d.outputs) > 0]
    what = "microphone" if kind == "input" else "speaker"
    option = f"--{kind}-device"
    if spec is None or spec == "":
        default = [d for d in usable if (d.default_input if kind == "input" else d.default_output)]
        if default:
            return default[0]
        if usable:
            return usable[0]
        raise NoDevice(f"no {what} found (plug one in; `bedtime-stretch devices` lists what there is)")
    text = str(spec).strip()
    if text.isdigit():
        match = [d for d in usable if d.index == int(text)]
    else:
        match = [d for d in usable if text.lower() in d.name.lower()]
    if not match:
        names = "; ".join(f"{d.index}: {d.name}" for d in usable) or "none"
        raise NoDevice(f"{option} {text}: no {what} by that name or number (there are: {names})")
    return match[0]


def find_output_device(spec: str | int | None = None) -> Device:
    """The speaker: by number, by part of its name (case-insensitive), or the default."""
    return _find(spec, "output")


def find_input_device(spec: str | int | None = None) -> Device:
    """The microphone: by number, by part of its name (case-insensitive), or the default."""
    return _find(spec, "input")


def describe() -> str:
    """The `devices` listing: inputs and outputs, the defaults marked."""
    lines = []
    devices = list_devices()
    for kind in ("input", "output"):
        lines.append("Microphones (--input-device):" if kind == "input" else "\nSpeakers (--output-device):")
        chosen = [d for d in devices if (d.inputs if kind == "input" else d.outputs) > 0]
        if not chosen:
            lines.append("  (none)")
        for d in chosen:
            default = d.default_input if kind == "input" else d.default_output
            mark = "*" if default else " "
            lines.append(f" {mark}{d.index:3d}  {d.name}  ({d.hostapi}, {d.rate} Hz)")
    lines.append("\n* = the default. Give a device by part of its name: names stay put across reboots, "
                 "numbers may not.")
    return "\n".join(lines)
