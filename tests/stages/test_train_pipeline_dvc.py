"""The real `dvc repro` through evaluate on the tiny flights fixture (reusing the prepare
pipeline test's repo), then `dvc plots show`, `dvc metrics show` and `dvc exp run -S`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from .test_pipeline_dvc import repo, run  # noqa: F401 - the fixture project (git + dvc repo)

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _small_search(repo_dir: Path) -> None:
    """Two days of train data: daily folds and a few quick trials."""
    path = repo_dir / "params.yaml"
    params = yaml.safe_load(path.read_text())
    params["train"]["budget"] = {"trials": 3, "seconds": 120}
    params["train"]["cv"] = {"period": "day", "folds": 1, "gap_periods": 0, "max_train_rows": None}
    params["train"]["families"]["hist_gradient_boosting"]["fixed"]["max_iter"] = 30
    params["train"]["families"]["random_forest"]["enabled"] = False
    params["train"]["families"]["extra_trees"]["enabled"] = False
    params["evaluate"]["importance"] = {"rows": 200, "repeats": 1}
    path.write_text(yaml.safe_dump(params, sort_keys=False))
    run(["git", "commit", "--quiet", "-am", "small search"], repo_dir)


def test_dvc_repro_through_evaluate_plots_and_experiments(repo: Path) -> None:  # noqa: F811
    _small_search(repo)
    first = run(["dvc", "repro", "evaluate"], repo)
    for stage in ("train", "evaluate"):
        assert f"Running stage '{stage}'" in first.stdout, first.stdout
    search = json.loads((repo / "build/train/search.json").read_text())
    assert search["n_trials"] == 3 and search["cv_folds"] == ["2013-01-03"]
    metrics = json.loads((repo / "metrics/evaluate.json").read_text())
    assert metrics["n_test"] > 0 and 0.0 <= metrics["roc_auc"] <= 1.0
    assert (repo / "mlruns.db").is_file()  # default tracking store: sqlite in the project

    shown = run(["dvc", "metrics", "show", "--json"], repo)
    assert "roc_auc" in shown.stdout
    html = run(["dvc", "plots", "show", "-o", "plots_html"], repo)
    page = (repo / "plots_html" / "index.html").read_text()
    for title in ("ROC (test window)", "Confusion matrix", "Permutation importance"):
        assert title in page, html.stderr

    run(["git", "add", "-A"], repo)
    run(["git", "commit", "--quiet", "-m", "pipeline ran"], repo)
    again = run(["dvc", "repro", "evaluate"], repo)
    assert "Running stage" not in again.stdout  # nothing changed, nothing re-runs
    run(["dvc", "plots", "diff", "HEAD", "-o", "diff_html"], repo)
    assert "ROC (test window)" in (repo / "diff_html" / "index.html").read_text()
    assert "roc_auc" in run(["dvc", "metrics", "diff", "HEAD", "--all", "--json"], repo).stdout

    run(["dvc", "exp", "run", "-S", "train.budget.trials=2", "-n", "two-trials", "evaluate"], repo)
    table = run(["dvc", "exp", "show", "--json"], repo).stdout
    assert "two-trials" in table
    experiment = [
        exp
        for rev in json.loads(table)
        for exp in (rev.get("experiments") or [])
        if exp.get("name") == "two-trials"
    ]
    assert experiment, table
