"""`retrain monitor` with a champion from a real MLflow registry (sqlite file in tmp_path):
reference window from its tags, prediction drift of its scores, decay of its primary metric."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from registry_support import MODEL, export, fit_pipeline, register
from retrain.cli import main
from retrain.monitor.payload import parse_event

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "monitor" / "features.parquet"
FEB_TAGS = {
    "train_start": "2013-02-01T05:00:00+00:00",
    "train_end": "2013-03-01T04:59:00+00:00",
    "primary_metric": "roc_auc",
}

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def champion(tmp_path_factory: pytest.TempPathFactory):
    """One real registry with one champion (February training window) for the module."""
    from retrain.registry import MlflowRegistry as Registry

    root = tmp_path_factory.mktemp("registry")
    uri = f"sqlite:///{root / 'mlruns.db'}"
    registry = Registry(uri)
    export_dir, sha = export(fit_pipeline("hgb"), root)
    ref = register(registry, export_dir, sha, **FEB_TAGS, **{"metric.roc_auc": "0.99"})
    registry.set_alias(MODEL, "champion", ref.version)
    return registry, uri, ref.version


@pytest.fixture
def use_champion(champion, monkeypatch: pytest.MonkeyPatch):
    registry, uri, version = champion
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    yield registry, version
    for key, value in {**FEB_TAGS, "metric.roc_auc": "0.99"}.items():  # undo tag edits
        registry.set_version_tag(MODEL, version, key, value)
    for key in ("test_start", "test_end"):
        drop_tag(uri, version, key)


def drop_tag(uri: str, version: str, key: str) -> None:
    """Remove a version tag: what push leaves for a value it does not have."""
    import mlflow

    client = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)
    if key in client.get_model_version(MODEL, version).tags:
        client.delete_model_version_tag(MODEL, version, key)


def run(tmp_path: Path, *extra: str, policy: str = "") -> int:
    params = tmp_path / "params.yaml"
    zone = "base:\n  timezone: America/New_York\n"  # the flights' clock (default UTC)
    params.write_text(zone + "monitor:\n  trigger:\n    persistence: 1\n    decay: 0.03\n" + policy)
    return main(
        [
            "monitor",
            "--params",
            str(params),
            "--out",
            str(tmp_path / "out"),
            "--features",
            str(FIXTURE),
            *extra,
        ]
    )


def test_champion_tags_give_the_reference_and_decay_triggers(tmp_path: Path, use_champion) -> None:
    # Registered test value (0.99) far above what the champion reaches on July: decay.
    _, version = use_champion
    code = run(tmp_path, "--current-window", "2013-07-01..2013-08-01")
    result = json.loads((tmp_path / "out" / "drift.json").read_text())
    assert code == 10
    assert result["champion_version"] == version
    assert result["reference"]["n_rows"] == 500  # February, from train_start/train_end
    perf = result["performance"]
    assert perf["metric"] == "roc_auc" and perf["registered"] == 0.99
    assert 0.5 < perf["current"] < 0.95
    assert perf["decay"] == pytest.approx(0.99 - perf["current"])
    assert perf["n_labelled"] > 450  # cancelled flights have no label
    assert result["prediction"]["statistic"] == "psi"
    assert result["prediction"]["score"] > 0
    event = parse_event(result["dispatch"]["event_type"], result["dispatch"]["client_payload"])
    assert event.event_type == "performance-degraded"
    assert event.client_payload.score == pytest.approx(perf["decay"], abs=1e-6)


def test_no_decay_when_the_registered_metric_holds(tmp_path: Path, use_champion) -> None:
    registry, version = use_champion
    registry.set_version_tag(MODEL, version, "metric.roc_auc", "0.5")
    # February vs February: no feature or prediction drift, and AUC above 0.5: no decay.
    assert run(tmp_path, "--current-window", "2013-02-01..2013-03-01") == 0
    result = json.loads((tmp_path / "out" / "drift.json").read_text())
    assert result["signals"] == {"drift": False, "prediction_drift": False, "decay": False}
    assert result["performance"]["decay"] < 0
    assert result["prediction"]["score"] == pytest.approx(0.0, abs=1e-9)


def test_prediction_drift_is_measured_against_the_test_window(tmp_path: Path, use_champion) -> None:
    registry, version = use_champion
    # Out-of-sample scores: the champion's test window (here: July itself) is the baseline.
    registry.set_version_tag(MODEL, version, "test_start", "2013-07-01T04:00:00+00:00")
    registry.set_version_tag(MODEL, version, "test_end", "2013-08-01T03:59:00+00:00")
    run(tmp_path, "--current-window", "2013-07-01..2013-08-01")
    result = json.loads((tmp_path / "out" / "drift.json").read_text())
    assert result["prediction"]["score"] == pytest.approx(0.0, abs=1e-9)
    assert result["reference"]["n_rows"] == 500  # feature drift still vs the training window
    assert result["drift_share"] > 0.3


def test_no_champion_needs_a_reference_window(
    tmp_path: Path, mlflow_uri: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(tmp_path, "--current-window", "2013-07-01..2013-08-01") == 2
    assert "has no champion in the registry" in capsys.readouterr().err
    code = run(
        tmp_path,
        "--reference-window",
        "2013-02-01..2013-03-01",
        "--current-window",
        "2013-07-01..2013-08-01",
    )
    assert code in (0, 10)  # feature drift only
    assert json.loads((tmp_path / "out" / "drift.json").read_text())["prediction"] is None


def test_champion_without_training_window_tags(
    tmp_path: Path, champion, use_champion, capsys: pytest.CaptureFixture[str]
) -> None:
    _, uri, version = champion
    # What `push` leaves when the training data had no event time: no tag.
    drop_tag(uri, version, "train_start")
    assert run(tmp_path, "--current-window", "2013-07-01..2013-08-01") == 2
    err = capsys.readouterr().err
    assert f"champion version {version} has no train_start tag(s)" in err
    assert not (tmp_path / "out" / "drift.json").exists()


def test_unreachable_registry_exits_3(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from registry_support import free_port

    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    assert run(tmp_path, "--current-window", "2013-07-01..2013-08-01") == 3
    assert not (tmp_path / "out" / "drift.json").exists()


def february_test_window(registry, version: str) -> None:
    """The champion's labelled test window: February (the label-free estimate's reference)."""
    registry.set_version_tag(MODEL, version, "test_start", "2013-02-01T05:00:00+00:00")
    registry.set_version_tag(MODEL, version, "test_end", "2013-03-01T04:59:00+00:00")


def test_the_estimated_policy_fires_without_labels_and_says_so(
    tmp_path: Path, use_champion
) -> None:
    registry, version = use_champion
    february_test_window(registry, version)
    # given a registered AUC (0.99) far above what the champion can reach on July, and
    # July's rows without their outcome column: no label exists for the period
    import pandas as pd

    unlabelled = tmp_path / "unlabelled.parquet"
    frame = pd.read_parquet(FIXTURE)
    frame.loc[frame["event_time"] >= pd.Timestamp("2013-06-15", tz="UTC"), "arr_delay"] = None
    frame.to_parquet(unlabelled)
    july = ("--current-window", "2013-07-01..2013-08-01")
    code = run(
        tmp_path, *july, "--features", str(unlabelled), policy="policy: {monitor: estimated}\n"
    )
    # then the estimated policy fires, and drift.json and the payload say which and how
    result = json.loads((tmp_path / "out" / "drift.json").read_text())
    assert code == 10 and result["action"] == "retrain"
    assert result["performance"] is None  # nothing realised: no labels
    made = result["policy"]
    assert made["policy"] == "estimated" and made["estimated"] and made["fired"]
    assert made["evidence"]["low"] <= made["evidence"]["estimate"] <= made["evidence"]["high"]
    event = parse_event(result["dispatch"]["event_type"], result["dispatch"]["client_payload"])
    payload = event.client_payload
    assert event.event_type == "performance-degraded"
    assert payload.policy == "estimated" and payload.estimated is True
    assert payload.evidence["estimate"] == pytest.approx(made["evidence"]["estimate"])
    assert payload.detector == "retrain-monitor:estimated"
    # and with a registered value the estimate does not fall below, it stays quiet
    registry.set_version_tag(MODEL, version, "metric.roc_auc", "0.5")
    assert (
        run(tmp_path, *july, "--features", str(unlabelled), policy="policy: {monitor: estimated}\n")
        == 0
    )
    quiet = json.loads((tmp_path / "out" / "drift.json").read_text())
    assert not quiet["policy"]["fired"] and quiet["dispatch"] is None


def test_the_estimate_is_calibrated_on_the_labels_since_the_test_window(
    tmp_path: Path, use_champion
) -> None:
    registry, version = use_champion
    february_test_window(registry, version)
    # given a new concept from March (the delay follows the distance, which the champion did
    # not learn), labelled for March and April, and July's rows without their outcome
    import pandas as pd

    frame = pd.read_parquet(FIXTURE)
    march = frame["event_time"] >= pd.Timestamp("2013-03-01T05:00", tz="UTC")
    long = frame["distance"] > frame["distance"].median()
    frame.loc[march, "arr_delay"] = long[march].map({True: 60.0, False: -10.0})
    frame.loc[frame["event_time"] >= pd.Timestamp("2013-06-15", tz="UTC"), "arr_delay"] = None
    features = tmp_path / "concept.parquet"
    frame.to_parquet(features)
    july = ("--current-window", "2013-07-01..2013-08-01", "--features", str(features))

    def estimated(calibration: str) -> dict:
        policy = f"policy: {{monitor: estimated, estimated: {{calibration: {calibration}}}}}\n"
        run(tmp_path, *july, policy=policy)
        return json.loads((tmp_path / "out" / "drift.json").read_text())["policy"]["evidence"]

    # when the monitor estimates July with the default calibration and with February alone
    since = estimated("labelled")
    alone = estimated("reference")
    # then the default calibrates on February to June's labelled rows (March and April here),
    # never July's, and sees the champion's scores lose their meaning under the new concept
    times = frame["event_time"]
    feb = (times >= pd.Timestamp("2013-02-01T05:00", tz="UTC")) & ~march
    before_july = feb | (march & (times < pd.Timestamp("2013-07-01T04:00", tz="UTC")))
    assert since["calibration_rows"] == int((before_july & frame["arr_delay"].notna()).sum())
    assert alone["calibration_rows"] == int((feb & frame["arr_delay"].notna()).sum())
    assert since["estimate"] < alone["estimate"] - 0.05


def test_the_decay_policy_uses_the_labels_and_is_not_an_estimate(
    tmp_path: Path, use_champion
) -> None:
    july = ("--current-window", "2013-07-01..2013-08-01")
    assert run(tmp_path, *july, policy="policy: {monitor: decay}\n") == 10
    result = json.loads((tmp_path / "out" / "drift.json").read_text())
    made = result["policy"]
    assert made["policy"] == "decay" and not made["estimated"]
    assert made["evidence"]["decay_bound"] > 0
    payload = result["dispatch"]["client_payload"]
    assert payload["policy"] == "decay" and payload["estimated"] is False
    # the never policy never fires, whatever the data
    assert run(tmp_path, *july, policy="policy: {monitor: never}\n") == 0


@pytest.mark.slow  # ~30 s on a loaded box: two monitor runs, each fitting a challenger
def test_the_challenger_policy_fires_when_a_fresh_model_beats_the_champion(
    tmp_path: Path, use_champion
) -> None:
    registry, version = use_champion
    february_test_window(registry, version)
    # given a new concept since February: the delay now follows the distance, which the
    # champion (trained before) did not learn; February (its labelled test window) and July
    import pandas as pd

    shifted = tmp_path / "shifted.parquet"
    frame = pd.read_parquet(FIXTURE)
    later = frame["event_time"] >= pd.Timestamp("2013-02-01T05:00", tz="UTC")
    long = frame["distance"] > frame["distance"].median()
    frame.loc[later, "arr_delay"] = long[later].map({True: 60.0, False: -10.0})
    frame.to_parquet(shifted)
    july = ("--current-window", "2013-07-01..2013-08-01", "--features", str(shifted))
    # when the monitor decides with the challenger policy
    code = run(tmp_path, *july, policy="policy: {monitor: challenger}\n")
    # then a challenger fitted on the labelled rows since the test window (February to April)
    # beats the champion on July's labels, and fires
    result = json.loads((tmp_path / "out" / "drift.json").read_text())
    made = result["policy"]
    assert code == 10 and made["policy"] == "challenger" and made["fired"]
    evidence = made["evidence"]
    assert evidence["challenger"] > evidence["champion"] + 0.2 and evidence["gain_low"] > 0
    assert evidence["train_rows"] > 1000  # February alone has ~500
    event = parse_event(result["dispatch"]["event_type"], result["dispatch"]["client_payload"])
    assert event.event_type == "performance-degraded"
    payload = event.client_payload
    assert payload.policy == "challenger" and payload.estimated is False
    assert payload.detector == "retrain-monitor:challenger"
    assert payload.evidence["gain"] == pytest.approx(evidence["gain"])
    assert payload.evidence["fit_s"] > 0
    # and with a margin larger than that gain it stays quiet
    margin = "policy: {monitor: challenger, challenger: {margin: 0.9}}\n"
    assert run(tmp_path, *july, policy=margin) == 0
    quiet = json.loads((tmp_path / "out" / "drift.json").read_text())
    assert not quiet["policy"]["fired"] and quiet["dispatch"] is None
