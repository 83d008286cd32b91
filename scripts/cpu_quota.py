"""A CPU quota for a process tree, through a cgroup of its own: v1 (`cpu.cfs_quota_us` under
/sys/fs/cgroup/cpu) or v2 (`cpu.max`), whichever this machine has. Needs root (or a delegated cgroup).

    with CpuQuota(0.25) as quota:                      # a quarter of one core
        subprocess.Popen(cmd, preexec_fn=quota.enter)  # the process and its children run inside it
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

PERIOD_US = 10_000
"""The quota is handed out per period; once a period's share is spent every task in the group stops until
the next. With the default 100 ms period a 25 % quota can stop the session for 75 ms, longer than the
speaker's buffer: nothing like a slower CPU, which never stops. 10 ms is closer to one (at 10 %, 1 ms, the
kernel's least quota)."""
V1_ROOT = Path("/sys/fs/cgroup/cpu")
V2_ROOTS = (Path("/sys/fs/cgroup"), Path("/sys/fs/cgroup/unified"))


def _v2_root() -> Path | None:
    for root in V2_ROOTS:
        controllers = root / "cgroup.controllers"
        if controllers.exists() and "cpu" in controllers.read_text().split():
            return root
    return None


class CpuQuota:
    """A cgroup limited to `share` of one core (0.25: 25 ms of CPU every 100 ms, over all its threads)."""

    def __init__(self, share: float, name: str | None = None, period_us: int = PERIOD_US):
        self.share = share
        self.period_us = period_us
        self.name = name or f"bedtime-bench-{os.getpid()}"
        self.path: Path | None = None
        self.version = 0

    def __enter__(self) -> CpuQuota:
        quota = max(1000, round(self.share * self.period_us))
        if (V1_ROOT / "cpu.cfs_quota_us").exists():
            self.version, self.path = 1, V1_ROOT / self.name
            self.path.mkdir(exist_ok=True)
            (self.path / "cpu.cfs_period_us").write_text(str(self.period_us))
            (self.path / "cpu.cfs_quota_us").write_text(str(quota))
            return self
        root = _v2_root()
        if root is None:
            raise RuntimeError("no cgroup cpu controller here (neither v1 cpu.cfs_quota_us nor v2 cpu.max)")
        (root / "cgroup.subtree_control").write_text("+cpu")
        self.version, self.path = 2, root / self.name
        self.path.mkdir(exist_ok=True)
        (self.path / "cpu.max").write_text(f"{quota} {self.period_us}")
        return self

    def enter(self) -> None:
        """Move the calling process into the cgroup (from `preexec_fn`: the child, before it runs)."""
        assert self.path is not None
        (self.path / "cgroup.procs").write_text(str(os.getpid()))

    def throttled_seconds(self) -> float:
        """How long the cgroup's tasks waited for quota, so far."""
        assert self.path is not None
        stat = dict(line.split() for line in (self.path / "cpu.stat").read_text().splitlines())
        if self.version == 1:
            return int(stat.get("throttled_time", 0)) / 1e9
        return int(stat.get("throttled_usec", 0)) / 1e6

    def __exit__(self, *exc: object) -> None:
        if self.path is not None and self.path.exists():
            with contextlib.suppress(OSError):  # a process still inside: left for the next run to reuse
                self.path.rmdir()
