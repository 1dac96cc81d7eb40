"""`retrain init` on public tables bundled with installed packages (scikit-learn, matplotlib):
the written params.yaml loads, states its rules, covers every param dvc.yaml names; bad inputs
are clear errors with nothing written."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from retrain.cli import main
from retrain.config import load_params
from retrain.profiling import schema_allows

ROOT = Path(__file__).resolve().parents[1]


def with_id(frame: pd.DataFrame) -> pd.DataFrame:
    """The table with a row id first (this version's pipeline needs base.key)."""
    out = frame.copy()
    if not schema_allows("key", None):
        out.insert(0, "row_id", np.arange(len(out)))
    return out


def breast_cancer() -> pd.DataFrame:
    from sklearn.datasets import load_breast_cancer

    return with_id(load_breast_cancer(as_frame=True).frame)


def diabetes() -> pd.DataFrame:
    from sklearn.datasets import load_diabetes

    return with_id(load_diabetes(as_frame=True, scaled=False).frame)


def wine() -> pd.DataFrame:
    from sklearn.datasets import load_wine

    return with_id(load_wine(as_frame=True).frame)


def stocks() -> pd.DataFrame:
    """matplotlib's bundled monthly stock prices 1990-2020 (time-indexed, with gaps)."""
    import matplotlib

    path = Path(matplotlib.get_data_path()) / "sample_data" / "Stocks.csv"
    return with_id(pd.read_csv(path, comment="#"))


def init(tmp_path: Path, frame: pd.DataFrame, name: str, *args: str) -> tuple[int, Path]:
    data = tmp_path / "data"
    data.mkdir(exist_ok=True)
    table = data / name
    if name.endswith(".parquet"):
        frame.to_parquet(table)
    else:
        frame.to_csv(table, index=False)
    out = tmp_path / "params.yaml"
    code = main(["init", "--table", str(table), "--out", str(out), *args])
    return code, out


def dvc_params(dvc_yaml: Path) -> set[str]:
    stages = yaml.safe_load(dvc_yaml.read_text())["stages"]
    return {p for stage in stages.values() for p in stage.get("params", [])}


def has_key(raw: dict, dotted: str) -> bool:
    node = raw
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True


def test_binary_table_gives_params_that_load_and_cover_dvc_yaml(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = init(tmp_path, breast_cancer(), "breast_cancer.csv", "--target", "target")
    assert code == 0
    printed = capsys.readouterr().out
    assert "binary" in printed and "review" in printed and "drop_columns" in printed
    params = load_params(out)
    assert params.base.model_name == "breast_cancer"
    assert params.base.task == "classification" and params.base.positive_above is None
    assert params.base.event_time is None
    assert params.extract.source == "table"
    assert params.extract.table.path == Path("data/breast_cancer.csv")
    assert set(params.gate.values) == {"roc_auc", "pr_auc", "log_loss", "brier"}
    assert params.gate.values["roc_auc"].min == 0.55
    assert params.prepare.drop_columns == ()  # no flights outcome columns inherited
    assert params.evaluate.slices == ()
    assert params.validate_.columns is not None
    assert len(params.validate_.columns) == len(breast_cancer().columns)  # every column named
    assert (
        params.validate_.ranges["mean radius"].min
        < 6.981
        < 28.11
        < (params.validate_.ranges["mean radius"].max or 0)
    )
    text = out.read_text()
    assert "# binary: two values: 0, 1" in text  # the task is stated
    assert "no skill" in text and "widened by 10%" in text  # rules are stated
    raw = yaml.safe_load(text)
    missing = [p for p in dvc_params(ROOT / "dvc.yaml") if not has_key(raw, p)]
    assert not missing, f"dvc.yaml params absent from the written file: {missing}"


def test_regression_table_gets_regression_metrics_everywhere(tmp_path: Path) -> None:
    code, out = init(tmp_path, diabetes(), "diabetes.parquet", "--target", "target")
    assert code == 0
    params = load_params(out)
    assert params.base.task == "regression" and params.base.model_name == "diabetes"
    assert set(params.gate.values) == {"rmse", "mae", "r2"}
    assert {c.metric for c in params.gate.changes} == {"rmse", "mae", "r2"}
    assert params.gate.slices.metric == "rmse"
    rmse = params.gate.values["rmse"].max
    assert rmse is not None and 70 < rmse < 85  # the target's std (77.0)
    assert 3 < params.monitor.trigger.decay < 4.5  # 5% of it, in the target's units
    slices = params.evaluate.slices
    assert slices == ("sex",) or slices == ()  # sex is numeric (1/2) in this table


def test_time_indexed_table_writes_the_windows_once(tmp_path: Path) -> None:
    frame = stocks()
    code, out = init(tmp_path, frame, "stocks.csv", "--target", "^GSPC", "--time", "Date")
    assert code == 0
    text = out.read_text()
    assert text.count('"2020-') <= 2 and "*cut" in text and "&cut" in text  # one place
    assert '"^GSPC"' in text  # quoted
    params = load_params(out)
    assert params.base.event_time == "Date" and params.base.task == "regression"
    assert params.extract.window.start.year == 1990
    assert params.prepare.train_window.start == params.extract.window.start
    assert params.prepare.train_window.end == params.prepare.test_window.start
    assert params.prepare.test_window == params.monitor.current
    assert params.prepare.test_window.end == params.extract.window.end
    assert params.train.cv.period == "month"
    times = pd.to_datetime(frame["Date"])
    cut = pd.Timestamp(params.prepare.test_window.start)
    assert 0.1 <= (times >= cut).mean() <= 0.3
    assert "Date" in params.monitor.exclude and "^GSPC" in params.monitor.exclude
    assert params.validate_.not_null["AMZN"] < 1.0  # a column with gaps
    assert params.validate_.dtypes["Date"] == "datetime"


def test_multiclass_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = init(tmp_path, wine(), "wine.csv", "--target", "target")
    if schema_allows("task", "multiclass"):
        assert code == 0 and load_params(out).base.task == "multiclass"
    else:
        assert code == 2 and not out.exists()
        assert "multiclass problem" in capsys.readouterr().err


def test_text_categories_and_yaml_words_are_quoted(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    n = 300
    frame = pd.DataFrame(
        {
            "id": np.arange(n),
            "answer": rng.choice(["yes", "no", "on", "null", "1.0", "N/A"], n),
            "x": rng.normal(size=n),
            "y": rng.integers(0, 2, n),
        }
    )
    code, out = init(tmp_path, frame, "survey.csv", "--target", "y")
    assert code == 0
    params = load_params(out)
    levels = params.validate_.categories["answer"].values
    # as extract reads the CSV: pandas takes "null" and "N/A" for missing values
    assert sorted(levels) == ["1.0", "no", "on", "yes"]
    assert '"yes", "no"' not in out.read_text() and '["1.0", "no", "on", "yes"]' in out.read_text()
    assert params.validate_.not_null["answer"] < 1.0
    assert params.evaluate.slices == ("answer",) and params.gate.slices.columns == ["answer"]


def test_existing_params_are_not_overwritten_without_force(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "params.yaml"
    out.write_text("mine: true\n")
    code, _ = init(tmp_path, breast_cancer(), "bc.csv", "--target", "target")
    assert code == 2
    assert out.read_text() == "mine: true\n"
    err = capsys.readouterr().err
    assert "already exists" in err and "--force" in err
    code, _ = init(tmp_path, breast_cancer(), "bc.csv", "--target", "nope", "--force")
    assert code == 2 and out.read_text() == "mine: true\n"  # a failed --force keeps the file
    code, _ = init(tmp_path, breast_cancer(), "bc.csv", "--target", "target", "--force")
    assert code == 0 and load_params(out).base.model_name == "bc"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--target", "nope"], "--target 'nope' is not a column"),
        (["--target", "constant"], "single value"),
        (["--target", "target", "--time", "mean radius"], "not a timestamp"),
        (["--target", "target", "--key", "mean radius"], "does not identify rows"),
        (["--target", "target", "--task", "regression", "--positive", "1"], ""),
    ],
)
def test_bad_inputs_exit_2_and_write_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    frame = breast_cancer().assign(constant=1)
    frame.loc[1, "mean radius"] = frame.loc[0, "mean radius"]
    code, out = init(tmp_path, frame, "bc.csv", *args)
    if not message:  # regression ignores --positive: a good input
        assert code == 0 and out.exists()
        return
    assert code == 2 and not out.exists()
    assert message in capsys.readouterr().err


def test_missing_table_and_missing_out_dir_are_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "params.yaml"
    assert (
        main(["init", "--table", str(tmp_path / "no.csv"), "--target", "y", "--out", str(out)]) == 2
    )
    assert "--table" in capsys.readouterr().err and not out.exists()
    bad_out = tmp_path / "nodir" / "params.yaml"
    assert main(["init", "--table", "x.csv", "--target", "y", "--out", str(bad_out)]) == 2
    assert "does not exist" in capsys.readouterr().err
