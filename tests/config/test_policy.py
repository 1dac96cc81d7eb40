from __future__ import annotations

import pytest

from retrain.config import parse_params
from retrain.errors import UserError


def test_cross_fit_folds_is_on_by_default_and_off_or_at_least_two() -> None:
    # given no setting: the estimate's interval is cross-fitted on five reference blocks
    assert parse_params({}).policy.estimated.cross_fit_folds == 5
    # 0 turns it off (the label-sampling interval alone)
    off = parse_params({"policy": {"estimated": {"cross_fit_folds": 0}}})
    assert off.policy.estimated.cross_fit_folds == 0
    # one block leaves nothing to calibrate on: refused with the rule
    with pytest.raises(UserError, match="0 \\(off\\) or at least 2"):
        parse_params({"policy": {"estimated": {"cross_fit_folds": 1}}})
