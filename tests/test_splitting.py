"""Multiclass labels: each class's position in base.classes; values it does not list fail."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from retrain.config import parse_params
from retrain.errors import UserError
from retrain.splitting import derive_label, hash_unit, split


def base(classes: list) -> object:
    return parse_params(
        {
            "base": {
                "task": "multiclass",
                "positive_above": None,
                "classes": classes,
                "target": "kind",
                "key": "id",
                "event_time": None,
            }
        }
    ).base


def test_labels_follow_the_order_of_base_classes() -> None:
    frame = pd.DataFrame({"id": [1, 2, 3, 4], "kind": ["c", "a", None, "b"]})
    labelled, dropped = derive_label(frame, base(["c", "b", "a"]))
    assert labelled["label"].tolist() == [0, 2, 1] and dropped == 1
    assert labelled["label"].dtype == "int64"


def test_numeric_classes_match_their_text_and_float_forms() -> None:
    # a CSV column with a gap reads 0, 1, 2 as floats; params may list them as numbers or text
    frame = pd.DataFrame({"id": [1, 2, 3, 4], "kind": [2.0, 0.0, np.nan, 1.0]})
    labelled, _ = derive_label(frame, base([0, 1, "2"]))
    assert labelled["label"].tolist() == [2, 0, 1]


def test_a_value_missing_from_base_classes_names_the_key() -> None:
    frame = pd.DataFrame({"id": [1, 2, 3], "kind": ["a", "b", "d"]})
    with pytest.raises(UserError, match=r"\['d'\] that base.classes") as info:
        derive_label(frame, base(["a", "b", "c"]))
    assert "base.classes" in info.value.hint


def test_a_class_without_training_rows_is_refused_by_the_split() -> None:
    # given a table where class c's only row hashes to the test side
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"id": np.arange(300), "kind": rng.choice(["a", "b"], 300)})
    params = parse_params(
        {"base": base(["a", "b", "c"]).model_dump(), "prepare": {"test_size": 0.2}}
    )
    u = hash_unit(frame["id"])
    frame.loc[int(np.flatnonzero(u < 0.2)[0]), "kind"] = "c"
    # when it is split, then the missing class is named
    with pytest.raises(UserError, match=r"train side holds no row of class\(es\) \['c'\]"):
        split(frame, params.base, params.prepare)
    # and with c's row on the train side the split is accepted
    frame["kind"] = frame["kind"].replace("c", "a")
    frame.loc[int(np.flatnonzero(u >= 0.2)[0]), "kind"] = "c"
    parts = split(frame, params.base, params.prepare)
    assert set(parts.train["label"]) == {0, 1, 2}
