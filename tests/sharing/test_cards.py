"""The synthetic-dataset card: every field the card promises, JSON and Markdown."""

import json

import pytest

from cxr_synth.pipelines.reporting.nodes import write_dataset_card
from cxr_synth.sharing.cards import card_markdown, memorization_result

RECORD = {
    "architecture": "dcgan",
    "source": {"source": "catalog"},
    "mlflow_run_id": "0123abcd",
    "mlflow_model_uri": "runs:/0123abcd/dcgan_generator",
    "registered_model_name": None,
    "spec": {
        "architecture": "dcgan",
        "options": {"g_width": 4},
        "resolution": 32,
        "channels": 1,
        "latent_dim": 16,
        "best_epoch": 3,
        "epochs": 4,
    },  # fmt: skip
    "training_data": {"training_splits": ["train"], "training": {"images": 40, "patients": 12}},
    "sampling": {"n_images": 100, "seed": 7, "truncation_psi": 1.0, "batch_size": 8},
}
METRICS = {"FD_rand": 1.5, "kid": 0.01, "n_real": 50.0, "n_fake": 100.0,
           "memorization_fraction": 0.01, "memorization_expected": 0.01,
           "memorization_threshold": 9.5, "nn_distance_ratio": 1.1}  # fmt: skip
REPORT = {"backbone": "random-conv-v1", "fid_label": "FD_rand", "metrics": METRICS,
          "warnings": ["few images"], "closest_pairs": [[0, 17]]}  # fmt: skip


def test_the_card_has_model_run_data_seed_metrics_audit_and_terms():
    card, markdown = write_dataset_card(RECORD, REPORT)
    json.dumps(card)  # JSON-ready
    assert card["model"]["mlflow_run_id"] == "0123abcd"
    assert card["model"]["mlflow_model_uri"] == "runs:/0123abcd/dcgan_generator"
    assert card["model"]["architecture"] == "dcgan" and card["model"]["best_epoch"] == 3
    assert card["training_data"]["training"] == {"images": 40, "patients": 12}
    assert card["sampling"]["seed"] == 7 and card["images"] == {
        "n": 100, "shape": [32, 32], "dtype": "uint8", "files": card["images"]["files"],
    }  # fmt: skip
    evaluation = card["evaluation"]
    assert evaluation["backbone"] == "random-conv-v1" and evaluation["fid_label"] == "FD_rand"
    assert (evaluation["n_real"], evaluation["n_fake"]) == (50.0, 100.0)
    assert evaluation["metrics"]["FD_rand"] == 1.5
    assert "memorization_fraction" not in evaluation["metrics"]
    assert card["memorization"]["verdict"].startswith("not flagged")
    terms = card["data_terms"]
    assert terms["provider"] == "NIH Clinical Center" and "CVPR 2017" in terms["citation"]
    assert card["warnings"] == ["few images"]
    assert "closest_pairs" not in json.dumps(card)  # no rows of the training set
    for text in ("0123abcd", "FD_rand", "NIH Clinical Center", "Wang X", "not flagged", "seed 7"):
        assert text in markdown
    assert markdown == card_markdown(card)


@pytest.mark.parametrize(
    ("fraction", "verdict"), [(0.01, "not flagged"), (0.03, "not flagged"), (0.05, "flagged")]
)
def test_memorization_is_flagged_above_chance(fraction, verdict):
    result = memorization_result({**METRICS, "memorization_fraction": fraction})
    assert result["verdict"].startswith(verdict)
    assert result["flag_above"] == pytest.approx(0.01 + 3 * (0.01 * 0.99 / 100) ** 0.5)


def test_without_held_out_images_the_audit_is_not_claimed():
    metrics = {k: v for k, v in METRICS.items() if not k.startswith("memorization")}
    assert memorization_result(metrics) == {"verdict": "not audited (no held-out real images)"}
