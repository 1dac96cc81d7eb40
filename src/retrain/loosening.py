"""Which safety-relevant params got weaker than the baseline's (e.g. `main`)?

A retrain pull request carries `params.yaml`; a lower floor, a larger allowed regression,
`gate.mode: dry_run`, a removed check, fewer bootstrap resamples, a disabled leakage screen or
a weaker data contract would let a worse (or leaking) model through while every check still
says "pass". `compare(old, new)` lists each such loosening, plus other safety-relevant changes
(the primary metric, the split), so the report can put them at the top. Both sides are full
`Params` (defaults filled in), so a removed key shows as a return to the default. Pure.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from retrain.metrics import greater_is_better

if TYPE_CHECKING:
    from retrain.config import Params
    from retrain.config.gate import ChangeThreshold, GateSection, SuspicionSettings
    from retrain.config.prepare import PrepareSection
    from retrain.config.validate import ValidateSection


def _n(value: Any) -> str:
    return "none" if value is None else f"{value:g}" if isinstance(value, float) else str(value)


def _raised(out: list[str], key: str, old: float | None, new: float | None, what: str) -> None:
    """A bound where larger (or none) is looser: old set and new none or larger."""
    if old is not None and (new is None or new > old):
        out.append(f"{key}: {_n(old)} → {_n(new)} ({what})")


def _lowered(out: list[str], key: str, old: float | None, new: float | None, what: str) -> None:
    """A bound where smaller (or none) is looser."""
    if old is not None and (new is None or new < old):
        out.append(f"{key}: {_n(old)} → {_n(new)} ({what})")


def _switched_off(out: list[str], key: str, old: bool, new: bool) -> None:
    if old and not new:
        out.append(f"{key}: true → false (check turned off)")


def _allowed(rule: ChangeThreshold) -> tuple[float | None, float | None]:
    """(abs, rel) allowed regression; no bound at all means none allowed (0)."""
    if rule.max_regression_abs is None and rule.max_regression_rel is None:
        return 0.0, None
    return rule.max_regression_abs, rule.max_regression_rel


def _gate(old: GateSection, new: GateSection, out: list[str], changed: list[str]) -> None:
    if old.mode == "enforce" and new.mode != "enforce":
        out.append(f"gate.mode: enforce → {new.mode} (every candidate is blessed anyway)")
    if not old.allow_first_model and new.allow_first_model:
        out.append("gate.allow_first_model: false → true (a first model needs no champion)")
    for metric, bounds in old.values.items():
        key = f"gate.values.{metric}"
        if metric not in new.values:
            out.append(f"{key}: removed (no floor or ceiling on {metric})")
            continue
        _lowered(out, f"{key}.min", bounds.min, new.values[metric].min, "lower floor")
        _raised(out, f"{key}.max", bounds.max, new.values[metric].max, "higher ceiling")
    new_rules = {rule.metric: rule for rule in new.changes}
    for rule in old.changes:
        key = f"gate.changes[{rule.metric}]"
        now = new_rules.get(rule.metric)
        if now is None:
            out.append(f"{key}: removed (no comparison with the champion on {rule.metric})")
            continue
        (old_abs, old_rel), (new_abs, new_rel) = _allowed(rule), _allowed(now)
        if not (new_abs == 0.0 and new_rel is None):
            _raised(out, f"{key}.max_regression_abs", old_abs, new_abs, "larger allowed regression")
            _raised(out, f"{key}.max_regression_rel", old_rel, new_rel, "larger allowed regression")
        if rule.better() != now.better():
            out.append(f"{key}.direction: {rule.better()} → {now.better()}")
        _switched_off(out, f"{key}.bootstrap", rule.bootstrap, now.bootstrap)
    _lowered(
        out,
        "gate.bootstrap.resamples",
        old.bootstrap.resamples,
        new.bootstrap.resamples,
        "fewer resamples",
    )
    _lowered(
        out,
        "gate.bootstrap.confidence",
        old.bootstrap.confidence,
        new.bootstrap.confidence,
        "narrower interval: a regression passes more easily",
    )
    for column in old.slices.columns:
        if column not in new.slices.columns:
            out.append(f"gate.slices.columns: {column} removed (its levels are not compared)")
    _raised(out, "gate.slices.min_rows", old.slices.min_rows, new.slices.min_rows, "fewer levels")
    _raised(
        out,
        "gate.slices.max_regression_abs",
        old.slices.max_regression_abs,
        new.slices.max_regression_abs,
        "larger allowed regression per level",
    )
    if old.slices.metric != new.slices.metric:
        changed.append(f"gate.slices.metric: {old.slices.metric} → {new.slices.metric}")
    _suspicion(old.suspicion, new.suspicion, out)


def _suspicion(old: SuspicionSettings, new: SuspicionSettings, out: list[str]) -> None:
    key = "gate.suspicion"
    _switched_off(out, f"{key}.enabled", old.enabled, new.enabled)
    for name in ("max_gain", "max_gain_over_cv"):
        before, after = getattr(old, name), getattr(new, name)
        for metric, bound in before.items():
            _raised(out, f"{key}.{name}.{metric}", bound, after.get(metric), "larger gain allowed")
    for metric, bound in old.ceiling.items():
        now = new.ceiling.get(metric)
        if greater_is_better(metric):
            _raised(out, f"{key}.ceiling.{metric}", bound, now, "higher plausibility ceiling")
        else:
            _lowered(out, f"{key}.ceiling.{metric}", bound, now, "lower plausibility floor")
    _switched_off(out, f"{key}.leakage.enabled", old.leakage.enabled, new.leakage.enabled)
    _raised(
        out, f"{key}.leakage.max_auc", old.leakage.max_auc, new.leakage.max_auc, "weaker screen"
    )
    _raised(
        out,
        f"{key}.leakage.max_abs_spearman",
        old.leakage.max_abs_spearman,
        new.leakage.max_abs_spearman,
        "weaker screen",
    )
    _lowered(
        out,
        f"{key}.leakage.sample_rows",
        old.leakage.sample_rows,
        new.leakage.sample_rows,
        "smaller sample",
    )
    if new.override is not None and new.override != old.override:
        out.append(
            f"{key}.override: added for candidate {new.override.candidate_sha256[:12]}… "
            f'("suspiciously good" checks waived for that artifact; reason: '
            f"{new.override.reason})"
        )


def _prepare(old: PrepareSection, new: PrepareSection, out: list[str], changed: list[str]) -> None:
    if old.test_size != new.test_size:
        out.append(
            f"prepare.test_size: {_n(old.test_size)} → {_n(new.test_size)} "
            "(the random split the gate judges on)"
        )
    for column in old.drop_columns:
        if column not in new.drop_columns:
            out.append(
                f"prepare.drop_columns: {column} no longer dropped (a column known only after "
                "the outcome can become a feature)"
            )
    # Windows move on every dispatched retrain (the payload's window becomes the test window),
    # so a move is listed, not flagged; the day counts show a shorter (noisier) test window.
    for name in ("train_window", "test_window"):
        before, after = getattr(old, name), getattr(new, name)
        if (before.start, before.end, before.timezone) != (after.start, after.end, after.timezone):
            days = [(w.end - w.start).total_seconds() / 86400 for w in (before, after)]
            changed.append(
                f"prepare.{name}: {before.start:%Y-%m-%d}..{before.end:%Y-%m-%d} "
                f"({days[0]:g} days) → {after.start:%Y-%m-%d}..{after.end:%Y-%m-%d} "
                f"({days[1]:g} days)"
            )


def _validate(old: ValidateSection, new: ValidateSection, out: list[str]) -> None:
    key = "validate"
    if old.columns is not None and new.columns is None:
        out.append(f"{key}.columns: removed (any set of columns passes)")
    for column in old.dtypes:
        if column not in new.dtypes:
            out.append(f"{key}.dtypes.{column}: removed")
    for column, share in old.not_null.items():
        _lowered(out, f"{key}.not_null.{column}", share, new.not_null.get(column), "more nulls")
    for column, rng in old.ranges.items():
        now = new.ranges.get(column)
        if now is None:
            out.append(f"{key}.ranges.{column}: removed")
            continue
        _lowered(out, f"{key}.ranges.{column}.min", rng.min, now.min, "wider range")
        _raised(out, f"{key}.ranges.{column}.max", rng.max, now.max, "wider range")
        _lowered(out, f"{key}.ranges.{column}.mostly", rng.mostly, now.mostly, "more outside")
    for column, cats in old.categories.items():
        now_cats = new.categories.get(column)
        if now_cats is None:
            out.append(f"{key}.categories.{column}: removed")
            continue
        _raised(
            out,
            f"{key}.categories.{column}.max_new_share",
            cats.max_new_share,
            now_cats.max_new_share,
            "more unknown levels",
        )
    _lowered(out, f"{key}.rows.min", old.rows.min, new.rows.min, "fewer rows")
    _raised(out, f"{key}.rows.max", old.rows.max, new.rows.max, "more rows")
    _lowered(out, f"{key}.min_class_share", old.min_class_share, new.min_class_share, "rarer class")
    for flag in ("event_time_in_window", "unique_key", "unique_rows"):
        _switched_off(out, f"{key}.{flag}", getattr(old, flag), getattr(new, flag))
    for column in new.duplicate_rows_ignore:
        if column not in old.duplicate_rows_ignore:
            out.append(f"{key}.duplicate_rows_ignore: {column} added (more rows count as unique)")


def compare(old: Params, new: Params) -> tuple[list[str], list[str]]:
    """(loosenings, other safety-relevant changes) of `new` against `old`."""
    loosened: list[str] = []
    changed: list[str] = []
    _gate(old.gate, new.gate, loosened, changed)
    _prepare(old.prepare, new.prepare, loosened, changed)
    _validate(old.validate_, new.validate_, loosened)
    for task in ("classification", "regression"):
        before, after = getattr(old.train.metric, task), getattr(new.train.metric, task)
        if before != after:
            changed.append(f"train.metric.{task}: {before} → {after}")
    for name in ("task", "target", "positive_above", "key", "event_time"):
        before, after = getattr(old.base, name), getattr(new.base, name)
        if before != after:
            changed.append(f"base.{name}: {_n(before)} → {_n(after)}")
    return loosened, changed
