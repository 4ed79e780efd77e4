"""One patient split and one seeded subset for every stage."""

import numpy as np
import pandas as pd
import pytest

from cxr_synth.data.splits import rows_in_splits, seeded_subset, split_patients


def test_patient_split_is_seeded_whole_patients_in_shuffled_order():
    patients = np.repeat(np.arange(20), 3)
    split = split_patients(patients, {"test": 0.2, "val": 0.1}, seed=4)
    assert sorted(split) == list(range(20))
    names = list(split.values())
    assert names == ["test"] * 4 + ["val"] * 2 + ["train"] * 14  # test, val, then train
    assert split == split_patients(patients[::-1], {"val": 0.1, "test": 0.2}, seed=4)
    assert split != split_patients(patients, {"test": 0.2, "val": 0.1}, seed=5)


def test_at_least_one_patient_per_share_and_unknown_shares_refused():
    split = split_patients(range(5), {"test": 0.01, "val": 0.01}, seed=0, at_least_one=True)
    assert sorted(split.values()) == ["test", "train", "train", "train", "val"]
    assert "train" not in split_patients(range(2), {"test": 0.5, "val": 0.5}, 0).values()
    with pytest.raises(ValueError, match="train"):
        split_patients(range(5), {"train": 0.5}, seed=0)


def test_rows_in_splits_names_what_was_empty():
    index = pd.DataFrame({"split": ["train", "test", "train"], "row": [0, 1, 2]})
    assert rows_in_splits(index, ["train"], "x").tolist() == [0, 2]
    with pytest.raises(ValueError, match=r"\['val'\] for the FID reference.*'train': 2"):
        rows_in_splits(index, ["val"], "FID reference")


def test_seeded_subset_is_sorted_and_the_same_for_the_same_seed():
    rows = np.arange(100)[::-1]
    subset = seeded_subset(rows, 10, seed=3)
    assert subset.size == 10 and np.all(np.diff(subset) > 0)
    assert np.array_equal(subset, seeded_subset(rows, 10, seed=3))
    assert not np.array_equal(subset, seeded_subset(rows, 10, seed=4))
    assert np.array_equal(seeded_subset(rows, None, 3), np.arange(100))
    assert np.array_equal(seeded_subset(rows, 500, 3), np.arange(100))
