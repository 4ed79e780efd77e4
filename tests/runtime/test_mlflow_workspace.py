from cxr_synth.runtime.mlflow_workspace import (
    parameter,
    pipelines_label,
    run_description,
    run_name,
)


def test_a_plain_run_is_named_by_environment_pipelines_and_seed():
    name = run_name(env="nih", pipelines=["train_dcgan", "evaluate_dcgan"], seed=1)
    assert name == "nih · train_dcgan+evaluate_dcgan · seed 1"
    assert run_name(env="local", pipelines=["__default__"], seed=None) == "local · all stages"


def test_a_study_run_is_named_by_study_variant_and_seed_and_its_summary_has_no_seed():
    seed_run = run_name(env="nih", pipelines=["a", "b"], seed="2", study="cmp", variant="wide", role="seed")
    assert seed_run == "nih · study cmp · wide · seed 2"
    summary = run_name(env="nih", pipelines=["study_summary"], seed=None, study="cmp", role="summary")
    assert summary == "nih · study cmp · summary"


def test_long_pipeline_lists_are_shortened():
    assert pipelines_label(["a", "b", "c", "d", "e"]) == "a+b+c+2 more"


def test_parameters_are_found_by_dotted_path_or_reported_missing():
    params = {"training": {"loop": {"epochs": 3}}}
    assert parameter(params, "training.loop.epochs") == 3
    assert parameter(params, "training.loop.batch_size") == "n/a"
    assert parameter(params, "training.loop.seed", None) is None


def test_the_description_names_the_command_architectures_and_key_values():
    note = run_description(
        command="kedro run --env nih",
        parameters={"preprocessing": {"resolution": 64}, "training": {"loop": {"epochs": 240}}},
        architectures=["dcgan", "proposed"],
    )
    assert note.startswith("`kedro run --env nih`")
    assert "dcgan, proposed" in note
    assert "resolution (px) 64" in note and "epochs 240" in note and "batch size n/a" in note


def test_parameters_are_found_inside_typed_sections():
    from pydantic import BaseModel

    class Loop(BaseModel):
        seed: int = 7

    class Training(BaseModel):
        loop: Loop = Loop()

    assert parameter({"training": Training()}, "training.loop.seed") == 7


def test_the_command_leaves_out_the_defaults():
    from cxr_synth.runtime.mlflow_workspace import kedro_command

    assert kedro_command("local", ["__default__"]) == "kedro run"
    assert kedro_command("nih", ["train_dcgan", "evaluate_dcgan"]) == (
        "kedro run --env nih --pipelines train_dcgan,evaluate_dcgan"
    )


class _Client:
    """What describe_run asks of an MlflowClient, recorded."""

    def __init__(self, experiment_tags):
        from types import SimpleNamespace

        self.experiment = SimpleNamespace(experiment_id="1", tags=experiment_tags)
        self.calls = []

    def get_experiment(self, experiment_id):
        return self.experiment

    def __getattr__(self, name):
        return lambda *args, **kwargs: self.calls.append((name, args, kwargs))


def _describe(client, **options):
    from types import SimpleNamespace

    from cxr_synth.runtime.mlflow_workspace import describe_run

    run = SimpleNamespace(info=SimpleNamespace(run_id="r", experiment_id="1"))
    describe_run(client, run, env="nih", pipelines=["train_dcgan"], parameters={},
                 architectures=["dcgan"], seed=1, **options)  # fmt: skip


def test_a_run_is_named_described_and_its_experiment_tagged_once():
    client = _Client({})
    _describe(client)
    names = [call[0] for call in client.calls]
    assert names == ["set_experiment_tag", "update_run", "set_tag"]
    assert client.calls[0][1] == ("1", "mlflow.experimentKind", "custom_model_development")
    assert client.calls[1][2] == {"name": "nih · train_dcgan · seed 1"}
    assert client.calls[2][1][1] == "mlflow.note.content"
    kept = _Client({"mlflow.experimentKind": "genai_development"})  # a kind a user chose stays
    _describe(kept, rename=False)  # a name set in mlflow.yml stays too
    assert [call[0] for call in kept.calls] == ["set_tag"]
