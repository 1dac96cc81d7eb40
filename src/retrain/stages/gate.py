"""Stage `gate` (and `champion`): may the candidate replace the registry's champion?

Two commands share this module because they share the champion's files:

* `retrain gate --lookup-champion --out build/champion` (DVC stage `champion`, always runs):
  writes the champion's identity (`champion.json`) and its sha256-verified artifact
  (`model.skops`, downloaded only when it changed), so the gate re-runs exactly when the
  champion moved.
* `retrain gate --model … --test … --champion build/champion --out metrics/gate.json`:
  scores candidate and champion on the same pinned test window and applies the rules in
  `params.yaml` `gate:` — value thresholds, change thresholds with an allowed regression, a
  paired bootstrap non-inferiority test, per-slice no-regression, the first-model rule and
  `mode: enforce | dry_run`.

A rejected candidate is a normal outcome, not an error: the stage exits 0 and `gate.json`
says `blessed: false`; the push stage then registers nothing.

Metrics are computed here from the scores with resampling weights, so the point estimates and
the bootstrap share one implementation (vectorised: a block of resamples is a weight matrix).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from retrain.errors import UserError

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from retrain.config.gate import ChangeThreshold, GateSection

log = logging.getLogger("retrain.gate")

SCHEMA = 1
CLASSIFICATION_METRICS = ("roc_auc", "pr_auc", "log_loss", "brier")
REGRESSION_METRICS = ("rmse", "mae", "r2")
_EPS = 1e-15  # probability clipping for log loss (as scikit-learn)


def write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    """Write JSON to a temp file next to `path`, then rename: readers never see half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=2, sort_keys=False)
            fh.write("\n")
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; outputs are ordinary repo files
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def read_json(path: Path, what: str, hint: str) -> dict[str, Any]:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"{what} not found: {path}", hint) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UserError(f"{what} {path} is not valid JSON: {exc}", hint) from None
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        raise UserError(f"{what} {path} is not a schema-{SCHEMA} object", hint)
    return data


def read_test_window(path: Path, label: str = "label") -> pd.DataFrame:
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise UserError(f"test file not found: {path}", "run the prepare stage (dvc repro)")
    try:
        frame = pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises several types for a corrupt file
        raise UserError(f"{path} is not a readable parquet file: {exc}", "re-run prepare") from None
    if label not in frame.columns:
        raise UserError(f"{path} has no '{label}' column", "re-run the prepare stage")
    if len(frame) == 0:
        raise UserError(f"{path} has no rows", "check the test window in params.yaml prepare")
    if frame[label].isna().any():
        raise UserError(f"{path}: column '{label}' has missing values", "re-run prepare")
    return frame


# -- metrics under resampling weights ----------------------------------------------------------


@dataclass(frozen=True)
class _Scored:
    """Labels and scores, pre-sorted once so every resample block reuses the order."""

    y: np.ndarray
    score: np.ndarray
    order: np.ndarray  # ascending score
    ends: np.ndarray  # last index (in `order`) of each group of tied scores
    y_sorted: np.ndarray  # float32, to multiply the float32 weights without up-casting
    # ROC AUC as Mann-Whitney: for each positive, how many negatives score below / tie it.
    pos: np.ndarray  # row indices of positives
    neg_sorted: np.ndarray  # row indices of negatives, ascending score
    below: np.ndarray  # per positive: number of negatives with a lower score
    below_or_tied: np.ndarray  # per positive: ... lower or equal score
    ties: bool  # any positive/negative score ties


def _prepare(y: np.ndarray, score: np.ndarray) -> _Scored:
    import numpy as np

    order = np.argsort(score, kind="mergesort")
    s = score[order]
    ends = np.flatnonzero(np.r_[s[1:] != s[:-1], True])
    is_pos = y == 1
    pos = np.flatnonzero(is_pos)
    neg = np.flatnonzero(~is_pos)
    neg_sorted = neg[np.argsort(score[neg], kind="mergesort")]
    neg_scores = score[neg_sorted]
    below = np.searchsorted(neg_scores, score[pos], side="left")
    below_or_tied = np.searchsorted(neg_scores, score[pos], side="right")
    return _Scored(
        y,
        score,
        order,
        ends,
        y[order].astype(np.float32),
        pos,
        neg_sorted,
        below,
        below_or_tied,
        bool((below_or_tied != below).any()),
    )


def _roc_auc(d: _Scored, w: np.ndarray) -> np.ndarray:
    """Weighted Mann-Whitney AUC per resample: sum over positives of their weight times the
    weight of negatives scoring below (+ half the ties), over W_pos x W_neg."""
    import numpy as np

    w_neg = np.take(w, d.neg_sorted, axis=1)
    # cumulative negative weight with a leading 0: column k = weight of the k lowest negatives
    cum = np.zeros((w.shape[0], len(d.neg_sorted) + 1), dtype=np.float64)
    np.cumsum(w_neg, axis=1, dtype=np.float64, out=cum[:, 1:])
    credit = np.take(cum, d.below, axis=1)
    if d.ties:
        credit += 0.5 * (np.take(cum, d.below_or_tied, axis=1) - credit)
    w_pos = np.take(w, d.pos, axis=1)
    n_pos, n_neg = w_pos.sum(axis=1, dtype=np.float64), cum[:, -1]
    with np.errstate(divide="ignore", invalid="ignore"):
        value = np.einsum("ij,ij->i", w_pos, credit) / (n_pos * n_neg)
    return np.where((n_pos > 0) & (n_neg > 0), value, np.nan)


def _metric(name: str, d: _Scored, w: np.ndarray) -> np.ndarray:
    """Metric `name` for each row of the weight matrix `w` (resamples x rows)."""
    import numpy as np

    if name == "roc_auc":
        return _roc_auc(d, w)
    total = w.sum(axis=1, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        if name == "pr_auc":
            # Per tied-score group: weighted positives and negatives, via running sums taken
            # at the group ends (much faster than a segmented reduce along the rows).
            ws = np.take(w, d.order, axis=1)
            pos_through = np.cumsum(ws * d.y_sorted, axis=1, dtype=np.float64)[:, d.ends]
            all_through = np.cumsum(ws, axis=1, dtype=np.float64)[:, d.ends]
            neg_through = all_through - pos_through
            pos = np.diff(pos_through, axis=1, prepend=0.0)
            neg = np.diff(neg_through, axis=1, prepend=0.0)
            n_pos = pos_through[:, -1]
            # Average precision: thresholds from the highest score down.
            tp = np.cumsum(pos[:, ::-1], axis=1)
            fp = np.cumsum(neg[:, ::-1], axis=1)
            precision = np.where(tp + fp > 0, tp / (tp + fp), 0.0)
            value = (pos[:, ::-1] * precision).sum(axis=1) / n_pos
            return np.where(n_pos > 0, value, np.nan)
        y, p = d.y.astype(np.float64), d.score.astype(np.float64)
        if name == "log_loss":
            q = np.clip(p, _EPS, 1 - _EPS)
            return (w @ -(y * np.log(q) + (1 - y) * np.log(1 - q))) / total
        if name == "brier":
            return (w @ (p - y) ** 2) / total
        if name == "rmse":
            return np.sqrt((w @ (p - y) ** 2) / total)
        if name == "mae":
            return (w @ np.abs(p - y)) / total
        if name == "r2":
            ss_res = w @ (p - y) ** 2
            ss_tot = w @ y**2 - (w @ y) ** 2 / total
            return np.where(ss_tot > 0, 1 - ss_res / ss_tot, np.nan)
    raise ValueError(f"unknown metric {name}")


def task_metrics(task: str) -> tuple[str, ...]:
    return CLASSIFICATION_METRICS if task == "classification" else REGRESSION_METRICS


def compute_metrics(task: str, y: np.ndarray, score: np.ndarray) -> dict[str, float | None]:
    """Point metrics on the whole window (None where undefined, e.g. AUC with one class)."""
    import numpy as np

    d = _prepare(y, score)
    ones = np.ones((1, len(y)), dtype=np.float32)
    out: dict[str, float | None] = {}
    for name in task_metrics(task):
        value = float(_metric(name, d, ones)[0])
        out[name] = None if math.isnan(value) else value
    return out


def paired_bootstrap(
    metric: str,
    y: np.ndarray,
    candidate: np.ndarray,
    champion: np.ndarray,
    *,
    resamples: int,
    block: int,
    seed: int,
) -> np.ndarray:
    """metric(candidate) - metric(champion) on the same `resamples` resamples of the rows."""
    import numpy as np

    rng = np.random.default_rng(seed)
    n = len(y)
    cand, champ = _prepare(y, candidate), _prepare(y, champion)
    diffs = []
    for start in range(0, resamples, block):
        b = min(block, resamples - start)
        # Resample counts per row as a weight matrix (b x n): one bincount, no index gathers.
        picks = rng.integers(0, n, size=(b, n)) + (np.arange(b) * n)[:, None]
        w = np.bincount(picks.ravel(), minlength=b * n).reshape(b, n).astype(np.float32)
        diffs.append(_metric(metric, cand, w) - _metric(metric, champ, w))
    return np.concatenate(diffs)


# -- the rules -------------------------------------------------------------------------------


def _check(
    name: str, passed: bool, value: float | None, threshold: float | None, detail: str, **extra: Any
) -> dict[str, Any]:
    return {
        "name": name,
        "passed": bool(passed),
        "value": value,
        "threshold": threshold,
        "detail": detail,
        **extra,
    }


def _fmt(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.4f}"


def _tolerance(rule: ChangeThreshold, champion_value: float) -> float:
    """Allowed regression: the stricter of the absolute and the relative bound."""
    bounds = []
    if rule.max_regression_abs is not None:
        bounds.append(rule.max_regression_abs)
    if rule.max_regression_rel is not None:
        bounds.append(rule.max_regression_rel * abs(champion_value))
    return min(bounds) if bounds else 0.0


def _missing(metric: str, who: str, metrics: dict[str, float | None], task: str) -> str:
    available = ", ".join(k for k, v in metrics.items() if v is not None) or "none"
    why = (
        f"not a {task} metric"
        if metric not in task_metrics(task)
        else "undefined on this test window (e.g. only one class present)"
    )
    return f"{metric} missing for the {who}: {why}; available: {available}"


def value_checks(
    gate: GateSection, task: str, metrics: dict[str, float | None]
) -> list[dict[str, Any]]:
    checks = []
    for metric, bounds in gate.values.items():
        value = metrics.get(metric)
        for kind, bound in (("min", bounds.min), ("max", bounds.max)):
            if bound is None:
                continue
            name = f"value.{metric}.{kind}"
            if value is None:
                checks.append(
                    _check(name, False, None, bound, _missing(metric, "candidate", metrics, task))
                )
                continue
            ok = value >= bound if kind == "min" else value <= bound
            sign = "≥" if kind == "min" else "≤"
            word = "floor" if kind == "min" else "ceiling"
            verdict = "ok" if ok else "FAILS"
            checks.append(
                _check(
                    name,
                    ok,
                    value,
                    bound,
                    f"{metric} {_fmt(value)} must be {sign} {word} {bound:g}: {verdict}",
                )
            )
    return checks


def change_checks(
    gate: GateSection,
    task: str,
    y: np.ndarray,
    candidate_score: np.ndarray,
    champion_score: np.ndarray,
    cand: dict[str, float | None],
    champ: dict[str, float | None],
    champion_version: str,
    seed: int,
) -> list[dict[str, Any]]:
    import numpy as np

    checks = []
    for rule in gate.changes:
        m = rule.metric
        sign = 1.0 if rule.better() == "higher" else -1.0
        c_value, b_value = cand.get(m), champ.get(m)
        if c_value is None or b_value is None:
            who, have = ("candidate", cand) if c_value is None else ("champion", champ)
            detail = _missing(m, who, have, task)
            checks.append(_check(f"change.{m}", False, None, None, detail))
            if rule.bootstrap:
                checks.append(_check(f"bootstrap.{m}", False, None, None, detail))
            continue
        tol = _tolerance(rule, b_value)
        improvement = sign * (c_value - b_value)
        ok = improvement >= -tol
        checks.append(
            _check(
                f"change.{m}",
                ok,
                improvement,
                -tol,
                f"{m} {_fmt(c_value)} vs champion v{champion_version} {_fmt(b_value)}: "
                f"{'better' if improvement > 0 else 'worse' if improvement < 0 else 'equal'} "
                f"by {abs(improvement):.4f} ({rule.better()} is better; allowed regression "
                f"{tol:.4f}): {'ok' if ok else 'FAILS'}",
            )
        )
        if not rule.bootstrap:
            continue
        diffs = sign * paired_bootstrap(
            m,
            y,
            candidate_score,
            champion_score,
            resamples=gate.bootstrap.resamples,
            block=gate.bootstrap.block,
            seed=seed,
        )
        diffs = diffs[~np.isnan(diffs)]
        alpha = 1 - gate.bootstrap.confidence
        if len(diffs) == 0:
            checks.append(
                _check(f"bootstrap.{m}", False, None, -tol, f"{m} undefined on every resample")
            )
            continue
        lo, hi = (float(v) for v in np.quantile(diffs, [alpha / 2, 1 - alpha / 2]))
        ok = lo >= -tol
        checks.append(
            _check(
                f"bootstrap.{m}",
                ok,
                lo,
                -tol,
                f"{gate.bootstrap.confidence:.0%} CI of the {m} improvement over "
                f"{len(diffs)} paired resamples: [{lo:+.4f}, {hi:+.4f}]; its lower bound must "
                f"be ≥ {-tol:+.4f} (non-inferiority): {'ok' if ok else 'FAILS'}",
                ci=[lo, hi],
                resamples=len(diffs),
            )
        )
    return checks


def slice_checks(
    gate: GateSection,
    task: str,
    test: pd.DataFrame,
    y: np.ndarray,
    candidate_score: np.ndarray,
    champion_score: np.ndarray,
) -> list[dict[str, Any]]:
    import numpy as np

    from retrain.config.gate import HIGHER_IS_BETTER

    cfg = gate.slices
    m = cfg.metric
    sign = 1.0 if m in HIGHER_IS_BETTER else -1.0
    checks = []
    for column in cfg.columns:
        name = f"slice.{column}"
        if m not in task_metrics(task):
            checks.append(_check(name, False, None, None, _missing(m, "slices", {}, task)))
            continue
        levels: dict[str, dict[str, Any]] = {}
        keys = test[column].astype("string").fillna("<missing>").to_numpy()
        for level in np.unique(keys):
            mask = keys == level
            if mask.sum() < cfg.min_rows:
                continue
            c = compute_metrics(task, y[mask], candidate_score[mask])[m]
            b = compute_metrics(task, y[mask], champion_score[mask])[m]
            if c is None or b is None:
                continue
            levels[str(level)] = {
                "n": int(mask.sum()),
                "candidate": c,
                "champion": b,
                "improvement": sign * (c - b),
            }
        if not levels:
            checks.append(
                _check(
                    name,
                    True,
                    None,
                    -cfg.max_regression_abs,
                    f"no level of {column} has ≥ {cfg.min_rows} rows with a defined {m}; "
                    "nothing to compare",
                    levels={},
                )
            )
            continue
        worst_level = min(levels, key=lambda k: levels[k]["improvement"])
        worst = levels[worst_level]
        failing = sorted(k for k, v in levels.items() if v["improvement"] < -cfg.max_regression_abs)
        ok = not failing
        detail = (
            f"{m} per {column} over {len(levels)} levels with ≥ {cfg.min_rows} rows; worst "
            f"{worst_level}: {_fmt(worst['candidate'])} vs {_fmt(worst['champion'])} "
            f"({worst['improvement']:+.4f}, allowed -{cfg.max_regression_abs:g})"
        )
        detail += ": ok" if ok else f": FAILS in {', '.join(failing[:5])}"
        checks.append(
            _check(name, ok, worst["improvement"], -cfg.max_regression_abs, detail, levels=levels)
        )
    return checks


def feature_frame(pipeline: Any, test: pd.DataFrame, label: str = "label") -> pd.DataFrame:
    names = getattr(pipeline, "feature_names_in_", None)
    if names is None:
        return test.drop(columns=[label])
    missing = [str(c) for c in names if c not in test.columns]
    if missing:
        raise KeyError(", ".join(missing))
    return test[[str(c) for c in names]]


def score(pipeline: Any, test: pd.DataFrame, task: str, label: str = "label") -> np.ndarray:
    """Positive-class probability (classification) or prediction (regression)."""
    import numpy as np

    features = feature_frame(pipeline, test, label)
    if task == "classification":
        return np.asarray(pipeline.predict_proba(features)[:, 1], dtype=np.float64)
    return np.asarray(pipeline.predict(features), dtype=np.float64)


def evaluate_gate(
    gate: GateSection,
    task: str,
    test: pd.DataFrame,
    candidate: Any,
    champion: Any | None,
    champion_version: str | None,
    seed: int,
    label: str = "label",
) -> dict[str, Any]:
    """The verdict: every check with its numbers; `blessed` per `gate.mode`."""
    import numpy as np

    y = test[label].to_numpy()
    if task == "classification" and not np.isin(y, (0, 1)).all():
        raise UserError(
            "test labels must be 0/1 for classification",
            "check base.target / base.positive_above and re-run prepare",
        )
    y = y.astype(np.float64)
    try:
        cand_score = score(candidate, test, task, label)
    except KeyError as exc:
        raise UserError(
            f"the test window lacks the candidate's feature columns: {exc}",
            "gate the model with the test window prepared in the same pipeline run",
        ) from None
    cand = compute_metrics(task, y, cand_score)
    checks = value_checks(gate, task, cand)
    champ: dict[str, float | None] | None = None
    first_model = champion is None
    if first_model:
        checks.append(
            _check(
                "first_model",
                gate.allow_first_model,
                None,
                None,
                "no champion in the registry: only value thresholds apply"
                + ("" if gate.allow_first_model else "; gate.allow_first_model is false"),
            )
        )
    else:
        try:
            champ_score = score(champion, test, task, label)
        except KeyError as exc:
            checks.append(
                _check(
                    "champion_scorable",
                    False,
                    None,
                    None,
                    f"champion v{champion_version} needs columns missing from this test window "
                    f"({exc}): the feature set changed, so no fair comparison is possible; "
                    "review by hand and run this PR with gate.mode: dry_run to bless it",
                )
            )
        else:
            champ = compute_metrics(task, y, champ_score)
            checks += change_checks(
                gate, task, y, cand_score, champ_score, cand, champ, str(champion_version), seed
            )
            checks += slice_checks(gate, task, test, y, cand_score, champ_score)
    failed = [c["name"] for c in checks if not c["passed"]]
    passed = not failed
    blessed = passed or gate.mode == "dry_run"
    against = "no champion (first model)" if first_model else f"champion v{champion_version}"
    if passed:
        summary = f"BLESSED: all {len(checks)} checks pass against {against}"
    else:
        summary = (
            f"{len(failed)} of {len(checks)} checks fail against {against}: {', '.join(failed)}"
        )
        summary = ("DRY RUN (blessed anyway): " if blessed else "REJECTED: ") + summary
    return {
        "schema": SCHEMA,
        "blessed": blessed,
        "checks_passed": passed,
        "mode": gate.mode,
        "first_model": first_model,
        "champion_version": None if first_model else str(champion_version),
        "candidate": cand,
        "champion": champ,
        "checks": checks,
        "summary": summary,
    }


def unchanged_verdict(result: dict[str, Any], champion_version: str | None) -> dict[str, Any]:
    """The verdict when the candidate IS the champion's artifact (same sha256): e.g. a scheduled
    run on unchanged data. Nothing to register or promote, in any gate mode, so no version and
    no pull request appear for a byte-identical model."""
    check = _check(
        "new_artifact",
        False,
        None,
        None,
        f"the candidate is champion v{champion_version}'s own artifact (same sha256)",
    )
    return {
        **result,
        "blessed": False,
        "checks_passed": False,
        "checks": [*result["checks"], check],
        "summary": f"UNCHANGED: the candidate is champion v{champion_version} itself "
        "(same sha256); nothing to register or promote",
    }


def window_of(test: pd.DataFrame, event_time: str | None) -> dict[str, Any]:
    window: dict[str, Any] = {"n": len(test), "start": None, "end": None}
    if event_time and event_time in test.columns:
        times = test[event_time]
        window["start"], window["end"] = str(times.min()), str(times.max())
    return window


# -- champion look-up --------------------------------------------------------------------------
# The registry is read by the champion stage only: the gate itself is local computation on
# files DVC tracks, so it needs no registry credentials and no `import mlflow` (seconds).

CHAMPION_INFO = "champion.json"
CHAMPION_MODEL = "model.skops"
_RERUN_CHAMPION = "re-run the champion stage (dvc repro champion)"


def lookup_champion(model: str, out_dir: Path, tracking_uri: str | None = None) -> dict[str, Any]:
    """Write the champion's identity and artifact into `out_dir`; return the identity.

    The artifact is downloaded (and verified against the registry's sha256 tag) only when the
    file there is not already that champion's, so an unchanged champion costs one query.
    On any failure the directory keeps its previous contents.
    """
    from retrain.model_io import sha256_file
    from retrain.registry import Registry

    registry = Registry(tracking_uri)
    ref = registry.champion(model)
    info = {
        "schema": SCHEMA,
        "model": model,
        "version": None if ref is None else ref.version,
        "sha256": None if ref is None else ref.sha256,
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / CHAMPION_MODEL
    if ref is not None and not (target.is_file() and sha256_file(target) == ref.sha256):
        with tempfile.TemporaryDirectory(dir=out_dir, prefix=".download-") as tmp:
            os.replace(registry.download_skops(ref, Path(tmp)), target)
    elif ref is None:
        target.unlink(missing_ok=True)
    write_json_atomic(out_dir / CHAMPION_INFO, info)
    return info


def read_champion(champion_dir: Path, model: str) -> tuple[Any | None, str | None, str | None]:
    """(pipeline, version, sha256) of the champion the champion stage wrote; Nones if none."""
    if not champion_dir.is_dir():
        raise UserError(
            f"--champion {champion_dir} is not the champion stage's directory", _RERUN_CHAMPION
        )
    info = read_json(champion_dir / CHAMPION_INFO, "champion file", _RERUN_CHAMPION)
    if info.get("model") != model:
        raise UserError(
            f"champion file names model {info.get('model')!r}, params say {model!r}",
            _RERUN_CHAMPION,
        )
    if info.get("version") is None:
        return None, None, None
    from retrain.model_io import load_model

    path = champion_dir / CHAMPION_MODEL
    if not path.is_file() or not isinstance(info.get("sha256"), str):
        raise UserError(
            f"champion v{info['version']} has no verified artifact in {champion_dir}",
            _RERUN_CHAMPION,
        )
    return load_model(path, expected_sha256=info["sha256"]), str(info["version"]), info["sha256"]


def cli(argv: list[str]) -> int:
    from retrain import logs
    from retrain.config import load_params

    parser = argparse.ArgumentParser(prog="retrain gate", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--lookup-champion",
        action="store_true",
        help="only write the registry champion's identity to --out (stage `champion`)",
    )
    parser.add_argument("--model", type=Path, help="candidate: build/train/model.skops")
    parser.add_argument("--test", type=Path, help="build/prepared/test.parquet")
    parser.add_argument("--champion", type=Path, help="build/champion (the champion stage's dir)")
    parser.add_argument(
        "--out", type=Path, required=True, help="gate.json (or with --lookup-champion: a dir)"
    )
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    args = parser.parse_args(argv)
    logs.setup()
    params = load_params(args.params)
    model_name = params.base.model_name

    if args.lookup_champion:
        info = lookup_champion(model_name, args.out)
        log.info(
            "champion of %s: %s", model_name, f"v{info['version']}" if info["version"] else "none"
        )
        return 0

    missing = [f"--{n}" for n in ("model", "test", "champion") if getattr(args, n) is None]
    if missing:
        raise UserError(
            f"missing {', '.join(missing)}",
            "pass --model, --test and --champion (or --lookup-champion)",
        )
    from retrain.model_io import load_model, sha256_file

    champion, champion_version, champion_sha256 = read_champion(args.champion, model_name)
    test = read_test_window(args.test)
    sha256 = sha256_file(args.model) if args.model.is_file() else None
    candidate = load_model(args.model, expected_sha256=sha256)
    result = evaluate_gate(
        params.gate,
        params.base.task,
        test,
        candidate,
        champion,
        champion_version,
        seed=params.base.seed,
    )
    if sha256 is not None and sha256 == champion_sha256:
        result = unchanged_verdict(result, champion_version)
    result["model"] = model_name
    result["candidate_sha256"] = sha256
    result["champion_sha256"] = champion_sha256
    result["test_window"] = window_of(test, params.base.event_time)
    write_json_atomic(args.out, result)
    log.info("%s", result["summary"])
    return 0
