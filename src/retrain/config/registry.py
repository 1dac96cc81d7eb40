"""`registry` section of params.yaml.

Where the registry lives is not a param: it is `MLFLOW_TRACKING_URI` (else the local sqlite
file), see retrain.tracking. HTTP timeouts: MLFLOW_HTTP_REQUEST_TIMEOUT / _MAX_RETRIES.
"""

from __future__ import annotations

from pydantic import Field

from retrain.config.base import Section


class RegistrySection(Section):
    # Experiment holding the runs that carry registered model artifacts.
    experiment: str = Field("registry", min_length=1, max_length=200)
