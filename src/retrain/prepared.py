"""Reading the prepare stage's splits (`build/prepared/*.parquet`) with clear errors."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from retrain import fileio
from retrain.errors import UserError

if TYPE_CHECKING:
    import pandas as pd


def read_test_window(path: Path, label: str = "label") -> pd.DataFrame:
    path = Path(path)
    if not path.is_file():
        raise UserError(f"test file not found: {path}", "run the prepare stage (dvc repro)")
    frame = fileio.read_parquet(path, "test file", "re-run prepare")
    if label not in frame.columns:
        raise UserError(f"{path} has no '{label}' column", "re-run the prepare stage")
    if len(frame) == 0:
        raise UserError(f"{path} has no rows", "check the test window in params.yaml prepare")
    if frame[label].isna().any():
        raise UserError(f"{path}: column '{label}' has missing values", "re-run prepare")
    return frame


def read_table(path: Path, what: str) -> pd.DataFrame:
    if not path.is_file():
        raise UserError(f"{what} {path} not found", "run the upstream stages (dvc repro prepare)")
    return fileio.read_parquet(path, what, "re-run prepare")
