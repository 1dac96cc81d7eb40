"""`retrain replay`: closed-loop, period-by-period replay of a year comparing retrain policies.

Each period the policy's champion serves and its primary metric (`train.metric.<task>`, ROC AUC
by default) is recorded on the period's labels (the simulation's score, never shown to a
policy); then every policy decides whether to retrain, through the same registry the monitor
uses (`retrain.policies`: never, periodic, drift, decay, estimated, cost_aware; `monthly` and
`monitor` are the older names of periodic and drift). With `replay.label_delay` = k a policy
sees labels only up to period t-k. A retrain runs the production code the stages run:
splitting.split -> training.train -> exporting.export_model -> gating.evaluate_gate ->
pushing.push -> promote.promote, against a throw-away MLflow registry (sqlite in a temp dir),
so the gate can reject a candidate and the champion alias moves only by promotion. Each
retrain's CPU seconds are measured (getrusage) and summed per policy with their price
(`cost.price_per_cpu_hour`).

Writes replay.json, replay.md and replay.png (the metric per period and policy, retrains marked).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from retrain.errors import UserError

if TYPE_CHECKING:
    import pandas as pd

    from retrain.artifacts import RegistryRecord, SearchSummary, VersionTags
    from retrain.config import Params

log = logging.getLogger("retrain.replay")

SCHEMA = 1


@dataclass(frozen=True)
class ServedMetric:
    """The metric the replay records each month: the task's primary metric."""

    name: str  # e.g. "roc_auc": its key in each served month
    key: str  # in replay.json's `mean_<key>`, `candidate_<key>`, `champion_<key>`
    label: str  # in the table and the log
    axis: str  # the plot's y label


def served_metric(params: Params) -> ServedMetric:
    """ROC AUC keeps the names replay.json has always had (`mean_auc`, "AUC"); any other
    metric is named as itself, with its direction when lower is better."""
    from retrain.metrics import greater_is_better

    name = getattr(params.train.metric, params.base.task)
    if name == "roc_auc":
        return ServedMetric(name, "auc", "AUC", "ROC AUC")
    axis = name if greater_is_better(name) else f"{name}, lower is better"
    return ServedMetric(name, name, name, axis)


@dataclass(frozen=True)
class Candidate:
    """A model trained for the gate month `month` (shared by policies: same data, same seed)."""

    month: int
    model: Any
    search: SearchSummary
    sha256: str
    export_dir: Path
    test: Any  # labelled rows of the gate month
    cpu_s: float = 0.0  # measured CPU seconds of its training and export


@dataclass
class PolicyRun:
    name: str
    model: str  # registry model name of this policy
    version: str | None = None
    pipeline: Any = None
    tags: VersionTags | None = None
    promoted_month: int = 0  # the champion's gate period: labels after it are new to it
    last_retrain: int = 0  # the period whose end saw the latest retrain (or the first model)
    reference: Any = None  # the champion's labelled test rows (the label-free estimate's base)
    periods: list[dict[str, Any]] = field(default_factory=list)
    policy_cpu_s: float = 0.0  # CPU of its decisions (a challenger's training every period)
    retrains: list[dict[str, Any]] = field(default_factory=list)


def replay_params(params: Params) -> Params:
    """params with the replay's small search budget and its CV scheme."""
    r = params.replay
    train = params.train
    families = {
        name: spec.model_copy(update={"enabled": name in r.families})
        for name, spec in train.families.items()
    }
    missing = [f for f in r.families if f not in train.families]
    if missing:
        raise UserError(
            f"replay.families names {missing}, which train.families does not define",
            f"use some of: {', '.join(train.families)}",
        )
    train = train.model_copy(
        update={
            "budget": train.budget.model_copy(update={"trials": r.trials, "seconds": r.seconds}),
            "cv": train.cv.model_copy(update={"period": r.cv_period, "folds": r.cv_folds}),
            "families": families,
        }
    )
    return params.model_copy(update={"train": train})


class Replay:
    def __init__(self, params: Params, features: pd.DataFrame, workdir: Path, tracking_uri: str):
        import pandas as pd

        from retrain.registry import connect

        self.params = replay_params(params)
        self.settings = params.replay
        self.base = params.base
        self.metric = served_metric(params)
        if self.base.event_time is None or self.base.event_time not in features.columns:
            raise UserError(
                f"the features need the event time column {self.base.event_time!r}",
                "the replay cuts months by base.event_time",
            )
        times = pd.to_datetime(features[self.base.event_time], utc=True)
        local = times.dt.tz_convert(self.settings.timezone)
        year = self.settings.year
        self.features = features.loc[(local.dt.year == year).to_numpy()].reset_index(drop=True)
        local = local.loc[local.dt.year == year]
        period = self.settings.period
        if period == "month":
            self.month_of = local.dt.month.to_numpy()
        else:
            days = local.dt.dayofyear.to_numpy()
            self.month_of = (days - 1) // 7 + 1 if period == "week" else days
        present = set(self.month_of.tolist())
        needed = set(range(1, self.settings.last + 1))
        if not needed <= present:
            raise UserError(
                f"the features have no rows for {period}(s) {sorted(needed - present)} of {year}",
                "extract the whole replay period, or lower replay.last_period / horizon",
            )
        self.delay = self.settings.label_delay
        self.price = params.cost.price_per_cpu_hour
        self.workdir = workdir
        self.uri = tracking_uri
        self.registry = connect(tracking_uri)
        self.candidates: dict[int, Candidate] = {}
        # (policy, champion version, period) -> its labelled rows scored by that champion
        self.scored: dict[tuple[str, str | None, int], Any] = {}

    # -- data -------------------------------------------------------------------------------

    def rows(self, months: range | list[int]) -> pd.DataFrame:
        import numpy as np

        return self.features.loc[np.isin(self.month_of, list(months))].reset_index(drop=True)

    def window(self, first: int, last: int) -> Any:
        """Months first..last (inclusive) as an extract/prepare Window."""
        from retrain.config.extract import Window

        year = self.settings.year
        if self.settings.period == "month":
            start = dt.datetime(year, first, 1)
            end = dt.datetime(year + 1, 1, 1) if last == 12 else dt.datetime(year, last + 1, 1)
        else:
            days = 7 if self.settings.period == "week" else 1
            new_year = dt.datetime(year, 1, 1)
            start = new_year + dt.timedelta(days=days * (first - 1))
            end = min(new_year + dt.timedelta(days=days * last), dt.datetime(year + 1, 1, 1))
        return Window(start=start, end=end, timezone=self.settings.timezone)

    def month_key(self, month: int) -> str:
        """The month's calendar days "START..END" (how the monitor names a window)."""
        window = self.window(month, month)
        return f"{window.start:%Y-%m-%d}..{window.end:%Y-%m-%d}"

    def labelled(self, month: int) -> pd.DataFrame:
        from retrain.splitting import derive_label

        frame, _ = derive_label(self.rows([month]), self.base)
        return frame

    # -- the production stages ------------------------------------------------------------

    def candidate(self, month: int) -> Candidate:
        """prepare -> train -> save -> export for the gate month `month` (cached)."""
        if month in self.candidates:
            return self.candidates[month]
        from retrain.exporting import export_model
        from retrain.model_io import save_model
        from retrain.search.study import SearchSettings
        from retrain.splitting import split
        from retrain.training import train

        first = max(1, month - self.settings.train_periods)
        options = self.params.prepare.model_copy(
            update={
                "train_window": self.window(first, month - 1),
                "test_window": self.window(month, month),
            }
        )
        parts = split(self.rows(range(first, month + 1)), self.base, options)
        started = time.monotonic()
        cpu = cpu_seconds()
        outcome = train(parts.train, SearchSettings.from_params(self.params))
        folder = self.workdir / f"candidate-{month:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        sha = save_model(outcome.model, folder / "model.skops")
        parts.test.to_parquet(folder / "test.parquet", index=False)
        threshold = outcome.search.threshold
        export_model(
            folder / "model.skops",
            folder / "test.parquet",
            folder / "export",
            task=self.base.task,
            threshold=threshold,
            input_example_rows=self.params.export.input_example_rows,
            parity_rows=self.params.export.parity_rows,
        )
        log.info(
            "month %02d: trained %s on months %d-%d (%s rows) in %.0f s",
            month,
            outcome.search.best_family,
            first,
            month - 1,
            f"{len(parts.train):,}",
            time.monotonic() - started,
        )
        found = Candidate(
            month,
            outcome.model,
            outcome.search,
            sha,
            folder / "export",
            parts.test,
            cpu_seconds() - cpu,
        )
        self.candidates[month] = found
        return found

    def retrain(self, run: PolicyRun, month: int) -> dict[str, Any]:
        """gate -> push -> promote of the month's candidate against the policy's champion."""
        from retrain.config import params_hash
        from retrain.gating import evaluate_gate, window_of
        from retrain.pushing import push

        decided = month
        month = month - self.delay  # the newest labelled period: the gate's
        cand = self.candidate(month)
        cpu = cpu_seconds()
        verdict = evaluate_gate(
            self.params.gate,
            self.base.task,
            cand.test,
            cand.model,
            run.pipeline,
            run.version,
            self.base.seed,
            champion_registered=None if run.tags is None else run.tags.known_metrics(),
        )
        verdict = verdict.model_copy(
            update={
                "model": run.model,
                "candidate_sha256": cand.sha256,
                "test_window": window_of(cand.test, self.base.event_time),
            }
        )
        record, _ = push(
            cand.export_dir,
            verdict,
            cand.search,
            model=run.model,
            experiment=self.params.registry.experiment,
            lineage={
                "git_commit": f"replay-{self.settings.year}-{month:02d}",
                "data_hash": "replay",
                "params_hash": params_hash(self.params),
            },
            registry=self.registry,
        )
        m = self.metric
        event = {
            "period": month,
            "blessed": verdict.blessed,
            "summary": verdict.summary,
            f"candidate_{m.key}": verdict.candidate.get(m.name),
            f"champion_{m.key}": (verdict.champion or {}).get(m.name),
            "version": None,
        }
        if record.version is not None:
            event.update(self.promote(run, record, month))
            run.reference = cand.test
        cpu_s = cand.cpu_s + cpu_seconds() - cpu  # this policy pays for the whole retrain
        event.update(
            decided=decided,
            cpu_s=round(cpu_s, 2),
            usd=round(cpu_s / 3600 * self.price, 6),
        )
        run.last_retrain = decided
        run.retrains.append(event)
        return event

    def promote(self, run: PolicyRun, record: RegistryRecord, month: int) -> dict[str, Any]:
        """Promote the pushed version: it becomes the policy's champion (and reference)."""
        from retrain.artifacts import VersionTags
        from retrain.promote import promote

        outcome = promote(self.registry, record, commit=f"replay-{month:02d}", who="retrain-replay")
        champion = self.registry.champion(run.model)
        assert champion is not None  # just promoted
        run.version, run.tags = champion.version, VersionTags.from_tags(champion.tags)
        run.pipeline = self.registry.load_pipeline(champion)
        run.promoted_month = month  # a new champion: a new reference, the monitor starts over
        return {"version": champion.version, "promotion": outcome.message}

    # -- serving and the policies ---------------------------------------------------------

    def serve(self, run: PolicyRun, month: int) -> dict[str, Any]:
        from retrain.metrics import score
        from retrain.monitor.drift import champion_scores

        labelled = self.labelled(month)
        scores = champion_scores(run.pipeline, labelled, self.base.task)
        name = self.metric.name
        value = score(name, labelled["label"].to_numpy(), scores)
        return {"period": month, name: value, "n": len(labelled), "champion_version": run.version}

    def drift_check(self, run: PolicyRun, month: int) -> tuple[Any, Any]:
        """The monitor's drift rule on period `month` (persistence recomputed from earlier
        periods, as `retrain monitor` does); with a label delay the period has no labels yet."""
        from retrain.artifacts import WindowSignal
        from retrain.monitor.command import (
            check_windows,
            prediction_reference,
            reference_from_tags,
            rows_in,
        )
        from retrain.monitor.drift import decide, signals_of

        assert run.tags is not None and run.version is not None  # the first model is promoted
        time_column = str(self.base.event_time)
        span = reference_from_tags(run.tags, run.version)
        reference = rows_in(self.features, span, time_column)
        scores_ref = prediction_reference(self.features, run.tags, run.version, time_column)

        def unlabelled(rows: pd.DataFrame, period: int) -> pd.DataFrame:
            if period > month - self.delay:
                return rows.drop(columns=[self.base.target], errors="ignore")
            return rows

        current = unlabelled(self.rows([month]), month)
        report = check_windows(self.params, reference, current, run.pipeline, run.tags, scores_ref)
        policy = self.params.monitor.trigger
        earlier: list[WindowSignal] = []
        if signals_of(report, policy).any:
            first = max(run.promoted_month + 1, month - policy.persistence + 1)
            for before in range(month - 1, first - 1, -1):
                rows = unlabelled(self.rows([before]), before)
                past = check_windows(
                    self.params, reference, rows, run.pipeline, run.tags, scores_ref
                )
                signal = signals_of(past, policy).any
                earlier.insert(0, WindowSignal(window=self.month_key(before), signal=signal))
                if not signal:
                    break
        return report, decide(report, policy, self.month_key(month), earlier)

    def labelled_sample(self, rows: pd.DataFrame, run: PolicyRun, features: bool = False) -> Any:
        from retrain.monitor.drift import champion_scores
        from retrain.policies import Sample
        from retrain.splitting import derive_label

        if rows is None:
            return None
        # the gate's test rows carry their label already; a period's rows their target
        frame = rows if "label" in rows.columns else derive_label(rows, self.base)[0]
        if frame.empty:
            return None
        scores = champion_scores(run.pipeline, frame, self.base.task)
        return Sample(scores, frame["label"].to_numpy(), frame if features else None)

    def since_promotion(self, run: PolicyRun, last: int) -> Any:
        """The champion's labelled periods from its test period to `last`, scored by it (each
        period scored once per champion: every month re-reads the ones before)."""
        import numpy as np
        import pandas as pd

        from retrain.policies import Sample

        for stale in [k for k in self.scored if k[0] == run.name and k[1] != run.version]:
            del self.scored[stale]  # a former champion's
        parts = []
        for month in range(run.promoted_month, last + 1):
            key = (run.name, run.version, month)
            if key not in self.scored:
                found = self.labelled_sample(self.rows([month]), run, features=True)
                # classification's calibration reads only the event time (cross-fit blocks);
                # regression's direct-loss model reads the input columns
                column = self.base.event_time
                if found is not None and self.base.task != "regression" and column:
                    found = Sample(found.scores, found.labels, found.features[[column]])
                self.scored[key] = found
            if self.scored[key] is not None:
                parts.append(self.scored[key])
        if not parts:
            return None
        return Sample(
            np.concatenate([p.scores for p in parts]),
            np.concatenate([p.labels for p in parts]),
            pd.concat([p.features for p in parts], ignore_index=True),
        )

    def retrain_usd(self) -> float | None:
        """The measured cost of one retrain so far: the mean over the trainings done."""
        if not self.candidates:
            return None
        cpu = [c.cpu_s for c in self.candidates.values()]
        return sum(cpu) / len(cpu) / 3600 * self.price

    def context(self, run: PolicyRun, month: int) -> Any:
        """What the policies may see at the end of period `month`: its rows without labels,
        the labels of period month-k when newer than the champion's, the champion's labelled
        test rows, the periods since the last retrain, the measured cost of a retrain; for the
        challenger also the `train_periods` labelled periods before month-k (its training
        window: labels that arrived)."""
        from retrain.monitor.drift import champion_scores
        from retrain.policies import PolicyContext, Sample, canonical

        assert run.tags is not None
        newest = month - self.delay
        labelled = history = None
        if newest > run.promoted_month:
            labelled = self.labelled_sample(self.rows([newest]), run, features=True)
            if canonical(run.name) == "challenger":
                first = max(1, newest - self.settings.train_periods)
                history = self.labelled_sample(self.rows(range(first, newest)), run, True)
        rows = self.rows([month])
        current = Sample(champion_scores(run.pipeline, rows, self.base.task), features=rows)
        # the label-free estimate's calibration: the champion's test period and the labelled
        # periods since, never the current one (at k = 0 its labels come with it, too late)
        calibration = self.since_promotion(run, min(month - 1, newest))
        metric = run.tags.primary_metric or self.metric.name
        return PolicyContext(
            params=self.params,
            task=self.base.task,
            metric=metric,
            registered=run.tags.metrics.get(metric),
            periods_since_retrain=month - run.last_retrain,
            labelled=labelled,
            current=current,
            reference=self.labelled_sample(run.reference, run, features=True),
            calibration=calibration,
            history=history,
            retrain_usd=self.retrain_usd(),
            drift=lambda: self.drift_check(run, month),
            seed=self.base.seed,
        )

    def estimate(self, context: Any) -> dict[str, Any] | None:
        """The champion's metric on the period estimated without labels, and the naive
        estimate (its registered value), recorded for every policy next to the realised one."""
        from retrain.policies.estimated import estimate_current

        try:
            found = estimate_current(context)
        except UserError as exc:
            return {"error": exc.message}
        return {
            "value": round(found.value, 6),
            "low": round(found.low, 6),
            "high": round(found.high, 6),
            "margin": round(found.margin, 6),
            "naive": context.registered,
        }

    def run(self) -> dict[str, Any]:
        from retrain.policies import decide

        started = time.monotonic()
        s = self.settings
        runs = [PolicyRun(name, f"{self.base.model_name}-{name}") for name in s.policies]
        for run in runs:
            first = self.retrain(run, s.initial_periods)
            if first["version"] is None:
                raise UserError(
                    f"the first model (gated on period {s.initial_periods - self.delay}) was not "
                    f"blessed: {first['summary']}",
                    "relax the gate's value thresholds for the replay, or start later",
                )
        for month in range(s.initial_periods + 1, s.last + 1):
            for run in runs:
                served = self.serve(run, month)
                served["retrained"] = False
                context = self.context(run, month)
                served["estimate"] = self.estimate(context)
                if month < s.last:
                    cpu = cpu_seconds()
                    made = decide(run.name, context)
                    spent = cpu_seconds() - cpu
                    run.policy_cpu_s += spent
                    served["decide_cpu_s"] = round(spent, 3)
                    served["decision"] = made.model_dump(mode="json")
                    if made.fired:
                        event = self.retrain(run, month)
                        served["retrained"] = True
                        served["promoted"] = event["version"] is not None
                run.periods.append(served)
                log.info(
                    "%s %02d: %s %.4f (v%s)%s",
                    f"{run.name:10s}",
                    month,
                    self.metric.label,
                    served.get(self.metric.name, float("nan")),
                    served["champion_version"],
                    " -> retrain" + ("" if served.get("promoted") else " (rejected)")
                    if served["retrained"]
                    else "",
                )
        return self.result(runs, time.monotonic() - started)

    def result(self, runs: list[PolicyRun], elapsed: float) -> dict[str, Any]:
        s = self.settings
        policies = {}
        name = self.metric.name
        for run in runs:
            values = [m[name] for m in run.periods if name in m]
            retrained = run.retrains[1:]  # the first model is not a retrain
            cpu = sum(e["cpu_s"] for e in retrained)
            total = cpu + run.policy_cpu_s
            policies[run.name] = {
                "model": run.model,
                "periods": run.periods,
                f"mean_{self.metric.key}": sum(values) / len(values) if values else None,
                "retrains": len(retrained),
                "promotions": sum(e["version"] is not None for e in retrained),
                "retrain_cpu_s": round(cpu, 3),
                "retrain_usd": round(cpu / 3600 * self.price, 6),
                # the decisions' own CPU (a challenger trained every period), and all of it
                "policy_cpu_s": round(run.policy_cpu_s, 3),
                "cost_usd": round(total / 3600 * self.price, 6),
                "events": run.retrains,
            }
        return {
            "schema": SCHEMA,
            "year": s.year,
            "period": s.period,
            "label_delay": s.label_delay,
            "metric": name,
            "served_periods": list(range(s.initial_periods + 1, s.last + 1)),
            "settings": s.model_dump(mode="json"),
            "monitor": {
                "numeric_statistic": self.params.monitor.numeric_statistic,
                "categorical_statistic": self.params.monitor.categorical_statistic,
                "trigger": self.params.monitor.trigger.model_dump(mode="json"),
            },
            "policy": self.params.policy.model_dump(mode="json"),
            "policies": policies,
            "trainings": len(self.candidates),
            "elapsed_s": round(elapsed, 1),
        }


def cpu_seconds() -> float:
    """CPU seconds of this process and its waited-for children so far (the OS's count)."""
    import resource

    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def _value(value: float | None, bold: bool = False) -> str:
    text = "n/a" if value is None else f"{value:.4f}"
    return f"**{text}**" if bold else text


def period_label(result: dict[str, Any], index: int) -> str:
    period = result.get("period", "month")
    if period == "month":
        return f"{result['year']}-{index:02d}"
    return f"{result['year']} {'W' if period == 'week' else 'D'}{index:02d}"


def served_periods(result: dict[str, Any]) -> list[int]:
    """The served period indices (replay.json before the rename: `served_months`)."""
    return result.get("served_periods", result.get("served_months", []))


def periods_of(policy: dict[str, Any]) -> list[dict[str, Any]]:
    """A policy's served periods, each with its `period` index (older files: months/month)."""
    if "periods" in policy:
        return policy["periods"]
    return [{**m, "period": m["month"]} for m in policy.get("months", [])]


def markdown(result: dict[str, Any], metric: ServedMetric) -> str:
    names = list(result["policies"])
    mean = f"mean_{metric.key}"
    lines = [
        f"## Replay of {result['year']}: champion {metric.label} per "
        f"{result.get('period', 'month')} and policy"
        + (
            f" (labels {result['label_delay']} period(s) late)" if result.get("label_delay") else ""
        ),
        "",
        f"| {result.get('period', 'month')} | " + " | ".join(names) + " |",
        "|---|" + "---:|" * len(names),
    ]
    for i, month in enumerate(served_periods(result)):
        cells = []
        for name in names:
            entry = periods_of(result["policies"][name])[i]
            mark = ""
            if entry.get("retrained"):
                mark = " ↻" if entry.get("promoted") else " ✗"
            cells.append(f"{_value(entry[metric.name])} (v{entry['champion_version']}){mark}")
        lines.append(f"| {period_label(result, month)} | " + " | ".join(cells) + " |")
    lines.append(
        "| **mean** | "
        + " | ".join(_value(result["policies"][n][mean], bold=True) for n in names)
        + " |"
    )
    lines.append(
        "| retrain CPU s ($) | "
        + " | ".join(
            f"{result['policies'][n].get('retrain_cpu_s', 0):.0f} "
            f"(${result['policies'][n].get('retrain_usd', 0):.4f})"
            for n in names
        )
        + " |"
    )
    if any("policy_cpu_s" in result["policies"][n] for n in names):
        lines.append(
            "| decision CPU s (all-in $) | "
            + " | ".join(
                f"{result['policies'][n].get('policy_cpu_s', 0):.0f} "
                f"(${result['policies'][n].get('cost_usd', 0):.4f})"
                for n in names
            )
            + " |"
        )
    lines.append(
        "| retrains (promoted) | "
        + " | ".join(
            f"{result['policies'][n]['retrains']} ({result['policies'][n]['promotions']})"
            for n in names
        )
        + " |"
    )
    lines += [
        "",
        "↻ retrained at the end of the month and the gate blessed the candidate (it serves "
        "from the next month); ✗ retrained but the gate rejected it. "
        f"{result['trainings']} trainings in {result['elapsed_s']:.0f} s.",
    ]
    return "\n".join(lines) + "\n"


def plot(result: dict[str, Any], path: Path, metric: ServedMetric) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from retrain.fileio import atomic_path

    fig, ax = plt.subplots(figsize=(8, 4.2))
    styles = [
        "-",
        "--",
        "-.",
        ":",
        (0, (5, 1)),
        (0, (1, 2, 4, 2)),
    ]  # policies share months until one retrains: keep all visible
    for i, (name, policy) in enumerate(result["policies"].items()):
        served = periods_of(policy)
        months = [m["period"] for m in served]
        values = [m[metric.name] for m in served]
        (line,) = ax.plot(
            months,
            values,
            marker="o",
            linestyle=styles[i % len(styles)],
            label=f"{name} ({policy['retrains']} retrains)",
        )
        for m in served:
            if m.get("retrained"):
                # The retrained model serves from the next month: mark the decision point.
                ax.plot(
                    m["period"] + 0.5,
                    m[metric.name],
                    marker="^" if m.get("promoted") else "x",
                    color=line.get_color(),
                    markersize=9,
                    linestyle="none",
                )
    period = result.get("period", "month")
    ax.set_xlabel(f"{period} of {result['year']} (▲ retrain promoted, x rejected by the gate)")
    ax.set_ylabel(f"champion {metric.axis} on the {period}")
    ax.set_xticks(served_periods(result))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=9)
    ax.set_title("Closed-loop replay: retrain policies compared")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)


def estimated_policy(result: dict[str, Any]) -> str | None:
    """The policy whose label-free estimates the estimate plot shows: `never` when it ran (one
    champion ageing all year: the cleanest test), else the first with any."""
    from retrain.policies import canonical

    names = sorted(result["policies"], key=lambda n: canonical(n) != "never")
    for name in names:
        if any(
            (m.get("estimate") or {}).get("value") is not None
            for m in periods_of(result["policies"][name])
        ):
            return name
    return None


def plot_estimates(result: dict[str, Any], path: Path, metric: ServedMetric) -> bool:
    """The champion's realised metric per period vs its label-free estimate (CBPE / direct
    loss) with the interval, and the naive estimate (its registered value). False: no estimate
    to show (nothing written)."""
    name = estimated_policy(result)
    if name is None:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from retrain.fileio import atomic_path

    served = [
        m
        for m in periods_of(result["policies"][name])
        if (m.get("estimate") or {}).get("value") is not None
    ]
    periods = [m["period"] for m in served]
    estimates = [m["estimate"] for m in served]
    level = result.get("policy", {}).get("estimated", {}).get("level", 0.9)
    fig, ax = plt.subplots(figsize=(8, 4.2))
    ax.fill_between(
        periods,
        [e["low"] for e in estimates],
        [e["high"] for e in estimates],
        alpha=0.2,
        label=f"estimate's {level:.0%} interval",
    )
    ax.plot(periods, [e["value"] for e in estimates], marker="o", label="estimated without labels")
    ax.plot(periods, [m[metric.name] for m in served], marker="s", color="black", label="realised")
    ax.plot(
        periods,
        [e.get("naive") for e in estimates],
        linestyle="--",
        color="grey",
        label="naive: its registered value",
    )
    period = result.get("period", "month")
    delay = result.get("label_delay", 0)
    ax.set_xlabel(f"{period} of {result['year']} (labels {delay} {period}(s) late)")
    ax.set_ylabel(f"champion {metric.axis} on the {period}")
    ax.set_xticks(periods)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=9)
    ax.set_title(f"Label-free estimate vs realised ({name} policy's champion)")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
    return True


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="retrain replay", description=__doc__.splitlines()[0])
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--out", type=Path, default=Path("build/replay"))
    parser.add_argument("--features", type=Path, help="features parquet covering the year")
    parser.add_argument("--data", type=Path, default=Path("data"), help="raw tables (Feast)")
    parser.add_argument("--feast-dir", type=Path, help="Feast work dir (default: extract params)")
    parser.add_argument(
        "--keep-registry", type=Path, help="keep the replay's registry in this directory"
    )
    return parser


def load_year(args: argparse.Namespace, params: Params) -> pd.DataFrame:
    """The replay year's features: --features, else through the feature store."""
    from retrain.config.extract import Window
    from retrain.monitor.command import extract_features, read_features, span_of_window

    if args.features:
        return read_features(args.features, params.base.event_time or "event_time")
    year = params.replay.year
    whole = Window(
        start=dt.datetime(year, 1, 1),
        end=dt.datetime(year + 1, 1, 1),
        timezone=params.replay.timezone,
    )
    return extract_features(params, args.data, args.feast_dir, [span_of_window(whole)])


def write_outputs(out: Path, result: dict[str, Any], metric: ServedMetric) -> None:
    from retrain import fileio

    out.mkdir(parents=True, exist_ok=True)
    plot(result, out / "replay.png", metric)
    plot_estimates(result, out / "estimate.png", metric)
    fileio.write_text(out / "replay.md", markdown(result, metric))
    fileio.write_text(out / "replay.json", json.dumps(result, indent=2, default=str) + "\n")


def cli(argv: list[str]) -> int:
    from retrain import logs
    from retrain.config import load_params

    args = _parser().parse_args(argv)
    logs.setup()
    params = load_params(args.params)
    started = time.monotonic()
    frame = load_year(args, params)
    with tempfile.TemporaryDirectory(prefix="retrain-replay-") as tmp:
        root = args.keep_registry or Path(tmp)
        root.mkdir(parents=True, exist_ok=True)
        uri = f"sqlite:///{(root / 'replay.db').resolve()}"
        replay = Replay(params, frame, Path(tmp), uri)
        result = replay.run()
    result["total_s"] = round(time.monotonic() - started, 1)
    metric = replay.metric
    write_outputs(args.out, result, metric)
    summary = ", ".join(
        f"{name} mean {metric.label} {_value(p[f'mean_{metric.key}'])} ({p['retrains']} retrains)"
        for name, p in result["policies"].items()
    )
    log.info("replay %d: %s in %.0f s -> %s", result["year"], summary, result["total_s"], args.out)
    return 0
