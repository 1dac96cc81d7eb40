"""The monitor's result for people: ONE renderer of a `DriftResult` as markdown (the monitor's
summary.md, and the drift section of the run report) and as a bar chart (drift.png)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

    from retrain.artifacts import DriftResult, FeatureDriftEntry


def _fmt(value: float | int | None) -> str:
    if value is None:
        return "n/a"
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _ratio(feature: FeatureDriftEntry) -> float:
    """Score over threshold: 1.0 is the drift line (an undefined score counts as 0)."""
    return (feature.score or 0.0) / feature.threshold


def _overview(result: DriftResult) -> list[str]:
    verdict = "**retrain**" if result.action == "retrain" else "no action"
    ref, cur = result.reference, result.current
    return [
        f"Decision: {verdict} ({result.reason}).",
        "",
        f"Reference {ref.window} ({ref.n_rows:,} rows) vs "
        f"current {cur.window} ({cur.n_rows:,} rows): "
        f"{result.n_drifted} of {result.n_features} features drifted "
        f"(share {result.drift_share:.2f}, trigger at {result.trigger.drift_share:.2f}).",
        "",
        *_persistence_lines(result),
    ]


def _persistence_lines(result: DriftResult) -> list[str]:
    """The windows this run checked for persistence (no state is kept between runs)."""
    windows = result.trigger.windows
    if len(windows) < 2:
        return []
    marks = ", ".join(f"{w.window} {'signal' if w.signal else 'no signal'}" for w in windows)
    return [
        f"Persistence: {result.trigger.consecutive} of {result.trigger.persistence} windows "
        f"in a row ({marks}).",
        "",
    ]


def _champion_lines(result: DriftResult) -> list[str]:
    """Prediction drift and performance decay: only with a champion."""
    lines = []
    if p := result.prediction:
        lines.append(
            f"Prediction drift ({p.statistic}): {_fmt(p.score)} vs threshold "
            f"{_fmt(p.threshold)}{' — drifted' if p.drifted else ''}."
        )
    if perf := result.performance:
        lines.append(
            f"Performance: {perf.metric} {perf.current:.4f} on {perf.n_labelled:,} labelled "
            f"rows vs {perf.registered:.4f} registered (decay {perf.decay:+.4f}, trigger at "
            f"{result.trigger.decay})."
        )
    return lines


def _feature_table(result: DriftResult) -> list[str]:
    lines = [
        "| feature | kind | statistic | score | threshold | drifted | missing ref → cur |",
        "|---|---|---|---:|---:|:-:|---:|",
    ]
    for f in sorted(result.features, key=lambda f: -_ratio(f)):
        lines.append(
            f"| {f.feature} | {f.kind} | {f.statistic} | {_fmt(f.score)} | "
            f"{_fmt(f.threshold)} | {'yes' if f.drifted else ''} | "
            f"{f.missing_reference:.1%} → {f.missing_current:.1%} |"
        )
    return lines


def drift_markdown(result: DriftResult, level: int = 2) -> str:
    """The decision, the windows, the champion's signals and the per-feature table, under a
    heading of `level` (2: the monitor's summary.md; 3: a section of a larger report)."""
    heading = "#" * level
    lines = [
        f"{heading} Monitor: {result.model} (champion v{result.champion_version or '-'})",
        "",
        *_overview(result),
        *_champion_lines(result),
        "",
        *_feature_table(result),
    ]
    return "\n".join(lines) + "\n"


def drift_plot(result: DriftResult, path: Path) -> None:
    """Bar per feature: score / threshold (1.0 = the drift line), drifted ones in red."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from retrain.fileio import atomic_path

    rows = sorted(result.features, key=_ratio)
    ratios = [_ratio(f) for f in rows]
    colours = ["#c0392b" if f.drifted else "#7f8c8d" for f in rows]
    fig, ax = plt.subplots(figsize=(7, 0.28 * len(rows) + 1.4))
    ax.barh([f"{f.feature} ({f.statistic})" for f in rows], ratios, color=colours)
    ax.axvline(1.0, color="black", linestyle="--", linewidth=1)
    # Log scale: a PSI of 8 (temperature across seasons) must not flatten the rest.
    ax.set_xscale("log")
    ax.set_xlim(left=max(min([r for r in ratios if r > 0] or [0.01]) / 2, 1e-3))
    ax.set_xlabel("score / threshold (log scale; drift at >= 1)")
    ax.set_title(
        f"{result.model}: {result.n_drifted}/{result.n_features} features drifted, "
        f"action: {result.action}",
        fontsize=10,
    )
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
