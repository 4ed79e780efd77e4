"""The demo data sets without Kedro: NIH- and Montgomery-shaped phantom raw data."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from cxr_synth.phantoms.datasets import (
    FINDING_WEIGHTS,
    NIH_COLUMNS,
    nih_images,
    nih_metadata,
    nih_split_lists,
    seg_images,
)

SEED, SIZE = 2017, 64
NIH = {"max_images_per_patient": 4, "no_finding_fraction": 0.6, "ap_fraction": 0.3}


def metadata_of(seed=SEED, n_patients=12, **nih):
    return nih_metadata(seed, SIZE, n_patients, **{**NIH, **nih})


@pytest.fixture(scope="module")
def metadata():
    return metadata_of()


def test_metadata_has_the_official_columns_in_order(metadata):
    assert list(metadata.columns) == NIH_COLUMNS
    assert NIH_COLUMNS[7:11] == [
        "OriginalImage[Width",
        "Height]",
        "OriginalImagePixelSpacing[x",
        "y]",
    ]
    assert (metadata[""] == "").all()


def test_metadata_values_look_like_nih(metadata):
    assert metadata["Image Index"].str.fullmatch(r"\d{8}_\d{3}\.png").all()
    ids = metadata["Image Index"].str.slice(0, 8).astype(int)
    follow_ups = metadata["Image Index"].str.slice(9, 12).astype(int)
    assert (ids == metadata["Patient ID"]).all() and (follow_ups == metadata["Follow-up #"]).all()
    assert metadata["Image Index"].is_unique and metadata["Image Index"].is_monotonic_increasing
    assert set(metadata["Patient Gender"]) <= {"M", "F"}
    assert set(metadata["View Position"]) <= {"PA", "AP"}
    assert metadata["Patient Age"].between(18, 100).all()
    assert (metadata["OriginalImage[Width"] == 64).all() and (metadata["Height]"] == 64).all()
    assert metadata["OriginalImagePixelSpacing[x"].between(0.1, 0.2).all()
    per_patient = metadata.groupby("Patient ID").size()
    assert len(per_patient) == 12 and per_patient.between(1, 4).all() and per_patient.max() > 1
    # A patient keeps its gender; ages never go down across follow-ups.
    assert (metadata.groupby("Patient ID")["Patient Gender"].nunique() == 1).all()
    assert (metadata.groupby("Patient ID")["Patient Age"].diff().fillna(0) >= 0).all()


def test_metadata_is_deterministic_and_seeded(metadata):
    assert metadata_of().equals(metadata)
    assert not metadata_of(seed=1).equals(metadata)


def test_label_mix_follows_the_parameter():
    frame = metadata_of(n_patients=200, no_finding_fraction=0.6)
    labels = frame["Finding Labels"]
    assert (labels == "No Finding").mean() == pytest.approx(0.6, abs=0.01)
    findings = labels[labels != "No Finding"].str.split("|")
    assert findings.explode().isin(list(FINDING_WEIGHTS)).all()
    assert (findings.str.len() > 1).mean() > 0.2  # multi-label rows, e.g. Effusion|Infiltration
    assert findings.map(lambda names: names == sorted(set(names))).all()
    assert (
        metadata_of(no_finding_fraction=1.0)["Finding Labels"] == "No Finding"
    ).all()


def test_ap_share_follows_the_parameter():
    frame = metadata_of(n_patients=200, ap_fraction=0.3)
    assert (frame["View Position"] == "AP").mean() == pytest.approx(0.3, abs=0.06)


def test_split_is_patient_wise_and_complete(metadata):
    train_val, test = nih_split_lists(metadata, SEED, 0.25)
    assert train_val.endswith("\n") and test.endswith("\n")
    train_names, test_names = train_val.splitlines(), test.splitlines()
    assert sorted(train_names + test_names) == sorted(metadata["Image Index"])
    patient = metadata.set_index("Image Index")["Patient ID"]
    train_patients, test_patients = set(patient[train_names]), set(patient[test_names])
    assert not train_patients & test_patients
    assert len(test_patients) == 3  # 25 % of 12 patients
    assert nih_split_lists(metadata, SEED, 0.25) == (train_val, test)


@pytest.mark.parametrize("fraction", [0.0, 1.0])
def test_split_keeps_both_lists_non_empty(metadata, fraction):
    train_val, test = nih_split_lists(metadata, SEED, fraction)
    assert train_val and test


def test_nih_images_match_the_metadata_and_archives(metadata):
    images = nih_images(metadata, SEED, SIZE)
    stems = metadata["Image Index"].str.removesuffix(".png")
    assert sorted(key.rsplit("/", 1)[1] for key in images) == sorted(stems)
    folders = {key.rsplit("/", 1)[0] for key in images}
    assert folders == {"images_001/images", "images_002/images"}
    first = [key for key in images if key.startswith("images_001/")]
    assert len(first) == -(-len(metadata) // 2)
    assert max(first) < min(key for key in images if key.startswith("images_002/"))
    image = images[f"images_001/images/{stems.iloc[0]}"]()
    assert isinstance(image, Image.Image) and image.mode == "L" and image.size == (64, 64)


def test_nih_images_of_a_patient_differ_but_look_alike(metadata):
    images = nih_images(metadata, SEED, SIZE)
    patient = metadata.groupby("Patient ID").size().idxmax()
    rows = metadata[metadata["Patient ID"] == patient]["Image Index"].str.removesuffix(".png")
    keys = [next(k for k in images if k.endswith(stem)) for stem in rows]
    a, b = (np.asarray(images[k](), dtype=float) for k in keys[:2])
    other = next(k for k in images if f"/{int(patient) % 12 + 1:08d}_" in k)
    c = np.asarray(images[other](), dtype=float)
    assert not np.array_equal(a, b)
    assert np.abs(a - b).mean() < np.abs(a - c).mean()


def test_seg_keys_are_complete_and_masks_binary():
    seg = seg_images(SEED, SIZE, 3)
    cases = sorted(key.split("/")[-1] for key in seg if key.startswith("CXR_png/"))
    assert len(cases) == 3
    assert all(case.startswith("MCUCXR_") and case[-2:] in ("_0", "_1") for case in cases)
    assert cases == [f"MCUCXR_{i:04d}_{case[-1]}" for i, case in enumerate(cases, start=1)]
    expected = {
        f"{folder}/{case}"
        for case in cases
        for folder in ("CXR_png", "ManualMask/leftMask", "ManualMask/rightMask")
    }
    assert set(seg) == expected
    for case in cases:
        image = seg[f"CXR_png/{case}"]()
        left = np.asarray(seg[f"ManualMask/leftMask/{case}"]())
        right = np.asarray(seg[f"ManualMask/rightMask/{case}"]())
        assert image.mode == "L" and image.size == (64, 64) and left.shape == (64, 64)
        assert set(np.unique(left)) == set(np.unique(right)) == {0, 255}
        assert not ((left > 0) & (right > 0)).any()
        assert np.asarray(image)[left > 0].mean() < np.asarray(image).mean()


def test_seg_phantoms_are_other_patients_than_nih(metadata):
    seg = seg_images(SEED, SIZE, 3)
    nih = nih_images(metadata, SEED, SIZE)
    seg_first = np.asarray(seg[min(k for k in seg if k.startswith("CXR_png/"))]())
    assert not any(np.array_equal(seg_first, np.asarray(f())) for f in nih.values())
