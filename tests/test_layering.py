"""The layout's arrows (docs/architecture.md): the library packages below the pipelines load
without Kedro, the pipelines never import the hooks, and the package root holds only the Kedro
entry points and packages.

The imports run in a fresh interpreter: this test process has imported Kedro already.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import cxr_synth

# Below the pipelines: pure torch/numpy/MLflow libraries, usable without a Kedro project.
LIBRARIES = ("runtime", "data", "models", "training", "metrics", "segmentation", "sharing",
             "phantoms", "study")  # fmt: skip
ENTRY_POINTS = {"__init__", "__main__", "settings", "pipeline_registry", "hooks", "cli"}
# Imported by the models-from-code file of MLflow models logged before cxr_synth.sharing existed.
PERSISTED_PATHS = {"pyfunc"}

IMPORT_ALL = """
import importlib, pkgutil, sys

class NoKedro:
    def find_spec(self, name, path=None, target=None):
        if name == "kedro" or name.startswith("kedro.") or name.startswith("kedro_"):
            raise ImportError(f"{{name}} imported by a library package")

sys.meta_path.insert(0, NoKedro())
for package in {packages!r}:
    root = importlib.import_module(package)
    for info in pkgutil.walk_packages(root.__path__, package + "."):
        importlib.import_module(info.name)
print(sorted(m for m in sys.modules if m.split(".")[0] in ("kedro", "kedro_mlflow")))
print("cxr_synth.hooks" in sys.modules)
"""


def run_imports(packages: list[str], *, block_kedro: bool = True) -> list[str]:
    """The two printed lines of ``IMPORT_ALL`` for ``packages`` and all their submodules."""
    code = IMPORT_ALL if block_kedro else IMPORT_ALL.replace("sys.meta_path.insert(0, NoKedro())", "")
    done = subprocess.run(
        [sys.executable, "-c", code.format(packages=packages)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.strip().splitlines()[-2:]


def test_the_library_packages_and_all_their_modules_load_without_kedro():
    loaded, hooks = run_imports([f"cxr_synth.{name}" for name in LIBRARIES])
    assert loaded == "[]" and hooks == "False"


def test_no_pipeline_module_imports_the_hooks():
    _, hooks = run_imports(["cxr_synth.pipelines"], block_kedro=False)
    assert hooks == "False"


def test_the_package_root_holds_only_the_entry_points_and_packages():
    root = Path(cxr_synth.__file__).parent
    modules = {p.stem for p in root.glob("*.py")}
    assert modules == ENTRY_POINTS | PERSISTED_PATHS
    packages = {p.name for p in root.iterdir() if (p / "__init__.py").is_file()}
    assert {*LIBRARIES, "pipelines", "datasets"} == packages
