"""The project's Kedro pipelines, and the one way a stage or a per-name template is namespaced.

Node namespaces name the stage first (``training``, ``training.dcgan``, ``segmentation.pairs.dcgan``)
so kedro-viz opens on the study's stages. Dataset names never contain a dot (Kedro reserves dots
for namespaces and warns when a node reads a dotted name from another stage): a template's own
datasets are ``<name>_<dataset>`` (``dcgan_generator``), shared ones keep their names.
"""

from collections.abc import Iterable, Mapping

from kedro.pipeline import Pipeline

from cxr_synth.models.registry import REGISTRY


def in_stage(pipeline: Pipeline, stage: str) -> Pipeline:
    """``pipeline``'s nodes under ``namespace=stage`` (and tagged with it); names unchanged."""
    return Pipeline(pipeline, namespace=stage, prefix_datasets_with_namespace=False, tags=[stage])


def instantiate(
    template: Pipeline,
    namespace: str,
    name: str,
    *,
    shared: Iterable[str] | Mapping[str, str] = (),
    prefix: str | None = None,
    tags: Iterable[str] = (),
) -> Pipeline:
    """``template``'s nodes under ``namespace``; every dataset ``d`` becomes ``<prefix>_d``
    (``prefix`` defaults to ``name``) and every parameter ``params:p`` becomes
    ``params:<name>.p``, except the ``shared`` names (kept, or renamed by a mapping)."""
    renamed = dict(shared) if isinstance(shared, Mapping) else {name: name for name in shared}
    for dataset in {_base(d) for d in template.datasets()} - set(renamed):
        renamed[dataset] = (
            f"params:{name}.{dataset.removeprefix('params:')}"
            if _param(dataset)
            else f"{prefix or name}_{dataset}"
        )
    free_inputs = {_base(d) for d in template.inputs()}
    return Pipeline(
        template,
        namespace=namespace,
        prefix_datasets_with_namespace=False,
        inputs={k: v for k, v in renamed.items() if k in free_inputs and not _param(k)},
        outputs={k: v for k, v in renamed.items() if k not in free_inputs and not _param(k)},
        parameters={k: v for k, v in renamed.items() if _param(k)},
        tags=list(tags),
    )


def for_architecture(
    template: Pipeline,
    architecture: str,
    stage: str,
    *,
    shared: Iterable[str] | Mapping[str, str] = (),
    prefix: str | None = None,
) -> Pipeline:
    """``template`` for one architecture under ``namespace=<stage>.<architecture>``, tagged with
    the stage's first part and the architecture; datasets ``<prefix or architecture>_<name>``,
    parameters ``params:<architecture>.<name>`` (``model``, ``loop``)."""
    if architecture not in REGISTRY:
        raise ValueError(f"unknown architecture {architecture!r}; valid: {list(REGISTRY)}")
    return instantiate(
        template,
        f"{stage}.{architecture}",
        architecture,
        shared=shared,
        prefix=prefix,
        tags=[stage.split(".")[0], architecture],
    )


def _param(name: str) -> bool:
    return name.startswith("params:")


def _base(name: str) -> str:
    """A dataset name without its transcoding suffix (``sample_grid@png`` -> ``sample_grid``)."""
    return name.split("@")[0]
