"""The dependency-free catalogue of drift statistics (retrain.statnames) and what reads it."""

from __future__ import annotations

import subprocess
import sys

import pytest

from retrain import statnames
from retrain.config import parse_params
from retrain.errors import UserError


def test_registry_and_catalogue_list_the_same_statistics() -> None:
    from retrain.monitor import stats

    assert set(stats.STATISTICS) == set(statnames.CATALOGUE)
    for name, info in statnames.CATALOGUE.items():
        registered = stats.STATISTICS[name]
        assert (registered.kinds, registered.uses_p_value, registered.default_threshold) == (
            info.kinds,
            info.uses_p_value,
            info.default_threshold,
        ), name
    assert stats.DEFAULT_THRESHOLDS == statnames.DEFAULT_THRESHOLDS


def test_monitor_defaults_come_from_the_catalogue() -> None:
    monitor = parse_params({}).monitor
    assert monitor.thresholds == statnames.DEFAULT_THRESHOLDS
    custom = parse_params({"monitor": {"thresholds": {"psi": 0.3}}}).monitor
    assert custom.threshold("psi") == 0.3
    assert custom.threshold("ks") == statnames.DEFAULT_THRESHOLDS["ks"]


def test_params_name_checks_use_the_catalogue() -> None:
    with pytest.raises(UserError, match="unknown drift statistic 'kolmogorov'.*known statistics"):
        parse_params({"monitor": {"numeric_statistic": "kolmogorov"}})
    with pytest.raises(UserError, match="'ks' does not apply to categorical"):
        parse_params({"monitor": {"categorical_statistic": "ks"}})
    with pytest.raises(UserError, match="unknown drift statistic 'nope'"):
        parse_params({"monitor": {"thresholds": {"nope": 0.1}}})


def test_loading_params_does_not_import_numpy() -> None:
    code = (
        "import sys; from retrain.config import parse_params; parse_params({}); "
        "heavy = [m for m in ('numpy', 'pandas', 'scipy') if m in sys.modules]; "
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_family_name_is_defined_once() -> None:
    from retrain.config import replay, train

    assert replay.FamilyName is train.FamilyName
