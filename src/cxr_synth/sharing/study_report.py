"""The study in one self-contained HTML file: tables, run information and every figure inlined as
a base64 PNG, so the report opens offline and can be passed around as a single file. Kedro-free;
the reporting pipeline's ``build_study_report`` node calls :func:`study_report`."""

from __future__ import annotations

import base64
import html
import io
import json
import os
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

import pandas as pd
from PIL import Image

from cxr_synth import __version__
from cxr_synth.models.registry import ARCHITECTURES
from cxr_synth.runtime.mlflow_workspace import KEY_PARAMETERS, parameter
from cxr_synth.runtime.privacy import relative_to_project

# mlflow is imported when the report is built (the run section).

STYLE = """
body { font-family: sans-serif; max-width: 1200px; margin: 2em auto; padding: 0 1em; }
table { border-collapse: collapse; margin: 0.5em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.2em 0.5em; text-align: right; }
th:first-child, td:first-child { text-align: left; }
img { max-width: 100%; }
.wide { overflow-x: auto; max-width: 100%; }
figcaption, .missing { color: #666; font-style: italic; }
pre { background: #f6f6f6; padding: 0.5em; overflow-x: auto; }
"""
# Tags kedro-mlflow copies from the Kedro run onto its MLflow run, and their labels here.
KEDRO_TAGS = {
    "run_id": "Kedro session",
    "kedro_command": "Kedro command",
    "kedro_version": "Kedro version",
}


def _text(value: Any) -> str:
    return html.escape(str(value))


def _frame(frame: pd.DataFrame) -> str:
    """A DataFrame as an escaped HTML table (4 significant digits), or a note when empty."""
    if frame.empty:
        return '<p class="missing">No rows.</p>'
    table = frame.to_html(index=False, float_format="{:.4g}".format, na_rep="n/a", border=0)
    return f'<div class="wide">{table}</div>'  # a wide table scrolls in its own box


def _pairs(rows: Mapping[str, Any]) -> str:
    cells = "".join(f"<tr><th>{_text(k)}</th><td>{_text(v)}</td></tr>" for k, v in rows.items())
    return f"<table>{cells}</table>"


def _figure(image: Image.Image | None, caption: str) -> str:
    if image is None:
        return f'<p class="missing">{_text(caption)}: figure not available.</p>'
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    return (
        f'<figure><img alt="{_text(caption)}" src="data:image/png;base64,{data}">'
        f"<figcaption>{_text(caption)}</figcaption></figure>"
    )


def _run_section() -> str:
    """The MLflow run this report is built in (kedro-mlflow opens one per ``kedro run``)."""
    import mlflow

    run = mlflow.active_run()
    if run is None:
        return (
            '<p class="missing">No active MLflow run: this report was not built by '
            "<code>kedro run</code> with kedro-mlflow tracking, so no run id, experiment or "
            "Kedro environment is recorded.</p>"
        )
    info = run.info
    tags = mlflow.get_run(info.run_id).data.tags  # active_run() holds the tags at its start
    experiment = mlflow.get_experiment(info.experiment_id)
    rows = {
        "MLflow run id": info.run_id,
        "MLflow run name": info.run_name,
        "MLflow experiment": experiment.name if experiment else info.experiment_id,
        # relative to the project: the report is shared, local folder names are not
        "MLflow tracking URI": relative_to_project(mlflow.get_tracking_uri(), os.getcwd()),
    }
    if "run_id" in tags:  # a Kedro run; kedro-mlflow leaves out the default env's empty name
        rows["Kedro environment"] = tags.get("env", "default (base + local)")
    rows.update({label: tags[tag] for tag, label in KEDRO_TAGS.items() if tag in tags})
    return _pairs(rows)


def _plain(value: Any) -> Any:
    """Typed parameter sections (Kedro validates them into models) as plain dicts and lists: an
    architecture's options with their own fields (not the base model's), unset overrides left out."""
    if hasattr(value, "model_dump"):
        value = value.model_dump(mode="json", serialize_as_any=True, exclude_none=True)
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value


def _options(value: Any) -> str:
    if not isinstance(value, Mapping):
        return str(value)
    return ", ".join(f"{key}={option}" for key, option in value.items()) or "none"


def _parameters_section(parameters: Mapping[str, Any]) -> str:
    parameters = _plain(parameters)
    models = pd.DataFrame(
        {
            "architecture": arch,
            "model options": _options(parameter(parameters, f"{arch}.model.options")),
            "loop overrides": _options(parameter(parameters, f"{arch}.loop")),
        }
        for arch in ARCHITECTURES
    )
    every = json.dumps(parameters, indent=2, sort_keys=True, default=str)
    return (
        _pairs({label: parameter(parameters, path) for label, path in KEY_PARAMETERS.items()})
        + _frame(models)
        + f"<details><summary>All parameters</summary><pre>{_text(every)}</pre></details>"
    )


def _data_section(ingestion_summary: Mapping[str, Any]) -> str:
    """Images and patients per split, then the other row counts and the rejects."""
    counts = ingestion_summary.get("counts", {})
    splits = sorted(key.removeprefix("split_") for key in counts if key.startswith("split_"))
    per_split = pd.DataFrame(
        {
            "split": splits,
            "images": [counts[f"split_{s}"] for s in splits],
            "patients": [counts.get(f"patients_{s}") for s in splits],
        }
    )
    steps = {k: v for k, v in counts.items() if not k.startswith(("split_", "patients_"))}
    rejects = ingestion_summary.get("rejects_by_reason", {})
    return (
        _frame(per_split)
        + "<h3>Rows after every ingestion step</h3>"
        + _pairs(steps)
        + "<h3>Rejected rows by reason</h3>"
        + (_pairs(rejects) if rejects else '<p class="missing">None.</p>')
    )


def _reading_section(comparison_table: pd.DataFrame) -> str:
    text = (
        "<p>Every column is defined in <code>docs/metrics.md</code>. The Fréchet distance, KID "
        "and precision/recall/density/coverage compare the distributions of backbone features "
        "of real and synthetic images (distances: lower is better). The real-vs-real baseline, "
        "the value a perfect generator would get, is in "
        "<code>data/08_reporting/comparison_table.md</code> with the evaluation's warnings. "
        "SSIM and PSNR measure how close each synthetic image is to its nearest training "
        "image; <code>memorization_fraction</code> is the share of synthetic images closer to "
        "the training set than the closest <code>evaluation.memorization_percentile</code> % "
        "of held-out real images (a model drawing fresh samples gets about that share). "
        "<code>dice</code> is the test Dice of the U-Net trained with that architecture's "
        "synthetic pairs.</p>"
    )
    if "FD_rand" in comparison_table.columns:
        text += (
            "<p><strong>FD_rand is not FID.</strong> This study's Fréchet distance was "
            "computed on the offline random CNN <code>rand-vgg6-v1</code>, not on Inception-V3: "
            "it ranks the architectures of this study but cannot be compared with published "
            "FIDs (docs/metrics.md says how to get the Inception weights).</p>"
        )
    return text


def _training_section(figures: Mapping[str, Image.Image | None]) -> str:
    return "".join(
        f"<h3>{_text(arch)}</h3>"
        + _figure(figures.get(f"{arch}__loss_curves"), f"{arch}: losses")
        + _figure(figures.get(f"{arch}__fid_curve"), f"{arch}: Fréchet distance during training")
        + _figure(figures.get(f"{arch}__sample_grid"), f"{arch}: samples")
        for arch in ARCHITECTURES
    )


def _memorization_section(
    comparison_table: pd.DataFrame, figures: Mapping[str, Image.Image | None]
) -> str:
    memorized = [
        column
        for column in ("architecture", "memorization_fraction", "nn_distance_ratio")
        if column in comparison_table.columns
    ]
    memorization = "".join(
        _figure(figures.get(f"{arch}__closest_pairs"), f"{arch}: closest synthetic-training pairs")
        for arch in ARCHITECTURES
    )
    if len(memorized) > 1:
        memorization = _frame(comparison_table[memorized]) + memorization
    return memorization


def study_report(
    parameters: Mapping[str, Any],
    ingestion_summary: Mapping[str, Any],
    comparison_table: pd.DataFrame,
    segmentation_summary: pd.DataFrame,
    figures: Mapping[str, Image.Image | None] | None = None,
) -> str:
    """The whole study as one HTML page that needs no other file (figures are data: URIs).

    ``figures`` are PIL images named ``synthesis_grid``, ``fid_kid_bars``, ``ssim_psnr_bars``,
    ``segmentation_dice`` and ``<arch>__{loss_curves,fid_curve,sample_grid,closest_pairs}``; a
    missing one (absent or ``None``) is noted in the page. All text is HTML-escaped. The run
    section reads the active MLflow run, if any.
    """
    figures = figures or {}
    created = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    sections = {
        "Run": f"<p>cxr-synth {_text(__version__)}, report built {created}.</p>" + _run_section(),
        "Key parameters": _parameters_section(parameters),
        "Data": _data_section(ingestion_summary),
        "GAN comparison": _frame(comparison_table),
        "Distribution and similarity metrics": (
            _figure(figures.get("fid_kid_bars"), "Fréchet distance and KID per architecture")
            + _figure(figures.get("ssim_psnr_bars"), "SSIM and PSNR to the nearest training image")
        ),
        "Real vs synthetic": _figure(
            figures.get("synthesis_grid"), "real test images, then one row per architecture"
        ),
        "Training curves and samples": _training_section(figures),
        "Memorization audit": _memorization_section(comparison_table, figures),
        "Downstream segmentation": (
            _frame(segmentation_summary)
            + _figure(figures.get("segmentation_dice"), "U-Net test Dice per augmentation method")
        ),
        "How to read this": _reading_section(comparison_table),
    }
    body = "".join(f"<h2>{_text(title)}</h2>{content}" for title, content in sections.items())
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>cxr-synth study report</title><style>{STYLE}</style></head>"
        f"<body><h1>cxr-synth study report</h1>{body}</body></html>\n"
    )
