"""The budget is the budget: plan the search so the refit fits in `train.budget.seconds` too.

Pure arithmetic on measured fit times, no clock and no fitting, so it is tested with given
numbers. Every trial records the seconds its fold fits took and how many rows they fitted
(`FitCost`); a refit of that configuration on `n` rows is estimated by scaling linearly in the
rows (what gradient boosting, forests and linear models do, measured on the bundled data:
bench/README.md "Budget"). Two decisions use it:

- `search_deadline`: the search stops early enough to leave the estimated refit of the likely
  model (the top `max_members` complete trials: the ensemble selection picks among them) plus
  a safety factor inside the stage deadline;
- `plan_refit`: after the search, the ensemble members whose refit still fits are kept, in the
  order they joined (a greedy prefix is itself the greedy ensemble of that size); when not even
  the best trial's whole-window refit fits, it is refit on the most recent rows that do.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

# Why the refit is what it is: everything fits; ensemble members dropped; fewer (most recent)
# rows than the train window; `over_budget`: the best trial alone on the fewest rows allowed
# (`min_rows`, the CV's train rows) is still estimated to overrun (a budget below one refit).
RefitReason = Literal["fits", "fewer_members", "fewer_rows", "over_budget"]

# Estimates are multiplied by this before they are compared with the time left: fits on a
# busy shared machine vary, and writing the model and the MLflow run come after the refit.
SAFETY = 1.2


@dataclass(frozen=True)
class FitCost:
    """What one trial's fold fits cost: seconds in total over `rows` fitted rows in total."""

    seconds: float
    rows: int

    def seconds_for(self, rows: int) -> float:
        """Estimated fit seconds on `rows` rows (linear in the rows)."""
        if self.rows <= 0:
            return 0.0
        return self.seconds * rows / self.rows


@dataclass(frozen=True)
class RefitPlan:
    members: tuple[int, ...]  # trial numbers to refit (one: a single model)
    rows: int  # the most recent rows to refit on (the whole window unless `fewer_rows`)
    estimate_s: float  # estimated refit seconds (without the safety factor)
    dropped: tuple[int, ...]  # ensemble members left out to fit the budget
    reason: RefitReason


def refit_estimate(members: Sequence[int], costs: Mapping[int, FitCost], rows: int) -> float:
    """Estimated seconds to refit `members` one after the other on `rows` rows."""
    return sum(costs[m].seconds_for(rows) for m in members)


def likely_members(ranked: Sequence[int], max_members: int) -> list[int]:
    """The trials the refit may have to fit: the top `max_members` (best first)."""
    return list(ranked[: max(max_members, 1)])


def search_deadline(
    stage_deadline: float,
    ranked: Sequence[int],
    costs: Mapping[int, FitCost],
    *,
    n_rows: int,
    max_members: int,
    safety: float,
) -> float:
    """When the search must stop so the refit of the likely model ends by `stage_deadline`.

    `ranked`: complete trials best first. Without any, the whole budget is the search's (the
    first trial always completes, so there is something to refit).
    """
    likely = likely_members(ranked, max_members) if ranked else []
    return stage_deadline - safety * refit_estimate(likely, costs, n_rows)


def plan_refit(
    members: Sequence[int],
    costs: Mapping[int, FitCost],
    *,
    n_rows: int,
    available_s: float,
    safety: float,
    min_rows: int,
) -> RefitPlan:
    """The largest greedy prefix of `members` whose whole-window refit fits `available_s`.

    `members` is the ensemble in the order its members joined (the best trial first), or the
    single best trial. When even the best trial alone does not fit, it is refit on the most
    recent rows that do, never fewer than `min_rows` (nor more than `n_rows`).
    """
    if not members:
        raise ValueError("a refit needs at least one trial")
    for size in range(len(members), 0, -1):
        kept = tuple(members[:size])
        estimate = refit_estimate(kept, costs, n_rows)
        if safety * estimate <= available_s:
            return RefitPlan(
                members=kept,
                rows=n_rows,
                estimate_s=estimate,
                dropped=tuple(members[size:]),
                reason="fits" if size == len(members) else "fewer_members",
            )
    best = members[0]
    per_row = costs[best].seconds_for(1)
    affordable = math.floor(max(available_s, 0.0) / (safety * per_row)) if per_row > 0 else n_rows
    floor = min(n_rows, min_rows)
    rows = min(n_rows, max(floor, affordable))
    estimate = costs[best].seconds_for(rows)
    return RefitPlan(
        members=(best,),
        rows=rows,
        estimate_s=estimate,
        dropped=tuple(members[1:]),
        reason="fewer_rows" if safety * estimate <= available_s else "over_budget",
    )
