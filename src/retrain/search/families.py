"""Model families, one registered entry per family: a searched configuration -> a whole Pipeline.

Each family declares, in one place (shaped like the drift statistics of `retrain.monitor.stats`):

- its name (what params.yaml `train.families.<name>` and `replay.families` refer to; the
  config's `FamilyName` literal is kept equal to `family_names()` by a test),
- the tasks it supports and its estimator class for each (dotted paths, imported on use),
- how it builds its estimator from the merged `fixed` + searched params (the decorated function),
- its own parameters and defaults when they are not its estimator's (`own_params`), which the
  search space is checked against and the first, enqueued trial starts from,
- the preprocessing its estimator needs (`Preprocessing` flags, `retrain.search.preprocess`),
- **the skops types its fitted estimator holds**: `retrain.model_io` trusts exactly the union of
  the registered families' types plus the fixed preprocessing and ensemble ones, so a new family
  cannot produce a model that is refused at load time,
- the packages beyond scikit-learn its fitted model imports (`requirements`: distribution names
  that are also the top-level module of its types), which `retrain export` pins in the served
  model's requirements when the model holds one of those types; a family whose package is not
  installed fails with a UserError naming the fix, not an ImportError.

Adding a family is one `@register` entry below plus its space in params.yaml.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from retrain.config.train import FamilySpec, ParamSpec
from retrain.errors import UserError
from retrain.search.preprocess import FeatureColumns, Preprocessing, build_preprocess


@dataclass(frozen=True, slots=True)
class BuildContext:
    """What an estimator builder may use besides the params."""

    task: str
    seed: int
    n_jobs: int
    columns: FeatureColumns


# (estimator class for the task, merged params, context) -> an unfitted estimator
EstimatorBuilder = Callable[[type, dict[str, Any], BuildContext], Any]


@dataclass(frozen=True, slots=True)
class Family:
    name: str
    estimators: Mapping[str, str]  # task -> dotted path of the estimator class
    build: EstimatorBuilder
    skops_types: frozenset[str] = frozenset()
    preprocessing: Preprocessing = field(default_factory=Preprocessing)
    own_params: Mapping[str, Any] | None = None  # None: the estimator's own get_params()
    requirements: tuple[str, ...] = ()  # packages beyond the base ones (exporting.REQUIREMENTS)

    @property
    def tasks(self) -> frozenset[str]:
        return frozenset(self.estimators)

    def estimator_class(self, task: str) -> type:
        if task not in self.estimators:
            raise UserError(
                f"model family {self.name!r} does not support the {task} task",
                f"families for {task}: {', '.join(family_names(task))}",
            )
        module, _, name = self.estimators[task].rpartition(".")
        try:
            return getattr(importlib.import_module(module), name)
        except ModuleNotFoundError as exc:
            raise UserError(
                f"model family {self.name!r} needs the {exc.name} package, which is not installed",
                f"install it (`uv sync --all-groups`, or `uv pip install {exc.name}`), or set "
                f"train.families.{self.name}.enabled: false",
            ) from None

    def param_defaults(self, task: str) -> dict[str, Any]:
        if self.own_params is not None:
            return dict(self.own_params)
        return dict(self.estimator_class(task)().get_params())

    def check_space(self, spec: FamilySpec, task: str) -> None:
        """Reject a space naming a parameter the estimator does not have (before training)."""
        known = set(self.param_defaults(task))
        unknown = sorted((set(spec.space) | set(spec.fixed)) - known)
        if unknown:
            raise UserError(
                f"train.families.{self.name} names unknown parameter(s): {', '.join(unknown)}",
                f"use parameters of the {self.name} estimator: {', '.join(sorted(known))}",
            )

    def default_params(self, spec: FamilySpec, task: str) -> dict[str, Any]:
        """The estimator's own defaults where the space allows them, else the range's middle.

        Enqueued as each family's first trial, so a sane baseline is always measured.
        """
        defaults = self.param_defaults(task)
        chosen: dict[str, Any] = {}
        for param, dim in spec.space.items():
            value = defaults.get(param)
            chosen[param] = value if _inside(dim, value) else _middle(dim)
        return chosen

    def estimator(
        self, params: dict[str, Any], *, task: str, seed: int, n_jobs: int, columns: FeatureColumns
    ) -> Any:
        context = BuildContext(task=task, seed=seed, n_jobs=n_jobs, columns=columns)
        return self.build(self.estimator_class(task), dict(params), context)


FAMILIES: dict[str, Family] = {}


def register(
    name: str,
    *,
    estimators: Mapping[str, str],
    skops_types: set[str] | frozenset[str] = frozenset(),
    preprocessing: Preprocessing | None = None,
    own_params: Mapping[str, Any] | None = None,
    requirements: tuple[str, ...] = (),
) -> Callable[[EstimatorBuilder], EstimatorBuilder]:
    def wrap(build: EstimatorBuilder) -> EstimatorBuilder:
        FAMILIES[name] = Family(
            name=name,
            estimators=dict(estimators),
            build=build,
            skops_types=frozenset(skops_types),
            preprocessing=preprocessing or Preprocessing(),
            own_params=None if own_params is None else dict(own_params),
            requirements=tuple(requirements),
        )
        return build

    return wrap


def family_names(task: str | None = None) -> tuple[str, ...]:
    """Registered family names (in registration order), optionally only those for `task`."""
    return tuple(n for n, f in FAMILIES.items() if task is None or task in f.tasks)


def get_family(name: str) -> Family:
    try:
        return FAMILIES[name]
    except KeyError:
        raise UserError(
            f"unknown model family {name!r}", f"use one of: {', '.join(family_names())}"
        ) from None


def skops_types() -> frozenset[str]:
    """The types the registered families' fitted estimators hold (for the skops allow-list)."""
    return frozenset().union(*(f.skops_types for f in FAMILIES.values()))


def requirements_for(types: Iterable[str]) -> tuple[str, ...]:
    """The families' extra packages a model holding these (skops) types imports when loaded."""
    roots = {t.split(".", 1)[0] for t in types}
    return tuple(sorted({r for f in FAMILIES.values() for r in f.requirements if r in roots}))


def build_pipeline(
    family: str,
    params: dict[str, Any],
    *,
    task: str,
    columns: FeatureColumns,
    seed: int,
    timezone: str,
    n_jobs: int = 1,
) -> Any:
    """An unfitted Pipeline(preprocess -> estimator) for one configuration."""
    from sklearn.pipeline import Pipeline

    entry = get_family(family)
    preprocess = build_preprocess(columns, entry.preprocessing, seed=seed, timezone=timezone)
    estimator = entry.estimator(params, task=task, seed=seed, n_jobs=n_jobs, columns=columns)
    return Pipeline([("preprocess", preprocess), ("model", estimator)])


def refit_params(params: dict[str, Any], n_iter: list[int]) -> dict[str, Any]:
    """The params to refit a trial with: an early-stopped booster (`early_stopping` on and its
    folds' `n_iter_` measured) refits with early stopping off and `max_iter` = the folds' mean
    iteration count: the model size CV scored, on all rows (no validation split held out), at
    a cost that grows linearly with the rows, so `retrain.search.budget` can plan it."""
    if not n_iter or params.get("early_stopping") not in (True, "auto"):
        return params
    return {**params, "early_stopping": False, "max_iter": max(1, round(sum(n_iter) / len(n_iter)))}


def _inside(dim: ParamSpec, value: Any) -> bool:
    if dim.type == "categorical":
        return value in (dim.choices or [])
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    if dim.type == "int" and value != int(value):
        return False
    return dim.low <= value <= dim.high  # type: ignore[operator]


def _middle(dim: ParamSpec) -> Any:
    if dim.type == "categorical":
        return (dim.choices or [None])[0]
    low, high = float(dim.low), float(dim.high)  # type: ignore[arg-type]
    mid = math.sqrt(low * high) if dim.log else (low + high) / 2
    return round(mid) if dim.type == "int" else mid


# --- families ---------------------------------------------------------------------------------


def _categorical_positions(columns: FeatureColumns) -> list[int]:
    """Where the ordinal codes of the few-level categoricals sit: right after the numeric block
    (`build_preprocess`'s column order)."""
    n_num = len(columns.numeric)
    return list(range(n_num, n_num + len(columns.categorical)))


# The linear family exposes one regularization strength for both tasks:
# LogisticRegression(C=1/alpha) for classification, Ridge(alpha) for regression.
LINEAR_PARAMS = {"alpha": 1.0, "max_iter": 1000, "tol": 1e-4}


@register(
    "linear",
    estimators={
        "classification": "sklearn.linear_model.LogisticRegression",
        "multiclass": "sklearn.linear_model.LogisticRegression",
        "regression": "sklearn.linear_model.Ridge",
    },
    preprocessing=Preprocessing(scaled=True),
    own_params=LINEAR_PARAMS,
)
def linear(estimator: type, params: dict[str, Any], ctx: BuildContext) -> Any:
    settings = {**LINEAR_PARAMS, **params}
    alpha = float(settings.pop("alpha"))
    if ctx.task != "regression":
        return estimator(C=1.0 / alpha, random_state=ctx.seed, **settings)
    return estimator(alpha=alpha, random_state=ctx.seed, **settings)


@register(
    "random_forest",
    estimators={
        "classification": "sklearn.ensemble.RandomForestClassifier",
        "multiclass": "sklearn.ensemble.RandomForestClassifier",
        "regression": "sklearn.ensemble.RandomForestRegressor",
    },
    skops_types={"sklearn.tree._tree.Tree"},
)
def random_forest(estimator: type, params: dict[str, Any], ctx: BuildContext) -> Any:
    params.setdefault("n_jobs", ctx.n_jobs)
    return estimator(random_state=ctx.seed, **params)


@register(
    "extra_trees",
    estimators={
        "classification": "sklearn.ensemble.ExtraTreesClassifier",
        "multiclass": "sklearn.ensemble.ExtraTreesClassifier",
        "regression": "sklearn.ensemble.ExtraTreesRegressor",
    },
    skops_types={"sklearn.tree._tree.Tree"},
)
def extra_trees(estimator: type, params: dict[str, Any], ctx: BuildContext) -> Any:
    params.setdefault("n_jobs", ctx.n_jobs)
    return estimator(random_state=ctx.seed, **params)


@register(
    "hist_gradient_boosting",
    estimators={
        "classification": "sklearn.ensemble.HistGradientBoostingClassifier",
        "multiclass": "sklearn.ensemble.HistGradientBoostingClassifier",
        "regression": "sklearn.ensemble.HistGradientBoostingRegressor",
    },
    skops_types={
        "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
        # With categorical_features HGB keeps an internal ColumnTransformer whose passthrough is
        # partial(check_array). skops only rebuilds a partial around a function that is itself
        # allow-listed, so this admits exactly sklearn's input validator, nothing arbitrary.
        "functools.partial",
        "sklearn.utils.validation.check_array",
    },
    preprocessing=Preprocessing(native_missing=True),
)
def hist_gradient_boosting(estimator: type, params: dict[str, Any], ctx: BuildContext) -> Any:
    if ctx.columns.categorical:
        params["categorical_features"] = _categorical_positions(ctx.columns)
    return estimator(random_state=ctx.seed, **params)


@register(
    "lightgbm",
    estimators={
        "classification": "lightgbm.LGBMClassifier",
        "multiclass": "lightgbm.LGBMClassifier",
        "regression": "lightgbm.LGBMRegressor",
    },
    skops_types={
        "lightgbm.sklearn.LGBMClassifier",
        "lightgbm.sklearn.LGBMRegressor",
        "lightgbm.basic.Booster",
        # best_score is a defaultdict(OrderedDict): skops records its factory type
        "collections.OrderedDict",
    },
    preprocessing=Preprocessing(native_missing=True),
    requirements=("lightgbm",),
)
def lightgbm(estimator: type, params: dict[str, Any], ctx: BuildContext) -> Any:
    params.setdefault("n_jobs", ctx.n_jobs)
    if ctx.columns.categorical:
        # Native categorical splits on the ordinal codes (NaN: missing). `categorical_column` is
        # the documented alias of `categorical_feature`, which as a constructor parameter works
        # too but warns on every fit that it "will be ignored" (it is not ignored).
        params["categorical_column"] = _categorical_positions(ctx.columns)
    # deterministic + a fixed histogram layout: the same seed gives the same trees (and no
    # timing test to pick row- or column-wise on every fit); verbose=-1: no per-fit log lines.
    return estimator(
        random_state=ctx.seed, deterministic=True, force_row_wise=True, verbose=-1, **params
    )
