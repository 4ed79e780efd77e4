"""StateDictsDataset: several state dicts in one .pt, loaded weights_only."""

import pytest
import torch
from kedro.io import DatasetError

from cxr_synth.datasets import StateDictsDataset
from cxr_synth.models.unet import UNet


def _states() -> dict[int, dict[str, torch.Tensor]]:
    states = {}
    for seed in (0, 3):
        torch.manual_seed(seed)
        states[seed] = UNet(1, 1, base_width=2, depth=1).state_dict()
    return states


def test_round_trip_keeps_keys_and_every_tensor(tmp_path):
    dataset = StateDictsDataset(filepath=str(tmp_path / "m" / "unets.pt"))
    assert not dataset.exists()
    states = _states()
    dataset.save(states)
    loaded = dataset.load()
    assert dataset.exists() and list(loaded) == [0, 3]  # int keys survive
    for seed, state in states.items():
        assert loaded[seed].keys() == state.keys()
        assert all(torch.equal(loaded[seed][k], state[k]) for k in state)
    assert not torch.equal(loaded[0]["head.weight"], loaded[3]["head.weight"])
    assert not list((tmp_path / "m").glob("*.tmp"))  # atomic writer left no temp file


class _Payload:
    def __reduce__(self):  # what a malicious pickle would do on load
        return (print, ("code ran",))


def test_a_file_carrying_pickled_code_is_refused(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({0: {"w": torch.zeros(1)}, "x": _Payload()}, path)
    with pytest.raises(DatasetError, match="weights_only"):
        StateDictsDataset(filepath=str(path)).load()


def test_saving_a_model_instead_of_its_state_dict_names_the_fix(tmp_path):
    dataset = StateDictsDataset(filepath=str(tmp_path / "u.pt"))
    with pytest.raises(DatasetError, match=r"state_dict\(\)"):
        dataset.save({0: UNet(1, 1, base_width=2, depth=1)})
    with pytest.raises(DatasetError, match="non-empty"):
        dataset.save({})
    assert not dataset.exists()


def test_missing_file_says_which_pipeline_makes_it(tmp_path):
    with pytest.raises(DatasetError, match="kedro run --pipelines segmentation"):
        StateDictsDataset(filepath=str(tmp_path / "absent.pt")).load()
