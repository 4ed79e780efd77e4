"""What produced a run: code version, packages, machine — recorded as MLflow tags.

Every MLflow run of the project (the parent per ``kedro run`` and each child) carries these
``cxr_synth.*`` tags, so a number can always be traced to the commit and packages that made it.
The resolved configuration is the parent run's parameters (kedro-mlflow logs them). The tags
that need torch (``torch_record``) are taken once the run has imported torch, so that a run
that never uses it does not pay seconds to import it.
"""

from __future__ import annotations

import importlib.metadata
import platform
import subprocess
import sys
from pathlib import Path

PACKAGES = ("cxr-synth", "torch", "torchvision", "torchmetrics", "kedro", "kedro-datasets",
            "kedro-mlflow", "mlflow", "numpy", "pandas", "pillow", "scipy")  # fmt: skip
TAG_PREFIX = "cxr_synth."


def _git(project: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", "-C", str(project), *args], capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def run_record(project: str | Path) -> dict[str, str]:
    """Tags naming the git commit (and whether the tree had uncommitted changes), package
    versions, Python and platform. Imports no torch (``torch_record``)."""
    project = Path(project)
    commit = _git(project, "rev-parse", "HEAD")
    status = _git(project, "status", "--porcelain", "--untracked-files=no")
    tags = {
        "git_commit": commit or "unknown (not a git checkout)",
        "git_dirty": "unknown" if status is None else str(bool(status)).lower(),
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
    }
    for package in PACKAGES:
        try:
            tags[f"version.{package}"] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            continue
    return {TAG_PREFIX + key: value for key, value in tags.items()}


def torch_record() -> dict[str, str]:
    """Tags of the accelerator torch sees and its CPU thread count; empty while torch is not
    imported (nothing of the run used it, so they say nothing about its numbers)."""
    torch = sys.modules.get("torch")
    if torch is None:
        return {}
    tags = {
        "accelerator": _accelerator(torch),
        # CPU results are bit-identical only at equal intra-op thread counts (reduction order).
        "torch_threads": str(torch.get_num_threads()),
    }
    return {TAG_PREFIX + key: value for key, value in tags.items()}


def _accelerator(torch) -> str:
    if torch.cuda.is_available():
        names = {torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())}
        return f"cuda x{torch.cuda.device_count()}: {', '.join(sorted(names))}"
    if torch.backends.mps.is_available():
        return "mps"
    return "cpu"
