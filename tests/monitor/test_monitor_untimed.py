"""`retrain monitor` on tables without a time column (base.event_time: null), as `retrain init`
writes them: scikit-learn's breast-cancer (binary) and diabetes (regression) tables. A real
champion (a scikit-learn Pipeline fitted on the real hash split's training side, exported and
registered in a real MLflow sqlite store with the split tags `push` records) is compared with
files of new rows held out of the table before `init`."""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from retrain.cli import main

pytestmark = [pytest.mark.integration, pytest.mark.slow]  # ~60 s: two exports, 23 runs

NEW_ROWS = 150  # rows held out of the table: the "new data" files


@dataclass(frozen=True)
class Project:
    root: Path
    new: pd.DataFrame  # rows the table does not hold, same columns
    table: pd.DataFrame
    uri: str  # the registry holding the champion
    version: str
    target: str


def build(root: Path, name: str, frame: pd.DataFrame, registry_uri: str) -> Project:
    """`retrain init` on all but NEW_ROWS rows, then a champion trained on the hash split's
    training side and registered with push's split tags."""
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    from registry_support import one_thread
    from retrain.config import load_params
    from retrain.exporting import export_model
    from retrain.extraction import table_features
    from retrain.metrics import score
    from retrain.model_io import save_model
    from retrain.registry import MlflowRegistry
    from retrain.splitting import split

    root.mkdir()
    (root / "data").mkdir()
    new = frame.sample(NEW_ROWS, random_state=0)
    table = frame.drop(index=new.index)
    table.to_csv(root / "data" / f"{name}.csv", index=False)
    cwd = Path.cwd()
    os.chdir(root)
    try:
        assert main(["init", "--table", f"data/{name}.csv", "--target", "target"]) == 0
        # No edit after init: it drafts monitor.bins for ~85 held-out rows (a 10-bin PSI's
        # noise floor, ~(bins - 1) * (1/85 + 1/150) = 0.17, sits next to the 0.2 threshold).
        drafted = re.search(r"\n  bins: (\d+) ", Path("params.yaml").read_text())
        assert drafted is not None and 2 <= int(drafted.group(1)) <= 5
        params = load_params(Path("params.yaml"))
        base = params.base
        assert base.event_time is None and base.key is None  # no time, no key: row_id
        features = table_features(
            Path(f"data/{name}.csv"), "utf-8", None, base.target, None, params.extract.window
        )
    finally:
        os.chdir(cwd)
    parts = split(features, base, params.prepare)
    columns = [c for c in table.columns if c != "target"]
    regression = base.task == "regression"
    model = Ridge() if regression else LogisticRegression(max_iter=2000)
    with one_thread():
        pipeline = Pipeline([("scale", StandardScaler()), ("model", model)])
        pipeline.fit(parts.train[columns], parts.train["label"])
    skops = root / "model.skops"
    sha = save_model(pipeline, skops)
    parts.test.to_parquet(root / "test.parquet")
    export_dir = root / "export"
    task = base.task
    export_model(
        skops,
        root / "test.parquet",
        export_dir,
        task=task,
        threshold=None if regression else 0.5,
        input_example_rows=3,
        parity_rows=20,
    )
    metric = getattr(params.train.metric, task)
    if regression:
        test_scores = pipeline.predict(parts.test[columns])
    else:
        test_scores = pipeline.predict_proba(parts.test[columns])[:, 1]
    value = score(metric, parts.test["label"], test_scores)
    registry = MlflowRegistry(registry_uri)
    tags = {
        "sha256": sha,
        "primary_metric": metric,
        f"metric.{metric}": f"{value:.6g}",
        "split": "hash",
        "test_size": str(params.prepare.test_size),
    }
    ref, _ = registry.register(base.model_name, export_dir, tags)
    registry.set_alias(base.model_name, "champion", ref.version)
    return Project(root, new, table, registry_uri, ref.version, base.target)


@pytest.fixture(scope="module")
def projects(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Project]:
    from sklearn.datasets import load_breast_cancer, load_diabetes

    from registry_support import fresh_store

    root = tmp_path_factory.mktemp("untimed")
    uri = fresh_store(root)
    cancer = load_breast_cancer(as_frame=True).frame
    diabetes = load_diabetes(as_frame=True, scaled=False).frame
    return {
        "cancer": build(root / "cancer", "breast_cancer", cancer, uri),
        "diabetes": build(root / "diabetes", "diabetes", diabetes, uri),
    }


def monitor(project: Project, rows: pd.DataFrame | None, *extra: str, name: str = "new.csv") -> int:
    """`retrain monitor --current-rows data/<name>` in the project (rows None: file as is)."""
    if rows is not None:
        rows.to_csv(project.root / "data" / name, index=False)
    cwd = Path.cwd()
    os.chdir(project.root)
    try:
        return main(["monitor", "--current-rows", f"data/{name}", "--out", "out", *extra])
    finally:
        os.chdir(cwd)


def result(project: Project) -> dict:
    return json.loads((project.root / "out" / "drift.json").read_text())


@pytest.fixture
def registry(projects: dict[str, Project], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", projects["cancer"].uri)
    for project in projects.values():
        (project.root / "out" / "drift.json").unlink(missing_ok=True)


SCALED = {  # a real shift: the size measures of new tumours / patients read 1.6x larger
    "cancer": [
        *("mean radius", "mean perimeter", "mean area", "worst radius", "worst perimeter"),
        *("worst area", "radius error", "perimeter error", "area error", "mean texture"),
    ],
    "diabetes": ["bmi", "bp", "s1", "s2", "s5"],
}


@pytest.mark.parametrize("which", ["cancer", "diabetes"])
def test_unshifted_new_rows_keep_the_champion(
    which: str, projects: dict[str, Project], registry: None
) -> None:
    # given new rows from the same population as the table, with their labels
    project = projects[which]
    # when the monitor compares them with the champion's training rows
    code = monitor(project, project.new)
    # then nothing fires, persistence is 1 and the champion's metric is measured on them
    drift = result(project)
    assert code == 0, drift["reason"]
    assert drift["action"] == "none" and drift["dispatch"] is None
    assert drift["trigger"]["persistence"] == 1 and drift["trigger"]["consecutive"] == 0
    assert drift["champion_version"] == project.version
    assert drift["current"]["n_rows"] == NEW_ROWS
    # the reference is the training side of the hash split (~80 % of the table's rows)
    n_table = len(project.table)
    assert abs(drift["reference"]["n_rows"] - 0.8 * n_table) < 4 * (n_table * 0.16) ** 0.5
    assert "training rows" in drift["reference"]["window"]
    assert drift["performance"]["n_labelled"] == NEW_ROWS
    assert drift["performance"]["decay"] < drift["trigger"]["decay"]


@pytest.mark.parametrize("which", ["cancer", "diabetes"])
def test_scaled_features_are_drift_and_send_a_retrain(
    which: str, projects: dict[str, Project], registry: None
) -> None:
    # given new rows whose size measures are 1.6x what the table holds
    project = projects[which]
    shifted = project.new.copy()
    shifted[SCALED[which]] = shifted[SCALED[which]] * 1.6
    # when the monitor runs
    code = monitor(project, shifted)
    # then it asks for a retrain with the drifted columns as evidence in the payload
    drift = result(project)
    assert code == 10 and drift["action"] == "retrain"
    drifted = {f["feature"] for f in drift["features"] if f["drifted"]}
    assert set(SCALED[which]) & drifted
    assert drift["signals"]["drift"] and drift["drift_share"] >= 0.3
    payload = drift["dispatch"]["client_payload"]
    # (diabetes: the shift also costs the champion > 10 % RMSE, and decay names the event)
    assert drift["dispatch"]["event_type"] in ("drift-detected", "performance-degraded")
    assert set(payload["features"]) <= drifted  # (names with spaces are not payload-safe)
    assert payload["window"]["end"] > payload["window"]["start"]
    summary = (project.root / "out" / "summary.md").read_text()
    assert "retrain" in summary.lower() and "new rows" in summary


def flipped(project: Project, which: str) -> pd.DataFrame:
    rows = project.new.copy()
    y = rows[project.target]
    rows[project.target] = 1 - y if which == "cancer" else y.max() + y.min() - y
    return rows


@pytest.mark.parametrize("which", ["cancer", "diabetes"])
def test_wrong_labels_are_decay(which: str, projects: dict[str, Project], registry: None) -> None:
    # given unshifted new rows whose outcomes contradict what the champion learnt
    project = projects[which]
    # when the monitor runs
    code = monitor(project, flipped(project, which))
    # then the champion's metric on them decays past the trigger: performance-degraded
    drift = result(project)
    assert code == 10, drift["reason"]
    assert drift["signals"]["decay"] and not drift["signals"]["drift"]
    assert drift["performance"]["decay"] > drift["trigger"]["decay"] > 0
    assert drift["dispatch"]["event_type"] == "performance-degraded"


def test_rows_the_table_holds_are_left_out_and_unlabelled_rows_have_no_metric(
    projects: dict[str, Project], registry: None, capsys: pytest.CaptureFixture[str]
) -> None:
    project = projects["cancer"]
    # given new rows without the target column, plus 40 rows the table already holds
    rows = pd.concat([project.new, project.table.head(40)]).drop(columns=[project.target])
    # when the monitor runs
    code = monitor(project, rows)
    # then the 40 known rows are reported and left out, and no realised metric is claimed
    drift = result(project)
    assert code == 0, drift["reason"]
    assert drift["current"]["n_rows"] == NEW_ROWS
    assert "40 already in the table left out" in drift["current"]["window"]
    assert drift["performance"] is None and not drift["signals"]["decay"]
    # and the label-free estimate refuses a held-out side this small, saying so (exit 2)
    params = project.root / "params.yaml"
    original = params.read_text()
    params.write_text(original + "policy: {monitor: estimated}\n")
    try:
        assert monitor(project, rows) == 2
    finally:
        params.write_text(original)
    assert "CBPE needs at least 100" in capsys.readouterr().err


def test_without_a_registry_the_whole_table_is_the_reference(
    projects: dict[str, Project], registry: None
) -> None:
    project = projects["diabetes"]
    code = monitor(project, project.new, "--no-registry")
    drift = result(project)
    assert code == 0 and drift["champion_version"] is None
    assert drift["reference"]["n_rows"] == len(project.table)
    assert drift["prediction"] is None and drift["performance"] is None


def test_monitor_current_rows_in_params_is_the_default(
    projects: dict[str, Project], registry: None
) -> None:
    project = projects["diabetes"]
    project.new.to_csv(project.root / "data" / "later.csv", index=False)
    params = project.root / "params.yaml"
    original = params.read_text()
    params.write_text(original.replace("monitor:", "monitor:\n  current_rows: data/later.csv", 1))
    cwd = Path.cwd()
    os.chdir(project.root)
    try:
        code = main(["monitor", "--out", "out"])
    finally:
        os.chdir(cwd)
        params.write_text(original)
    assert code == 0 and result(project)["current"]["window"].startswith("later.csv: ")


def write(project: Project, name: str, text: str | bytes) -> None:
    path = project.root / "data" / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())


@pytest.mark.parametrize(
    ("name", "make", "message"),
    [
        ("missing.csv", None, "does not exist"),
        ("empty.csv", "header", "has no rows"),
        ("blank.csv", b"", "cannot be parsed as CSV"),
        ("fewer.csv", "drop", "lacks 1 column(s) of the table: ['mean radius']"),
        ("more.csv", "extra", "has 1 column(s) the table does not"),
        ("bytes.csv", b"\xff\xfe\x00bad", "is not valid utf-8"),
        ("table.txt", b"a,b\n1,2\n", "unsupported type"),
        ("known.csv", "known", "is already in"),
    ],
)
def test_bad_current_files_exit_2_and_write_nothing(
    name: str,
    make: object,
    message: str,
    projects: dict[str, Project],
    registry: None,
    capsys: pytest.CaptureFixture[str],
) -> None:
    project = projects["cancer"]
    (project.root / "data" / name).unlink(missing_ok=True)
    if make == "header":
        write(project, name, project.new.head(0).to_csv(index=False))
    elif make == "drop":
        project.new.drop(columns=["mean radius"]).to_csv(project.root / "data" / name, index=False)
    elif make == "extra":
        project.new.assign(secret=1).to_csv(project.root / "data" / name, index=False)
    elif make == "known":
        project.table.head(5).to_csv(project.root / "data" / name, index=False)
    elif isinstance(make, bytes):
        write(project, name, make)
    assert monitor(project, None, name=name) == 2
    err = capsys.readouterr().err
    assert message in err and "--current-rows" in err
    assert not (project.root / "out" / "drift.json").exists()
    # and a good file in the same place is accepted
    project.new.to_csv(project.root / "data" / name, index=False)
    if name.endswith(".csv"):
        assert monitor(project, None, name=name) in (0, 10)


def test_a_current_file_outside_the_project_is_not_opened(
    projects: dict[str, Project], registry: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = projects["cancer"]
    outside = tmp_path / "new.csv"
    project.new.to_csv(outside, index=False)
    link = project.root / "data" / "link.csv"
    link.unlink(missing_ok=True)
    link.symlink_to(outside)
    assert monitor(project, None, name="link.csv") == 2
    assert "resolves outside the project" in capsys.readouterr().err
    assert not (project.root / "out" / "drift.json").exists()


@pytest.mark.parametrize(
    ("flag", "value"),
    [
        ("--current-window", "2013-01-01..2013-02-01"),
        ("--reference-window", "2013-01-01..2013-02-01"),
        ("--features", "data/new.csv"),
    ],
)
def test_time_window_flags_are_refused_without_a_time_column(
    flag: str,
    value: str,
    projects: dict[str, Project],
    registry: None,
    capsys: pytest.CaptureFixture[str],
) -> None:
    project = projects["cancer"]
    assert monitor(project, project.new, flag, value) == 2
    assert f"{flag} cuts time windows, but base.event_time is null" in capsys.readouterr().err
    assert not (project.root / "out" / "drift.json").exists()


def test_no_current_rows_and_no_champion_name_the_fix(
    projects: dict[str, Project],
    registry: None,
    capsys: pytest.CaptureFixture[str],
    mlflow_uri: str,
) -> None:
    project = projects["cancer"]
    cwd = Path.cwd()
    os.chdir(project.root)
    try:
        assert main(["monitor", "--out", "out"]) == 2
        assert "pass --current-rows data/new.csv or set monitor.current_rows" in (
            capsys.readouterr().err
        )
    finally:
        os.chdir(cwd)
    # an empty registry (mlflow_uri): no champion, and the fix says --no-registry
    assert monitor(project, project.new) == 2
    assert "has no champion in the registry" in capsys.readouterr().err
    assert not (project.root / "out" / "drift.json").exists()


def test_current_rows_with_a_timed_table_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # given the flights' params (base.event_time: event_time) and a file of rows
    params = tmp_path / "params.yaml"
    params.write_text("monitor:\n  trigger:\n    persistence: 1\n")
    (tmp_path / "new.csv").write_text("a\n1\n")
    code = main(
        [
            *("monitor", "--params", str(params)),
            *("--current-rows", str(tmp_path / "new.csv"), "--out", str(tmp_path / "out")),
        ]
    )
    assert code == 2
    assert "is for tables without a time column" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_a_champion_without_a_hash_split_is_refused(
    projects: dict[str, Project], registry: None, capsys: pytest.CaptureFixture[str]
) -> None:
    import mlflow

    from retrain.registry import MlflowRegistry

    project = projects["cancer"]
    client = mlflow.MlflowClient(tracking_uri=project.uri, registry_uri=project.uri)
    name = "breast_cancer"
    try:
        # given a champion trained while the table had a time column
        MlflowRegistry(project.uri).set_version_tag(name, project.version, "split", "time")
        assert monitor(project, project.new) == 2
        assert "was trained under a time split" in capsys.readouterr().err
        # given one registered without the split tags (not through push)
        client.delete_model_version_tag(name, project.version, "split")
        assert monitor(project, project.new) == 2
        assert "has no split/test_size tags" in capsys.readouterr().err
        assert not (project.root / "out" / "drift.json").exists()
    finally:
        MlflowRegistry(project.uri).set_version_tag(name, project.version, "split", "hash")
    # and with push's tags back it runs
    assert monitor(project, project.new) == 0
