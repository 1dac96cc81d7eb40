"""Out-of-fold predictions of every trial, kept where every worker of a shared study reads them.

A worker's own trials' predictions live in its memory; the ensemble of a shared study must be
chosen from *all* workers' trials, so with `train.storage` set each complete trial also writes its
predictions to a table of the same database as the Optuna study (`retrain_trial_oof`, created on
first use; PostgreSQL or sqlite, through SQLAlchemy like Optuna itself). One row per (study,
trial): the per-fold arrays as a compressed `.npz` (float64, no pickle), so the
ensemble computed from the table is exactly the one a single process would compute in memory.
Optuna's trial user attributes would hold them too, but as JSON text (several MB per trial on a
month of flights, parsed whenever any trial is read).
"""

from __future__ import annotations

import io
import time
from typing import Any

import numpy as np

TABLE = "retrain_trial_oof"


class OofStore:
    """Read/write the out-of-fold predictions of a study's trials in the storage database."""

    def __init__(self, url: str) -> None:
        import sqlalchemy as sa

        kwargs: dict[str, Any] = {}
        if url.startswith("sqlite"):
            kwargs["connect_args"] = {"timeout": 60}  # several workers write one sqlite file
        self._engine = sa.create_engine(url, **kwargs)
        meta = sa.MetaData()
        self._table = sa.Table(
            TABLE,
            meta,
            sa.Column("study_name", sa.String(512), primary_key=True),
            sa.Column("trial_number", sa.Integer, primary_key=True),
            sa.Column("predictions", sa.LargeBinary, nullable=False),
        )
        # Workers starting together race to create the table: the loser retries (then sees it).
        for attempt in range(5):
            try:
                meta.create_all(self._engine, checkfirst=True)
                break
            except sa.exc.SQLAlchemyError:
                if attempt == 4:
                    raise
                time.sleep(0.5 * (attempt + 1))

    def save(self, study_name: str, number: int, predictions: list[np.ndarray]) -> None:
        buffer = io.BytesIO()
        np.savez_compressed(
            buffer,
            **{f"fold_{k}": np.asarray(p, dtype=np.float64) for k, p in enumerate(predictions)},
        )
        with self._engine.begin() as conn:
            # A retried trial number never repeats in Optuna; delete-then-insert keeps it simple.
            conn.execute(
                self._table.delete().where(
                    (self._table.c.study_name == study_name)
                    & (self._table.c.trial_number == number)
                )
            )
            conn.execute(
                self._table.insert().values(
                    study_name=study_name, trial_number=number, predictions=buffer.getvalue()
                )
            )

    def load(self, study_name: str, numbers: list[int]) -> dict[int, list[np.ndarray]]:
        """The predictions of those trials that have them (a trial killed mid-write has none)."""
        if not numbers:
            return {}
        table = self._table
        query = table.select().where(
            (table.c.study_name == study_name) & (table.c.trial_number.in_(numbers))
        )
        out: dict[int, list[np.ndarray]] = {}
        with self._engine.connect() as conn:
            for row in conn.execute(query):
                with np.load(io.BytesIO(row.predictions), allow_pickle=False) as arrays:
                    out[int(row.trial_number)] = [
                        arrays[f"fold_{k}"] for k in range(len(arrays.files))
                    ]
        return out

    def close(self) -> None:
        self._engine.dispose()
