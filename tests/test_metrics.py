"""The metric registry's multiclass metrics: point values match scikit-learn, and the weighted
(bootstrap) variant equals the metric on explicitly resampled rows."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, f1_score, log_loss, roc_auc_score

from retrain.gating import paired_bootstrap
from retrain.metrics import compute_metrics, metric_names, score


def probabilities(n: int, k: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Class codes and a probability matrix that knows something about them (rounded: ties)."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    p = rng.dirichlet(np.ones(k), n)
    p[np.arange(n), y] += 0.4
    p = np.round(p / p.sum(axis=1, keepdims=True), 2)
    return y, p / p.sum(axis=1, keepdims=True)


REFERENCE = {
    "roc_auc_ovr": lambda y, p: roc_auc_score(y, p, multi_class="ovr", average="macro"),
    "log_loss": lambda y, p: log_loss(y, p, labels=list(range(p.shape[1]))),
    "accuracy": lambda y, p: accuracy_score(y, p.argmax(axis=1)),
    "f1_macro": lambda y, p: f1_score(y, p.argmax(axis=1), average="macro"),
}


def test_the_multiclass_task_has_its_own_metrics() -> None:
    assert set(metric_names("multiclass")) == set(REFERENCE)
    assert "roc_auc" not in metric_names("multiclass")
    assert "roc_auc_ovr" not in metric_names("classification")


def test_point_metrics_match_sklearn() -> None:
    # given four classes and probabilities with ties
    y, p = probabilities(600, 4, seed=1)
    # when every multiclass metric is computed by the registry
    got = compute_metrics("multiclass", y, p)
    # then each equals scikit-learn's, and score() agrees with compute_metrics
    for name, reference in REFERENCE.items():
        assert got[name] == pytest.approx(reference(y, p), abs=1e-6), name
        assert score(name, y, p) == pytest.approx(got[name], abs=1e-12)


def test_a_class_absent_from_the_rows_is_left_out_of_the_macro_auc() -> None:
    y, p = probabilities(300, 3, seed=2)
    keep = y != 2  # no row of class 2: its one-vs-rest AUC is undefined
    expected = np.mean([roc_auc_score(y[keep] == c, p[keep][:, c]) for c in (0, 1)])
    assert score("roc_auc_ovr", y[keep], p[keep]) == pytest.approx(expected, abs=1e-12)


def test_class_codes_outside_the_probability_columns_are_refused() -> None:
    y, p = probabilities(50, 3, seed=3)
    with pytest.raises(ValueError, match="class codes must lie in 0..2"):
        score("accuracy", np.where(y == 0, 3, y), p)


@pytest.mark.parametrize("metric", sorted(REFERENCE))
def test_bootstrap_weights_equal_explicit_resamples(metric: str) -> None:
    # given a candidate and a weaker champion on the same rows
    y, a = probabilities(300, 3, seed=5)
    _, b = probabilities(300, 3, seed=6)
    # when the paired bootstrap runs (seeded, in blocks)
    diffs = paired_bootstrap(metric, y, a, b, resamples=7, block=3, seed=11)
    # then each resample equals the metric difference on the explicitly resampled rows
    replay = np.random.default_rng(11)
    expected = []
    for size in (3, 3, 1):  # same draws, same block layout
        picks = replay.integers(0, 300, size=(size, 300))
        expected += [REFERENCE[metric](y[i], a[i]) - REFERENCE[metric](y[i], b[i]) for i in picks]
    np.testing.assert_allclose(diffs, expected, atol=1e-6)
