"""The ingestion nodes: the user's filters, the summary, and the typed glue to
``cxr_synth.data.metadata`` (its checks are tested in tests/data/test_metadata.py)."""

import pytest

from cxr_synth.pipelines.ingestion.nodes import (
    assign_patient_splits,
    filter_rows,
    resolve_image_files,
    summarise_ingestion,
    validate_metadata,
)
from cxr_synth.pipelines.ingestion.params import IngestionParams
from tests.data.test_metadata import images_for, metadata

PARAMS = {
    "finding_labels": ["No Finding"],
    "view_positions": ["PA", "AP"],
    "age_range": [0, 120],
    "genders": ["M", "F"],
    "max_images": None,
    "seed": 0,
    "split": {"source": "auto", "val_fraction": 0.25, "test_fraction": 0.25},
    "on_missing_images": "proceed",
}
TYPED = IngestionParams.parse(PARAMS)


def test_filter_keeps_exact_no_finding_and_counts_each_step():
    valid, _ = validate_metadata(metadata())
    kept, counts = filter_rows(valid, IngestionParams.parse({**PARAMS, "view_positions": ["PA"]}))
    assert set(kept["finding_labels"]) == {"No Finding"}
    assert set(kept["view_position"]) == {"PA"}
    assert list(counts) == [
        "valid_rows",
        "after_finding_labels",
        "after_view_positions",
        "after_age_range",
        "after_genders",
        "label_variants",
    ]
    assert (
        counts["valid_rows"]
        > counts["after_finding_labels"]
        > counts["after_view_positions"]
        == len(kept)
    )


def test_filter_that_empties_the_selection_names_itself():
    valid, _ = validate_metadata(metadata())
    with pytest.raises(ValueError, match="ingestion.age_range"):
        filter_rows(valid, IngestionParams.parse({**PARAMS, "age_range": [90, 99]}))


def test_summary_counts_every_row_once():
    frame = metadata(n_patients=6, per_patient=2)
    frame.loc[0, "Patient Gender"] = "?"
    valid, metadata_rejects = validate_metadata(frame)
    selected, filter_counts = filter_rows(valid, TYPED)
    split, split_rejects = assign_patient_splits(selected, None, None, TYPED)
    images = images_for(frame)
    images.pop("images_001/images/00000002_000")
    manifest, image_rejects, resolve_counts = resolve_image_files(split, images, TYPED)
    rejects, summary, metrics = summarise_ingestion(
        manifest, filter_counts, resolve_counts, metadata_rejects, split_rejects, image_rejects
    )
    counts = summary["counts"]
    assert counts["rows_in_csv"] == 12
    assert counts["rejected_malformed"] == 1
    assert counts["manifest_rows"] == len(manifest)
    assert sum(
        counts[f"split_{s}"] for s in ("train", "val", "test") if f"split_{s}" in counts
    ) == len(manifest)
    assert len(image_rejects) == 1 and counts["rejected_image_missing"] == 1
    assert len(rejects) == len(metadata_rejects) + len(image_rejects)
    assert metrics["manifest_rows"] == {"value": float(len(manifest)), "step": 0}


@pytest.mark.parametrize("accept", [False, True])
def test_label_variants_are_counted_warned_about_and_kept_only_if_accepted(accept, caplog):
    frame = metadata()
    variants = frame.index[frame["Finding Labels"] == "No Finding"][:3]
    frame.loc[variants, "Finding Labels"] = ["No finding", "no  finding", " NO FINDING"]
    valid, _ = validate_metadata(frame)
    exact = int((valid["finding_labels"] == "No Finding").sum())
    params = IngestionParams.parse({**PARAMS, "accept_label_variants": accept})
    with caplog.at_level("WARNING"):
        kept, counts = filter_rows(valid, params)
    assert counts["label_variants"] == 3
    assert counts["after_finding_labels"] == exact + (3 if accept else 0)
    assert "3 row(s) match ['No Finding'] only after case/space normalisation" in caplog.text
    assert "'No finding': 1" in caplog.text


def test_the_nodes_pass_the_split_and_image_parameters_on():
    frame = metadata(n_patients=10, per_patient=2)
    valid, _ = validate_metadata(frame)
    with pytest.raises(ValueError, match="source is 'official'"):
        assign_patient_splits(valid, None, None, IngestionParams.parse(
            {**PARAMS, "split": {**PARAMS["split"], "source": "official"}}))  # fmt: skip
    split, _ = assign_patient_splits(valid, None, None, TYPED)
    assert split.groupby("split")["patient_id"].nunique()["test"] == 2  # test_fraction 0.25
    images = images_for(frame)
    kept, _, counts = resolve_image_files(split, images, IngestionParams.parse(
        {**PARAMS, "max_images": 5}))  # fmt: skip
    assert len(kept) == 5 == counts["after_max_images"]
    images.pop("images_001/images/00000001_000")
    with pytest.raises(FileNotFoundError, match="19 of 20 selected rows"):
        resolve_image_files(split, images, IngestionParams.parse(
            {**PARAMS, "on_missing_images": "fail"}))  # fmt: skip
