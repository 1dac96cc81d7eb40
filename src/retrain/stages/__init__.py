"""One module per DVC stage: pure core function(s) plus a thin `cli(argv) -> int`.

`write_tables_atomically` is the one output primitive the data stages share: every table is
written to a hidden temp file next to its target first, and only when all are written are they
renamed into place, so a failure leaves no half-written (or half-updated) output.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd


def write_tables_atomically(tables: dict[Path, pd.DataFrame]) -> None:
    """Write each frame to its parquet path: all of them, or (on error) none of them."""
    temps: dict[Path, Path] = {}
    try:
        for path, frame in tables.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            temps[path] = tmp
            frame.to_parquet(tmp, index=False)
        for path, tmp in temps.items():
            os.replace(tmp, path)
    finally:
        for tmp in temps.values():
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
