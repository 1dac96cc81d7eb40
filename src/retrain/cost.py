"""What a stage costs: wall time, CPU seconds and peak memory of its own process, from the OS.

`retrain <stage> --cost metrics/cost/<stage>.json` (see `retrain.cli`) measures the whole
process with `getrusage` (the process and the children it waited for) and its start time from
`/proc`, so interpreter start-up and imports count. A budget (`cost.budget.<stage>` in
params.yaml) is enforced by the kernel: `RLIMIT_CPU` sends SIGXCPU when the process has used
its CPU seconds, which ends the stage with a clear error before it writes anything (every stage
writes its outputs atomically at the end); a process stuck in native code gets SIGKILL
`HARD_GRACE_S` later.
"""

from __future__ import annotations

import math
import os
import resource
import signal
import sys
import time
from pathlib import Path
from types import FrameType

from retrain.artifacts import StageCost
from retrain.errors import BudgetExceeded

# Extra CPU seconds past the budget before the kernel kills a process that did not stop.
HARD_GRACE_S = 30
_IMPORTED_AT = time.time()


def process_start_time() -> float:
    """Epoch seconds at which this process started (Linux /proc), else this module's import."""
    try:
        fields = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
        ticks = int(fields[19])  # field 22 (starttime), counted after the command name
        uptime = float(Path("/proc/uptime").read_text().split()[0])
        hz = os.sysconf("SC_CLK_TCK")
        return time.time() - uptime + ticks / hz
    except (OSError, ValueError, IndexError):
        return _IMPORTED_AT


def _rss_mb(kilobytes: int) -> float:
    # ru_maxrss is in kilobytes on Linux, bytes on macOS.
    return kilobytes / (1024 * 1024 if sys.platform == "darwin" else 1024)


def measure(stage: str, price_per_cpu_hour: float, budget_cpu_s: float | None = None) -> StageCost:
    """The cost of this process so far (call it last, just before writing the record)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    user = own.ru_utime + children.ru_utime
    system = own.ru_stime + children.ru_stime
    cpu = user + system
    return StageCost(
        stage=stage,
        wall_s=round(max(0.0, time.time() - process_start_time()), 3),
        cpu_s=round(cpu, 3),
        cpu_user_s=round(user, 3),
        cpu_system_s=round(system, 3),
        peak_rss_mb=round(_rss_mb(max(own.ru_maxrss, children.ru_maxrss)), 1),
        price_per_cpu_hour=price_per_cpu_hour,
        usd=round(cpu / 3600 * price_per_cpu_hour, 8),
        budget_cpu_s=budget_cpu_s,
    )


def enforce_cpu_budget(stage: str, cpu_seconds: float, key: str) -> None:
    """Make the kernel stop this process once it has used `cpu_seconds` of CPU.

    `key` is the params key to raise, named in the error."""
    soft = max(1, math.ceil(cpu_seconds))
    _, hard = resource.getrlimit(resource.RLIMIT_CPU)
    new_hard = soft + HARD_GRACE_S
    if hard != resource.RLIM_INFINITY:
        new_hard = min(new_hard, hard)
        soft = min(soft, hard)

    def on_limit(signum: int, frame: FrameType | None) -> None:
        raise BudgetExceeded(
            f"the {stage} stage used its CPU budget of {cpu_seconds:g} s and was stopped; "
            "nothing was written",
            f"raise {key} in params.yaml, or make the stage cheaper (e.g. a smaller train.budget)",
        )

    signal.signal(signal.SIGXCPU, on_limit)
    resource.setrlimit(resource.RLIMIT_CPU, (soft, new_hard))
