"""`evaluate` section of params.yaml."""

from __future__ import annotations

from retrain.config.base import Section


class EvaluateSection(Section):
    pass
