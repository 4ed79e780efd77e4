"""The study file: a Kedro run-config file plus the seeds (and variants) to run it with;
loading, merging and checks against the project's configuration (``cxr_synth.study.runner``
runs it).

A study file is a Kedro run-config file (``kedro run --config FILE`` still runs it, once, with
its own seeds) plus a top-level ``seeds:`` list::

    seeds: [0, 1, 2]
    run: {env: nih, pipelines: "ingestion,...,evaluation", params: {...}}

A file may also list named ``variants:`` (an ablation), each a params override merged key by key
over ``run.params`` (after ``--params``)::

    variants: {dcgan: {}, spectral_norm: {proposed: {model: {options: {spectral_norm: true}}}}}

Every seed's overrides are ``SEED_PARAMETERS`` = k and checkpoints under
``<checkpoint_root>/study_<name>/seed<k>`` (``seed_overrides``).

The file is a :class:`StudyFile`, a strict model like every parameter section: its errors (and
those of a variant's parameters, ``check_variants``) read ``key: problem`` under one header
(``study_file_errors``), and docs/configuration.md lists its keys.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field, ValidationInfo, field_validator

from cxr_synth.runtime.errors import UserError
from cxr_synth.runtime.schema import Bool, Int, ParameterError, StrictModel
from cxr_synth.study.mlflow_runs import check_study_name, check_variant_name

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
# Sections a variant may not change: the summary reads them once for the whole study.
NOT_PER_VARIANT = ("study", "study_summary")
LIST_OPTIONS = ("tags", "node_names", "from_nodes", "to_nodes", "from_inputs", "to_outputs",
                "namespaces")  # fmt: skip


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


# ------------------------------------------------------------------------------ the file's model
def _names(value: Any) -> Any:
    """``pipelines: "a, b"`` or ``pipelines: [a, b]`` (as ``kedro run --config``); null: none."""
    if value is None:
        return []
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    if isinstance(value, list):
        return value
    raise ValueError("must be a comma-separated string or a list of names")


def _empty_if_null(value: Any) -> Any:
    return {} if value is None else value


def _no_seed_parameters(params: dict[str, Any]) -> dict[str, Any]:
    for key in SEED_PARAMETERS:
        if _lookup(params, key)[0]:
            raise ValueError(
                f"{key}: the study sets it to each of its `seeds`; remove it (from the file or "
                "--params) and list the seeds in `seeds:`"
            )
    return params


def _variant_overrides(overrides: dict[str, Any]) -> dict[str, Any]:
    from cxr_synth.pipelines.configuration import check_sections  # imports every pipeline's models

    check_sections(overrides)
    once = [key for key in overrides if key in NOT_PER_VARIANT]
    if once:
        raise ValueError(
            f"{once[0]}: read once per study, not per variant; a variant overrides parameter "
            "sections such as training or <architecture>"
        )
    return _no_seed_parameters(overrides)


def _distinct(seeds: list[int]) -> list[int]:
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"must be distinct integers, e.g. `seeds: [0, 1, 2]` (got {seeds})")
    return seeds


def _distinct_variants(variants: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    seen: dict[str, str] = {}
    for name, overrides in variants.items():
        text = json.dumps(overrides, sort_keys=True, default=str)
        if text in seen:
            raise ValueError(f"{seen[text]!r} and {name!r} set the same parameters; keep one")
        seen[text] = name
    return variants


Names = Annotated[list[str], BeforeValidator(_names)]
Overrides = Annotated[dict[str, Any], BeforeValidator(_empty_if_null),
                      AfterValidator(_variant_overrides)]  # fmt: skip
Variants = Annotated[dict[Annotated[str, AfterValidator(check_variant_name)], Overrides],
                     Field(min_length=1), AfterValidator(_distinct_variants)]  # fmt: skip


class RunOptions(StrictModel):
    """``run:`` of a study file: the ``kedro run --config`` keys ``kedro study run`` supports
    (for others, run the seeds with ``kedro run --config``)."""

    env: str | None = None  # every run's --env
    conf_source: str | None = None  # every run's --conf-source
    # Every run's parameters; --params are merged over them key by key, each variant over both.
    params: Annotated[dict[str, Any], BeforeValidator(_empty_if_null)] = {}
    # The pipelines of each run, a list or "a,b" (not study_summary: it runs last, once).
    pipelines: Names = []
    pipeline: Names = []  # kedro run --config's other spelling of pipelines
    only_missing_outputs: Bool = False  # kedro run --only-missing-outputs
    tags: Names = []  # kedro run --tags (like every list below: a list or "a,b")
    node_names: Names = []  # kedro run --nodes
    from_nodes: Names = []  # kedro run --from-nodes
    to_nodes: Names = []  # kedro run --to-nodes
    from_inputs: Names = []  # kedro run --from-inputs
    to_outputs: Names = []  # kedro run --to-outputs
    namespaces: Names = []  # kedro run --namespaces

    @field_validator("params")
    @classmethod
    def _with_command_line(cls, params: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        return _no_seed_parameters(merge(params, (info.context or {}).get("params") or {}))

    @field_validator("pipelines", "pipeline")
    @classmethod
    def _summary_runs_last(cls, names: list[str]) -> list[str]:
        if SUMMARY_PIPELINE in names:
            raise ValueError(f"must not name {SUMMARY_PIPELINE}: it runs last; remove it")
        return names

    def session_options(self) -> dict[str, Any]:
        """``KedroSession.run`` keywords: the options given, names as lists."""
        options: dict[str, Any] = {}
        if self.pipelines or self.pipeline:
            options["pipeline_names"] = self.pipelines or self.pipeline
        options |= {key: getattr(self, key) for key in LIST_OPTIONS if getattr(self, key)}
        if self.only_missing_outputs:
            options["only_missing_outputs"] = True
        return options


class StudyFile(StrictModel):
    """A study file: a ``kedro run --config`` file plus the seeds (and variants) to run it with;
    docs/studies.md. Checked before anything runs, like every parameter section."""

    # One run per seed (per variant), each setting every seed parameter (SEED_PARAMETERS).
    seeds: Annotated[list[Int], Field(min_length=1), AfterValidator(_distinct)]
    run: Annotated[RunOptions, BeforeValidator(_empty_if_null)] = RunOptions()
    # MLflow tag and folder name of the study; null: the file's name.
    study_name: Annotated[str, AfterValidator(check_study_name)] | None = None
    # Named parameter overrides (an ablation), each merged over run.params; every variant runs
    # with every seed.
    variants: Variants | None = None


@contextlib.contextmanager
def study_file_errors(path: Path) -> Iterator[None]:
    """Every error in a study file (its keys, its values, a variant's parameters) as one
    :class:`UserError` that lists each ``key: problem`` line, as Kedro's parameter check does."""
    try:
        yield
    except ParameterError as error:
        lines = "".join(f"\n  {line}" for line in str(error).splitlines())
        raise UserError(
            f"invalid study file {path} (docs/studies.md), nothing was run:{lines}"
        ) from None


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
    with study_file_errors(path):
        spec = StudyFile.model_validate(raw, context={"params": cli_params})
        name = spec.study_name or check_study_name(path.stem)
    if len(spec.seeds) < 3:
        logger.warning("%s: %d seed(s); a mean ± std over fewer than 3 seeds is fragile",
                       path, len(spec.seeds))  # fmt: skip
    return Study(
        name=name,
        seeds=tuple(spec.seeds),
        path=path,
        env=spec.run.env,
        conf_source=spec.run.conf_source,
        params=spec.run.params,
        run_options=spec.run.session_options(),
        variants=spec.variants or {},
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
    from cxr_synth.pipelines.configuration import section_model

    for name, overrides in study.variants.items():
        merged = merge(config, overrides)
        with study_file_errors(study.path):
            for section in overrides:
                model = section_model(section)
                if model is not None:
                    model.parse(merged.get(section), prefix=f"variants.{name}.{section}")
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
