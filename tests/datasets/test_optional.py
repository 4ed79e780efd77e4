from cxr_synth.datasets import OptionalDataset


def test_loads_none_when_absent_and_the_text_when_present(tmp_path):
    path = tmp_path / "test_list.txt"
    dataset = OptionalDataset(dataset={"type": "text.TextDataset", "filepath": str(path)})
    assert dataset.load() is None
    assert not dataset.exists()
    dataset.save("00000001_000.png\n")
    assert dataset.exists()
    assert dataset.load() == "00000001_000.png\n"
