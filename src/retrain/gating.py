"""The gate's rules: may the candidate replace the champion? (pure; no files, no registry)

Value thresholds, change thresholds with an allowed regression, a paired bootstrap
non-inferiority test, per-slice no-regression, the first-model rule and `gate.mode`. Each rule
returns `GateCheck`s; `evaluate_gate` assembles the `GateVerdict`. Metrics come from the metric
registry (`retrain.metrics`), whose weighted variants make the bootstrap a weight matrix.

Suspicion checks (`suspicion.*`) look the other way: a candidate too good to be true (a gain
over the champion or over its own CV score beyond a bound, a value above a plausibility
ceiling, a feature that alone predicts the label: `retrain.leakage`) is flagged "suspiciously
good — check for leakage" and not blessed in any `gate.mode`, unless
`gate.suspicion.override` names this very artifact's sha256 with a reason.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from retrain.artifacts import GateCheck, GateVerdict, OverrideRecord, TestWindow
from retrain.errors import UserError
from retrain.metrics import (
    compute_metrics,
    greater_is_better,
    metric_names,
    prepare_scores,
    weighted_values,
)
from retrain.scoring import MissingColumns, feature_columns, score_frame
from retrain.slices import slice_levels

if TYPE_CHECKING:
    from collections.abc import Mapping

    import numpy as np
    import pandas as pd

    from retrain.config.gate import ChangeThreshold, GateSection, SuspicionSettings


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
    import os
    from collections import deque
    from concurrent.futures import ThreadPoolExecutor

    import numpy as np

    rng = np.random.default_rng(seed)
    n = len(y)
    cand, champ = prepare_scores(y, candidate), prepare_scores(y, champion)

    def diff(w: np.ndarray) -> np.ndarray:
        return weighted_values(metric, cand, w) - weighted_values(metric, champ, w)

    # The draws stay in this thread and in order (the same resamples for any thread count);
    # the metrics of a block run on the other core while the next block is drawn (numpy's
    # take/cumsum/einsum release the GIL). At most `threads` + 1 blocks are alive at once.
    threads = max(1, min(2, os.cpu_count() or 1))
    diffs: list[np.ndarray] = []
    pending: deque = deque()
    with ThreadPoolExecutor(max_workers=threads) as pool:
        for start in range(0, resamples, block):
            b = min(block, resamples - start)
            # Resample counts per row as a weight matrix (b x n): one bincount, no gathers.
            picks = rng.integers(0, n, size=(b, n)) + (np.arange(b) * n)[:, None]
            w = np.bincount(picks.ravel(), minlength=b * n).reshape(b, n).astype(np.float32)
            pending.append(pool.submit(diff, w))
            while len(pending) > threads:
                diffs.append(pending.popleft().result())
        diffs += [f.result() for f in pending]
    return np.concatenate(diffs)


def _check(
    name: str, passed: bool, value: float | None, threshold: float | None, detail: str, **extra: Any
) -> GateCheck:
    return GateCheck(
        name=name,
        passed=bool(passed),
        value=None if value is None else float(value),
        threshold=None if threshold is None else float(threshold),
        detail=detail,
        **extra,
    )


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
        if metric not in metric_names(task)
        else "undefined on this test window (e.g. only one class present)"
    )
    return f"{metric} missing for the {who}: {why}; available: {available}"


def value_checks(gate: GateSection, task: str, metrics: dict[str, float | None]) -> list[GateCheck]:
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
) -> list[GateCheck]:
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
) -> list[GateCheck]:

    cfg = gate.slices
    m = cfg.metric
    sign = 1.0 if greater_is_better(m) else -1.0
    checks = []
    for column in cfg.columns:
        name = f"slice.{column}"
        if m not in metric_names(task):
            checks.append(_check(name, False, None, None, _missing(m, "slices", {}, task)))
            continue
        levels: dict[str, dict[str, Any]] = {}
        for level, mask in slice_levels(test[column]):
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


SUSPICIOUS = "SUSPICIOUSLY GOOD — check for leakage"


def _gain(metric: str, new: float, old: float) -> float:
    return (new - old) if greater_is_better(metric) else (old - new)


def suspicion_checks(
    settings: SuspicionSettings,
    cand: dict[str, float | None],
    champ: dict[str, float | None] | None,
    cv: tuple[str, float] | None,
    screen: dict[str, float | None] | None,
    screen_bound: float | None,
    registered: Mapping[str, float] | None = None,
) -> list[GateCheck]:
    """Too good to be true? `cv` = (the search's primary metric, its CV score); `screen` = the
    leakage screen's score per feature, compared with `screen_bound`; `registered` = the
    champion's metrics when it was registered."""
    checks = []
    for metric, bound in settings.ceiling.items():
        value = cand.get(metric)
        if value is None:
            continue
        higher = greater_is_better(metric)
        ok = value <= bound if higher else value >= bound
        word = "ceiling" if higher else "floor (lower is better)"
        checks.append(
            _check(
                f"suspicion.ceiling.{metric}",
                ok,
                value,
                bound,
                f"{metric} {_fmt(value)} against the plausibility {word} {bound:g}: "
                + ("ok" if ok else f"{SUSPICIOUS}"),
            )
        )
    for metric, bound in settings.max_gain.items():
        new, old = cand.get(metric), (champ or {}).get(metric)
        if new is None or old is None:
            continue
        at_registration = (registered or {}).get(metric)
        decayed = False
        if at_registration is not None and _gain(metric, at_registration, old) > 0:
            # A champion that decayed since it was registered: recovering the level it once
            # had is what a retrain is for, not a leak; the gain counts from that level (a
            # fixed bound over the decayed score blocked every retrain after a stale spell).
            old, decayed = at_registration, True
        if metric == "r2" and old < 0:
            # A champion worse than the test mean: a gain counts from the no-skill level (0);
            # a bound of +0.1 R² is meaningless at R² −4 (a trending table), a leak is not.
            old = 0.0
        gain = _gain(metric, new, old)
        ok = gain <= bound
        checks.append(
            _check(
                f"suspicion.gain.{metric}",
                ok,
                gain,
                bound,
                f"{metric} gain over the champion {gain:+.4f} ({_fmt(old)} → {_fmt(new)}"
                + (" from its registered value" if decayed else "")
                + "); "
                f"at most +{bound:g} is plausible: " + ("ok" if ok else SUSPICIOUS),
            )
        )
    if cv is not None and cv[0] in settings.max_gain_over_cv:
        metric, cv_score = cv
        bound = settings.max_gain_over_cv[metric]
        new = cand.get(metric)
        if new is not None:
            gain = _gain(metric, new, cv_score)
            ok = gain <= bound
            checks.append(
                _check(
                    f"suspicion.cv_gain.{metric}",
                    ok,
                    gain,
                    bound,
                    f"{metric} on the test window {_fmt(new)} vs the search's CV {_fmt(cv_score)} "
                    f"({gain:+.4f}); at most +{bound:g} is plausible: "
                    + ("ok" if ok else SUSPICIOUS),
                )
            )
    if screen is not None and screen_bound is not None:
        known = {k: v for k, v in screen.items() if v is not None}
        top = dict(sorted(known.items(), key=lambda kv: -kv[1])[:10])
        leaking = [k for k, v in top.items() if v > screen_bound]
        best = max(known.values()) if known else None
        strongest = next(iter(top), None)
        if leaking:
            detail = (
                f"{SUSPICIOUS}: feature(s) {', '.join(leaking)} alone predict the label "
                f"(score {_fmt(top[leaking[0]])} > {screen_bound:g}) on the training window"
            )
        elif strongest is not None:
            detail = (
                f"{len(screen)} features screened; strongest alone: {strongest} "
                f"{_fmt(top[strongest])} (bound {screen_bound:g}): ok"
            )
        else:
            detail = f"{len(screen)} features screened; no score defined: ok"
        checks.append(
            _check("suspicion.leakage", not leaking, best, screen_bound, detail, features=top)
        )
    return checks


def leakage_screen(
    settings: SuspicionSettings,
    task: str,
    train: pd.DataFrame,
    candidate: Any,
    seed: int,
    label: str = "label",
) -> tuple[dict[str, float | None], float]:
    """(score per model input present in `train`, the bound for this task)."""
    from retrain.leakage import univariate_scores

    features = [c for c in feature_columns(candidate, train, label) if c in train.columns]
    scores = univariate_scores(
        train, features, task, sample_rows=settings.leakage.sample_rows, seed=seed, label=label
    )
    bound = settings.leakage.max_abs_spearman if task == "regression" else settings.leakage.max_auc
    return scores, bound


def _score_on_one_thread(model: Any, test: pd.DataFrame, task: str, label: str) -> np.ndarray:
    """score_frame on a worker thread with one OpenMP thread: OpenMP's thread count is set per
    calling thread, so the caller's limit does not reach a worker (two spinning OpenMP threads
    per model on two cores cost 3-4 CPU s for no wall gain)."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        return score_frame(model, test, task, label)


def evaluate_gate(
    gate: GateSection,
    task: str,
    test: pd.DataFrame,
    candidate: Any,
    champion: Any | None,
    champion_version: str | None,
    seed: int,
    label: str = "label",
    *,
    train: pd.DataFrame | None = None,
    cv: tuple[str, float] | None = None,
    candidate_sha256: str | None = None,
    champion_registered: Mapping[str, float] | None = None,
) -> GateVerdict:
    """The verdict: every check with its numbers; `blessed` per `gate.mode`, except that a
    tripped suspicion check blesses only through an override naming `candidate_sha256`.

    `train` (the training window) runs the leakage screen; `cv` = (metric, the search's CV
    score) the test-vs-CV check; either None leaves that check out. `champion_registered`:
    the champion's registered metrics (`ChampionInfo.registered`) for the suspicion gain bound.
    """
    import numpy as np

    y = test[label].to_numpy()
    if task == "classification" and not np.isin(y, (0, 1)).all():
        raise UserError(
            "test labels must be 0/1 for classification",
            "check base.target / base.positive_above and re-run prepare",
        )
    y = y.astype(np.float64)
    # The champion is scored on a second thread while the candidate is (scikit-learn's
    # predict releases the GIL in its compiled parts): 2.5 s -> 1.6 s wall on 82k rows.
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=1) as pool:
        champion_scoring = (
            None
            if champion is None
            else pool.submit(_score_on_one_thread, champion, test, task, label)
        )
        try:
            cand_score = score_frame(candidate, test, task, label)
        except MissingColumns as exc:
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
            champ_score = (
                champion_scoring.result()
                if champion_scoring is not None
                else score_frame(champion, test, task, label)
            )
        except MissingColumns as exc:
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
    settings = gate.suspicion
    if settings.enabled:
        screen, bound = None, None
        if train is not None and settings.leakage.enabled:
            screen, bound = leakage_screen(settings, task, train, candidate, seed, label)
        checks += suspicion_checks(
            settings, cand, champ, cv, screen, bound, registered=champion_registered
        )
    failed = [c.name for c in checks if not c.passed]
    suspicious = [n for n in failed if n.startswith("suspicion.")]
    others = [n for n in failed if n not in suspicious]
    leaking = [
        name
        for c in checks
        if c.name == "suspicion.leakage" and not c.passed
        for name, v in (c.features or {}).items()
        if v is not None and c.threshold is not None and v > c.threshold
    ]
    override = None
    if settings.override is not None:
        override = OverrideRecord(
            candidate_sha256=settings.override.candidate_sha256,
            reason=settings.override.reason,
            applied=bool(suspicious) and settings.override.candidate_sha256 == candidate_sha256,
        )
    passed = not failed
    others_ok = not others or gate.mode == "dry_run"
    blessed = others_ok and (not suspicious or (override is not None and override.applied))
    against = "no champion (first model)" if first_model else f"champion v{champion_version}"
    if passed:
        summary = f"BLESSED: all {len(checks)} checks pass against {against}"
    else:
        summary = (
            f"{len(failed)} of {len(checks)} checks fail against {against}: {', '.join(failed)}"
        )
        if suspicious and override is not None and override.applied:
            prefix = "BLESSED BY OVERRIDE" if blessed else "REJECTED"
            summary = (
                f"{prefix} ({SUSPICIOUS} overridden for this artifact: "
                f"{settings.override.reason if settings.override else ''}): {summary}"
            )
        elif suspicious:
            named = f"; leaking feature(s): {', '.join(leaking)}" if leaking else ""
            summary = (
                f"{SUSPICIOUS} (not blessed in any mode{named}; a reviewed real gain is "
                f"blessed only by gate.suspicion.override with this candidate's sha256 and a "
                f"reason): {summary}"
            )
        elif blessed:
            summary = "DRY RUN (blessed anyway): " + summary
        else:
            summary = "REJECTED: " + summary
    return GateVerdict(
        blessed=blessed,
        checks_passed=passed,
        mode=gate.mode,
        first_model=first_model,
        champion_version=None if first_model else str(champion_version),
        candidate=cand,
        champion=champ,
        checks=checks,
        summary=summary,
        suspicious=bool(suspicious),
        leaking_features=leaking,
        override=override,
    )


def unchanged_verdict(result: GateVerdict, champion_version: str | None) -> GateVerdict:
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
    return result.model_copy(
        update={
            "blessed": False,
            "checks_passed": False,
            "checks": [*result.checks, check],
            "summary": f"UNCHANGED: the candidate is champion v{champion_version} itself "
            "(same sha256); nothing to register or promote",
        }
    )


def window_of(test: pd.DataFrame, event_time: str | None) -> TestWindow:
    if event_time and event_time in test.columns:
        times = test[event_time]
        return TestWindow(n=len(test), start=str(times.min()), end=str(times.max()))
    return TestWindow(n=len(test))
