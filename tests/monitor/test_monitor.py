"""`retrain monitor`: drift on real 2013 features, trigger policy and persistence, champion
prediction drift and performance decay from a real MLflow registry, and its bad inputs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from retrain.artifacts import DriftResult, WindowSignal
from retrain.cli import main
from retrain.config import parse_params
from retrain.monitor import command, drift
from retrain.monitor.payload import parse_event
from retrain.monitor.render import drift_markdown
from retrain.monitor.stats import StatResult

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "monitor" / "features.parquet"
FEB = "2013-02-01..2013-03-01"
JUL = "2013-07-01..2013-08-01"
TZ = "America/New_York"


@pytest.fixture(scope="module")
def features() -> pd.DataFrame:
    return pd.read_parquet(FIXTURE)


def window(frame: pd.DataFrame, text: str) -> pd.DataFrame:
    return command.rows_in(frame, command.parse_window(text, TZ, "--w"), "event_time")


# --- core: drift on the real features --------------------------------------------------------


# The bundled params.yaml's monitor.exclude (the flights' outcomes, month, tailnum; the generic
# default excludes only the roles: key, event time, target, label).
FLIGHTS_EXCLUDE = [
    *("flight_id", "event_time", "month", "tailnum", "arr_delay", "dep_delay", "dep_time"),
    *("arr_time", "air_time", "label"),
]


def test_same_distribution_has_little_drift_and_summer_has_a_lot(features: pd.DataFrame) -> None:
    params = parse_params({"monitor": {"exclude": FLIGHTS_EXCLUDE}})
    february = window(features, FEB)
    # Alternate rows of one month: the same distribution, only sampling noise differs.
    calm = command.check_windows(params, february.iloc[::2], february.iloc[1::2])
    summer = command.check_windows(params, window(features, FEB), window(features, JUL))
    assert calm.drift_share < params.monitor.trigger.drift_share
    assert summer.drift_share >= params.monitor.trigger.drift_share
    flagged = {f.feature for f in summer.drifted}
    assert {"temp", "dewp"} <= flagged  # February vs July weather
    assert not {"dep_hour", "distance", "day_of_week"} & flagged  # the schedule barely moves
    # The flights' exclude leaves out ids, keys, outcomes and the calendar month.
    names = {f.feature for f in summer.features}
    assert not names & {"flight_id", "event_time", "tailnum", "month", "arr_delay", "dep_delay"}
    # and with the generic default (no exclude) the roles are still never monitored
    generic = command.check_windows(parse_params({}), window(features, FEB), window(features, JUL))
    names = {f.feature for f in generic.features}
    assert not names & {"flight_id", "event_time", "arr_delay", "label"}
    assert {"tailnum", "month"} <= names  # what only the flights' params leave out
    kinds = {f.feature: (f.kind, f.result.statistic) for f in summer.features}
    assert kinds["carrier"] == ("categorical", "jensenshannon")
    assert kinds["temp"] == ("numeric", "psi")


def test_p_value_tests_flag_more_columns_than_effect_sizes(features: pd.DataFrame) -> None:
    # Why KS is not the default: significance grows with the rows, not with the shift (on the
    # full 2013 data, Jan-Sep vs Oct-Dec: KS/chi-square flag 24 of 25 columns, PSI/JS 4).
    ks = parse_params({"monitor": {"numeric_statistic": "ks"}})
    psi = parse_params({})
    ref, cur = window(features, FEB), window(features, JUL)
    n_ks = len(command.check_windows(ks, ref, cur).drifted)
    n_psi = len(command.check_windows(psi, ref, cur).drifted)
    assert n_ks > n_psi


def test_other_timestamp_columns_are_not_monitored(features: pd.DataFrame) -> None:
    frame = features.assign(booked_at=features["event_time"] - pd.Timedelta(days=30))
    params = parse_params({})
    report = command.check_windows(params, window(frame, FEB), window(frame, JUL))
    assert "booked_at" not in {f.feature for f in report.features}


def test_monitored_features_from_params(features: pd.DataFrame) -> None:
    params = parse_params({"monitor": {"features": ["temp", "carrier"]}})
    report = command.check_windows(params, window(features, FEB), window(features, JUL))
    assert [f.feature for f in report.features] == ["temp", "carrier"]
    with pytest.raises(Exception, match="monitor.features names column"):
        command.check_windows(
            parse_params({"monitor": {"features": ["nope"]}}), window(features, FEB), features
        )


# --- trigger policy and persistence ----------------------------------------------------------


def report_with(share_drifted: int, n: int = 10, decay: float | None = None) -> drift.DriftReport:
    feats = tuple(
        drift.FeatureDrift(
            f"f{i}",
            "numeric",
            StatResult("psi", 0.5 if i < share_drifted else 0.01, None, 0.2, i < share_drifted),
            0.0,
            0.0,
        )
        for i in range(n)
    )
    perf = (
        drift.Performance("roc_auc", True, 0.72, 0.72 - decay, 5000) if decay is not None else None
    )
    return drift.DriftReport(feats, None, perf, 100, 100)


def run_policy(reports: list[drift.DriftReport], policy: dict[str, Any]) -> list[drift.Decision]:
    """The decision on each window of a series, given the signals of the windows before it."""
    trigger = parse_params({"monitor": {"trigger": policy}}).monitor.trigger
    out: list[drift.Decision] = []
    for i, report in enumerate(reports):
        earlier = [
            WindowSignal(window=f"2013-{j + 1:02d}", signal=drift.signals_of(r, trigger).any)
            for j, r in enumerate(reports[:i])
        ]
        out.append(drift.decide(report, trigger, f"2013-{i + 1:02d}", earlier))
    return out


def test_share_threshold_decides_the_drift_signal() -> None:
    below, at = run_policy([report_with(2), report_with(3)], {"drift_share": 0.3, "persistence": 1})
    assert not below.drift_signal and below.action == "none" and below.event_type is None
    assert at.drift_signal and at.action == "retrain" and at.event_type == "drift-detected"
    assert at.score == pytest.approx(0.3)


def test_signal_must_persist_for_n_consecutive_windows() -> None:
    decisions = run_policy(
        [report_with(5), report_with(0), report_with(5), report_with(5), report_with(5)],
        {"persistence": 2},
    )
    assert [d.consecutive for d in decisions] == [1, 0, 1, 2, 3]
    assert [d.action for d in decisions] == ["none", "none", "none", "retrain", "retrain"]


def test_only_the_windows_given_count_no_state_is_carried() -> None:
    # given the same current window decided twice (a re-run) with no earlier windows
    trigger = parse_params({"monitor": {"trigger": {"persistence": 2}}}).monitor.trigger
    first = drift.decide(report_with(5), trigger, "2013-07-01..2013-08-01")
    again = drift.decide(report_with(5), trigger, "2013-07-01..2013-08-01")
    # then a re-run counts the window once, however often it runs
    assert first.consecutive == again.consecutive == 1 and again.action == "none"
    # and with the window before it signalling too, the same window retrains
    before = WindowSignal(window="2013-06-01..2013-07-01", signal=True)
    both = drift.decide(report_with(5), trigger, "2013-07-01..2013-08-01", [before])
    assert both.consecutive == 2 and both.action == "retrain"
    assert [w.window for w in both.windows] == ["2013-06-01..2013-07-01", "2013-07-01..2013-08-01"]


def test_earlier_windows_are_the_same_length_just_before_the_current_one() -> None:
    # given a current window of three whole months, and one of 16 days
    quarter = command.parse_window("2013-10-01..2014-01-01", TZ, "--w")
    days = command.parse_window("2013-07-16..2013-08-01", TZ, "--w")
    # then the windows before are whole calendar months, or the same duration
    assert [command.window_key(s) for s in command.earlier_spans(quarter, 2)] == [
        "2013-07-01..2013-10-01",
        "2013-04-01..2013-07-01",
    ]
    assert [command.window_key(s) for s in command.earlier_spans(days, 1)] == [
        "2013-06-30..2013-07-16"
    ]
    assert command.earlier_spans(quarter, 0) == []


def test_decay_alone_triggers_performance_degraded() -> None:
    (small, large) = run_policy(
        [report_with(0, decay=0.01), report_with(0, decay=0.05)],
        {"decay": 0.03, "persistence": 1},
    )
    assert not small.decay_signal and small.action == "none"
    assert large.decay_signal and large.event_type == "performance-degraded"
    assert large.score == pytest.approx(0.05)
    assert "roc_auc 0.6700 vs registered 0.7200" in large.reason


def test_lower_is_better_metric_decay_direction() -> None:
    worse = drift.Performance("log_loss", False, registered=0.40, current=0.47, n_labelled=10)
    better = drift.Performance("log_loss", False, registered=0.40, current=0.35, n_labelled=10)
    assert worse.decay == pytest.approx(0.07)
    assert better.decay == pytest.approx(-0.05)


# --- the command, no registry ----------------------------------------------------------------


def monitor(tmp_path: Path, *extra: str, params: str = "") -> int:
    params_file = tmp_path / "params.yaml"
    if not params_file.exists():
        # The fixture flights' clock (base.timezone defaults to UTC).
        zone = f"base:\n  timezone: {TZ}\n"
        params_file.write_text(zone + (params or "monitor:\n  trigger:\n    persistence: 2\n"))
    return main(
        [
            "monitor",
            "--params",
            str(params_file),
            "--out",
            str(tmp_path / "out"),
            "--features",
            str(FIXTURE),
            *extra,
        ]
    )


def test_command_writes_outputs_and_exits_10_after_persistence(tmp_path: Path) -> None:
    args = ["--no-registry", "--reference-window", FEB, "--current-window"]
    # the first half of July drifts, but the window before it (late June) has no data: 1 of 2
    assert monitor(tmp_path, *args, "2013-07-01..2013-07-16") == 0
    first = json.loads((tmp_path / "out" / "drift.json").read_text())
    assert first["action"] == "none" and first["dispatch"] is None
    assert first["trigger"]["consecutive"] == 1
    assert first["trigger"]["windows"] == [
        {"window": "2013-06-16..2013-07-01", "signal": False},
        {"window": "2013-07-01..2013-07-16", "signal": True},
    ]
    # the second half of July drifts and so did the first: retrain, in one stateless run
    assert monitor(tmp_path, *args, "2013-07-16..2013-08-01") == 10
    result = json.loads((tmp_path / "out" / "drift.json").read_text())
    assert result["schema"] == 1
    assert result["action"] == "retrain"
    assert result["reference"]["n_rows"] == 500
    assert {"feature", "kind", "statistic", "score", "threshold", "drifted"} <= set(
        result["features"][0]
    )
    event = parse_event(result["dispatch"]["event_type"], result["dispatch"]["client_payload"])
    assert event.event_type == "drift-detected"
    assert event.client_payload.window.start == "2013-07-16"
    assert event.client_payload.window.end == "2013-08-01"  # half-open, like params windows
    assert "temp" in event.client_payload.features
    summary = (tmp_path / "out" / "summary.md").read_text()
    assert "Decision: **retrain**" in summary and "| temp | numeric | psi |" in summary
    assert "Persistence: 2 of 2 windows in a row (2013-06-30..2013-07-16 signal," in summary
    assert (tmp_path / "out" / "drift.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert result["trigger"]["consecutive"] == 2
    assert result["trigger"]["windows"] == [
        {"window": "2013-06-30..2013-07-16", "signal": True},
        {"window": "2013-07-16..2013-08-01", "signal": True},
    ]
    assert sorted(p.name for p in tmp_path.rglob("*.json")) == ["drift.json"]  # no state file
    # the files read back as their contracts, and summary.md is their one rendering
    typed = DriftResult.read(tmp_path / "out" / "drift.json", "re-run the monitor")
    assert typed.dispatch is not None and typed.dispatch.event_type == "drift-detected"
    assert summary == drift_markdown(typed)
    # a re-run decides the same: nothing was carried over
    assert monitor(tmp_path, *args, "2013-07-16..2013-08-01") == 10
    assert json.loads((tmp_path / "out" / "drift.json").read_text())["trigger"] == result["trigger"]


def test_command_no_action_on_a_calm_window(tmp_path: Path) -> None:
    code = monitor(tmp_path, "--no-registry", "--reference-window", FEB, "--current-window", FEB)
    assert code == 0
    result = json.loads((tmp_path / "out" / "drift.json").read_text())
    assert result["signals"] == {"drift": False, "prediction_drift": False, "decay": False}


def test_monitor_output_feeds_dispatch(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    params = "monitor:\n  trigger:\n    persistence: 1\ndispatch:\n  repository: acme/flights\n"
    args = ["--no-registry", "--reference-window", FEB, "--current-window", JUL]
    assert monitor(tmp_path, *args, params=params) == 10
    capsys.readouterr()
    drift_json = tmp_path / "out" / "drift.json"
    code = main(
        [
            "dispatch",
            "--params",
            str(tmp_path / "params.yaml"),
            "--payload",
            str(drift_json),
            "--dry-run",
        ]
    )
    assert code == 0
    assert '"event_type": "drift-detected"' in capsys.readouterr().out


@pytest.mark.parametrize(
    ("extra", "params", "message"),
    [
        (["--no-registry"], None, "no reference window"),
        (["--no-registry", "--reference-window", "2013-02-01"], None, "is not START..END"),
        (["--no-registry", "--reference-window", "2013-02-30..2013-03-01"], None, "day is out"),
        (["--no-registry", "--reference-window", "2013-03-01..2013-02-01"], None, "before end"),
        (["--no-registry", "--reference-window", "2014-01-01..2014-02-01"], None, "no rows"),
        (
            ["--no-registry", "--reference-window", FEB],
            "monitor:\n  numeric_statistic: kss\n",
            "unknown drift statistic 'kss'; known statistics: chisquare, jensenshannon, ks, psi",
        ),
        (
            ["--no-registry", "--reference-window", FEB],
            "monitor:\n  categorical_statistic: ks\n",
            "'ks' does not apply to categorical",
        ),
        (
            ["--no-registry", "--reference-window", FEB],
            "monitor:\n  thresholds: {psi: -1}\n",
            "must be > 0",
        ),
        (
            ["--no-registry", "--reference-window", FEB],
            "monitor:\n  trigger: {persistence: 0}\n",
            "monitor.trigger.persistence",
        ),
        (["--no-registry", "--reference-window", FEB], "monitor:\n  bins: 1\n", "monitor.bins"),
        (  # a table without a time column and no new-rows file: the flag / key is named
            ["--no-registry", "--reference-window", FEB],
            "base:\n  event_time: null\n",
            "pass --current-rows data/new.csv or set monitor.current_rows",
        ),
        (
            ["--no-registry", "--reference-window", FEB],
            "monitor:\n  features: [nope]\n",
            "monitor.features names column",
        ),
    ],
)
def test_bad_inputs_exit_2_and_write_nothing(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    extra: list[str],
    params: str | None,
    message: str,
) -> None:
    code = monitor(tmp_path, *extra, "--current-window", JUL, params=params or "")
    assert code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out" / "drift.json").exists()
    assert not (tmp_path / "state.json").exists()


def test_bad_feature_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = [
        "monitor",
        "--no-registry",
        "--reference-window",
        FEB,
        "--current-window",
        JUL,
        "--out",
        str(tmp_path / "out"),
        "--params",
        str(tmp_path / "p.yaml"),
    ]
    (tmp_path / "p.yaml").write_text("{}\n")
    assert main([*base, "--features", str(tmp_path / "missing.parquet")]) == 2
    assert "features file not found" in capsys.readouterr().err
    (tmp_path / "broken.parquet").write_bytes(b"PAR1 not really")
    assert main([*base, "--features", str(tmp_path / "broken.parquet")]) == 2
    assert "not a readable parquet file" in capsys.readouterr().err
    pd.read_parquet(FIXTURE).drop(columns=["event_time"]).to_parquet(tmp_path / "notime.parquet")
    assert main([*base, "--features", str(tmp_path / "notime.parquet")]) == 2
    assert "has no 'event_time' column" in capsys.readouterr().err


@pytest.mark.integration
def test_windows_read_through_the_feature_store(tmp_path: Path) -> None:
    """No --features: both windows come from the Feast store over data/ (extract's core)."""
    data = Path(__file__).resolve().parents[1] / "fixtures" / "flights"  # 2013-01-01..04
    params = tmp_path / "params.yaml"
    params.write_text("{}\n")
    code = main(
        [
            "monitor",
            "--params",
            str(params),
            "--out",
            str(tmp_path / "out"),
            "--data",
            str(data),
            "--feast-dir",
            str(tmp_path / "feast"),
            "--no-registry",
            "--reference-window",
            "2013-01-01..2013-01-03",
            "--current-window",
            "2013-01-03..2013-01-05",
        ]
    )
    assert code == 0
    result = json.loads((tmp_path / "out" / "drift.json").read_text())
    assert result["reference"]["n_rows"] > 50 and result["current"]["n_rows"] > 50
    names = {f["feature"] for f in result["features"]}
    assert {"temp", "carrier_delay_rate_7d", "plane_year"} <= names  # Feast views joined


def test_features_symlinked_outside_the_project_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # given --features pointing at a link to a file outside the project (and the cwd)
    monkeypatch.delenv("RETRAIN_DATA_ROOTS", raising=False)
    project, outside = tmp_path / "project", tmp_path / "outside"
    project.mkdir()
    outside.mkdir()
    (outside / "secret.parquet").write_text("AWS_SECRET_ACCESS_KEY=x\n")
    (project / "features.parquet").symlink_to(outside / "secret.parquet")
    (project / "params.yaml").write_text(f"base:\n  timezone: {TZ}\n")
    args = ["monitor", "--params", str(project / "params.yaml"), "--out", str(project / "out")]
    args += ["--no-registry", "--reference-window", FEB, "--current-window", JUL]
    # when the monitor runs: refused by name, nothing written, nothing quoted
    assert main([*args, "--features", str(project / "features.parquet")]) == 2
    err = capsys.readouterr().err
    assert "--features" in err and "resolves outside the project" in err
    assert "AWS_SECRET" not in err and not (project / "out").exists()
    # and the fixture inside the repository (the working directory) is read
    assert main([*args, "--features", str(FIXTURE)]) in (0, 10)


def test_the_measured_retrain_cost_is_the_sum_of_the_stage_records(tmp_path: Path) -> None:
    from retrain.cost import measure
    from retrain.errors import UserError
    from retrain.monitor.command import measured_retrain_usd

    # given the cost records two stages wrote (as `--cost metrics/cost/<stage>.json` does)
    costs = tmp_path / "cost"
    costs.mkdir()
    records = [measure(stage, 3600.0) for stage in ("prepare", "train")]
    for record in records:
        record.write(costs / f"{record.stage}.json")
    # when the monitor sums them, then the retrain costs their sum; no records: unknown
    assert measured_retrain_usd(costs) == pytest.approx(sum(r.usd for r in records))
    assert measured_retrain_usd(tmp_path / "none") is None
    # and a broken record is a clear error naming the fix, not a traceback
    (costs / "train.json").write_text("{")
    with pytest.raises(UserError, match="cost") as err:
        measured_retrain_usd(costs)
    assert "dvc repro" in str(err.value)
