"""Drift statistics on crafted samples whose answers are known (computed by hand below)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from retrain.errors import UserError
from retrain.monitor import stats

NUMERIC = ["ks", "wasserstein", "psi", "jensenshannon"]
CATEGORICAL = ["chisquare", "psi", "jensenshannon"]


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(7)


def test_registry_holds_the_five_statistics() -> None:
    assert set(stats.STATISTICS) == {"ks", "wasserstein", "chisquare", "psi", "jensenshannon"}
    assert stats.STATISTICS["ks"].kinds == {"numeric"}
    assert stats.STATISTICS["chisquare"].kinds == {"categorical"}
    assert stats.STATISTICS["psi"].kinds == {"numeric", "categorical"}


@pytest.mark.parametrize("name", NUMERIC)
def test_identical_numeric_samples_do_not_drift(name: str, rng: np.random.Generator) -> None:
    sample = rng.normal(size=3000)
    result = stats.compare(name, sample, sample.copy(), kind="numeric")
    assert not result.drifted
    assert result.score == pytest.approx(0.0, abs=1e-9)
    if result.p_value is not None:
        assert result.p_value == pytest.approx(1.0)


@pytest.mark.parametrize("name", NUMERIC)
def test_shifted_numeric_samples_drift(name: str, rng: np.random.Generator) -> None:
    reference = rng.normal(0.0, 1.0, size=3000)
    current = rng.normal(1.0, 1.0, size=3000)  # one standard deviation to the right
    result = stats.compare(name, reference, current, kind="numeric")
    assert result.drifted, result


@pytest.mark.parametrize("name", CATEGORICAL)
def test_identical_categorical_samples_do_not_drift(name: str) -> None:
    sample = np.array(["AA", "B6", "DL", "UA"] * 250, dtype=object)
    result = stats.compare(name, sample, sample[::-1].copy(), kind="categorical")
    assert not result.drifted
    assert result.score == pytest.approx(0.0, abs=1e-9)


@pytest.mark.parametrize("name", CATEGORICAL)
def test_new_category_drifts(name: str) -> None:
    reference = np.array(["a"] * 500 + ["b"] * 500, dtype=object)
    current = np.array(["a"] * 500 + ["b"] * 250 + ["c"] * 250, dtype=object)
    assert stats.compare(name, reference, current, kind="categorical").drifted


def test_psi_categorical_known_value() -> None:
    reference = np.array(["a"] * 50 + ["b"] * 50, dtype=object)
    current = np.array(["a"] * 50 + ["b"] * 25 + ["c"] * 25, dtype=object)
    # p = (.5, .5, 0 -> 1e-4), q = (.5, .25, .25)
    expected = (0.25 - 0.5) * math.log(0.25 / 0.5) + (0.25 - 1e-4) * math.log(0.25 / 1e-4)
    result = stats.compare("psi", reference, current, kind="categorical")
    assert result.score == pytest.approx(expected, rel=1e-9)
    assert result.score == pytest.approx(2.1285, abs=1e-3)
    assert result.p_value is None


def test_jensenshannon_categorical_known_value() -> None:
    reference = np.array(["a"] * 50 + ["b"] * 50, dtype=object)
    current = np.array(["a"] * 50 + ["b"] * 25 + ["c"] * 25, dtype=object)
    p, q = [0.5, 0.5, 0.0], [0.5, 0.25, 0.25]
    m = [(a + b) / 2 for a, b in zip(p, q, strict=True)]

    def kl(x: list[float]) -> float:
        return sum(a * math.log2(a / c) for a, c in zip(x, m, strict=True) if a > 0)

    expected = math.sqrt((kl(p) + kl(q)) / 2)
    result = stats.compare("jensenshannon", reference, current, kind="categorical")
    assert result.score == pytest.approx(expected, rel=1e-9)
    assert result.score == pytest.approx(0.3945, abs=1e-4)
    assert result.drifted


def test_psi_numeric_known_value_on_two_bins() -> None:
    reference = np.arange(100, dtype=float)  # median edge 49.5 -> (50, 50)
    current = np.concatenate([np.arange(25.0), np.arange(50.0, 125.0)])  # (25, 75)
    expected = (0.25 - 0.5) * math.log(0.25 / 0.5) + (0.75 - 0.5) * math.log(0.75 / 0.5)
    result = stats.compare("psi", reference, current, kind="numeric", bins=2)
    assert result.score == pytest.approx(expected, rel=1e-9)
    assert result.drifted  # 0.275 >= 0.2


def test_ks_known_statistic() -> None:
    result = stats.compare("ks", np.arange(100.0), np.arange(50.0, 150.0), kind="numeric")
    assert result.score == pytest.approx(0.5)
    assert result.p_value is not None and result.p_value < 1e-6
    assert result.drifted


def test_wasserstein_is_normalised_by_reference_std() -> None:
    reference = np.array([0.0, 1.0, 2.0, 3.0])
    result = stats.compare("wasserstein", reference, reference + 1.0, kind="numeric")
    assert result.score == pytest.approx(1.0 / reference.std())
    # Same shift in other units gives the same score: the threshold is unit-free.
    scaled = stats.compare("wasserstein", reference * 100, reference * 100 + 100, kind="numeric")
    assert scaled.score == pytest.approx(result.score)


def test_threshold_decides_the_verdict() -> None:
    reference = np.arange(100, dtype=float)
    current = np.concatenate([np.arange(25.0), np.arange(50.0, 125.0)])
    score = stats.compare("psi", reference, current, kind="numeric", bins=2).score
    below = stats.compare("psi", reference, current, kind="numeric", bins=2, threshold=score - 1e-6)
    above = stats.compare("psi", reference, current, kind="numeric", bins=2, threshold=score + 1e-6)
    assert below.drifted and not above.drifted
    assert above.threshold == pytest.approx(score + 1e-6)


def test_p_value_statistics_drift_below_alpha_only() -> None:
    reference = np.array(["a"] * 500 + ["b"] * 500, dtype=object)
    current = np.array(["a"] * 520 + ["b"] * 480, dtype=object)
    # expected counts 510 / 490 per row: chi2 = 2 * (10^2/510 + 10^2/490) = 0.80, p ~ 0.37
    result = stats.compare("chisquare", reference, current, kind="categorical")
    assert result.score == pytest.approx(2 * (100 / 510 + 100 / 490), rel=1e-9)
    assert not result.drifted
    assert stats.compare("chisquare", reference, current, kind="categorical", threshold=0.5).drifted


def test_missing_share_jump_is_drift_for_binned_statistics(rng: np.random.Generator) -> None:
    reference = rng.normal(size=2000)
    current = reference.copy()
    current[:800] = np.nan  # 40% of values go missing, the rest unchanged
    assert stats.compare("psi", reference, current, kind="numeric").drifted
    assert stats.compare("jensenshannon", reference, current, kind="numeric").drifted
    # KS only sees the remaining values.
    assert not stats.compare("ks", reference, current, kind="numeric").drifted


def test_empty_side_gives_undefined_score_not_a_crash() -> None:
    result = stats.compare("ks", np.array([np.nan, np.nan]), np.arange(5.0), kind="numeric")
    assert math.isnan(result.score) and not result.drifted
    assert result.to_dict()["score"] is None


def test_discrete_numeric_feature_with_repeated_quantiles() -> None:
    reference = np.repeat([6, 7, 8], [10, 980, 10]).astype(float)  # almost constant
    current = np.repeat([6, 7, 8], [10, 490, 500]).astype(float)
    assert stats.compare("psi", reference, current, kind="numeric").drifted
    assert not stats.compare("psi", reference, reference, kind="numeric").drifted


def test_effect_size_defaults_ignore_a_tiny_shift_that_ks_flags_at_80k_rows(
    rng: np.random.Generator,
) -> None:
    # Why the defaults are PSI / Jensen-Shannon: at this size a 0.03-sd shift is "significant".
    reference = rng.normal(0.0, 1.0, size=80_000)
    current = rng.normal(0.03, 1.0, size=80_000)
    assert stats.compare("ks", reference, current, kind="numeric").drifted
    assert not stats.compare("psi", reference, current, kind="numeric").drifted
    assert not stats.compare("jensenshannon", reference, current, kind="numeric").drifted
    assert not stats.compare("wasserstein", reference, current, kind="numeric").drifted


def test_unknown_statistic_lists_the_known_ones() -> None:
    with pytest.raises(UserError) as err:
        stats.compare("kolmogorov", [1.0], [2.0], kind="numeric")
    text = str(err.value)
    assert "unknown drift statistic 'kolmogorov'" in text
    for name in stats.STATISTICS:
        assert name in text


def test_statistic_of_the_wrong_kind_is_refused() -> None:
    with pytest.raises(UserError, match="'ks' does not apply to categorical"):
        stats.compare("ks", ["a"], ["b"], kind="categorical")
    with pytest.raises(UserError, match="'chisquare' does not apply to numeric"):
        stats.compare("chisquare", [1.0], [2.0], kind="numeric")


def test_results_are_frozen() -> None:
    result = stats.compare("psi", [1.0, 2.0], [1.0, 2.0], kind="numeric")
    with pytest.raises(AttributeError):
        result.score = 1.0  # type: ignore[misc]
