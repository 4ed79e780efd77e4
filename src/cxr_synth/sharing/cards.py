"""The synthetic-dataset card: what a batch of synthetic images is, where it came from, how good
it measured, and the terms of the data behind it (JSON, and the same as Markdown).

Built from the synthesis record (``log_generator_model``: model, MLflow run, training-data
counts, sampling settings) and the evaluation report (``evaluate_architecture``). Library code.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

DATA_TERMS = {
    "dataset": "NIH ChestX-ray14",
    "provider": "NIH Clinical Center",
    "citation": (
        "Wang X, Peng Y, Lu L, Lu Z, Bagheri M, Summers RM. ChestX-ray8: Hospital-scale Chest "
        "X-ray Database and Benchmarks on Weakly-Supervised Classification and Localization of "
        "Common Thorax Diseases. IEEE CVPR 2017."
    ),
    "source": "https://nihcc.app.box.com/v/ChestXray-NIHCC",
    "terms": (
        "The generator learned from NIH ChestX-ray14: acknowledge the NIH Clinical Center as the "
        "data provider, cite Wang et al. (CVPR 2017) and link the NIH download site. Synthetic "
        "images, not images of real patients; not for clinical use. (A model trained on the "
        "built-in demo phantoms used no NIH images.)"
    ),
}
_MEMORIZATION = ("memorization_fraction", "memorization_expected", "memorization_threshold",
                 "nn_distance_ratio")  # fmt: skip


def memorization_result(metrics: Mapping[str, float]) -> dict[str, Any]:
    """The audit's numbers and a verdict: ``flagged`` when more synthetic images lie closer to a
    training image than the threshold than fresh samples would (expected fraction + 3 binomial
    standard errors at N = ``n_fake``)."""
    if "memorization_fraction" not in metrics:
        return {"verdict": "not audited (no held-out real images)"}
    result = {key: float(metrics[key]) for key in _MEMORIZATION if key in metrics}
    expected, n = result["memorization_expected"], max(1.0, float(metrics.get("n_fake", 1)))
    limit = expected + 3 * math.sqrt(expected * (1 - expected) / n)
    flagged = result["memorization_fraction"] > limit
    result["flag_above"] = limit
    result["verdict"] = (
        "flagged: more synthetic images are near-copies of training images than chance gives"
        if flagged
        else "not flagged: no more near-copies of training images than fresh real images show"
    )
    return result


def dataset_card(record: Mapping[str, Any], report: Mapping[str, Any]) -> dict[str, Any]:
    """The card of one architecture's synthetic images (JSON-ready)."""
    spec, sampling = record["spec"], record["sampling"]
    metrics = report["metrics"]
    shape = [int(spec["resolution"])] * 2
    return {
        "title": f"Synthetic chest X-rays from {record['architecture']}",
        "images": {
            "n": int(sampling["n_images"]),
            "shape": shape,
            "dtype": "uint8",
            "files": "synthetic.npy (N×H×W) and png/synthetic_<i>.png, in this folder",
        },
        "model": {
            "architecture": record["architecture"],
            "options": spec.get("options", {}),
            "resolution": spec["resolution"],
            "latent_dim": spec["latent_dim"],
            "best_epoch": spec.get("best_epoch"),
            "epochs": spec.get("epochs"),
            "source": record["source"],
            "mlflow_run_id": record["mlflow_run_id"],
            "mlflow_model_uri": record["mlflow_model_uri"],
            "registered_model_name": record["registered_model_name"],
        },
        "training_data": record.get("training_data"),
        "sampling": dict(sampling),
        "evaluation": {
            "backbone": report["backbone"],
            "fid_label": report["fid_label"],
            "n_real": metrics.get("n_real"),
            "n_fake": metrics.get("n_fake"),
            "metrics": {k: v for k, v in metrics.items() if k not in _MEMORIZATION},
        },
        "memorization": memorization_result(metrics),
        "warnings": list(report.get("warnings", [])),
        "data_terms": DATA_TERMS,
    }


def card_markdown(card: Mapping[str, Any]) -> str:
    """The card as a Markdown page."""
    model, evaluation, sampling = card["model"], card["evaluation"], card["sampling"]
    memorization = card["memorization"]
    terms = card["data_terms"]
    lines = [
        f"# {card['title']}",
        "",
        f"{card['images']['n']} images, {'×'.join(map(str, card['images']['shape']))} px, "
        f"uint8: {card['images']['files']}.",
        "",
        "## Model",
        "",
        f"- architecture: `{model['architecture']}`, options `{json.dumps(model['options'])}`",
        f"- resolution {model['resolution']}, latent dimension {model['latent_dim']}, best epoch "
        f"{model['best_epoch']} of {model['epochs']}",
        f"- source: {model['source'].get('source')}",
        f"- MLflow run: `{model['mlflow_run_id']}`; model: `{model['mlflow_model_uri']}`",
        f"- registered as: {model['registered_model_name'] or 'not registered'}",
        "",
        "## Training data (counts only)",
        "",
        f"```json\n{json.dumps(card['training_data'], indent=2)}\n```",
        "",
        "## Sampling",
        "",
        ", ".join(f"{key} {value}" for key, value in sampling.items()),
        "",
        "## Evaluation",
        "",
        f"Backbone `{evaluation['backbone']}` ({evaluation['fid_label']}), "
        f"N real {evaluation['n_real']:g}, N synthetic {evaluation['n_fake']:g}.",
        "",
        "| metric | value |",
        "|---|---|",
        *(f"| {key} | {value:.4g} |" for key, value in evaluation["metrics"].items()),
        "",
        "## Memorization audit",
        "",
        memorization["verdict"],
        *(f"- {key}: {value:.4g}" for key, value in memorization.items() if key != "verdict"),
        "",
    ]
    if card["warnings"]:
        lines += ["## Warnings", "", *(f"- {note}" for note in card["warnings"]), ""]
    lines += [
        "## Data terms",
        "",
        f"{terms['dataset']}, provided by the {terms['provider']} ({terms['source']}). "
        f"{terms['citation']}",
        "",
        terms["terms"],
        "",
    ]
    return "\n".join(lines)
