"""The project's Kedro pipelines, and the one way a per-architecture template is instantiated."""

from kedro.pipeline import Pipeline

from cxr_synth.models.registry import ARCHITECTURES


def for_architecture(
    template: Pipeline,
    architecture: str,
    stage: str,
    *,
    inputs: set[str] | None = None,
    parameters: set[str],
) -> Pipeline:
    """``template`` under ``namespace=architecture``, tagged with the stage and the architecture.

    ``inputs`` and ``parameters`` are shared across architectures (not prefixed by the namespace).
    """
    if architecture not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {architecture!r}; valid: {list(ARCHITECTURES)}")
    return Pipeline(
        template,
        namespace=architecture,
        inputs=inputs,
        parameters=parameters,
        tags=[stage, architecture],
    )
