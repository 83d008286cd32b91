"""A built wheel works on its own: the built-in routine, the model manifest and the data files are inside
it, and nothing is looked for in the repository (a `pip install .` or `pipx install` has no checkout)."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def unpacked_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--disable-pip-version-check", str(ROOT),
                    "-w", str(out)], check=True, capture_output=True, timeout=600)
    (wheel,) = out.glob("bedtime_stretch-*.whl")
    site = out / "site"
    with zipfile.ZipFile(wheel) as z:
        z.extractall(site)
    return site


def run_installed(site: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The command as an installed copy runs it: from the wheel's files, in a folder far from the checkout."""
    env = {**os.environ, "PYTHONPATH": str(site)}
    return subprocess.run([sys.executable, "-m", "skill", *args], capture_output=True, text=True, env=env,
                          cwd=site.parent, timeout=120)


@pytest.mark.slow
def test_the_wheel_holds_everything_the_program_reads(unpacked_wheel: Path) -> None:
    names = {str(p.relative_to(unpacked_wheel)) for p in unpacked_wheel.rglob("*") if p.is_file()}
    for needed in ("skill/builtin_routines/bedtime-lower-back.toml", "skill/model_manifest/manifest.toml",
                   "skill/data/phrases.toml", "skill/data/rejection.json", "skill/data/garbage_words.txt",
                   "skill/data/command_spotter.npz", "skill/py.typed"):
        assert needed in names
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    # every module of every subpackage, so a new folder left out of pyproject's list fails here
    checkout = {str(p.relative_to(ROOT)) for p in (ROOT / "skill").rglob("*.py")}
    assert checkout - names == set()


@pytest.mark.slow
def test_an_installed_copy_finds_its_routine_and_manifest(unpacked_wheel: Path) -> None:
    listed = run_installed(unpacked_wheel, "routines")
    assert listed.returncode == 0 and "bedtime-lower-back\tbuilt-in" in listed.stdout, listed.stderr
    shown = run_installed(unpacked_wheel, "show")
    assert shown.returncode == 0 and str(unpacked_wheel / "skill" / "builtin_routines") in shown.stdout
    models = run_installed(unpacked_wheel, "models", "list")
    assert models.returncode == 0 and "vosk-model-small-en-us-0.15" in models.stdout, models.stderr
    simulated = run_installed(unpacked_wheel, "simulate", "--command", "30:next")
    assert simulated.returncode == 0, simulated.stderr
    checked = run_installed(unpacked_wheel, "check", str(unpacked_wheel / "skill" / "builtin_routines" / "bedtime-lower-back.toml"))
    assert checked.returncode == 0, checked.stderr


@pytest.mark.slow
def test_an_installed_copy_hears_with_the_spotter_it_ships(unpacked_wheel: Path) -> None:
    from tests.asr_set import build, set_dir

    clip = next(c for c in build() if c.voice == "espeak-us-m7" and c.text == "stop" and c.noise == "clean")
    heard = run_installed(unpacked_wheel, "recognize", "--engine", "spotter", str(set_dir() / clip.path))
    assert heard.returncode == 0 and heard.stdout.endswith("\tstop\n"), heard.stderr
