"""The environment a test gives `retrain`/`dvc`/`git` subprocesses of a throw-away project."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path


def tool_env(base: Mapping[str, str]) -> dict[str, str]:
    """`base` plus: the venv's `retrain` and `dvc` first on PATH (whatever the caller's PATH),
    no DVC analytics, and a git identity for the commits the test makes."""
    return {
        **base,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "DVC_NO_ANALYTICS": "1",
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com",
    }
