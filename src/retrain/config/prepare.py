"""`prepare` section of params.yaml: how features become train/test tables."""

from __future__ import annotations

import datetime as dt

from pydantic import Field, model_validator

from retrain.config.base import Section
from retrain.config.extract import Window


class PrepareSection(Section):
    # Time-ordered split, used when the features have `base.event_time` (windows without their
    # own `timezone` are read in base.timezone).
    train_window: Window = Window(start=dt.datetime(2013, 1, 1), end=dt.datetime(2013, 10, 1))
    test_window: Window = Window(start=dt.datetime(2013, 10, 1), end=dt.datetime(2014, 1, 1))
    # Share of rows on the test side of the hash split (no event time): a row is a test row
    # when the hash of its identity, in [0, 1), is below it (stable across seeds and runs).
    # At most half: a larger test share leaves the model less data than it is judged on.
    test_size: float = Field(0.2, gt=0.0, le=0.5)
    # Columns known only after the outcome (leakage): never a model input. The raw target is
    # dropped whether or not it is listed. None by default (the flights list their delays/times).
    drop_columns: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _train_before_test(self) -> PrepareSection:
        train_end = self.train_window.bounds_utc()[1]
        test_start = self.test_window.bounds_utc()[0]
        if train_end > test_start:
            raise ValueError(
                f"train_window ends ({self.train_window.end}) after test_window starts "
                f"({self.test_window.start}); the test period must follow the training period"
            )
        return self
