"""Fixtures of the workflow tests."""

from __future__ import annotations

from typing import Any

import pytest

from workflows.helpers import NAMES, load_workflow


@pytest.fixture(scope="session")
def workflows() -> dict[str, dict[str, Any]]:
    return {name: load_workflow(name) for name in NAMES}
