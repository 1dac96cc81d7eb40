"""base.task multiclass: the class list is required, distinct and for multiclass only; the
gate's metrics must be multiclass ones."""

from __future__ import annotations

import pytest

from retrain.config import parse_params
from retrain.errors import UserError

MULTICLASS = {"task": "multiclass", "positive_above": None, "classes": ["a", "b", "c"]}


def test_a_multiclass_base_with_its_classes_loads() -> None:
    params = parse_params({"base": MULTICLASS, "gate": {"values": {"roc_auc_ovr": {"min": 0.6}}}})
    assert params.base.classes == ("a", "b", "c")
    assert params.train.metric.multiclass == "roc_auc_ovr"


@pytest.mark.parametrize(
    ("base", "message"),
    [
        ({**MULTICLASS, "classes": None}, "task multiclass needs `classes`"),
        ({**MULTICLASS, "classes": ["a", "b"]}, "at least three classes"),
        ({**MULTICLASS, "classes": ["a", "b", "a"]}, "must not repeat"),
        ({**MULTICLASS, "classes": [1, "1", 2]}, "must not repeat"),
        ({**MULTICLASS, "classes": ["x", True, False]}, "booleans, quote them"),
        ({**MULTICLASS, "positive_above": 15.0}, "positive_above is for task classification"),
        ({"classes": ["a", "b", "c"]}, "classes is for task multiclass"),
    ],
)
def test_bad_multiclass_bases_are_refused(base: dict, message: str) -> None:
    with pytest.raises(UserError, match=message):
        parse_params({"base": base})


def test_binary_metrics_in_the_gate_of_a_multiclass_model_are_refused() -> None:
    with pytest.raises(UserError, match="not defined for base.task 'multiclass'"):
        parse_params({"base": MULTICLASS, "gate": {"values": {"roc_auc": {"min": 0.6}}}})
