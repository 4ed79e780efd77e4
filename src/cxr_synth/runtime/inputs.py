"""Before a run: every input file that no node of the run makes is on disk, so a run of a later
stage without the earlier one stops at once, naming the stage to run first, instead of with a
``DatasetError`` when its node starts (after the stages before it may have run for hours).

Only datasets with a local file or folder are checked. Left to their nodes: raw data (catalog
layer ``raw``: the demo makes it when missing, else its dataset's own error names the path and
the fix), optional datasets (``OptionalDataset``: their node handles the absence), in-memory,
MLflow-only and remote ones.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from cxr_synth.runtime.errors import UserError
from cxr_synth.runtime.privacy import relative_to_project
from cxr_synth.runtime.writable import local_path

if TYPE_CHECKING:  # the library imports no Kedro (tests/test_layering.py)
    from kedro.io import CatalogProtocol
    from kedro.pipeline import Pipeline


def _raw(dataset: Any) -> bool:
    return ((getattr(dataset, "metadata", None) or {}).get("kedro-viz") or {}).get("layer") == "raw"


def missing_inputs(pipeline: Pipeline, catalog: CatalogProtocol) -> dict[str, Any]:
    """``{name: local path}`` of the pipeline's free inputs that are checked and not on disk."""
    from cxr_synth.datasets.optional import OptionalDataset  # Kedro's, imported when called

    missing = {}
    for name in sorted(pipeline.inputs()):
        if name == "parameters" or name.startswith("params:"):
            continue
        dataset = catalog.get(name)
        path = local_path(dataset)
        if path is None or isinstance(dataset, OptionalDataset) or _raw(dataset) or path.exists():
            continue
        missing[name] = path
    return missing


def _maker(name: str, pipelines: Mapping[str, Pipeline]) -> str | None:
    """The smallest registered pipeline (not ``__default__``) that writes ``name``."""
    makers = sorted((len(p.nodes), key) for key, p in pipelines.items()
                    if not key.startswith("__") and name in p.all_outputs())  # fmt: skip
    return makers[0][1] if makers else None


def check_inputs(
    pipeline: Pipeline,
    catalog: CatalogProtocol,
    pipelines: Mapping[str, Pipeline],
    project: str | os.PathLike,
) -> None:
    """Raise a one-line :class:`UserError` if an input no node of the run makes is missing
    (paths shown relative to ``project``; the fix names the registered ``pipelines`` that make
    the missing inputs)."""
    missing = missing_inputs(pipeline, catalog)
    if not missing:
        return
    listed = ", ".join(f"{n} ({relative_to_project(str(p), project)})"
                       for n, p in list(missing.items())[:3])  # fmt: skip
    more = f" and {len(missing) - 3} more" if len(missing) > 3 else ""
    makers = sorted({m for m in (_maker(n, pipelines) for n in missing) if m})
    fix = (f"run `kedro run --pipelines {','.join(makers)}` first, or add it to this run"
           if makers else "check the paths (conf/<env>/catalog.yml, globals.yml)")  # fmt: skip
    raise UserError(
        f"Nothing was run: {listed}{more} must exist before this run, and none of its nodes "
        f"makes {'it' if len(missing) == 1 else 'them'}; {fix}."
    )
