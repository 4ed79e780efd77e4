import numpy as np
import pytest
from kedro.io import DatasetError

from cxr_synth.datasets import NpyArrayDataset


def test_round_trip_is_memory_mapped_and_read_only(tmp_path):
    dataset = NpyArrayDataset(filepath=str(tmp_path / "sub" / "images.npy"))
    assert not dataset.exists()
    data = np.arange(2 * 4 * 4, dtype=np.uint8).reshape(2, 4, 4)
    dataset.save(data)
    loaded = dataset.load()
    assert isinstance(loaded, np.memmap)
    np.testing.assert_array_equal(loaded, data)
    with pytest.raises(ValueError):
        loaded[0, 0, 0] = 1
    assert not list((tmp_path / "sub").glob("*.tmp"))


def test_missing_file_says_which_pipeline_makes_it(tmp_path):
    with pytest.raises(DatasetError, match="preprocessing"):
        NpyArrayDataset(filepath=str(tmp_path / "absent.npy")).load()


def test_mmap_off_loads_into_memory(tmp_path):
    dataset = NpyArrayDataset(filepath=str(tmp_path / "a.npy"), mmap=False)
    dataset.save(np.ones((3, 2), dtype=np.uint8))
    assert not isinstance(dataset.load(), np.memmap)


def test_npz_round_trip_without_pickle(tmp_path):
    from cxr_synth.datasets import NpzDataset

    dataset = NpzDataset(filepath=str(tmp_path / "stats.npz"))
    assert not dataset.exists()
    dataset.save({"mean": np.arange(3.0), "backbone": np.asarray("FD_rand")})
    loaded = dataset.load()
    np.testing.assert_array_equal(loaded["mean"], np.arange(3.0))
    assert str(loaded["backbone"]) == "FD_rand"
