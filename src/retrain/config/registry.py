"""`registry` section of params.yaml."""

from __future__ import annotations

from retrain.config.base import Section


class RegistrySection(Section):
    pass
