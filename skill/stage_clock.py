"""CPU time by stage of the live session, for `scripts/bench_session.py --profile`.

Off unless $BEDTIME_STRETCH_PROFILE names a file: then each stage's thread CPU time is added up
(time.thread_time around it; an inner stage's time is its own, not its caller's), and the session writes
the totals there as JSON when it ends. Off, `stage()` hands back one shared do-nothing context.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Any

ENV = "BEDTIME_STRETCH_PROFILE"
ENABLED = bool(os.environ.get(ENV))

_totals: dict[str, float] = {}
_lock = threading.Lock()
_local = threading.local()


class _Timed:
    __slots__ = ("inner", "name", "started")

    def __init__(self, name: str):
        self.name = name
        self.started = 0.0
        self.inner = 0.0

    def __enter__(self) -> None:
        stack: list[_Timed] = _local.__dict__.setdefault("stack", [])
        stack.append(self)
        self.inner = 0.0
        self.started = time.thread_time()

    def __exit__(self, kind: type[BaseException] | None, err: BaseException | None,
                 tb: TracebackType | None) -> None:
        spent = time.thread_time() - self.started
        stack: list[_Timed] = _local.stack
        stack.pop()
        if stack:
            stack[-1].inner += spent
        add(self.name, spent - self.inner)


_OFF = contextlib.nullcontext()


def stage(name: str) -> contextlib.AbstractContextManager[None]:
    """`with stage("echo cancelling"): ...` adds the block's thread CPU time to that stage."""
    return _Timed(name) if ENABLED else _OFF


def add(name: str, seconds: float) -> None:
    with _lock:
        _totals[name] = _totals.get(name, 0.0) + seconds


def reset() -> None:
    with _lock:
        _totals.clear()


def totals() -> dict[str, float]:
    with _lock:
        return dict(_totals)


def process_cpu_seconds(pid: int | None = None) -> float:
    """User + system CPU of a process so far (this one by default), from /proc (Linux)."""
    if pid is None:
        return time.process_time()
    stat = _read_stat(Path(f"/proc/{pid}/stat"))
    return stat[1] if stat is not None else 0.0


def _read_stat(path: Path) -> tuple[str, float] | None:
    """A /proc stat file's command name and user + system CPU seconds; None where it is gone."""
    try:
        head, tail = path.read_text().rsplit(")", 1)
    except OSError:
        return None
    fields = tail.split()
    return head.split("(", 1)[1], (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def thread_cpu_seconds() -> dict[str, float]:
    """CPU so far of each live thread of this process, by name (Python's name, else the kernel's), from /proc.

    Native threads (PortAudio's, onnxruntime's) have only the kernel's name; a thread that has ended is in
    the process's total but not here.
    """
    names = {t.native_id: t.name for t in threading.enumerate() if t.native_id is not None}
    out: dict[str, float] = {}
    for task in Path("/proc/self/task").glob("*"):
        stat = _read_stat(task / "stat")
        if stat is None:
            continue
        comm, cpu = stat
        name = names.get(int(task.name)) or f"{comm} (native)"
        out[name] = out.get(name, 0.0) + cpu
    return out


def thread_cpu_since(before: dict[str, float]) -> dict[str, float]:
    """Each thread's CPU since `before` (a `thread_cpu_seconds()`); a thread born since counts in full."""
    return {name: cpu - before.get(name, 0.0) for name, cpu in thread_cpu_seconds().items()}


def write_report(extra: dict[str, Any]) -> None:
    """The totals (and `extra`) into $BEDTIME_STRETCH_PROFILE, when profiling."""
    path = os.environ.get(ENV)
    if not path:
        return
    Path(path).write_text(json.dumps({"stages": totals(), **extra}, indent=1))
