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
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cxr_synth.runtime.errors import UserError
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
