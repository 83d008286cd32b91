"""Speech models on disk: where they are looked for, and the checked, atomic download."""

from __future__ import annotations

import contextlib
import hashlib
import shutil
import sys
import tempfile
import tomllib
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from skill.errors import UserError
from skill.paths import SHIPPED_MODELS, data_dir

MANIFEST = SHIPPED_MODELS / "manifest.toml"
VOSK_MODEL = "vosk-model-small-en-us-0.15"


def model_dirs() -> list[Path]:
    """The checkout's models/ first (in a wheel: only the manifest is there), then the data dir's."""
    return [SHIPPED_MODELS, data_dir() / "models"]


def is_vosk_model(path: Path) -> bool:
    return (path / "am" / "final.mdl").is_file() and (path / "conf").is_dir()


def find_vosk_model(name: str = VOSK_MODEL) -> Path | None:
    for folder in model_dirs():
        candidate = folder / name
        if is_vosk_model(candidate):
            return candidate
    return None


def manifest() -> dict[str, dict]:
    with MANIFEST.open("rb") as f:
        return tomllib.load(f)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


CONNECT_TIMEOUT_SECONDS = 20.0
"""How long to wait for the host to answer at all."""
READ_TIMEOUT_SECONDS = 60.0
"""How long the download may go without a byte before it is given up."""


def download(name: str = VOSK_MODEL, dest: Path | None = None, progress: Callable[[int, int], None] | None = None,
             opener: Callable[..., Any] = urllib.request.urlopen, url: str | None = None) -> Path:
    """Fetch, verify and unpack a model from the manifest (from `url` instead, if given); return where it is."""
    entries = {e["name"]: e for e in manifest().values()}
    if name not in entries:
        raise UserError(f"{MANIFEST}: no model named {name!r} (known: {', '.join(entries)})")
    entry = entries[name]
    url = url or entry["url"]
    dest = dest or data_dir() / "models"
    target = dest / name
    if is_vosk_model(target):
        return target
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest, prefix=".download-") as tmp:
        archive = Path(tmp) / "model.zip"
        phase = "connecting"
        try:
            with opener(url, timeout=CONNECT_TIMEOUT_SECONDS) as response, archive.open("wb") as out:
                phase = "downloading"
                _set_read_timeout(response, READ_TIMEOUT_SECONDS)
                total = int(response.headers.get("Content-Length") or 0)
                done = 0
                while block := response.read(1 << 16):
                    out.write(block)
                    done += len(block)
                    if progress:
                        progress(done, total or done)
        except TimeoutError as err:
            if phase == "connecting":
                raise UserError(f"cannot download {url}: the host did not answer within "
                                f"{CONNECT_TIMEOUT_SECONDS:.0f} s (connect timeout; are you online? or unzip the "
                                f"model by hand into {dest})") from None
            raise UserError(f"cannot download {url}: no data for {READ_TIMEOUT_SECONDS:.0f} s (read timeout, "
                            f"{err}); nothing was installed, try again") from None
        except (urllib.error.URLError, OSError) as err:
            reason = getattr(err, "reason", err)
            if isinstance(reason, TimeoutError):
                raise UserError(f"cannot download {url}: the host did not answer within "
                                f"{CONNECT_TIMEOUT_SECONDS:.0f} s (connect timeout; are you online? or unzip the "
                                f"model by hand into {dest})") from None
            raise UserError(f"cannot download {url}: {reason} (are you online? "
                            f"or unzip the model by hand into {dest})") from None
        actual = _sha256(archive)
        if actual != entry["sha256"]:
            raise UserError(f"{url}: the download is not the expected file (sha256 {actual[:16]}..., "
                            f"expected {entry['sha256'][:16]}...); nothing was installed, try again")
        unpacked = Path(tmp) / "unpacked"
        try:
            with zipfile.ZipFile(archive) as z:
                z.extractall(unpacked)
        except zipfile.BadZipFile as err:
            raise UserError(f"{entry['url']}: the archive is damaged ({err}); try again") from None
        inner = unpacked / name if (unpacked / name).is_dir() else unpacked
        if not is_vosk_model(inner):
            raise UserError(f"{entry['url']}: the archive does not hold a Vosk model; nothing was installed")
        if target.exists():
            shutil.rmtree(target)
        inner.rename(target)  # same filesystem: the model appears whole or not at all
    return target


def _set_read_timeout(response: object, seconds: float) -> None:
    """Once connected, the socket's timeout is the wait allowed between bytes (http.client keeps it
    several wrappers down; a response without one, as in tests, keeps what it has)."""
    sock = getattr(getattr(getattr(response, "fp", None), "raw", None), "_sock", None)
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.settimeout(seconds)


def describe() -> str:
    found = find_vosk_model()
    lines = [f"vosk: {found}" if found else f"vosk: not installed ({VOSK_MODEL}; `bedtime-stretch models download`)"]
    try:
        from pocketsphinx import get_model_path

        lines.append(f"pocketsphinx: built in ({get_model_path()}/en-us)")
    except ImportError:
        lines.append("pocketsphinx: not installed")
    lines.append(f"a session will use: {'vosk' if found else 'pocketsphinx'}")
    return "\n".join(lines)


def stderr_progress(label: str) -> Callable[[int, int], None]:
    from skill.speaking.voice import progress_bar

    return progress_bar(label, sys.stderr)
