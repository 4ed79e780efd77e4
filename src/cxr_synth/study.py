"""Multi-seed studies: one ``kedro run`` (KedroSession) per seed, then the ``study_summary``.

A study file is a Kedro run-config file (``kedro run --config FILE`` still runs it, once, with
its own seeds) plus a top-level ``seeds:`` list::

    seeds: [0, 1, 2]
    run: {env: nih, pipelines: "ingestion,...,evaluation", params: {...}}

``kedro study run FILE`` (``cxr_synth.cli``) then, for every seed k:

- merges the file's ``run.params``, the command line's ``--params`` (key by key, unlike
  ``kedro run --config FILE --params``) and the seed overrides (``SEED_PARAMETERS`` = k;
  checkpoints under ``<checkpoint_root>/study_<name>/seed<k>``);
- runs the file's pipelines in one KedroSession whose MLflow runs are tagged
  ``cxr_synth.study=<name>``, ``cxr_synth.study_role=seed``, ``cxr_synth.study_seed=k`` and
  ``cxr_synth.study_config=<hash of the file's settings>``;
- skips a seed whose tagged run already FINISHED with the same configuration (``force`` reruns).

A file may also list named ``variants:`` (an ablation), each a params override merged key by key
over ``run.params`` (after ``--params``)::

    variants: {dcgan: {}, spectral_norm: {proposed: {model: {options: {spectral_norm: true}}}}}

Then every variant runs with every seed (seed by seed: all variants of the first seed, then the
next seed), each run tagged ``cxr_synth.study_variant=<variant>`` too, with the configuration hash
of its own merged settings, so a rerun skips the finished (variant, seed) pairs.

Every seed overwrites ``data/`` (the last seed's files stay); MLflow keeps every seed. Last,
``study_summary`` reads the seed runs back from MLflow (``MlflowStudyDataset``) in its own
MLflow run, tagged ``cxr_synth.study_role=summary``, which holds the aggregate.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import logging
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cxr_synth.datasets.mlflow_study import (
    CONFIG_TAG,
    PARENT_TAG,
    ROLE_TAG,
    SEED_TAG,
    STUDY_TAG,
    VARIANT_TAG,
    check_study_name,
    check_variant_name,
    finished_study_runs,
)
from cxr_synth.runtime.errors import UserError

logger = logging.getLogger(__name__)

# What a study seed changes: GAN initial weights, data order and latent noise in training,
# the pair GANs' (segmentation), and the noise that draws the synthetic images. What it does NOT
# change (fixed on purpose, docs/studies.md): which real images form the evaluation reference
# and the random feature network (evaluation.seed, training.evaluation.seed,
# pair_training.evaluation.seed), the data and its splits (demo_data, ingestion,
# segmentation.split), and the U-Net seeds (segmentation.seeds: already several per run).
SEED_PARAMETERS = (
    "training.loop.seed",
    "pair_training.loop.seed",
    "synthesis.seed",
    "segmentation.synthesis.seed",
)
CHECKPOINT_PARAMETERS = ("training.checkpoint_root", "pair_training.checkpoint_root")
SUMMARY_PIPELINE = "study_summary"
FILE_KEYS = {"seeds", "run", "study_name", "variants"}
# Sections a variant may not change: the summary reads them once for the whole study.
NOT_PER_VARIANT = ("study", "study_summary")
LIST_OPTIONS = ("tags", "node_names", "from_nodes", "to_nodes", "from_inputs", "to_outputs",
                "namespaces")  # fmt: skip
RUN_KEYS = {"env", "conf_source", "params", "pipelines", "pipeline", "only_missing_outputs",
            *LIST_OPTIONS}  # fmt: skip


@dataclass(frozen=True)
class Study:
    """A parsed study file."""

    name: str
    seeds: tuple[int, ...]
    path: Path
    env: str | None = None
    conf_source: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    run_options: dict[str, Any] = field(default_factory=dict)  # KedroSession.run keywords
    variants: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> overrides

    def _hash(self, params: Mapping[str, Any], **extra: Any) -> str:
        settings = {"env": self.env, "conf_source": self.conf_source, "params": params,
                    "run": self.run_options, **extra}  # fmt: skip
        text = json.dumps(settings, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    @property
    def config_hash(self) -> str:
        """Identifies the settings every seed ran with (not the seed list): 12 hex digits.
        With variants: the settings and every variant's overrides (the summary run's tag)."""
        if not self.variants:
            return self._hash(self.params)
        return self._hash(self.params, variants=self.variants)

    def variant_params(self, variant: str | None) -> dict[str, Any]:
        """The study's params with ``variant``'s overrides merged in (None: the study's own)."""
        if variant is None:
            return copy.deepcopy(self.params)
        return merge(self.params, self.variants[variant])

    def variant_hash(self, variant: str | None) -> str:
        """The configuration hash of one variant's runs: its merged settings (not its name, not
        the other variants); ``config_hash`` for a study without variants."""
        return self.config_hash if variant is None else self._hash(self.variant_params(variant))

    @property
    def runs(self) -> list[tuple[str | None, int]]:
        """Every (variant, seed) to run, in order: seed by seed, every variant of each seed
        (a study cut short has every variant at the first seeds); variant None without any."""
        names: list[str | None] = list(self.variants) or [None]
        return [(variant, seed) for seed in self.seeds for variant in names]


@dataclass
class StudyResult:
    """What ``run_study`` did: MLflow run ids per seed, the summary's run id, skipped seeds.

    Keys are seeds, or ``(variant, seed)`` pairs in a study with variants.
    """

    study: Study
    seed_runs: dict[Any, str] = field(default_factory=dict)
    skipped: list[Any] = field(default_factory=list)
    summary_run: str | None = None


def _split(value: Any, key: str, where: Path) -> list[str]:
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return value
    raise UserError(f"{where}: run.{key} must be a comma-separated string or a list of names.")


def merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """``override`` merged into ``base`` key by key (nested mappings too); neither is changed."""
    merged = copy.deepcopy(dict(base))
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _lookup(tree: Mapping[str, Any], dotted: str) -> tuple[bool, Any]:
    node: Any = tree
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return False, None
        node = node[part]
    return True, node


def _nested(dotted: str, value: Any) -> dict[str, Any]:
    *parents, leaf = dotted.split(".")
    tree: dict[str, Any] = {leaf: value}
    for parent in reversed(parents):
        tree = {parent: tree}
    return tree


def _leaves(tree: Mapping[str, Any], prefix: str = "") -> Iterator[str]:
    for key, value in tree.items():
        if isinstance(value, Mapping) and value:
            yield from _leaves(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}"


def _load_variants(raw: Any, path: Path) -> dict[str, dict[str, Any]]:
    """``variants:`` of a study file: {name: overrides}, names and top-level keys checked."""
    if raw is None:
        return {}
    if not isinstance(raw, dict) or not raw:
        raise UserError(
            f"{path}: `variants` must map names to parameter overrides, e.g. "
            "`variants: {base: {}, sn: {proposed: {model: {options: {spectral_norm: true}}}}}`."
        )
    from cxr_synth.pipelines.configuration import known_sections  # imports every pipeline's models

    known = known_sections()
    variants: dict[str, dict[str, Any]] = {}
    seen: dict[str, str] = {}
    for name, overrides in raw.items():
        check_variant_name(name)
        overrides = overrides if overrides is not None else {}
        if not isinstance(overrides, dict):
            raise UserError(
                f"{path}: variant {name!r} must be a mapping of parameter overrides (or {{}}), "
                f"got {overrides!r}."
            )
        for key in overrides:
            if key in NOT_PER_VARIANT or key not in known:
                why = "is read once per study" if key in NOT_PER_VARIANT else "is no section"
                raise UserError(
                    f"{path}: variant {name!r} sets {key!r}, which {why}; a variant overrides "
                    "parameter sections such as training or <architecture>."
                )
        for key in SEED_PARAMETERS:
            if _lookup(overrides, key)[0]:
                raise UserError(
                    f"{path}: variant {name!r} sets {key}, which the study sets to each seed; "
                    "remove it."
                )
        same = seen.get(json.dumps(overrides, sort_keys=True, default=str))
        if same is not None:
            raise UserError(f"{path}: variants {same!r} and {name!r} set the same parameters.")
        seen[json.dumps(overrides, sort_keys=True, default=str)] = name
        variants[name] = overrides
    return variants


def load_study(path: str | Path, cli_params: Mapping[str, Any] | None = None) -> Study:
    """Parse and check a study file; ``cli_params`` (nested) are merged over its ``run.params``."""
    from omegaconf import OmegaConf

    path = Path(path)
    if not path.is_file():
        raise UserError(f"Study file {path} not found; give the path of a studies/<name>.yml file.")
    try:
        raw = OmegaConf.to_container(OmegaConf.load(path))
    except Exception as err:  # YAML syntax
        raise UserError(f"{path} is not valid YAML ({err}); fix the file.") from err
    if not isinstance(raw, dict):
        raise UserError(f"{path}: expected a mapping with `seeds:` and `run:`; fix the file.")
    unknown = sorted(set(raw) - FILE_KEYS)
    if unknown:
        raise UserError(
            f"{path}: unknown top-level keys {unknown}; a study file has {sorted(FILE_KEYS)}."
        )
    seeds = raw.get("seeds")
    if (
        not isinstance(seeds, list)
        or not seeds
        or not all(isinstance(s, int) and not isinstance(s, bool) for s in seeds)
        or len(set(seeds)) != len(seeds)
    ):
        raise UserError(
            f"{path}: `seeds` must be a list of distinct integers, e.g. `seeds: [0, 1, 2]` "
            f"(got {seeds!r})."
        )
    if len(seeds) < 3:
        logger.warning("%s: %d seed(s); a mean ± std over fewer than 3 seeds is fragile",
                       path, len(seeds))  # fmt: skip
    run = raw.get("run") or {}
    if not isinstance(run, dict):
        raise UserError(f"{path}: `run` must be a mapping (as in `kedro run --config`).")
    bad = sorted(set(run) - RUN_KEYS)
    if bad:
        raise UserError(
            f"{path}: run.{bad[0]} is not supported by `kedro study run` (supported: "
            f"{sorted(RUN_KEYS)}); remove it or run the seeds with `kedro run --config`."
        )
    params = merge(run.get("params") or {}, cli_params or {})
    for key in SEED_PARAMETERS:
        present, _ = _lookup(params, key)
        if present:
            raise UserError(
                f"{path}: {key} is set, but a study sets it to each of its `seeds`; remove "
                f"{key} from the file (or from --params) and list the seeds in `seeds:`."
            )
    options: dict[str, Any] = {}
    pipelines = run.get("pipelines") or run.get("pipeline")
    if pipelines:
        options["pipeline_names"] = _split(pipelines, "pipelines", path)
    for key in LIST_OPTIONS:
        if run.get(key):
            options[key] = _split(run[key], key, path)
    if run.get("only_missing_outputs"):
        options["only_missing_outputs"] = True
    if SUMMARY_PIPELINE in options.get("pipeline_names", []):
        raise UserError(f"{path}: run.pipelines must not name {SUMMARY_PIPELINE}; it runs last.")
    return Study(
        name=check_study_name(str(raw.get("study_name") or path.stem)),
        seeds=tuple(seeds),
        path=path,
        env=run.get("env"),
        conf_source=run.get("conf_source"),
        params=params,
        run_options=options,
        variants=_load_variants(raw.get("variants"), path),
    )


def seed_overrides(
    study: Study, seed: int, config: Mapping[str, Any], variant: str | None = None
) -> dict[str, Any]:
    """The runtime parameters of one seed's run: the study's params (with ``variant``'s
    overrides) plus the seed overrides.

    ``config``: the project's merged parameters (to find the checkpoint roots). Checkpoints go
    to ``<root>/study_<name>/seed<k>``, or ``<root>/study_<name>/<variant>/seed<k>``.
    """
    params = study.variant_params(variant)
    for key in SEED_PARAMETERS:
        params = merge(params, _nested(key, seed))
    folder = f"study_{study.name}" + (f"/{variant}" if variant is not None else "")
    for key in CHECKPOINT_PARAMETERS:
        present, root = _lookup(config, key)
        if present and root:
            params = merge(params, _nested(key, f"{root}/{folder}/seed{seed}"))
    return params


def check_variants(study: Study, config: Mapping[str, Any]) -> None:
    """Validate every variant's overrides against the parameter models before anything runs:
    a typo in a variant (``spectral_nrom``) stops the study up front with a short message, not
    when that variant's first node runs.

    ``config``: the project's merged parameters (the study's params included).
    """
    from cxr_synth.models.registry import ARCHITECTURES
    from cxr_synth.pipelines.configuration import ARCHITECTURE_SECTION, SECTIONS

    for name, overrides in study.variants.items():
        merged = merge(config, overrides)
        try:
            for section in overrides:
                value = merged.get(section)
                if section in SECTIONS:
                    SECTIONS[section].parse(value, prefix=section)
                elif section in ARCHITECTURES:
                    if not isinstance(value, Mapping):
                        raise UserError(f"{section} must be a mapping with model and loop")
                    unknown = sorted(set(value) - set(ARCHITECTURE_SECTION))
                    if unknown:
                        raise UserError(
                            f"{section}.{unknown[0]} is not a key (an architecture section has "
                            f"{', '.join(ARCHITECTURE_SECTION)})"
                        )
                    for key, model in ARCHITECTURE_SECTION.items():
                        model.parse(value.get(key), prefix=f"{section}.{key}")
        except UserError as err:
            raise UserError(f"{study.path}: variant {name!r}: {err}") from None
        unchanged = [k for k in _leaves(overrides) if _lookup(config, k) == _lookup(merged, k)
                     and _lookup(config, k)[0]]  # fmt: skip
        if unchanged and len(unchanged) == len(list(_leaves(overrides))):
            logger.warning("%s: variant %r sets only values the configuration already has (%s)",
                           study.path, name, ", ".join(unchanged))  # fmt: skip


def check_config(study: Study, config: Mapping[str, Any]) -> None:
    """Refuse a configuration in which a study seed would not take effect."""
    if not _lookup(config, "training.loop.seed")[0]:
        raise UserError(
            "training.loop.seed is not in the project's parameters, so a study cannot seed the "
            "GANs; restore it in conf/base/parameters_training.yml."
        )
    overridden = sorted(
        name
        for name, section in config.items()
        if isinstance(section, Mapping) and _lookup(section, "loop.seed")[0]
        and "model" in section  # an architecture section: its loop overrides training.loop
    )
    if overridden:
        raise UserError(
            f"{', '.join(f'{n}.loop.seed' for n in overridden)} override training.loop.seed, so "
            "the study seeds would not reach those architectures; remove the override from "
            f"the configuration (or {study.path})."
        )


@contextlib.contextmanager
def _tagged_runs(tags: Mapping[str, str]) -> Iterator[None]:
    """Every MLflow run created inside carries ``tags`` (MLflow's ``MLFLOW_RUN_CONTEXT``)."""
    previous = os.environ.get("MLFLOW_RUN_CONTEXT")
    os.environ["MLFLOW_RUN_CONTEXT"] = json.dumps(dict(tags))
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("MLFLOW_RUN_CONTEXT", None)
        else:
            os.environ["MLFLOW_RUN_CONTEXT"] = previous


def _end_stale_runs(status: str) -> None:
    """kedro-mlflow ends its run in the store, but MLflow's in-process stack can keep an entry;
    without this the next seed's session would log into the previous seed's run."""
    import mlflow

    while mlflow.active_run() is not None:
        mlflow.end_run(status)


def _session(project_path: Path, study: Study, params: Mapping[str, Any]):
    from kedro.framework.session import KedroSession

    return KedroSession.create(
        project_path=project_path,
        env=study.env,
        conf_source=study.conf_source,
        runtime_params=dict(params),
    )


def _inspect(project_path: Path, study: Study) -> tuple[dict[str, Any], Any]:
    """The project's merged parameters and an MLflow client for its tracking store."""
    from mlflow import MlflowClient

    with _session(project_path, study, study.params) as session:
        context = session.load_context()
        config = dict(context.config_loader["parameters"])  # plain dicts, runtime params merged
        mlflow_config = getattr(context, "mlflow", None)
        if mlflow_config is None:
            raise UserError(
                "kedro-mlflow is not active in this project, so the seed runs could not be "
                "recorded; a study needs it (conf/base/mlflow.yml, docs/studies.md)."
            )
        client = MlflowClient(mlflow_config.server.mlflow_tracking_uri)
    return config, client


def _parent_run_id(client: Any, study: Study, tags: Mapping[str, str]) -> str | None:
    experiments = [e.experiment_id for e in client.search_experiments()]
    query = " and ".join(f"tags.`{k}` = '{v}'" for k, v in tags.items())
    runs = client.search_runs(
        experiments, query, max_results=50, order_by=["attributes.start_time DESC"]
    )
    parents = [r for r in runs if PARENT_TAG not in r.data.tags]
    return parents[0].info.run_id if parents else None


def _describe(variant: str | None, seed: int) -> str:
    return f"seed {seed}" if variant is None else f"variant {variant!r} seed {seed}"


def run_study(
    project_path: str | Path,
    study_file: str | Path,
    *,
    params: Mapping[str, Any] | None = None,
    force: bool = False,
    dry_run: bool = False,
) -> StudyResult:
    """Run every seed (and variant) of ``study_file``, one KedroSession each, then ``study_summary``.

    ``params``: nested runtime parameters merged over the file's (``kedro study run --params``);
    a variant's overrides are merged over both. A run that fails stops the study with a
    :class:`UserError` naming it; (variant, seed) pairs already finished with the same
    configuration are skipped unless ``force``. ``dry_run`` only plans.
    """
    from kedro.framework.startup import bootstrap_project

    project_path = Path(project_path).resolve()
    bootstrap_project(project_path)
    study = load_study(study_file, params)
    config, client = _inspect(project_path, study)
    check_config(study, config)
    check_variants(study, config)
    result = StudyResult(study)
    finished = {} if force else finished_study_runs(client, study.name)
    if study.variants:
        logger.info("study %s: variants %s x seeds %s, configurations %s", study.name,
                    list(study.variants), list(study.seeds),
                    {v: study.variant_hash(v) for v in study.variants})  # fmt: skip
    else:
        logger.info("study %s: seeds %s, configuration %s", study.name, list(study.seeds),
                    study.config_hash)  # fmt: skip

    for variant, seed in study.runs:
        key: Any = seed if variant is None else (variant, seed)
        what = _describe(variant, seed)
        config_hash = study.variant_hash(variant)
        done = finished.get((variant, seed))
        if done is not None:
            used = done.data.tags.get(CONFIG_TAG)
            if used != config_hash:
                raise UserError(
                    f"Study '{study.name}': {what} already finished (MLflow run "
                    f"{done.info.run_id}) with another configuration ({used}, now "
                    f"{config_hash}). Add --force to rerun every seed, or rename the study "
                    "(`study_name:` in the file) to keep both."
                )
            logger.info("study %s: %s already finished (MLflow run %s), skipped",
                        study.name, what, done.info.run_id)  # fmt: skip
            result.seed_runs[key] = done.info.run_id
            result.skipped.append(key)
            continue
        overrides = seed_overrides(study, seed, config, variant)
        if dry_run:
            logger.info("study %s: %s would run with %s", study.name, what, overrides)
            continue
        tags = {STUDY_TAG: study.name, ROLE_TAG: "seed", SEED_TAG: str(seed),
                CONFIG_TAG: config_hash}  # fmt: skip
        if variant is not None:
            tags[VARIANT_TAG] = variant
        logger.info("study %s: %s starts", study.name, what)
        _end_stale_runs("FAILED")
        try:
            with _tagged_runs(tags), _session(project_path, study, overrides) as session:
                session.run(**study.run_options)
        except KeyboardInterrupt:
            # Kedro leaves the run open on Ctrl-C and MLflow's exit handler would end it
            # FINISHED: a rerun would skip this seed as done.
            _end_stale_runs("KILLED")
            raise
        except Exception as err:
            _end_stale_runs("FAILED")
            if result.seed_runs:
                kept = (f"Seeds {sorted(result.seed_runs)} are finished" if variant is None
                        else f"{len(result.seed_runs)} (variant, seed) runs are finished")  # fmt: skip
                kept += " and are skipped"
            else:
                kept = "No seed has finished yet; finished seeds are skipped"
            raise UserError(
                f"Study '{study.name}': {what} failed ({type(err).__name__}: {err}). {kept} "
                f"when you rerun `kedro study run {study.path}` after fixing the cause."
            ) from err
        _end_stale_runs("FINISHED")
        result.seed_runs[key] = _parent_run_id(client, study, tags) or "?"
        logger.info("study %s: %s finished, MLflow run %s", study.name, what,
                    result.seed_runs[key])  # fmt: skip

    if dry_run:
        return result
    selection: dict[str, Any] = {"name": study.name, "seeds": list(study.seeds)}
    if study.variants:
        selection["variants"] = list(study.variants)
    summary_params = merge(study.params, {"study": selection})
    tags = {STUDY_TAG: study.name, ROLE_TAG: "summary", CONFIG_TAG: study.config_hash}
    try:
        with _tagged_runs(tags), _session(project_path, study, summary_params) as session:
            session.run(pipeline_names=[SUMMARY_PIPELINE])
    except KeyboardInterrupt:
        _end_stale_runs("KILLED")
        raise
    except Exception as err:
        _end_stale_runs("FAILED")
        finished_runs = (f"seeds {sorted(result.seed_runs)}" if not study.variants
                         else f"{len(result.seed_runs)} (variant, seed) runs")  # fmt: skip
        raise UserError(
            f"Study '{study.name}': the {finished_runs} finished, but the "
            f"{SUMMARY_PIPELINE} pipeline failed ({type(err).__name__}: {err}). Fix the cause "
            f"and rerun `kedro study run {study.path}`: finished seeds are skipped."
        ) from err
    _end_stale_runs("FINISHED")
    result.summary_run = _parent_run_id(client, study, tags)
    logger.info(
        "study %s: summary in MLflow run %s (data/08_reporting/studies/%s/)",
        study.name, result.summary_run, study.name,
    )  # fmt: skip
    return result
