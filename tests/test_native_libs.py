"""A Python module whose own shared library does not load raises OSError on import, not ImportError: Vosk
does so on arm64 without libatomic.so.1 (found by scripts/pi-check). It must give a message, not a traceback."""

from __future__ import annotations

import importlib.abc
import sys
from pathlib import Path

import pytest

from skill.errors import UserError


class _NoSharedLibrary(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):  # type: ignore[no-untyped-def]
        if name == "vosk":
            raise OSError("cannot load library 'libvosk.so': libatomic.so.1: cannot open shared object file")
        return None


@pytest.fixture
def vosk_without_its_library(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(sys.modules, "vosk", raising=False)
    monkeypatch.setattr(sys, "meta_path", [_NoSharedLibrary(), *sys.meta_path])


def test_vosk_that_does_not_load_is_a_user_error(vosk_without_its_library: None, tmp_path: Path) -> None:
    from skill.hearing.recognizer import VoskEngine

    with pytest.raises(UserError, match="libatomic1"):
        VoskEngine(tmp_path, ["stop"])


def test_doctor_says_vosk_does_not_load(vosk_without_its_library: None) -> None:
    from skill.cli.doctor import check_models

    vosk = [f for f in check_models() if f.what == "vosk"]
    assert len(vosk) == 1 and not vosk[0].ok and "libatomic" in vosk[0].fix
