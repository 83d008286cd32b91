"""WAV files of every common sample format read the same, and a long one is listened to in bounded memory."""

from __future__ import annotations

import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from skill.audio import write_wav
from skill.wav_reader import WavError, read_wav, wav_blocks

RATE = 22050
TONE = (0.5 * np.sin(2 * np.pi * 440 * np.arange(RATE // 2) / RATE)).astype(np.float32)


def write_raw_wav(path: Path, samples: np.ndarray, *, tag: int, bits: int, channels: int = 2,
                  extensible: bool = False) -> None:
    """A WAV written by hand, the way recorders write 24/32-bit and float files (Python's wave can't)."""
    frames = np.repeat(samples[:, None], channels, axis=1)
    if tag == 3:
        data = frames.astype("<f4" if bits == 32 else "<f8").tobytes()
    elif bits == 8:
        data = np.clip(frames * 128 + 128, 0, 255).astype(np.uint8).tobytes()
    elif bits == 24:
        ints = np.clip(frames * (1 << 23), -(1 << 23), (1 << 23) - 1).astype("<i4")
        data = ints.view(np.uint8).reshape(-1, 4)[:, :3].tobytes()
    else:
        scale, kind = {16: (1 << 15, "<i2"), 32: (1 << 31, "<i4")}[bits]
        data = np.clip(frames.astype(np.float64) * scale, -scale, scale - 1).astype(kind).tobytes()
    block = channels * bits // 8
    if extensible:
        fmt = struct.pack("<HHIIHHHHIH14s", 0xFFFE, channels, RATE, RATE * block, block, bits, 22, bits, 3, tag,
                          b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71")
    else:
        fmt = struct.pack("<HHIIHH", tag, channels, RATE, RATE * block, block, bits)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt
    body += b"LIST" + struct.pack("<I", 4) + b"INFO"  # a chunk to skip, as many editors add
    body += b"data" + struct.pack("<I", len(data)) + data
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)


@pytest.mark.parametrize(("tag", "bits", "extensible"), [(1, 8, False), (1, 16, False), (1, 24, False),
                                                         (1, 32, False), (3, 32, False), (3, 64, False),
                                                         (1, 24, True), (1, 32, True), (3, 32, True)])
def test_every_common_sample_format_reads_as_the_same_samples(tmp_path: Path, tag: int, bits: int,
                                                              extensible: bool) -> None:
    path = tmp_path / "x.wav"
    write_raw_wav(path, TONE, tag=tag, bits=bits, extensible=extensible)
    samples, rate = read_wav(path)
    assert rate == RATE and len(samples) == len(TONE)
    tolerance = 1.5 / 128 if bits == 8 else 1e-4
    assert np.max(np.abs(samples - TONE)) < tolerance


def test_a_file_cut_short_reads_what_it_holds(tmp_path: Path) -> None:
    path = tmp_path / "x.wav"
    write_raw_wav(path, TONE, tag=1, bits=16, channels=1)
    path.write_bytes(path.read_bytes()[:-1001])  # the data chunk says more than is there, and half a frame
    samples, _ = read_wav(path)
    assert len(samples) == len(TONE) - 501


@pytest.mark.parametrize(("content", "says"), [(b"", "no RIFF"), (b"RIFF\x00\x00\x00\x00WAVEdata\x00\x00\x00\x00",
                                                                  "before its fmt"),
                                               (b"ID3\x03" + b"\x00" * 60, "no RIFF")])
def test_not_a_wav_is_one_clear_error(tmp_path: Path, content: bytes, says: str) -> None:
    path = tmp_path / "x.wav"
    path.write_bytes(content)
    with pytest.raises(WavError, match=says):
        read_wav(path)


def test_compressed_wav_is_refused_with_what_to_do(tmp_path: Path) -> None:
    path = tmp_path / "x.wav"
    write_raw_wav(path, TONE, tag=1, bits=16)
    data = bytearray(path.read_bytes())
    data[20:22] = struct.pack("<H", 0x0055)  # MP3 in a WAV
    path.write_bytes(bytes(data))
    with pytest.raises(WavError, match="convert it"):
        read_wav(path)


def test_blocks_are_a_second_each(tmp_path: Path) -> None:
    path = tmp_path / "x.wav"
    write_wav(path, np.zeros(16000 * 5 + 100, np.float32), 16000)
    fmt, blocks = wav_blocks(path)
    sizes = [len(b) for b in blocks]
    assert fmt.seconds == pytest.approx(5.00625) and sizes == [16000] * 5 + [100]


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads the peak memory from Linux's /proc")
def test_recognize_listens_to_a_long_file_in_bounded_memory(tmp_path: Path) -> None:
    """Ten minutes of quiet with "next" in the middle: it is found at its time, and the process stays
    small (the whole-file path used to peak at about 10 GB for an hour)."""
    from skill.audio import read_wav as read_any
    from skill.speaking.voice import Voice

    said, rate = Voice().synthesize("Next.", 1.0)
    word = tmp_path / "next.wav"
    write_wav(word, said, rate)
    speech, _ = read_any(word)
    minutes = 10
    long_file = tmp_path / "long.wav"
    quiet = (0.001 * np.random.default_rng(1).standard_normal(rate * 60)).astype(np.float32)
    parts = [quiet] * (minutes // 2) + [speech] + [quiet] * (minutes // 2)
    write_wav(long_file, np.concatenate(parts), rate)
    # VmHWM is this program's own peak; ru_maxrss would also count the forked test runner's pages
    measured = ("import sys\nfrom pathlib import Path\nfrom skill.cli import main\ncode = main(sys.argv[1:])\n"
                "peak = [line.split()[1] for line in Path('/proc/self/status').read_text().splitlines()"
                " if line.startswith('VmHWM:')]\nprint(peak[0], file=sys.stderr)\nsys.exit(code)")
    done = subprocess.run([sys.executable, "-c", measured, "recognize", "--engine", "pocketsphinx", str(long_file)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    peak_mb = int(done.stderr.strip().splitlines()[-1]) / 1024
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 1 and lines[0].split("\t")[1] == "next", done.stdout
    at = float(lines[0].split("\t")[2].removeprefix("at "))
    assert 299 < at < 302
    assert peak_mb < 250, f"{peak_mb:.0f} MB"
