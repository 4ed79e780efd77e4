"""`kedro study run`: one KedroSession per seed, tagged MLflow runs, restart, the aggregate."""

import re
import subprocess
import time

import mlflow
import numpy as np
import pandas as pd
import pytest
import yaml
from click.testing import CliRunner

from cxr_synth.models.registry import ARCHITECTURES
from cxr_synth.runtime.errors import UserError
from cxr_synth.study.file import SEED_PARAMETERS, load_study, merge, seed_overrides
from cxr_synth.study.runner import run_study
from tests.conftest import PROJECT_ROOT, TINY_STUDY, end_stale_mlflow_runs, make_project, nested
from tests.slurm_cluster import slurm_cluster

PIPELINES = "ingestion,preprocessing,training,synthesis,evaluation"


def _write(path, content) -> str:
    path.write_text(yaml.safe_dump(content, sort_keys=False))
    return str(path)


# ------------------------------------------------------------------------ the study file
def test_seeds_and_params_come_from_the_file_and_the_command_line_merges_into_them(tmp_path):
    file = _write(tmp_path / "mine.yml", {
        "seeds": [0, 1, 2],
        "run": {"env": "nih", "pipelines": "training, evaluation",
                "params": {"training": {"loop": {"epochs": 3, "batch_size": 8}}}},
    })  # fmt: skip
    study = load_study(file, cli_params={"training": {"loop": {"epochs": 5}}})
    assert study.name == "mine" and study.seeds == (0, 1, 2) and study.env == "nih"
    assert study.run_options == {"pipeline_names": ["training", "evaluation"]}
    # --params overrides one key; the file's other keys survive (kedro run --config drops them)
    assert study.params["training"]["loop"] == {"epochs": 5, "batch_size": 8}


def test_each_seed_sets_every_seed_parameter_and_its_own_checkpoint_folder(tmp_path):
    file = _write(tmp_path / "s.yml", {"seeds": [3, 4], "study_name": "abc",
                                       "run": {"params": {"synthesis": {"n_images": 8}}}})  # fmt: skip
    study = load_study(file)
    config = {"training": {"checkpoint_root": "data/ck"}, "pair_training": {"checkpoint_root": "p"}}
    params = seed_overrides(study, 4, config)
    for key in SEED_PARAMETERS:
        node = params
        for part in key.split("."):
            node = node[part]
        assert node == 4, key
    assert params["synthesis"]["n_images"] == 8
    assert params["training"]["checkpoint_root"] == "data/ck/study_abc/seed4"
    assert params["pair_training"]["checkpoint_root"] == "p/study_abc/seed4"
    assert seed_overrides(study, 3, config)["training"]["loop"]["seed"] == 3


def test_the_configuration_hash_ignores_the_seed_list_but_not_the_settings(tmp_path):
    a = load_study(_write(tmp_path / "a.yml", {"seeds": [0, 1], "run": {"params": {"x": 1}}}))
    b = load_study(_write(tmp_path / "a.yml", {"seeds": [0, 1, 2], "run": {"params": {"x": 1}}}))
    c = load_study(_write(tmp_path / "a.yml", {"seeds": [0, 1], "run": {"params": {"x": 2}}}))
    assert a.config_hash == b.config_hash != c.config_hash


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ({"run": {}}, r"\n  seeds: Field required$"),
        ({"seeds": [0, 0], "run": {}},
         r"seeds: must be distinct integers, e.g. `seeds: \[0, 1, 2\]`"),
        ({"seeds": [True]}, r"seeds.0: must be a number, not true/false"),
        ({"seeds": [0, 1], "sedes": 1}, r"sedes: unknown key; did you mean 'seeds'\?"),
        ({"seeds": [0], "run": {"runner": "ParallelRunner"}},
         r"run.runner: unknown key; valid: conf_source, env, .*pipelines"),
        ({"seeds": [0], "run": {"tags": 5}},
         r"run.tags: must be a comma-separated string or a list of names"),
        ({"seeds": [0], "run": {"params": {"training": {"loop": {"seed": 7}}}}},
         r"run.params.training.loop.seed: the study sets it to each of its `seeds`; remove it"),
        ({"seeds": [0], "run": {"pipelines": "training,study_summary"}},
         r"run.pipelines: must not name study_summary: it runs last; remove it"),
    ],
)
def test_a_bad_study_file_says_what_and_how_to_fix(tmp_path, content, message):
    """Every error reads as every parameter section's: ``key: problem`` lines under one header."""
    with pytest.raises(UserError, match=r"invalid study file .*bad.yml \(docs/studies.md\)") as e:
        load_study(_write(tmp_path / "bad.yml", content))
    assert re.search(message, str(e.value)), str(e.value)


def test_the_command_line_may_not_set_a_seed_parameter_either(tmp_path):
    file = _write(tmp_path / "bad.yml", {"seeds": [0], "run": {}})
    with pytest.raises(UserError, match=r"run.params.synthesis.seed: .*from the file or --params"):
        load_study(file, cli_params={"synthesis": {"seed": 3}})


def test_merge_is_key_by_key_and_leaves_its_inputs_alone():
    base = {"a": {"b": 1, "c": 2}, "d": [1]}
    assert merge(base, {"a": {"b": 5}, "e": 3}) == {"a": {"b": 5, "c": 2}, "d": [1], "e": 3}
    assert base == {"a": {"b": 1, "c": 2}, "d": [1]}


# ------------------------------------------------------------------------ the runner, quickly
def test_seeds_run_as_tagged_sessions_and_a_restart_skips_the_finished_ones(tmp_path, monkeypatch):
    """Two seeds of the ingestion alone (seconds): tags, per-seed parameters, skipping; the
    summary then says which artifact the seeds lack."""
    workdir = make_project(tmp_path)
    monkeypatch.chdir(workdir)
    file = _write(workdir / "tiny_seeds.yml", {
        "seeds": [3, 4], "run": {"pipelines": "ingestion", "params": nested(TINY_STUDY)},
    })  # fmt: skip
    try:
        with pytest.raises(UserError, match=r"seeds \[3, 4\] finished, but the study_summary") as e:
            run_study(workdir, file)
        assert "none of the artifacts" in str(e.value) and "evaluation" in str(e.value)
        seeds = {int(r.data.tags["cxr_synth.study_seed"]): r for r in _parents(workdir, "seed")}
        assert sorted(seeds) == [3, 4]
        assert all(run.info.status == "FINISHED" for run in seeds.values())
        assert {run.data.tags["cxr_synth.study_config"] for run in seeds.values()} == {
            load_study(file).config_hash
        }
        with pytest.raises(UserError, match="study_summary pipeline failed"):
            run_study(workdir, file)
    finally:
        end_stale_mlflow_runs()
    assert len(_parents(workdir, "seed")) == 2  # the restart ran no seed again
    dry = run_study(workdir, file, dry_run=True, force=True)
    assert dry.skipped == [] and dry.summary_run is None and len(_parents(workdir, "seed")) == 2


# ------------------------------------------------------------------------ a real study
@pytest.fixture(scope="module")
def two_seed_study(tmp_path_factory):
    """`kedro study run` of a 2-seed study at the tiniest sizes (ingestion -> evaluation)."""
    workdir = make_project(tmp_path_factory.mktemp("study"))
    file = _write(workdir / "tiny_seeds.yml", {
        "seeds": [0, 1],
        "run": {"pipelines": PIPELINES, "params": nested(TINY_STUDY)},
    })  # fmt: skip
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(workdir)
        try:
            result = CliRunner().invoke(_cli(), ["study", "run", file], catch_exceptions=False)
        finally:
            end_stale_mlflow_runs()
    assert result.exit_code == 0, result.output
    return workdir, file, result.output


def _cli():
    from cxr_synth.cli import cli

    return cli


def _client(workdir):
    return mlflow.MlflowClient(f"sqlite:///{workdir / 'mlflow.db'}")


def _parents(workdir, role):
    client = _client(workdir)
    experiment = client.get_experiment_by_name("cxr_synth").experiment_id
    runs = client.search_runs(
        [experiment], f"tags.`cxr_synth.study` = 'tiny_seeds' and tags.`cxr_synth.study_role` = '{role}'"
    )
    return [r for r in runs if "mlflow.parentRunId" not in r.data.tags]


@pytest.mark.slow  # two real seeds: about a minute on 2 busy cores
def test_each_seed_is_one_tagged_mlflow_run_with_its_own_seed(two_seed_study):
    workdir, _, output = two_seed_study
    seeds = {int(r.data.tags["cxr_synth.study_seed"]): r for r in _parents(workdir, "seed")}
    assert sorted(seeds) == [0, 1]
    for seed, run in seeds.items():
        assert run.info.status == "FINISHED" and run.info.run_id in output
        assert run.info.run_name == f"local · study tiny_seeds · seed {seed}"  # MLflow's list
        assert run.data.params["training.loop.seed"] == str(seed)
        assert run.data.params["synthesis.seed"] == str(seed)
        assert run.data.params["evaluation.seed"] == "0"  # the reference stays fixed
        assert run.data.params["training.loop.epochs"] == "1"  # the file's params kept
    fd = [seeds[s].data.metrics["eval.dcgan.FD_rand"] for s in (0, 1)]
    assert fd[0] != fd[1]  # the seed reached the GANs


@pytest.mark.slow
def test_the_summary_is_mean_and_std_over_the_two_seeds_runs(two_seed_study):
    workdir, _, output = two_seed_study
    (summary,) = _parents(workdir, "summary")
    assert summary.info.run_id in output
    assert summary.info.run_name == "local · study tiny_seeds · summary"
    seeds = {int(r.data.tags["cxr_synth.study_seed"]): r for r in _parents(workdir, "seed")}
    folder = workdir / "data/08_reporting/studies/tiny_seeds"
    table = pd.read_csv(folder / "seed_table.csv")
    assert set(table["architecture"]) == set(ARCHITECTURES)
    assert (table["n_seeds"] == 2).all()
    for arch in ARCHITECTURES:
        values = [seeds[s].data.metrics[f"eval.{arch}.FD_rand"] for s in (0, 1)]
        row = table[(table["architecture"] == arch) & (table["metric"] == "FD_rand")].iloc[0]
        assert row["mean"] == pytest.approx(np.mean(values))
        assert row["std"] == pytest.approx(np.std(values, ddof=1))
        assert summary.data.metrics[f"study.{arch}.FD_rand.std"] == pytest.approx(row["std"])
    markdown = (folder / "seed_table.md").read_text(encoding="utf-8")
    assert "(2 seeds)" in markdown and "±" in markdown
    curves = pd.read_csv(folder / "learning_curves.csv")
    assert set(curves["architecture"]) == set(ARCHITECTURES) and (curves["n_seeds"] == 2).all()
    assert (curves["wall_clock_s_mean"] > 0).all() and curves["fd_std"].notna().all()
    artifacts = {a.path for a in _client(workdir).list_artifacts(summary.info.run_id, "study")}
    assert {"study/seed_table.csv", "study/seed_table.md", "study/learning_curves.png",
            "study/seed_bars.png", "study/seed_runs.csv"} <= artifacts  # fmt: skip


@pytest.mark.slow
def test_a_restart_skips_finished_seeds_and_only_redoes_the_summary(two_seed_study, monkeypatch):
    workdir, file, _ = two_seed_study
    monkeypatch.chdir(workdir)
    try:
        result = run_study(workdir, file)
    finally:
        end_stale_mlflow_runs()
    assert result.skipped == [0, 1] and result.summary_run is not None
    assert len(_parents(workdir, "seed")) == 2 and len(_parents(workdir, "summary")) == 2


@pytest.mark.slow
def test_a_changed_configuration_is_not_mixed_with_finished_seeds(two_seed_study, monkeypatch):
    workdir, file, _ = two_seed_study
    monkeypatch.chdir(workdir)
    with pytest.raises(UserError, match=r"seed 0 already finished .* --force"):
        run_study(workdir, file, params={"synthesis": {"n_images": 17}})


def test_a_failing_seed_stops_the_study_and_names_the_seed(tmp_path, monkeypatch):
    workdir = make_project(tmp_path)
    monkeypatch.chdir(workdir)
    file = _write(workdir / "broken.yml", {"seeds": [5, 6], "run": {"pipelines": "no_such"}})
    try:
        with pytest.raises(UserError, match=r"seed 5 failed") as error:
            run_study(workdir, file)
    finally:
        end_stale_mlflow_runs()
    assert "seed 6" not in str(error.value) and "rerun" in str(error.value)


@pytest.mark.parametrize("name", ["demo_seeds", "nih_sample_seeds_cpu"])
def test_the_shipped_studies_parse_and_stay_kedro_run_config_files(name):
    from kedro.framework.cli.utils import _validate_config_file

    path = PROJECT_ROOT / "studies" / f"{name}.yml"
    study = load_study(path)
    assert study.name == name and study.seeds == (0, 1, 2)
    assert study.run_options["pipeline_names"][-1].startswith("evaluat")
    for key in yaml.safe_load(path.read_text())["run"]:
        _validate_config_file(key)  # what `kedro run --config` checks; raises if unknown


# ------------------------------------------------------------------------ variants (ablations)
VARIANTS = {
    "base": {},
    "sn": {"proposed": {"model": {"options": {"spectral_norm": True}}}},
    "wide": {"proposed": {"model": {"options": {"g_width": 8}}}, "training": {"loop": {"epochs": 4}}},
}


def test_variants_are_merged_over_the_params_and_run_seed_by_seed(tmp_path):
    file = _write(tmp_path / "abl.yml", {
        "seeds": [0, 1], "variants": VARIANTS,
        "run": {"params": {"training": {"loop": {"epochs": 3, "batch_size": 8}}}},
    })  # fmt: skip
    study = load_study(file)
    assert list(study.variants) == ["base", "sn", "wide"]  # the file's order
    assert study.runs == [("base", 0), ("sn", 0), ("wide", 0), ("base", 1), ("sn", 1), ("wide", 1)]
    assert study.variant_params("wide")["training"]["loop"] == {"epochs": 4, "batch_size": 8}
    assert study.variant_params("base") == study.params and "proposed" not in study.params
    config = {"training": {"checkpoint_root": "ck"}}
    params = seed_overrides(study, 1, config, "sn")
    assert params["proposed"]["model"]["options"] == {"spectral_norm": True}
    assert params["training"]["loop"] == {"epochs": 3, "batch_size": 8, "seed": 1}
    assert params["training"]["checkpoint_root"] == "ck/study_abl/sn/seed1"
    # one hash per variant, from its own merged settings: adding a variant changes no other's
    hashes = {v: study.variant_hash(v) for v in study.variants}
    assert len(set(hashes.values())) == 3
    fewer = load_study(_write(tmp_path / "abl.yml", {
        "seeds": [0], "variants": {"sn": VARIANTS["sn"]},
        "run": {"params": {"training": {"loop": {"epochs": 3, "batch_size": 8}}}},
    }))  # fmt: skip
    assert fewer.variant_hash("sn") == hashes["sn"] and fewer.config_hash != study.config_hash
    # the empty variant is the study without variants, so its hash is that study's
    plain = load_study(_write(tmp_path / "abl.yml", {
        "seeds": [0], "run": {"params": {"training": {"loop": {"epochs": 3, "batch_size": 8}}}},
    }))  # fmt: skip
    assert plain.variants == {} and plain.runs == [(None, 0)]
    assert hashes["base"] == plain.config_hash == plain.variant_hash(None)


def test_the_command_line_params_are_merged_under_the_variants(tmp_path):
    file = _write(tmp_path / "abl.yml", {"seeds": [0], "variants": VARIANTS, "run": {}})
    study = load_study(file, cli_params={"training": {"loop": {"epochs": 9, "batch_size": 2}}})
    assert study.variant_params("wide")["training"]["loop"] == {"epochs": 4, "batch_size": 2}
    assert study.variant_params("sn")["training"]["loop"] == {"epochs": 9, "batch_size": 2}


@pytest.mark.parametrize(
    ("variants", "message"),
    [
        ({}, r"variants: Dictionary should have at least 1 item"),
        ([{"a": {}}], r"variants: Input should be a valid dictionary"),
        ({"a b": {}}, r"variants.a b: Variant name 'a b' is not valid: use 1-64 letters"),
        ({"a.b": {}}, r"variants.a.b: Variant name 'a.b' is not valid"),
        ({"a": [1]}, r"variants.a: Input should be a valid dictionary \(got \[1\]\)"),
        ({"a": {"trainng": {}}},
         r"variants.a: unknown parameter section\(s\) 'trainng' \(did you mean 'training'\?\)"),
        ({"a": {"study_summary": {}}},
         r"variants.a.study_summary: read once per study, not per variant; a variant overrides"),
        ({"a": {"synthesis": {"seed": 3}}},
         r"variants.a.synthesis.seed: the study sets it to each of its `seeds`; remove it"),
        ({"a": {"dcgan": {"loop": {"epochs": 2}}}, "b": {"dcgan": {"loop": {"epochs": 2}}}},
         r"variants: 'a' and 'b' set the same parameters; keep one"),
    ],
)
def test_bad_variants_are_refused_with_a_short_message(tmp_path, variants, message):
    file = _write(tmp_path / "bad.yml", {"seeds": [0], "variants": variants, "run": {}})
    with pytest.raises(UserError, match=message):
        load_study(file)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"proposed": {"model": {"options": {"spectral_nrom": True}}}},
         r"variants.v.proposed.model.options.spectral_nrom: unknown key; did you mean 'spectral_"),
        ({"proposed": {"model": {"options": {"dropout": 2.0}}}},
         r"variants.v.proposed.model.options.dropout: Input should be less than 1 \(got 2.0\)"),
        ({"proposed": {"modle": {}}},
         r"variants.v.proposed.modle: unknown key; did you mean 'model'"),
        ({"training": {"loop": {"epochs": 0}}},
         r"variants.v.training.loop.epochs: Input should be greater than or equal to 1 \(got 0\)"),
    ],
)
def test_variant_overrides_are_checked_against_the_parameter_models(tmp_path, override, message):
    from cxr_synth.study.file import check_variants

    file = _write(tmp_path / "abl.yml", {"seeds": [0], "variants": {"ok": {}, "v": override}})
    config = yaml.safe_load((PROJECT_ROOT / "conf/base/parameters_training.yml").read_text())
    with pytest.raises(UserError, match=message):
        check_variants(load_study(file), config)


def test_valid_variant_overrides_pass_the_check(tmp_path):
    from cxr_synth.study.file import check_variants

    file = PROJECT_ROOT / "studies" / "ablation_proposed_cpu.yml"
    study = load_study(file)
    config = merge(yaml.safe_load((PROJECT_ROOT / "conf/base/parameters_training.yml").read_text()),
                   study.params)  # fmt: skip
    check_variants(study, config)  # raises if a variant is invalid


def test_the_shipped_ablation_names_its_variants_and_turns_every_stabiliser_off_in_its_base():
    from cxr_synth.models.options import DCGANOptions, ProposedOptions

    study = load_study(PROJECT_ROOT / "studies" / "ablation_proposed_cpu.yml")
    assert study.seeds == (0, 1, 2) and list(study.variants)[0] == "dcgan"
    assert study.run_options["pipeline_names"][-1] == "evaluate_proposed"
    base = ProposedOptions.parse(study.params["proposed"]["model"]["options"])
    dcgan = DCGANOptions.parse({"g_width": 16, "d_width": 16})
    assert base.model_dump() == dcgan.model_dump()  # the base variant is DCGAN exactly
    old = ProposedOptions.parse(study.variant_params("proposed")["proposed"]["model"]["options"])
    # the old defaults: the paper's model plus spectral norm, DiffAugment, smoothing, EMA, no BN
    assert set(old.paper_deviations()) == {
        "d_norm", "spectral_norm", "diffaugment", "label_smoothing", "ema_decay"
    }  # fmt: skip
    widths = {"g_width", "d_width"}
    stabilisers = {k for k, v in old.model_dump().items()
                   if v != DCGANOptions().model_dump()[k]} - widths  # fmt: skip
    single = {key for name, o in study.variants.items() if name not in ("dcgan", "proposed", "all")
              for key in o["proposed"]["model"]["options"]}  # fmt: skip
    assert stabilisers | {"r1_gamma"} == single  # each stabiliser alone, R1 too


def test_variant_runs_are_tagged_and_a_restart_skips_the_finished_pairs(tmp_path, monkeypatch):
    """Two variants x two seeds of the ingestion alone (seconds)."""
    workdir = make_project(tmp_path)
    monkeypatch.chdir(workdir)
    variants = {"a": {}, "b": {"ingestion": {"seed": 5}}}
    file = _write(workdir / "tiny_seeds.yml", {
        "seeds": [3, 4], "variants": variants,
        "run": {"pipelines": "ingestion", "params": nested(TINY_STUDY)},
    })  # fmt: skip
    study = load_study(file)
    try:
        with pytest.raises(UserError, match=r"the 4 \(variant, seed\) runs finished, but"):
            run_study(workdir, file)
        runs = _parents(workdir, "seed")
        tags = sorted((r.data.tags["cxr_synth.study_variant"], r.data.tags["cxr_synth.study_seed"],
                       r.data.tags["cxr_synth.study_config"]) for r in runs)  # fmt: skip
        assert tags == [("a", "3", study.variant_hash("a")), ("a", "4", study.variant_hash("a")),
                        ("b", "3", study.variant_hash("b")), ("b", "4", study.variant_hash("b"))]  # fmt: skip
        b = next(r for r in runs if r.data.tags["cxr_synth.study_variant"] == "b")
        assert b.data.params["ingestion.seed"] == "5"
        # a new variant runs alone; the finished pairs are skipped
        variants["c"] = {"ingestion": {"seed": 6}}
        _write(workdir / "tiny_seeds.yml", {
            "seeds": [3, 4], "variants": variants,
            "run": {"pipelines": "ingestion", "params": nested(TINY_STUDY)},
        })  # fmt: skip
        with pytest.raises(UserError, match="study_summary pipeline failed"):
            run_study(workdir, file)
    finally:
        end_stale_mlflow_runs()
    assert len(_parents(workdir, "seed")) == 6
    dry = run_study(workdir, file, dry_run=True)
    assert dry.skipped == [("a", 3), ("b", 3), ("c", 3), ("a", 4), ("b", 4), ("c", 4)]
    with pytest.raises(UserError, match=r"variant 'a' seed 3 already finished .* --force"):
        run_study(workdir, file, params={"ingestion": {"seed": 9}})


VARIANT_STUDY = {
    "seeds": [0, 1],
    "variants": {"plain": {}, "ema": {"dcgan": {"model": {"options": {"ema_decay": 0.9}}}}},
    "run": {"pipelines": "ingestion,preprocessing,train_dcgan,synthesize_dcgan,evaluate_dcgan",
            "params": nested(TINY_STUDY)},
}  # fmt: skip


def run_variant_study(workdir, *options, study=VARIANT_STUDY):
    """`kedro study run` of ``study`` (by default ``VARIANT_STUDY``: 2 variants x 2 seeds, one
    tiny DCGAN each) in the throw-away project ``workdir``; the CLI's output."""
    file = _write(workdir / "tiny_seeds.yml", study)
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(workdir)
        try:
            result = CliRunner().invoke(_cli(), ["study", "run", file, *options],
                                        catch_exceptions=False)  # fmt: skip
        finally:
            end_stale_mlflow_runs()
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture(scope="module")
def variant_study(tmp_path_factory):
    workdir = make_project(tmp_path_factory.mktemp("variants"))
    return workdir, run_variant_study(workdir)


TIMING = ("time", "_per_s", "_hours", "wall", "seconds")  # wall-clock metrics differ run to run


def results(run) -> dict[str, float]:
    """A run's metrics without its wall-clock ones."""
    return {k: v for k, v in run.data.metrics.items() if not any(t in k for t in TIMING)}


def seed_runs(workdir):
    """{(variant, seed): parent run} of the study in ``workdir``."""
    return {(r.data.tags["cxr_synth.study_variant"], int(r.data.tags["cxr_synth.study_seed"])): r
            for r in _parents(workdir, "seed")}  # fmt: skip


@pytest.mark.slow  # four tiny runs of one architecture: about a minute on 2 busy cores
def test_a_variant_study_of_one_architecture_ends_in_a_table_per_variant(variant_study):
    workdir, output = variant_study
    assert "plain/0: " in output and "ema/1: " in output
    runs = seed_runs(workdir)
    assert sorted(runs) == [("ema", 0), ("ema", 1), ("plain", 0), ("plain", 1)]
    folder = workdir / "data/08_reporting/studies/tiny_seeds"
    table = pd.read_csv(folder / "seed_table.csv")  # from the evaluate_dcgan reports
    fd = table[table["metric"] == "FD_rand"].set_index("variant")
    assert list(fd.index) == ["plain", "ema"] and set(fd["architecture"]) == {"dcgan"}
    for variant in ("plain", "ema"):
        values = [runs[(variant, s)].data.metrics["dcgan.best_fd_rand"] for s in (0, 1)]
        assert fd.at[variant, "n_seeds"] == 2 and np.isfinite(fd.at[variant, "mean"])
        assert len(set(values)) == 2  # the seeds differ
    assert fd.at["plain", "mean"] != fd.at["ema", "mean"]
    curves = pd.read_csv(folder / "learning_curves.csv")
    assert set(curves["variant"]) == {"plain", "ema"} and (curves["n_seeds"] == 2).all()
    assert "| variant | architecture |" in (folder / "seed_table.md").read_text(encoding="utf-8")
    (summary,) = _parents(workdir, "summary")
    assert "study.ema.dcgan.FD_rand.mean" in summary.data.metrics


@pytest.mark.slow  # four tiny runs in two parallel processes, plus the sequential fixture's four
def test_the_local_executor_gives_the_sequential_runs_per_seed_metrics(
    variant_study, tmp_path_factory, monkeypatch
):
    sequential_dir, _ = variant_study
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # the jobs' threads, as this process's (conftest)
    workdir = make_project(tmp_path_factory.mktemp("fan_out"))
    output = run_variant_study(workdir, "--executor", "local", "--jobs", "2")
    assert "summary: MLflow run" in output
    parallel, sequential = seed_runs(workdir), seed_runs(sequential_dir)
    assert sorted(parallel) == sorted(sequential) == [
        ("ema", 0), ("ema", 1), ("plain", 0), ("plain", 1)
    ]  # fmt: skip
    for key, run in sequential.items():
        assert len(results(run)) > 10 and results(run) == results(parallel[key]), key
    for variant, seed in parallel:  # each job wrote into a data folder of its own
        root = workdir / f"data/study_jobs/tiny_seeds/{variant}/seed{seed}"
        assert (root / "08_reporting/dcgan/evaluation.json").is_file()
        assert (root / ".kedro_run.lock").is_file()  # and locked it, not the project's data/
    assert (workdir / "data/08_reporting/studies/tiny_seeds/seed_table.csv").is_file()


@pytest.fixture(scope="module")
def slurm(tmp_path_factory):
    with slurm_cluster(tmp_path_factory.mktemp("slurm")) as env:
        yield env


@pytest.mark.slow  # a Slurm job array of two tiny runs and its summary job
def test_the_slurm_executor_runs_a_job_array_and_a_dependent_summary(
    slurm, variant_study, tmp_path_factory, monkeypatch
):
    for key, value in {**slurm, "OMP_NUM_THREADS": "1"}.items():
        monkeypatch.setenv(key, value)
    workdir = make_project(tmp_path_factory.mktemp("slurm_study"))
    plain = {k: v for k, v in VARIANT_STUDY.items() if k != "variants"}  # = variant "plain"
    output = run_variant_study(workdir, "--executor", "slurm", "--jobs", "2", "--resources",
                               "timeout_min=30", study=plain)  # fmt: skip
    jobs = re.search(r"Slurm jobs (.*) submitted", output).group(1).split(", ")
    assert len(jobs) == 3 and jobs[0].endswith("_0") and "_" not in jobs[-1]  # array + summary
    deadline = time.monotonic() + 600
    while subprocess.run(["squeue", "-h"], capture_output=True, text=True).stdout.strip():
        assert time.monotonic() < deadline, "the Slurm jobs did not end in 10 minutes"
        time.sleep(2)
    runs = {int(r.data.tags["cxr_synth.study_seed"]): r for r in _parents(workdir, "seed")}
    sequential = seed_runs(variant_study[0])
    assert sorted(runs) == [0, 1]
    for seed, run in runs.items():
        assert results(run) == results(sequential[("plain", seed)]), seed
    (summary,) = _parents(workdir, "summary")
    assert summary.info.status == "FINISHED" and "study.dcgan.FD_rand.mean" in summary.data.metrics


# ------------------------------------------------------------------------ no GAN: segmentation
SEGMENTATION_NODES = (
    "preprocessing.pair_segmentation_files,preprocessing.preprocess_segmentation,"
    "segmentation.split_segmentation_set,segmentation.none.run_segmentation_experiment,"
    "segmentation.classic.run_segmentation_experiment,"
    "segmentation_external.external_preprocessing_params,segmentation_external.pair_external_files,"
    "segmentation_external.preprocess_segmentation,segmentation_external.none.evaluate_external,"
    "segmentation_external.classic.evaluate_external"
)  # as studies/seg_cross_*.yml: the none and classic U-Nets, in-domain and external


def test_a_segmentation_only_study_ends_with_a_dice_table_in_a_finished_summary(
    tmp_path, monkeypatch
):
    """Two variants x one seed of tiny U-Nets on the demo phantoms (about 25 s): no GAN, so no
    comparison table, yet the summary finishes with the Dice table."""
    workdir = make_project(tmp_path)
    monkeypatch.chdir(workdir)
    file = _write(workdir / "tiny_seeds.yml", {
        "seeds": [0],
        "variants": {"raw": {}, "clahe": {"segmentation": {"unet": {"intensity": "clahe"}}}},
        "run": {"pipelines": "preprocessing,segmentation,segmentation_external_baselines",
                "node_names": SEGMENTATION_NODES, "params": nested(TINY_STUDY)},
    })  # fmt: skip
    try:
        result = run_study(workdir, file)
    finally:
        end_stale_mlflow_runs()
    (summary,) = _parents(workdir, "summary")
    assert summary.info.status == "FINISHED" and summary.info.run_id == result.summary_run
    folder = workdir / "data/08_reporting/studies/tiny_seeds"
    table = pd.read_csv(folder / "segmentation_table.csv")
    assert list(zip(table["variant"], table["test_set"], table["method"], strict=True)) == [
        (v, t, m) for v in ("raw", "clahe") for t in ("in", "ext") for m in ("none", "classic")
    ]
    assert (table["n_seeds"] == 2).all() and table["dice_mean"].between(0, 1).all()
    assert table["vs_reference_mean"].notna().tolist() == [False, True] * 4
    clahe = table[table["variant"] == "clahe"]
    assert (clahe["baseline_variant"] == "raw").all() and clahe["vs_baseline_mean"].notna().all()
    # data/ holds the last run's files (clahe): its in-domain `none` U-Nets, mean over seeds
    none = pd.read_csv(workdir / "data/08_reporting/segmentation/none_runs.csv")
    row = table[(table["variant"] == "clahe") & (table["test_set"] == "in")].iloc[0]
    assert row["dice_mean"] == pytest.approx(none.groupby("seed")["dice"].mean().mean())
    assert "| clahe | ext | classic |" in (folder / "segmentation_table.md").read_text("utf-8")
    assert pd.read_csv(folder / "seed_table.csv").empty  # no GAN: empty, not a failure
    artifacts = {a.path for a in _client(workdir).list_artifacts(summary.info.run_id, "study")}
    assert {"study/segmentation_table.csv", "study/segmentation_table.md",
            "study/seed_table.csv", "study/seed_bars.png"} <= artifacts  # fmt: skip


def test_an_interrupted_run_is_killed_not_finished_so_a_rerun_redoes_it(tmp_path, monkeypatch):
    """Ctrl-C: Kedro leaves the MLflow run open and MLflow's exit handler would end it FINISHED."""
    from kedro.framework.session import KedroSession

    from cxr_synth.study.mlflow_runs import finished_study_runs

    workdir = make_project(tmp_path)
    monkeypatch.chdir(workdir)
    file = _write(workdir / "tiny_seeds.yml", {"seeds": [0], "variants": {"a": {}}, "run": {}})

    def interrupted(self, **kwargs):
        mlflow.set_tracking_uri(f"sqlite:///{workdir / 'mlflow.db'}")
        mlflow.start_run()  # carries the study tags (MLFLOW_RUN_CONTEXT), as kedro-mlflow's does
        raise KeyboardInterrupt

    monkeypatch.setattr(KedroSession, "run", interrupted)
    try:
        with pytest.raises(KeyboardInterrupt):
            run_study(workdir, file)
    finally:
        end_stale_mlflow_runs()
    (run,) = _parents(workdir, "seed")
    assert run.info.status == "KILLED" and run.data.tags["cxr_synth.study_variant"] == "a"
    assert finished_study_runs(_client(workdir), "tiny_seeds") == {}


def test_the_run_reported_for_a_seed_is_this_process_s_own(tmp_path, monkeypatch):
    """Fault seen in session 8: two copies of the project ran seed 1 of one study against one
    server; the runner took the newest run with the seed's tags, the other copy's (later killed)
    attempt, as its own. Each session's runs now carry an attempt id of their own."""
    import json
    import os

    from kedro.framework.session import KedroSession

    workdir = make_project(tmp_path)
    monkeypatch.chdir(workdir)
    file = _write(workdir / "tiny_seeds.yml", {"seeds": [1], "run": {}})
    own = []

    def session_run(self, **kwargs):
        mlflow.set_tracking_uri(f"sqlite:///{workdir / 'mlflow.db'}")
        with mlflow.start_run() as run:  # carries the study tags, as kedro-mlflow's does
            own.append(run.info.run_id)
        tags = json.loads(os.environ["MLFLOW_RUN_CONTEXT"])
        other = {k: v for k, v in tags.items() if k != "cxr_synth.study_attempt"}
        mlflow.MlflowClient().create_run(run.info.experiment_id, tags=other)  # newer, not ours

    monkeypatch.setattr(KedroSession, "run", session_run)
    try:
        result = run_study(workdir, file)
    finally:
        end_stale_mlflow_runs()
    assert result.seed_runs == {1: own[0]} and result.summary_run == own[1]
