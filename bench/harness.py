"""Whole-process measurement: wall time and peak RSS of a command (and its waited children).

`os.wait4` returns the rusage of that one child; on Linux its ru_maxrss is the peak over the
child and every descendant it waited for, so a `dvc repro` spawning stages is covered.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).with_name("results")


def measure(
    cmd: list[str],
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    ok_exits: tuple[int, ...] = (0,),
) -> dict[str, Any]:
    """Whole-process wall, CPU and peak RSS of `cmd`, and its exit code (one of `ok_exits`,
    else RuntimeError with the end of its stderr)."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    stderr = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode not in ok_exits:
        raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}:\n{stderr[-2000:]}")
    return {
        "exit": proc.returncode,
        "wall_s": round(wall, 3),
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 3),
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
    }


def repeat(cmd: list[str], n: int, **kwargs: Any) -> dict[str, Any]:
    return summarize([measure(cmd, **kwargs) for _ in range(n)])


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians of `measure` results (e.g. runs of several commands alternated by the caller)."""
    walls = [r["wall_s"] for r in runs]
    return {
        "runs": len(runs),
        "wall_s_median": round(statistics.median(walls), 3),
        "wall_s_min": min(walls),
        "cpu_s_median": round(statistics.median(r["cpu_s"] for r in runs), 3),
        "peak_rss_mb": max(r["peak_rss_mb"] for r in runs),
    }


def save(name: str, payload: dict[str, Any]) -> Path:
    RESULTS.mkdir(exist_ok=True)
    payload = {
        "machine": f"{os.cpu_count()} cores",
        "measured_at": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        **payload,
    }
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(payload, indent=2) + "\n")
    return path


def set_dotted(params: dict[str, Any], key: str, value: str) -> None:
    """params[a][b][c] = YAML `value` for `key` "a.b.c" (sections made as needed): a bench's
    `--set KEY=YAML` override of a params.yaml copy."""
    import yaml

    *path, last = key.split(".")
    section = params
    for part in path:
        section = section.setdefault(part, {})
    section[last] = yaml.safe_load(value)
