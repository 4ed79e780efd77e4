"""Shared fixtures. Telemetry is off for every test; real samples come from ../shared/data."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

os.environ["DO_NOT_TRACK"] = "true"
os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = PROJECT_ROOT.parent / "shared" / "data"


def shared_data(*parts: str) -> Path:
    """A path under ../shared/data, or skip the test when that sample is not on this machine."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real sample data not available: {path} (see ../shared/data/README.md)")
    return path


@pytest.fixture
def project_copy(tmp_path, monkeypatch) -> Path:
    """A throw-away copy of the project's conf/ and pyproject.toml, as the working directory.

    End-to-end runs write data/, mlflow.db and mlruns/ there, never into the real project.
    """
    shutil.copytree(
        PROJECT_ROOT / "conf", tmp_path / "conf", ignore=shutil.ignore_patterns("local")
    )
    (tmp_path / "conf" / "local").mkdir()
    shutil.copy(PROJECT_ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    monkeypatch.chdir(tmp_path)
    return tmp_path
