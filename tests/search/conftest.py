"""Tiny prepared tables (tests/fixtures/train) and fast search settings for the search tests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from retrain.config import load_params
from retrain.search.study import SearchSettings

TRAIN_FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "train"


@pytest.fixture(scope="session")
def train_frame() -> pd.DataFrame:
    return pd.read_parquet(TRAIN_FIXTURES / "train.parquet")


@pytest.fixture(scope="session")
def test_frame() -> pd.DataFrame:
    return pd.read_parquet(TRAIN_FIXTURES / "test.parquet")


def _small_settings(**train_updates: object) -> SearchSettings:
    """The fixture params (4 trials, 2 folds, tiny estimators) with train-section overrides."""
    params = load_params(TRAIN_FIXTURES / "params.yaml")
    train = params.train.model_copy(update=train_updates)
    return SearchSettings(
        train=train,
        task=params.base.task,
        seed=params.base.seed,
        key=params.base.key,
        event_time=params.base.event_time,
    )


@pytest.fixture
def small_settings() -> Callable[..., SearchSettings]:
    return _small_settings
