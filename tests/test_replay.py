"""`retrain replay` on two small served months (real stages, real MLflow registry in tmp)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from retrain.cli import main

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "monitor" / "features.parquet"
# January trains the first champion, February gates it; March and April are served. The
# fixture holds 500 real 2013 flights per month, so the search budget and CV are tiny.
PARAMS = """\
replay: {initial_months: 2, last_month: 4, train_months: 1, trials: 1, cv_folds: 2,
         cv_period: week}
gate:
  values: {roc_auc: {min: 0.5}}
  changes:
    - {metric: roc_auc, max_regression_abs: 0.01, bootstrap: true}
  bootstrap: {resamples: 200}
monitor:
  trigger: {persistence: 1}
"""


def write_params(tmp_path: Path, text: str = PARAMS) -> Path:
    path = tmp_path / "params.yaml"
    path.write_text("base: {timezone: America/New_York}\n" + text)  # the flights' clock
    return path


@pytest.mark.integration
@pytest.mark.slow
def test_replay_two_months_three_policies(tmp_path: Path) -> None:
    from retrain.registry import MlflowRegistry as Registry

    registry_dir = tmp_path / "registry"
    code = main(
        [
            "replay",
            "--params",
            str(write_params(tmp_path)),
            "--features",
            str(FIXTURE),
            "--out",
            str(tmp_path / "out"),
            "--keep-registry",
            str(registry_dir),
        ]
    )
    assert code == 0
    result = json.loads((tmp_path / "out" / "replay.json").read_text())
    assert result["schema"] == 1 and result["served_periods"] == [3, 4]
    assert set(result["policies"]) == {"never", "monthly", "monitor"}
    for policy in result["policies"].values():
        assert [m["period"] for m in policy["periods"]] == [3, 4]
        assert all(0.3 < m["roc_auc"] < 1.0 and m["n"] > 400 for m in policy["periods"])
    never, monthly, monitor = (result["policies"][n] for n in ("never", "monthly", "monitor"))
    # never: the first champion serves every month.
    assert never["retrains"] == 0
    assert {m["champion_version"] for m in never["periods"]} == {"1"}
    # monthly: retrains at the end of March (April is the last month); the gate decided.
    assert monthly["retrains"] == 1 and monthly["periods"][0]["retrained"]
    event = monthly["events"][1]
    assert event["period"] == 3 and isinstance(event["blessed"], bool)
    promoted = event["version"] is not None
    assert promoted == event["blessed"]
    assert (monthly["periods"][1]["champion_version"] == "2") == promoted
    # Same data and seed: the first champions of all policies score the same on March.
    assert never["periods"][0]["roc_auc"] == pytest.approx(monthly["periods"][0]["roc_auc"])
    # monitor (the drift policy's old name): its decision is recorded with its evidence.
    decision = monitor["periods"][0]["decision"]
    assert decision["policy"] == "drift" and isinstance(decision["fired"], bool)
    assert monitor["retrains"] == (1 if decision["fired"] else 0)
    assert decision["evidence"]["decay"] is not None  # March labels arrived: checked
    # every retrain's measured CPU is summed per policy, with its price
    assert monthly["retrain_cpu_s"] > 0 and monthly["retrain_usd"] > 0
    assert never["retrain_cpu_s"] == 0 and never["retrain_usd"] == 0
    # the label-free estimate of each served month sits next to the realised value
    estimate = never["periods"][0]["estimate"]
    assert 0.3 < estimate["value"] < 1 and estimate["low"] <= estimate["high"]
    assert estimate["naive"] is not None

    # The throw-away registry holds what promotion did: aliases and the audit trail.
    reg = Registry(f"sqlite:///{(registry_dir / 'replay.db').resolve()}")
    champion = reg.champion("flight-delay-monthly")
    assert champion is not None
    assert champion.version == monthly["periods"][1]["champion_version"]
    assert champion.tags["train_start"].startswith("2013-")
    assert len(reg.audit("flight-delay-monthly")) == 1 + int(promoted)
    assert reg.champion("flight-delay-never").version == "1"

    table = (tmp_path / "out" / "replay.md").read_text()
    assert "| 2013-03 |" in table and "| retrains (promoted) |" in table
    assert (tmp_path / "out" / "replay.png").read_bytes()[:4] == b"\x89PNG"
    # the never champion's label-free estimates against the realised values
    assert (tmp_path / "out" / "estimate.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ("replay: {initial_months: 4, last_month: 4}\n", "must be after initial_months"),
        ("replay: {policies: [never, never]}\n", "must not repeat"),
        ("replay: {policies: [sometimes]}\n", "replay.policies"),
        ("replay: {trials: 0}\n", "replay.trials"),
        ("replay: {initial_months: 2, last_month: 8}\n", "no rows for month(s) [5, 6, 8]"),
        ("replay: {horizon: 2, last_period: 6}\n", "horizon or last_period"),
        ("replay: {initial_periods: 3, label_delay: 2}\n", "label_delay (2) leaves"),
        ("replay: {period: month, last_period: 14}\n", "past the 12 months of a year"),
        ("replay: {policies: [never, sometimes]}\n", "replay.policies"),
        ("replay: {period: week, initial_periods: 2, horizon: 20}\n", "no rows for week(s)"),
    ],
)
def test_bad_replay_settings(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], params: str, message: str
) -> None:
    code = main(
        [
            "replay",
            "--params",
            str(write_params(tmp_path, params)),
            "--features",
            str(FIXTURE),
            "--out",
            str(tmp_path / "out"),
        ]
    )
    assert code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_features_without_event_time(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "f.parquet"
    pd.read_parquet(FIXTURE).drop(columns=["event_time"]).to_parquet(path)
    code = main(["replay", "--params", str(write_params(tmp_path)), "--features", str(path)])
    assert code == 2
    assert "has no 'event_time' column" in capsys.readouterr().err


def test_the_served_metric_is_the_tasks_primary_metric() -> None:
    from retrain.config import parse_params
    from retrain.replay import markdown, served_metric

    # given the default classification params and a regression task
    auc = served_metric(parse_params({}))
    rmse = served_metric(parse_params({"base": {"task": "regression"}}))
    # then ROC AUC keeps replay.json's names, and another metric is named as itself
    assert (auc.name, auc.key, auc.label) == ("roc_auc", "auc", "AUC")
    assert (rmse.name, rmse.key) == ("rmse", "rmse") and "lower is better" in rmse.axis
    # when a regression replay is tabled
    month = {"month": 3, "rmse": 12.5, "n": 500, "champion_version": "1", "retrained": False}
    policy = {"months": [month], "mean_rmse": 12.5, "retrains": 0, "promotions": 0}
    result = {
        "year": 2013,
        "served_months": [3],  # the keys of replay.json before periods/period
        "policies": {"never": policy},
        "trainings": 1,
        "elapsed_s": 1.0,
    }
    table = markdown(result, rmse)  # a replay.json from before periods/period (months/month)
    # then the table shows the regression metric
    assert "champion rmse per month" in table
    assert "| 2013-03 | 12.5000 (v1) |" in table and "**12.5000**" in table


def test_weeks_are_cut_from_january_first(tmp_path: Path) -> None:
    from retrain.config import parse_params
    from retrain.replay import Replay

    # given weekly periods over the fixture's months (January-April)
    params = parse_params(
        {
            "base": {"timezone": "America/New_York"},
            "replay": {"period": "week", "initial_periods": 4, "horizon": 8, "label_delay": 1},
        }
    )
    assert params.replay.last == 12
    replay = Replay(params, pd.read_parquet(FIXTURE), tmp_path, f"sqlite:///{tmp_path}/r.db")
    # then week 2 is January 8-14 and each row sits in the week of its local date
    window = replay.window(2, 3)
    assert (window.start.isoformat(), window.end.isoformat()) == (
        "2013-01-08T00:00:00",
        "2013-01-22T00:00:00",
    )
    local = pd.to_datetime(replay.features["event_time"], utc=True).dt.tz_convert(
        "America/New_York"
    )
    assert ((replay.month_of - 1) * 7 + 1 <= local.dt.dayofyear.to_numpy()).all()
    assert (local.dt.dayofyear.to_numpy() <= replay.month_of * 7).all()
    assert replay.month_key(2) == "2013-01-08..2013-01-15"


def test_old_month_names_still_configure_the_replay() -> None:
    from retrain.config import parse_params

    old = parse_params({"replay": {"initial_months": 4, "last_month": 9, "train_months": 2}})
    assert (old.replay.initial_periods, old.replay.last, old.replay.train_periods) == (4, 9, 2)
    assert old.replay.period == "month" and old.replay.label_delay == 0


def regression_table(rows_per_month: int = 160, seed: int = 0) -> pd.DataFrame:
    """A tiny time-indexed regression table: a price that follows two inputs and a category,
    with its level rising month by month (so a retrained model has something to catch up)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    parts = []
    for month in range(1, 6):
        n = rows_per_month
        start = pd.Timestamp(f"2013-{month:02d}-01", tz="UTC")
        x1, x2 = rng.uniform(0, 10, n), rng.normal(0, 1, n)
        kind = rng.choice(["a", "b", "c"], n)
        price = 50 + 8 * x1 + 5 * x2 + np.where(kind == "a", 20, 0) + 6 * month
        parts.append(
            pd.DataFrame(
                {
                    "event_time": start + pd.to_timedelta(rng.uniform(0, 27, n), unit="D"),
                    "x1": x1,
                    "x2": x2,
                    "kind": kind,
                    "price": price + rng.normal(0, 3, n),
                }
            )
        )
    frame = pd.concat(parts, ignore_index=True)
    return frame.assign(sale_id=np.arange(len(frame), dtype="int64"))


REGRESSION_PARAMS = """\
base: {task: regression, target: price, positive_above: null, key: sale_id, model_name: prices}
replay: {initial_periods: 3, last_period: 5, train_periods: 1, trials: 1, cv_folds: 2,
         cv_period: week, label_delay: 1, policies: [never, monthly, monitor, decay, estimated, challenger]}
policy:
  decay: {min_rows: 50}
  challenger: {min_rows: 50}
gate:
  values: {rmse: {max: 1000}}
  changes:
    - {metric: rmse, max_regression_rel: 0.05, bootstrap: true}
  bootstrap: {resamples: 200}
monitor:
  trigger: {persistence: 1}
"""


@pytest.mark.integration
@pytest.mark.slow  # ~40 s CPU: six small searches and exports
def test_replay_of_a_regression_table_serves_rmse(tmp_path: Path) -> None:
    # given a tiny time-indexed regression table (no flights column anywhere) and params that
    # name only its columns
    features = tmp_path / "prices.parquet"
    regression_table().to_parquet(features)
    params = tmp_path / "params.yaml"
    params.write_text(REGRESSION_PARAMS)
    # when five policies are replayed on it, the labels of a month arriving a month late
    code = main(
        [
            "replay",
            "--params",
            str(params),
            "--features",
            str(features),
            "--out",
            str(tmp_path / "out"),
        ]
    )
    # then every served month records the champion's RMSE (lower is better), not ROC AUC
    assert code == 0
    result = json.loads((tmp_path / "out" / "replay.json").read_text())
    assert result["served_periods"] == [4, 5] and result["label_delay"] == 1
    for policy in result["policies"].values():
        months = policy["periods"]
        assert [m["period"] for m in months] == [4, 5]
        assert all(0 < m["rmse"] < 60 and "roc_auc" not in m for m in months)
        assert policy["mean_rmse"] == pytest.approx(sum(m["rmse"] for m in months) / 2)
    policies = result["policies"]
    # the first champion trained on January and was gated on February (March unlabelled)
    assert policies["never"]["events"][0]["period"] == 2
    monthly = policies["monthly"]
    assert monthly["retrains"] == 1 and monthly["retrain_cpu_s"] > 0
    event = monthly["events"][1]
    # decided at the end of April, gated on March: the newest labelled month
    assert (event["decided"], event["period"]) == (4, 3)
    assert event["candidate_rmse"] > 0 and event["champion_rmse"] > 0
    # the drift rule sees no labels of April: no realised decay
    decision = policies["monitor"]["periods"][0]["decision"]
    assert decision["policy"] == "drift" and decision["evidence"]["decay"] is None
    # decay judges March's labels (new to a champion gated on February), in RMSE
    decay = policies["decay"]["periods"][0]["decision"]
    assert decay["evidence"]["n"] > 100 and decay["evidence"]["metric"] == "rmse"
    # the price level rises every month: concept drift (y | x moves), which March's labels
    # show (decay fires, a month late) ...
    assert decay["fired"] and policies["decay"]["retrains"] == 1
    # ... and a label-free estimate cannot: judging April without its labels, the direct-loss
    # estimate stays at the error level of the champion's test month, below the realised RMSE
    estimated = policies["estimated"]["periods"][0]
    assert estimated["decision"]["estimated"] is True and not estimated["decision"]["fired"]
    estimate = estimated["estimate"]
    assert 0 < estimate["low"] <= estimate["value"] <= estimate["high"] < estimated["rmse"]
    # the challenger: a model fitted on February (the window before March, labels that
    # arrived) against the champion on March, in RMSE; its training is that policy's cost
    challenger = policies["challenger"]
    made = challenger["periods"][0]["decision"]
    assert made["policy"] == "challenger" and made["evidence"]["metric"] == "rmse"
    assert made["evidence"]["n"] == decay["evidence"]["n"] and made["evidence"]["fit_s"] > 0
    assert challenger["periods"][0]["decide_cpu_s"] > 0 and challenger["policy_cpu_s"] > 0
    assert challenger["cost_usd"] >= challenger["retrain_usd"]
    table = (tmp_path / "out" / "replay.md").read_text()
    assert "champion rmse per month" in table and "| decision CPU s (all-in $) |" in table


@pytest.mark.parametrize("delay", [0, 1])
def test_the_estimate_is_calibrated_on_labelled_periods_before_the_current_one(
    tmp_path: Path, delay: int
) -> None:
    from sklearn.compose import make_column_transformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    from retrain.artifacts import VersionTags
    from retrain.config import load_params
    from retrain.replay import PolicyRun, Replay
    from retrain.splitting import derive_label

    # given a replay whose champion (a real model fitted on January) was gated on February
    params = load_params(
        write_params(
            tmp_path,
            PARAMS.replace("week}", f"week, label_delay: {delay}}}").replace(
                "months: 2", "months: 3"
            ),
        )
    )
    replay = Replay(params, pd.read_parquet(FIXTURE), tmp_path, f"sqlite:///{tmp_path}/r.db")
    january, _ = derive_label(replay.rows([1]), params.base)
    model = make_pipeline(
        make_column_transformer(("passthrough", ["distance", "dep_hour"])), LogisticRegression()
    ).fit(january.drop(columns="label"), january["label"])
    run = PolicyRun("estimated", "m", "1", model, VersionTags(sha256="0" * 64), promoted_month=2)
    # when the policies' context is built at the end of April
    context = replay.context(run, 4)
    # then the estimate's calibration holds February and March (their labels arrived by then),
    # never April, whose labels the estimate stands in for (at delay 0 they come with it)
    labelled = [len(derive_label(replay.rows([m]), params.base)[0]) for m in (2, 3)]
    assert len(context.calibration) == sum(labelled)
    times = pd.to_datetime(context.calibration.features["event_time"], utc=True)
    assert times.min() >= pd.Timestamp("2013-02-01", tz="America/New_York")
    assert times.max() < pd.Timestamp("2013-04-01", tz="America/New_York")
    # and what the decay policy sees at delay 1 is March, at delay 0 April
    newest = pd.to_datetime(context.labelled.features["event_time"], utc=True)
    assert (newest.dt.tz_convert("America/New_York").dt.month == 4 - delay).all()
