"""GitOps continuous retraining: a DVC pipeline from feature store to model registry."""

__version__ = "0.1.0"
