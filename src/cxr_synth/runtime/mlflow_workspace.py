"""How a run looks in the MLflow UI: the experiment's kind, a readable run name, a description.

MLflow 3 opens an experiment on its GenAI pages (traces, latency) unless the experiment's
``mlflow.experimentKind`` tag says it holds model training, the tag its UI's experiment-type
selector writes. A parent run is named after what ran (``nih · train_dcgan+evaluate_dcgan · seed
1``, ``nih · study comparison · proposed · seed 2``) and carries MLflow's note (``mlflow.note.content``,
the run page's "Description"): one paragraph with the command and the key parameters. At the
end of a run the log gives the link to the run's page.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
MODEL_TRAINING = "custom_model_development"
NOTE_TAG = "mlflow.note.content"
SEPARATOR = " · "
MAX_PIPELINES_NAMED = 3

# What a reader needs to tell two runs apart (label: dotted parameter path); also the HTML
# report's "Key parameters".
KEY_PARAMETERS = {
    "resolution (px)": "preprocessing.resolution",
    "epochs": "training.loop.epochs",
    "batch size": "training.loop.batch_size",
    "synthetic images per architecture": "synthesis.n_images",
    "evaluation backbone": "evaluation.backbone",
}


def parameter(parameters: Mapping[str, Any], path: str, missing: Any = "n/a") -> Any:
    """The value at a dotted ``path`` of nested parameters (dicts, or the typed models Kedro
    validated them into), or ``missing``."""
    value: Any = parameters
    for key in path.split("."):
        if hasattr(value, "model_dump"):
            value = value.model_dump(mode="json")
        if not isinstance(value, Mapping) or key not in value:
            return missing
        value = value[key]
    return value


def pipelines_label(pipelines: Sequence[str]) -> str:
    """``train_dcgan+evaluate_dcgan``; the default pipeline is "all stages"; long lists shortened."""
    names = [name for name in pipelines if name != "__default__"] or ["all stages"]
    if len(names) > MAX_PIPELINES_NAMED:
        shown = "+".join(names[:MAX_PIPELINES_NAMED])
        return f"{shown}+{len(names) - MAX_PIPELINES_NAMED} more"
    return "+".join(names)


def run_name(
    *,
    env: str,
    pipelines: Sequence[str],
    seed: Any = None,
    study: str | None = None,
    variant: str | None = None,
    role: str | None = None,
) -> str:
    """A parent run's readable name: environment, then the study (variant, seed) or the
    pipelines and the training seed."""
    parts = [env]
    if study:
        parts.append(f"study {study}")
        if role == "summary":
            parts.append("summary")
        if variant:
            parts.append(variant)
    else:
        parts.append(pipelines_label(pipelines))
    if seed is not None and role != "summary":
        parts.append(f"seed {seed}")
    return SEPARATOR.join(parts)


def run_page_url(ui_base: str, experiment_id: str, run_id: str) -> str:
    """The run's page in the MLflow UI at ``ui_base``, in its "Model training" view (MLflow 3.17
    opens experiments in the GenAI view unless the browser's switch, or this parameter, says
    otherwise; the experiment's kind tag does not change that landing page)."""
    return (
        f"{ui_base.rstrip('/')}/#/experiments/{experiment_id}/runs/{run_id}"
        "?workflowType=machine_learning"
    )


def run_description(
    *, command: str, parameters: Mapping[str, Any], architectures: Sequence[str]
) -> str:
    """MLflow's run note (Markdown): the command, the architectures, the key parameters."""
    keys = ", ".join(
        f"{label} {parameter(parameters, path)}" for label, path in KEY_PARAMETERS.items()
    )
    trained = ", ".join(architectures) or "none"
    return (
        f"`{command}`. Architectures: {trained}. Key parameters: {keys}. The resolved "
        "configuration is in the run's parameters; provenance (commit, versions, machine) in "
        "its `cxr_synth.*` tags."
    )


def kedro_command(env: str, pipelines: Sequence[str]) -> str:
    """The ``kedro run`` line of a run (the default environment and pipeline left out)."""
    command = "kedro run" + (f" --env {env}" if env != "local" else "")
    names = [name for name in pipelines if name != "__default__"]
    return command + (" --pipelines " + ",".join(names) if names else "")


def describe_run(
    client: Any, run: Any, *, env: str, pipelines: Sequence[str], parameters: Mapping[str, Any],
    architectures: Sequence[str], seed: Any = None, study: str | None = None,
    variant: str | None = None, role: str | None = None, rename: bool = True,
) -> None:  # fmt: skip
    """Make a parent run readable in the UI: its experiment tagged as model training (unless it
    has a kind), the run named (``rename``; else the name ``mlflow.yml`` set stays) and its note
    written."""
    experiment = client.get_experiment(run.info.experiment_id)
    if EXPERIMENT_KIND_TAG not in experiment.tags:
        client.set_experiment_tag(experiment.experiment_id, EXPERIMENT_KIND_TAG, MODEL_TRAINING)
    if rename:
        name = run_name(env=env, pipelines=pipelines, seed=seed, study=study, variant=variant,
                        role=role)  # fmt: skip
        client.update_run(run.info.run_id, name=name)
    note = run_description(command=kedro_command(env, pipelines), parameters=parameters,
                           architectures=architectures)  # fmt: skip
    client.set_tag(run.info.run_id, NOTE_TAG, note)
