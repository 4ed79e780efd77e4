"""The NIH metadata checks without Kedro: schema and values, patient splits, image files."""

import numpy as np
import pandas as pd
import pytest

from cxr_synth.data.metadata import assign_splits, resolve_images, validate_rows
from cxr_synth.data.nih import OFFICIAL_COLUMNS

SPLIT = {"source": "auto", "val_fraction": 0.25, "test_fraction": 0.25, "seed": 0}


def metadata(n_patients=8, per_patient=2, trailing_column=True):
    rows = []
    for patient in range(1, n_patients + 1):
        for follow_up in range(per_patient):
            label = "No Finding" if (patient + follow_up) % 3 else "Effusion|Infiltration"
            rows.append(
                [
                    f"{patient:08d}_{follow_up:03d}.png",
                    label,
                    follow_up,
                    patient,
                    20 + patient,
                    "MF"[patient % 2],
                    "PA" if follow_up == 0 else "AP",
                    1024,
                    1024,
                    0.143,
                    0.143,
                ]
            )
    frame = pd.DataFrame(rows, columns=list(OFFICIAL_COLUMNS))
    if trailing_column:
        frame["Unnamed: 11"] = np.nan
    return frame


def images_for(frame, folders=("images_001", "images_002")):
    return {
        f"{folders[i % len(folders)]}/images/{name[:-4]}": (lambda: None)
        for i, name in enumerate(frame["Image Index"])
    }


@pytest.mark.parametrize("trailing_column", [True, False])
def test_validate_accepts_2017_and_v2020_layouts(trailing_column):
    valid, rejects = validate_rows(metadata(trailing_column=trailing_column))
    assert len(valid) == 16 and rejects.empty
    assert {"image_index", "patient_id", "original_width", "pixel_spacing_y", "csv_line"} <= set(
        valid.columns
    )
    assert valid["csv_line"].tolist()[:2] == [2, 3]


def test_validate_names_missing_columns():
    with pytest.raises(ValueError, match=r"missing .*\['Patient Age'\]"):
        validate_rows(metadata().drop(columns=["Patient Age"]))


def test_validate_rejects_malformed_rows_with_line_and_reason():
    frame = metadata().astype({"Patient Age": object})
    frame.loc[1, "Patient Age"] = "old"
    frame.loc[2, "Patient Gender"] = "X"
    frame.loc[3, "Image Index"] = frame.loc[0, "Image Index"]
    frame.loc[4, "Patient Age"] = "058Y"
    valid, rejects = validate_rows(frame)
    assert len(valid) == 13
    assert rejects.set_index("csv_line")["reason"].to_dict() == {
        3: "patient_age: not an age in years",
        4: "patient_gender: not M or F",
        5: "image_index: duplicate of an earlier row",
    }
    assert valid.loc[valid["csv_line"] == 6, "patient_age"].item() == 58


def test_a_header_only_metadata_file_is_its_own_error():
    with pytest.raises(ValueError, match="has 0 data rows"):
        validate_rows(metadata().iloc[0:0])


def _assert_no_patient_in_two_splits(frame):
    assert (frame.groupby("patient_id")["split"].nunique() == 1).all()


def test_seeded_split_is_patient_level_and_reproducible():
    valid, _ = validate_rows(metadata(n_patients=40, per_patient=3))
    first, rejects = assign_splits(valid, None, None, **SPLIT)
    second, _ = assign_splits(valid, None, None, **SPLIT)
    _assert_no_patient_in_two_splits(first)
    assert rejects.empty and set(first["split"]) == {"train", "val", "test"}
    assert first["split"].tolist() == second["split"].tolist()
    assert first.groupby("split")["patient_id"].nunique()["test"] == 10


def test_official_lists_decide_test_and_unlisted_rows_are_rejected():
    valid, _ = validate_rows(metadata(n_patients=8, per_patient=2))
    test_names = [f"{p:08d}_{f:03d}.png" for p in (1, 2) for f in range(2)]
    train_names = [
        f"{p:08d}_{f:03d}.png" for p in range(3, 8) for f in range(2)
    ]  # patient 8 unlisted
    frame, rejects = assign_splits(
        valid, "\n".join(train_names) + "\n", "\n".join(test_names), **SPLIT
    )
    _assert_no_patient_in_two_splits(frame)
    assert set(frame.loc[frame["split"] == "test", "patient_id"]) == {1, 2}
    assert set(frame.loc[frame["split"] != "test", "split"]) == {"train", "val"}
    assert rejects["image_index"].tolist() == ["00000008_000.png", "00000008_001.png"]


def test_lists_that_put_a_patient_in_two_splits_are_an_error():
    valid, _ = validate_rows(metadata(n_patients=2, per_patient=2))
    with pytest.raises(ValueError, match="more than one split"):
        assign_splits(
            valid,
            "00000001_000.png\n00000002_000.png\n00000002_001.png",
            "00000001_001.png",
            **SPLIT,
        )


def test_official_source_without_lists_explains_the_fix():
    valid, _ = validate_rows(metadata())
    with pytest.raises(ValueError, match="seeded"):
        assign_splits(valid, None, None, **{**SPLIT, "source": "official"})


def test_resolve_finds_images_across_folders_and_rejects_missing_ones():
    frame = metadata(n_patients=4, per_patient=2)
    valid, _ = validate_rows(frame)
    split, _ = assign_splits(valid, None, None, **SPLIT)
    images = images_for(frame)
    del images["images_002/images/00000001_001"]
    images["images_003/elsewhere/00000002_000"] = lambda: None  # not an images_* folder: ignored
    del images["images_001/images/00000002_000"]
    manifest, rejects, counts = resolve_images(split, list(images), seed=0)
    assert len(manifest) == 6 and counts["with_image_on_disk"] == 6
    assert sorted(rejects["image_index"]) == ["00000001_001.png", "00000002_000.png"]
    assert set(rejects["reason"]) == {"image: file not found in any images_*/images/ folder"}
    assert (
        manifest.loc[manifest["image_index"] == "00000003_001.png", "partition"].item()
        == "images_002/images/00000003_001"
    )


def test_resolve_fail_policy_stops_with_the_count(caplog):
    frame = metadata(n_patients=2, per_patient=2)
    valid, _ = validate_rows(frame)
    split, _ = assign_splits(valid, None, None, **SPLIT)
    images = images_for(frame)
    images.pop("images_001/images/00000001_000")
    with pytest.raises(FileNotFoundError, match="3 of 4 selected rows have an image on disk"):
        resolve_images(split, list(images), on_missing="fail")


def test_resolve_with_no_image_at_all_points_at_the_catalog():
    valid, _ = validate_rows(metadata(n_patients=2))
    with pytest.raises(FileNotFoundError, match="nih_images"):
        resolve_images(valid.assign(split="train"), ["other/x"])


def test_max_images_is_a_seeded_cap():
    frame = metadata(n_patients=10, per_patient=2)
    valid, _ = validate_rows(frame)
    split, _ = assign_splits(valid, None, None, **SPLIT)
    first, _, counts = resolve_images(split, list(images_for(frame)), max_images=5, seed=0)
    second, _, _ = resolve_images(split, list(images_for(frame)), max_images=5, seed=0)
    assert len(first) == 5 == counts["after_max_images"]
    assert first["image_index"].tolist() == second["image_index"].tolist()


def test_the_source_file_named_in_errors_does_not_travel_into_the_outputs(tmp_path):
    """The metadata dataset names its file in ``attrs`` for error messages; pandas would copy it
    into every derived frame, and parquet would store the absolute path in the manifest."""
    frame = metadata()
    frame.attrs["source"] = "/home/someone/nih/Data_Entry_2017.csv"
    valid, rejects = validate_rows(frame)
    assert valid.attrs == {} and rejects.attrs == {}
