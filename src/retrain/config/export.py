"""`export` section of params.yaml."""

from __future__ import annotations

from pydantic import Field

from retrain.config.base import Section


class ExportSection(Section):
    # Rows of the test window stored as the MLflow input example (and used for the parity check).
    input_example_rows: int = Field(5, ge=1, le=1000)
    # Rows scored twice (in memory and after reloading the exported model) to prove parity.
    parity_rows: int = Field(200, ge=1, le=100_000)
