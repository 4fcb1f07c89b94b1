"""CPU time spent by the processes a benchmark drives: where each figure's cores went.

Read from Linux's /proc (None elsewhere): the seconds of CPU (user and system, with the
children they waited for) of every process whose command line matches, so a part can say
how many milliseconds of CPU one request or event cost the service, PostgreSQL and the
client, and so what the machine's cores allow at best.
"""

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def cpu_seconds(matches: Callable[[str], bool]) -> float | None:
    """Return the CPU seconds used so far by the running processes whose command line
    `matches` (None where /proc cannot be read). Processes that ended are not counted."""
    proc = Path("/proc")
    if not proc.is_dir():
        return None
    ticks = 0
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            if not matches(command):
                continue
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # gone meanwhile, or not ours to read
        ticks += sum(int(value) for value in fields[11:15])  # utime stime cutime cstime
    return ticks / _TICKS


def postgres(command: str) -> bool:
    """Tell whether a command line is a PostgreSQL server or backend process."""
    return command.startswith("postgres") or "/bin/postgres " in command


@dataclass(frozen=True)
class CpuSpent:
    """CPU seconds of the caseweave services, PostgreSQL and this process (the client);
    None where it cannot be measured. `CpuSpent.now()` after minus before is the run's."""

    service: float | None
    postgres: float | None
    client: float

    @classmethod
    def now(cls) -> "CpuSpent":
        """Return the CPU seconds each has used so far."""
        return cls(
            cpu_seconds(lambda command: "services.cli run" in command),
            cpu_seconds(postgres),
            time.process_time(),
        )

    def __sub__(self, before: "CpuSpent") -> "CpuSpent":
        def less(now: float | None, then: float | None) -> float | None:
            return None if now is None or then is None else now - then

        return CpuSpent(
            less(self.service, before.service),
            less(self.postgres, before.postgres),
            self.client - before.client,
        )

    def per(self, count: int, what: str, *, serial: bool, this: str = "client") -> str:
        """Say the CPU one `what` cost each and in all (µs below a millisecond); unless
        `serial` (one client waiting for each answer, whose work partly overlaps the next
        request's), the best rate the machine's cores leave, shared by all. `this` names
        what this process is (the clients, or a projection running in it)."""
        parts = {"service": self.service, "PostgreSQL": self.postgres, this: self.client}
        known = {name: spent for name, spent in parts.items() if spent}
        total = sum(known.values()) / count
        unit, scale = ("ms", 1e3) if total >= 1e-3 else ("µs", 1e6)
        each = ", ".join(f"{name} {spent / count * scale:.2f}" for name, spent in known.items())
        line = f"CPU {unit} per {what}: {each} (in all {total * scale:.2f})"
        cores = os.cpu_count() or 1
        return (
            line
            if serial or not total
            else f"{line}; {cores} cores: at most {cores / total:,.0f}/s"
        )
