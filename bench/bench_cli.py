"""`retrain --help` start-up time (goal < 1 s) and a no-op `dvc repro` on an up-to-date pipeline.

Run from the project root after `make pipeline` (the no-op part needs a completed pipeline).
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from harness import measure, repeat, save


def main() -> None:
    retrain = shutil.which("retrain") or "retrain"
    result = {"retrain_help": repeat([retrain, "--help"], 5)}
    if Path("dvc.lock").is_file():
        measure(["dvc", "repro"])  # bring up to date first (no-op when it already is)
        result["dvc_repro_noop"] = repeat(["dvc", "repro"], 3)
    print(save("cli", result))
    print(result)


if __name__ == "__main__":
    main()
