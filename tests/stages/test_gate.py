from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.metrics import (
    average_precision_score,
    brier_score_loss,
    log_loss,
    mean_absolute_error,
    r2_score,
    roc_auc_score,
)

from registry_support import (
    MODEL,
    TEST,
    TRAIN,
    exported_model,
    fit_pipeline,
    register,
    save,
)
from retrain.config import parse_params
from retrain.config.gate import GateSection
from retrain.errors import UserError
from retrain.gating import evaluate_gate as gate_verdict
from retrain.gating import paired_bootstrap
from retrain.metrics import compute_metrics
from retrain.model_io import sha256_file
from retrain.stages import gate as gate_stage

# Fits here are tiny; default OpenMP threads spin on a busy 2-core box (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("single_thread")


def evaluate_gate(*args: Any, **kwargs: Any) -> dict[str, Any]:
    """The verdict as gate.json holds it."""
    return gate_verdict(*args, **kwargs).to_dict()


@pytest.fixture(scope="module")
def test_frame() -> pd.DataFrame:
    return pd.read_parquet(TEST)


@pytest.fixture(scope="module")
def good():
    return fit_pipeline("hgb")


@pytest.fixture(scope="module")
def shuffled():
    return fit_pipeline("hgb", shuffle_labels=True)


@pytest.fixture(scope="module")
def logreg():
    return fit_pipeline("logreg")


@pytest.fixture(scope="module")
def train_frame() -> pd.DataFrame:
    return pd.read_parquet(TRAIN)


def _with_leak(frame: pd.DataFrame, kind: str) -> pd.DataFrame:
    """`leak`: the label itself, or a clipped latent delay that decides it (the target's
    clipped copy, as in the issue)."""
    rng = np.random.default_rng(0)
    out = frame.copy()
    if kind == "label":
        out["leak"] = out["label"].astype(float)
    else:
        delay = np.where(
            out["label"] == 1, 15 + rng.gamma(2, 20, len(out)), rng.normal(-5, 8, len(out))
        )
        out["leak"] = np.clip(np.minimum(delay, 15), -10, 60)  # clipped at the threshold
        out.loc[out["label"] == 1, "leak"] = 60.0
    return out


def _fit_with_leak(train: pd.DataFrame):
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    pre = ColumnTransformer(
        [("cat", OneHotEncoder(handle_unknown="ignore"), ["carrier", "origin"])],
        remainder="passthrough",
    )
    columns = ["carrier", "origin", "dep_hour", "temp", "distance", "leak"]
    model = Pipeline([("pre", pre), ("model", HistGradientBoostingClassifier(max_iter=20))])
    return model.fit(train[columns], train["label"])


def _gate(**overrides) -> GateSection:
    raw = {
        "values": {"roc_auc": {"min": 0.6}},
        "changes": [{"metric": "roc_auc", "max_regression_abs": 0.005, "bootstrap": True}],
        "bootstrap": {"resamples": 200, "block": 50},
        "slices": {"columns": [], "min_rows": 200},
        **overrides,
    }
    return GateSection(**raw)


def _by_name(result: dict) -> dict[str, dict]:
    return {c["name"]: c for c in result["checks"]}


# -- metric implementation --------------------------------------------------------------------


def test_point_metrics_match_sklearn_including_ties() -> None:
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 500).astype(float)
    p = np.round(np.clip(0.3 * y + rng.random(500) * 0.7, 0, 1), 2)  # rounded: many ties
    got = compute_metrics("classification", y, p)
    assert got["roc_auc"] == pytest.approx(roc_auc_score(y, p), abs=1e-12)
    assert got["pr_auc"] == pytest.approx(average_precision_score(y, p), abs=1e-12)
    assert got["log_loss"] == pytest.approx(log_loss(y, p), abs=1e-9)
    assert got["brier"] == pytest.approx(brier_score_loss(y, p), abs=1e-12)
    yr, pr = rng.normal(size=300), rng.normal(size=300)
    reg = compute_metrics("regression", yr, pr)
    assert reg["rmse"] == pytest.approx(np.sqrt(np.mean((yr - pr) ** 2)))
    assert reg["mae"] == pytest.approx(mean_absolute_error(yr, pr))
    assert reg["r2"] == pytest.approx(r2_score(yr, pr))


@pytest.mark.parametrize(
    ("metric", "reference"),
    [
        ("roc_auc", roc_auc_score),
        ("pr_auc", average_precision_score),
        ("log_loss", log_loss),
        ("brier", brier_score_loss),
    ],
)
def test_bootstrap_weights_equal_explicit_resamples(metric, reference) -> None:
    """Each weighted resample equals the metric on the explicitly resampled rows."""
    rng = np.random.default_rng(5)
    y = rng.integers(0, 2, 300).astype(float)
    a = np.round(rng.random(300) * 0.6 + 0.4 * y, 2)  # ties within and across classes
    b = rng.random(300)
    diffs = paired_bootstrap(metric, y, a, b, resamples=7, block=3, seed=11)
    again = paired_bootstrap(metric, y, a, b, resamples=7, block=3, seed=11)
    np.testing.assert_array_equal(diffs, again)  # seeded
    replay = np.random.default_rng(11)
    expected = []
    for size in (3, 3, 1):  # same draws, same block layout
        picks = replay.integers(0, 300, size=(size, 300))
        expected += [reference(y[i], a[i]) - reference(y[i], b[i]) for i in picks]
    np.testing.assert_allclose(diffs, expected, atol=1e-9)


# -- the rules --------------------------------------------------------------------------------


def test_worse_model_rejected(test_frame, good, shuffled) -> None:
    result = evaluate_gate(_gate(), "classification", test_frame, shuffled, good, "3", seed=1)
    checks = _by_name(result)
    assert result["blessed"] is False and result["checks_passed"] is False
    assert result["champion_version"] == "3"
    assert not checks["change.roc_auc"]["passed"] and checks["change.roc_auc"]["value"] < -0.05
    assert not checks["bootstrap.roc_auc"]["passed"]
    assert not checks["value.roc_auc.min"]["passed"]
    assert result["summary"].startswith("REJECTED")
    assert "FAILS" in checks["change.roc_auc"]["detail"]


def test_better_model_blessed(test_frame, train_frame, good, logreg) -> None:
    # a real, modest improvement (+0.03 AUC), with every suspicion check on (the defaults)
    result = evaluate_gate(
        _gate(),
        "classification",
        test_frame,
        logreg,
        good,
        "3",
        seed=1,
        train=train_frame,
        cv=("roc_auc", 0.75),
    )
    checks = _by_name(result)
    assert result["blessed"] is True, result["summary"]
    assert 0.02 < checks["change.roc_auc"]["value"] < 0.05
    lo, hi = checks["bootstrap.roc_auc"]["ci"]
    assert 0 < lo < hi
    assert result["candidate"]["roc_auc"] > result["champion"]["roc_auc"]
    assert {n for n in checks if n.startswith("suspicion.")} == {
        "suspicion.ceiling.roc_auc",
        "suspicion.gain.roc_auc",
        "suspicion.cv_gain.roc_auc",
        "suspicion.leakage",
    }
    assert result["suspicious"] is False and result["leaking_features"] == []
    assert checks["suspicion.leakage"]["features"]["dep_hour"] < 0.9


def test_a_jump_beyond_the_plausible_gain_is_not_blessed(test_frame, good, shuffled) -> None:
    # +0.28 AUC over the champion: too good to be true, in any mode, until a reviewer overrides
    for mode in ("enforce", "dry_run"):
        result = evaluate_gate(
            _gate(mode=mode), "classification", test_frame, good, shuffled, "3", seed=1
        )
        checks = _by_name(result)
        assert result["blessed"] is False and result["suspicious"] is True
        assert not checks["suspicion.gain.roc_auc"]["passed"]
        assert checks["suspicion.gain.roc_auc"]["value"] > 0.2
        assert result["summary"].startswith("SUSPICIOUSLY GOOD — check for leakage")
        assert checks["change.roc_auc"]["passed"] and checks["bootstrap.roc_auc"]["passed"]


def test_equal_within_allowed_regression_passes_and_tolerance_matters(test_frame) -> None:
    hgb, logreg = fit_pipeline("hgb"), fit_pipeline("logreg")
    base = evaluate_gate(_gate(), "classification", test_frame, hgb, logreg, "1", seed=1)
    # Whichever is worse plays the candidate: a small, real regression.
    worse, better = (
        (hgb, logreg) if _by_name(base)["change.roc_auc"]["value"] < 0 else (logreg, hgb)
    )
    gap = abs(_by_name(base)["change.roc_auc"]["value"])
    assert 0 < gap < 0.05
    rule = {"metric": "roc_auc", "bootstrap": False}
    tolerant = _gate(changes=[{**rule, "max_regression_abs": gap + 0.01}])
    strict = _gate(changes=[{**rule, "max_regression_abs": gap / 2}])
    ok = evaluate_gate(tolerant, "classification", test_frame, worse, better, "1", seed=1)
    no = evaluate_gate(strict, "classification", test_frame, worse, better, "1", seed=1)
    assert ok["blessed"] is True and no["blessed"] is False
    # the relative bound is the stricter one here, so it decides
    relative = _gate(changes=[{**rule, "max_regression_abs": 1.0, "max_regression_rel": gap / 10}])
    assert not evaluate_gate(relative, "classification", test_frame, worse, better, "1", 1)[
        "blessed"
    ]
    # identical model: improvement 0, CI [0, 0], passes even with no allowed regression
    same = evaluate_gate(
        _gate(changes=[{"metric": "roc_auc", "max_regression_abs": 0.0}]),
        "classification",
        test_frame,
        hgb,
        hgb,
        "1",
        seed=1,
    )
    assert same["blessed"] is True
    assert _by_name(same)["bootstrap.roc_auc"]["ci"] == [0.0, 0.0]


def test_first_model_uses_value_thresholds_only(test_frame, good, shuffled) -> None:
    result = evaluate_gate(_gate(), "classification", test_frame, good, None, None, seed=1)
    assert result["first_model"] is True and result["blessed"] is True
    assert result["champion"] is None and result["champion_version"] is None
    assert {c["name"] for c in result["checks"]} == {
        "value.roc_auc.min",
        "first_model",
        "suspicion.ceiling.roc_auc",  # the plausibility ceiling holds for a first model too
    }
    bad = evaluate_gate(_gate(), "classification", test_frame, shuffled, None, None, seed=1)
    assert bad["blessed"] is False  # the floor still applies
    refused = evaluate_gate(
        _gate(allow_first_model=False), "classification", test_frame, good, None, None, seed=1
    )
    assert refused["blessed"] is False
    assert "allow_first_model is false" in _by_name(refused)["first_model"]["detail"]


def test_dry_run_reports_but_blesses(test_frame, good, shuffled) -> None:
    result = evaluate_gate(
        _gate(mode="dry_run"), "classification", test_frame, shuffled, good, "2", seed=1
    )
    assert result["blessed"] is True and result["checks_passed"] is False
    assert result["mode"] == "dry_run" and result["summary"].startswith("DRY RUN")


def test_missing_metric_fails(test_frame, good, shuffled) -> None:
    wrong_task = _gate(values={"rmse": {"max": 10.0}}, changes=[{"metric": "rmse"}])
    result = evaluate_gate(wrong_task, "classification", test_frame, good, shuffled, "2", seed=1)
    checks = _by_name(result)
    assert result["blessed"] is False
    assert (
        "rmse missing for the candidate: not a classification metric"
        in (checks["value.rmse.max"]["detail"])
    )
    assert not checks["change.rmse"]["passed"] and not checks["bootstrap.rmse"]["passed"]
    one_class = test_frame[test_frame["label"] == 0]
    result = evaluate_gate(_gate(), "classification", one_class, good, shuffled, "2", seed=1)
    assert result["blessed"] is False
    assert "undefined on this test window" in _by_name(result)["value.roc_auc.min"]["detail"]


def test_slice_regression_fails(test_frame, good) -> None:
    broken_ewr = fit_pipeline("hgb", shuffle_where="EWR")
    rules = _gate(
        values={},
        changes=[{"metric": "roc_auc", "max_regression_abs": 0.2, "bootstrap": False}],
        slices={"columns": ["origin", "carrier"], "min_rows": 200, "max_regression_abs": 0.02},
    )
    result = evaluate_gate(rules, "classification", test_frame, broken_ewr, good, "4", seed=1)
    checks = _by_name(result)
    assert checks["change.roc_auc"]["passed"]  # overall it is within the (loose) tolerance
    assert not checks["slice.origin"]["passed"]
    assert "FAILS in EWR" in checks["slice.origin"]["detail"]
    assert set(checks["slice.origin"]["levels"]) == {"EWR", "JFK", "LGA"}
    assert result["blessed"] is False
    # the same candidate against itself regresses nowhere
    same = evaluate_gate(rules, "classification", test_frame, good, good, "4", seed=1)
    assert _by_name(same)["slice.origin"]["passed"]


def test_champion_needing_other_columns_is_a_failed_check(test_frame, good) -> None:
    narrower = test_frame.drop(columns=["temp"])
    from sklearn.dummy import DummyClassifier

    candidate = DummyClassifier(strategy="prior").fit(narrower[["dep_hour"]], narrower["label"])
    result = evaluate_gate(_gate(values={}), "classification", narrower, candidate, good, "5", 1)
    check = _by_name(result)["champion_scorable"]
    assert not check["passed"] and "temp" in check["detail"]


@pytest.mark.parametrize("kind", ["label", "clipped"])
def test_a_leaking_feature_is_not_blessed_and_named(test_frame, train_frame, good, kind) -> None:
    # given a candidate fitted with a feature that is the label (or the clipped target)
    train, test = _with_leak(train_frame, kind), _with_leak(test_frame, kind)
    leaky = _fit_with_leak(train)
    # when it is gated against the honest champion, in any mode
    for mode in ("enforce", "dry_run"):
        result = evaluate_gate(
            _gate(mode=mode),
            "classification",
            test,
            leaky,
            good,
            "3",
            seed=1,
            train=train,
            cv=("roc_auc", 0.99),
        )
        checks = _by_name(result)
        # then it is not blessed, flagged, and the feature is named
        assert result["blessed"] is False and result["suspicious"] is True
        assert result["leaking_features"] == ["leak"]
        assert "leak" in result["summary"] and "SUSPICIOUSLY GOOD" in result["summary"]
        assert not checks["suspicion.leakage"]["passed"]
        assert checks["suspicion.leakage"]["features"]["leak"] > 0.99
        assert not checks["suspicion.ceiling.roc_auc"]["passed"]  # test AUC ~1.0
        assert not checks["suspicion.gain.roc_auc"]["passed"]


def test_the_leakage_screen_alone_rejects(test_frame, train_frame, good) -> None:
    # every metric bound off: the screen by itself still catches the leak
    train = _with_leak(train_frame, "clipped")
    leaky = _fit_with_leak(train)
    rules = _gate(
        values={}, changes=[], suspicion={"max_gain": {}, "ceiling": {}, "max_gain_over_cv": {}}
    )
    result = evaluate_gate(
        rules, "classification", _with_leak(test_frame, "clipped"), leaky, good, "3", 1, train=train
    )
    assert [c["name"] for c in result["checks"] if not c["passed"]] == ["suspicion.leakage"]
    assert result["blessed"] is False and result["leaking_features"] == ["leak"]
    # and the honest model on the same window passes it
    honest = evaluate_gate(rules, "classification", test_frame, good, good, "3", 1, train=train)
    assert (
        honest["blessed"] is True
        and "leak" not in _by_name(honest)["suspicion.leakage"]["features"]
    )


def test_override_blesses_only_the_named_artifact(test_frame, good, shuffled) -> None:
    reason = "new weather feed: reviewed in #123, the gain is real"
    override = {"candidate_sha256": "a" * 64, "reason": reason}
    rules = _gate(suspicion={"override": override})
    # the named candidate: blessed, and the override is recorded as applied
    result = evaluate_gate(
        rules, "classification", test_frame, good, shuffled, "3", 1, candidate_sha256="a" * 64
    )
    assert result["blessed"] is True and result["suspicious"] is True
    assert result["override"] == {**override, "applied": True}
    assert result["summary"].startswith("BLESSED BY OVERRIDE") and reason in result["summary"]
    # any other artifact: the override does not apply, nothing is blessed
    other = evaluate_gate(
        rules, "classification", test_frame, good, shuffled, "3", 1, candidate_sha256="b" * 64
    )
    assert other["blessed"] is False and other["override"]["applied"] is False
    # the override never excuses a failing ordinary check
    strict = _gate(values={"roc_auc": {"min": 0.9}}, suspicion={"override": override})
    failing = evaluate_gate(
        strict, "classification", test_frame, good, shuffled, "3", 1, candidate_sha256="a" * 64
    )
    assert failing["blessed"] is False and failing["summary"].startswith("REJECTED")


@pytest.mark.parametrize(
    ("suspicion", "message"),
    [
        ({"max_gain": {"roc_auc": -0.1}}, "max_gain.roc_auc must be ≥ 0"),
        ({"max_gain": {"auc": 0.1}}, "gate.suspicion.max_gain"),
        ({"ceiling": {"roc_auc": ".nan"}}, "ceiling.roc_auc.: Input should be a finite number"),
        ({"leakage": {"max_auc": 0.5}}, "greater than 0.5"),
        ({"leakage": {"sample_rows": 10}}, "greater than or equal to 1000"),
        ({"override": {"candidate_sha256": "a" * 64}}, "reason"),
        ({"override": {"candidate_sha256": "abc", "reason": "x" * 30}}, "candidate_sha256"),
        ({"override": {"candidate_sha256": "a" * 64, "reason": "because"}}, "at least 20"),
        ({"override": {"candidate_sha256": "a" * 64, "reason": "x" * 25}}, "say why"),
        ({"overide": None}, "unknown key 'overide'"),
    ],
)
def test_bad_suspicion_params_are_refused(suspicion, message) -> None:
    if suspicion.get("ceiling", {}).get("roc_auc") == ".nan":
        suspicion = {"ceiling": {"roc_auc": float("nan")}}
    with pytest.raises(UserError, match=message):
        parse_params({"gate": {"suspicion": suspicion}})


def test_gate_params_reject_unknown_metric() -> None:
    with pytest.raises(UserError, match="gate.values"):
        parse_params({"gate": {"values": {"auc": {"min": 0.5}}}})
    with pytest.raises(UserError, match="at least one of min, max"):
        parse_params({"gate": {"values": {"roc_auc": {}}}})
    with pytest.raises(UserError, match="unknown key 'resample'"):
        parse_params({"gate": {"bootstrap": {"resample": 10}}})


# -- the command --------------------------------------------------------------------------------


def _params(tmp_path: Path, **gate) -> Path:
    import yaml

    rules = {
        "values": {"roc_auc": {"min": 0.6}},
        "changes": [{"metric": "roc_auc", "max_regression_abs": 0.005}],
        "bootstrap": {"resamples": 200, "block": 50},
        "slices": {"columns": ["origin"], "min_rows": 200},
        **gate,
    }
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump({"base": {"model_name": MODEL}, "gate": rules}))
    return path


def _search_json(tmp_path: Path, cv_score: float = 0.74) -> Path:
    from retrain.artifacts import SearchSummary

    path = tmp_path / "search.json"
    SearchSummary(
        task="classification",
        primary_metric="roc_auc",
        greater_is_better=True,
        best_family="hist_gradient_boosting",
        best_params={},
        best_trial=0,
        cv_score=cv_score,
        n_trials=1,
        n_pruned=0,
        n_trials_this_worker=1,
        stopped_by="trials",
        search_s=1.0,
        refit_s=1.0,
        elapsed_s=2.0,
        study_name="s",
        n_train=2000,
    ).write(path)
    return path


def test_cli_lookup_then_gate_against_registered_champion(
    tmp_path: Path, registry_store: str, good, shuffled
) -> None:
    from retrain.cli import main
    from retrain.registry import MlflowRegistry as Registry

    params = _params(tmp_path)
    champion_dir = tmp_path / "champion"
    champion_json = champion_dir / "champion.json"
    lookup = ["gate", "--lookup-champion", "--out", str(champion_dir), "--params", str(params)]
    assert main(lookup) == 0
    assert sorted(p.name for p in champion_dir.iterdir()) == ["champion.json"]
    assert json.loads(champion_json.read_text()) == {
        "schema": 1,
        "model": MODEL,
        "version": None,
        "sha256": None,
        "split": None,
        "test_size": None,
        "train_end": None,
        "registered": {},
    }
    registry = Registry(registry_store)
    export_dir, sha = exported_model("hgb")
    ref = register(registry, export_dir, sha, **{"metric.roc_auc": "0.75", "metric.f1": "None"})
    registry.set_alias(MODEL, "champion", ref.version)
    assert main(lookup) == 0
    looked_up = json.loads(champion_json.read_text())
    # its identity, and the metrics it was registered with (for the gate's suspicion bound)
    assert looked_up["version"] == ref.version and looked_up["registered"] == {"roc_auc": 0.75}
    # The champion's artifact sits beside its identity, verified; a second look-up keeps it.
    artifact = champion_dir / "model.skops"
    assert sha256_file(artifact) == sha
    stamp = artifact.stat().st_mtime_ns
    assert main(lookup) == 0 and artifact.stat().st_mtime_ns == stamp
    # The directory persists between repros (dvc.yaml persist: true): a download a killed
    # look-up left behind is removed, not kept as part of the output.
    (champion_dir / ".download-killed").mkdir()
    (champion_dir / ".download-killed" / "model.skops").write_bytes(b"partial")
    assert main(lookup) == 0 and artifact.stat().st_mtime_ns == stamp
    assert sorted(p.name for p in champion_dir.iterdir()) == ["champion.json", "model.skops"]

    worse = tmp_path / "worse.skops"
    worse_sha = save(shuffled, worse)
    out = tmp_path / "metrics" / "gate.json"
    args = ["--test", str(TEST), "--champion", str(champion_dir), "--out", str(out)]
    args += ["--train", str(TRAIN), "--search", str(_search_json(tmp_path))]
    assert main(["gate", "--model", str(worse), *args, "--params", str(params)]) == 0
    result = json.loads(out.read_text())
    assert result["blessed"] is False and result["champion_version"] == ref.version
    assert result["candidate_sha256"] == worse_sha and result["champion_sha256"] == sha
    assert result["test_window"]["n"] == 3000 and result["test_window"]["start"].startswith(
        "2013-10"
    )
    # the suspicion checks ran with the training window and the search's CV score
    assert {"suspicion.leakage", "suspicion.cv_gain.roc_auc"} <= {
        c["name"] for c in result["checks"]
    }

    better = tmp_path / "better.skops"
    save(fit_pipeline("hgb", seed=1), better)
    assert main(["gate", "--model", str(better), *args, "--params", str(params)]) == 0
    assert json.loads(out.read_text())["champion"]["roc_auc"] == pytest.approx(
        result["champion"]["roc_auc"]
    )

    # The champion's own artifact as the candidate (a re-run on unchanged data): not blessed in
    # any mode, so nothing is registered and no PR is opened for a byte-identical model.
    for mode in ("enforce", "dry_run"):
        rules = yaml.safe_load(params.read_text())
        rules["gate"]["mode"] = mode
        params.write_text(yaml.safe_dump(rules))
        assert main(["gate", "--model", str(artifact), *args, "--params", str(params)]) == 0
        same = json.loads(out.read_text())
        assert same["blessed"] is False and same["summary"].startswith("UNCHANGED")
        assert same["checks"][-1]["name"] == "new_artifact"
        assert same["candidate_sha256"] == same["champion_sha256"] == sha

    # A champion artifact changed after the look-up is refused, and nothing is written.
    out.unlink()
    artifact.write_bytes(artifact.read_bytes() + b"tampered")
    assert main(["gate", "--model", str(better), *args, "--params", str(params)]) == 2
    assert not out.exists()
    # With the alias gone, the look-up removes the old artifact: the gate sees no champion.
    registry.delete_alias(MODEL, "champion")
    assert main(lookup) == 0
    assert sorted(p.name for p in champion_dir.iterdir()) == ["champion.json"]
    assert main(["gate", "--model", str(better), *args, "--params", str(params)]) == 0
    assert json.loads(out.read_text())["first_model"] is True


def test_cli_bad_inputs(tmp_path: Path, good, capsys) -> None:
    from retrain.cli import main

    params = _params(tmp_path)
    model = tmp_path / "m.skops"
    save(good, model)
    champion = tmp_path / "champion"
    champion.mkdir()
    (champion / "champion.json").write_text(
        json.dumps({"schema": 1, "model": MODEL, "version": None, "sha256": None})
    )
    out = tmp_path / "gate.json"

    search = _search_json(tmp_path)

    def run(
        *extra: str,
        test: Path = TEST,
        champ: Path = champion,
        m: Path = model,
        train: Path | None = TRAIN,
        search: Path | None = search,
    ) -> int:
        more = ["--train", str(train)] if train else []
        more += ["--search", str(search)] if search else []
        return main(
            [
                "gate",
                "--model",
                str(m),
                "--test",
                str(test),
                "--champion",
                str(champ),
                "--out",
                str(out),
                "--params",
                str(params),
                *more,
                *extra,
            ]
        )

    assert main(["gate", "--out", str(out), "--params", str(params)]) == 2
    assert "missing --model, --test, --champion" in capsys.readouterr().err
    # the suspicion checks need the training window and the search's CV score
    assert run(train=None) == 2
    assert "missing --train (the leakage screen" in capsys.readouterr().err
    assert run(search=None) == 2
    assert "missing --search" in capsys.readouterr().err
    assert run(train=tmp_path / "absent.parquet") == 2
    assert "absent.parquet not found" in capsys.readouterr().err
    bad_search = tmp_path / "bad_search.json"
    bad_search.write_text('{"schema": 1}')
    assert run(search=bad_search) == 2
    assert "re-run the train stage" in capsys.readouterr().err
    assert run(test=tmp_path / "absent.parquet") == 2
    corrupt = tmp_path / "corrupt.parquet"
    corrupt.write_bytes(b"PAR1 nope")
    assert run(test=corrupt) == 2
    unlabeled = tmp_path / "unlabeled.parquet"
    pd.read_parquet(TEST).drop(columns=["label"]).to_parquet(unlabeled)
    assert run(test=unlabeled) == 2
    assert "has no 'label' column" in capsys.readouterr().err

    def champion_dir(name: str, info: str | None) -> Path:
        path = tmp_path / name
        path.mkdir()
        if info is not None:
            (path / "champion.json").write_text(info)
        return path

    assert run(champ=champion_dir("bad", "{not json")) == 2
    other = {"schema": 1, "model": "other", "version": None, "sha256": None}
    assert run(champ=champion_dir("other", json.dumps(other))) == 2
    assert "re-run the champion stage" in capsys.readouterr().err
    assert run(champ=champion_dir("empty", None)) == 2  # no champion.json
    lost = {"schema": 1, "model": MODEL, "version": "3", "sha256": "ab" * 32}
    assert run(champ=champion_dir("lost", json.dumps(lost))) == 2  # champion without artifact
    assert "has no verified artifact" in capsys.readouterr().err
    assert run(champ=champion / "champion.json") == 2  # the old file argument
    assert "not the champion stage's directory" in capsys.readouterr().err
    assert run(m=tmp_path / "absent.skops") == 2
    assert not out.exists()  # no failed run wrote anything
    assert run() == 0 and json.loads(out.read_text())["first_model"] is True


def test_cli_leaking_candidate_flagged_then_blessed_by_its_override(
    tmp_path: Path, train_frame, test_frame
) -> None:
    from retrain.cli import main

    # given a first candidate trained with the label's clipped copy, and no champion
    train, test = _with_leak(train_frame, "clipped"), _with_leak(test_frame, "clipped")
    train_path, test_path = tmp_path / "train.parquet", tmp_path / "test.parquet"
    train.to_parquet(train_path)
    test.to_parquet(test_path)
    model = tmp_path / "leaky.skops"
    sha = save(_fit_with_leak(train), model)
    champion = tmp_path / "champion"
    champion.mkdir()
    (champion / "champion.json").write_text(
        json.dumps({"schema": 1, "model": MODEL, "version": None, "sha256": None})
    )
    out = tmp_path / "gate.json"
    args = ["gate", "--model", str(model), "--test", str(test_path), "--train", str(train_path)]
    args += ["--search", str(_search_json(tmp_path, 0.99)), "--champion", str(champion)]
    args += ["--out", str(out)]
    # when it is gated: not blessed, flagged, the feature named
    assert main([*args, "--params", str(_params(tmp_path))]) == 0
    flagged = json.loads(out.read_text())
    assert flagged["blessed"] is False and flagged["leaking_features"] == ["leak"]
    assert flagged["candidate_sha256"] == sha and flagged["override"] is None
    # when a reviewer adds the audited override for exactly this artifact: blessed, recorded
    reason = "reviewed: the feed is published before departure (#42)"
    override = {"candidate_sha256": sha, "reason": reason}
    params = _params(tmp_path, suspicion={"override": override})
    assert main([*args, "--params", str(params)]) == 0
    blessed = json.loads(out.read_text())
    assert blessed["blessed"] is True and blessed["suspicious"] is True
    assert blessed["override"] == {**override, "applied": True}
    assert blessed["summary"].startswith("BLESSED BY OVERRIDE")


def test_lookup_champion_unreachable_registry_exits_3(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    from registry_support import free_port
    from retrain.cli import main

    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    out = tmp_path / "champion"
    out.mkdir()
    (out / "champion.json").write_text("previous")
    code = main(
        ["gate", "--lookup-champion", "--out", str(out), "--params", str(_params(tmp_path))]
    )
    assert code == 3
    assert "unreachable" in capsys.readouterr().err
    assert (out / "champion.json").read_text() == "previous"


def test_gate_module_keeps_heavy_imports_lazy() -> None:
    import subprocess
    import sys

    code = (
        "import sys, retrain.stages.gate, retrain.stages.push, retrain.stages.export, "
        "retrain.promote, retrain.registry; "
        "print(sorted(m for m in ('mlflow', 'sklearn', 'pandas', 'numpy') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_gate_stage_module_exposes_cli() -> None:
    assert callable(gate_stage.cli)
