from kedro.io import DataCatalog, MemoryDataset
from kedro.pipeline import Node, Pipeline
from kedro_datasets.json import JSONDataset

from cxr_synth.hooks import DemoDataHook, DistributedRankHook
from cxr_synth.pipelines.demo_data.params import DemoDataParams


def _identity(x):
    return x


PIPELINE = Pipeline([Node(_identity, "source", "result", name="copy")])


def _catalog(tmp_path):
    return DataCatalog(
        {"source": MemoryDataset(1), "result": JSONDataset(filepath=str(tmp_path / "r.json"))}
    )


def test_non_zero_ranks_keep_outputs_in_memory(tmp_path, monkeypatch):
    monkeypatch.setenv("RANK", "1")
    catalog = _catalog(tmp_path)
    DistributedRankHook().before_pipeline_run({}, PIPELINE, catalog)
    assert isinstance(catalog["result"], MemoryDataset)
    assert not isinstance(
        catalog["source"], JSONDataset
    )  # inputs untouched (still the memory source)


def test_rank_zero_and_single_process_write_files(tmp_path, monkeypatch):
    monkeypatch.delenv("RANK", raising=False)
    catalog = _catalog(tmp_path)
    DistributedRankHook().before_pipeline_run({}, PIPELINE, catalog)
    assert isinstance(catalog["result"], JSONDataset)


class _Context:
    def __init__(self, generate):
        self.params = {"demo_data": DemoDataParams(generate_if_missing=generate)}  # as validated


def test_demo_hook_does_nothing_when_switched_off_or_data_present(tmp_path):
    raw = Pipeline([Node(_identity, "nih_metadata", "out", name="use_raw")])
    hook = DemoDataHook()
    hook.after_context_created(_Context(generate=False))
    catalog = DataCatalog({"nih_metadata": JSONDataset(filepath=str(tmp_path / "absent.json"))})
    hook.before_pipeline_run({}, raw, catalog)  # would fail if it tried to run demo_data
    assert not (tmp_path / "absent.json").exists()
