"""Every parameter section of the project, the model that validates it, and its reference docs.

``SECTIONS`` maps each top-level key of ``conf/*/parameters*.yml`` to its model (per-architecture
sections have ``model`` and ``loop``). ``check_sections`` refuses unknown top-level keys before a
run (a typo in a section name would otherwise be ignored), and ``reference_markdown`` renders
``docs/configuration.md`` from the models — a test keeps the two equal. Run
``python -m cxr_synth.pipelines.configuration docs/configuration.md`` after changing a model.
"""

from __future__ import annotations

import difflib
import inspect
import re
import types
import typing
from collections.abc import Iterator, Mapping
from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from cxr_synth.models.registry import REGISTRY
from cxr_synth.pipelines.demo_data.params import DemoDataParams
from cxr_synth.pipelines.evaluation.params import EvaluationParams
from cxr_synth.pipelines.ingestion.params import IngestionParams
from cxr_synth.pipelines.preprocessing.params import PreprocessingParams
from cxr_synth.pipelines.segmentation.params import SegmentationParams
from cxr_synth.pipelines.segmentation_external.params import ExternalSetParams
from cxr_synth.pipelines.study_summary.params import StudyParams, StudySummaryParams
from cxr_synth.pipelines.synthesis.params import SynthesisParams
from cxr_synth.pipelines.training.params import ArchitectureParams, TrainingParams
from cxr_synth.runtime.schema import ParameterError
from cxr_synth.study.file import StudyFile

SECTIONS: dict[str, type[BaseModel]] = {
    "demo_data": DemoDataParams,
    "ingestion": IngestionParams,
    "preprocessing": PreprocessingParams,
    "training": TrainingParams,
    "synthesis": SynthesisParams,
    "evaluation": EvaluationParams,
    "segmentation": SegmentationParams,
    "pair_training": TrainingParams,
    "segmentation_external": ExternalSetParams,
    "study": StudyParams,
    "study_summary": StudySummaryParams,
}
# Runtime parameters the catalog reads (``--params nih_root=...``), not node inputs. ``data_root``
# moves every output (and the demo data) from ``data/`` to another folder (docs/configuration.md).
CATALOG_KEYS = (
    "data_root",
    "nih_root",
    "nih_metadata_file",
    "seg_root",
    "seg_external_root",
    "eval_external_root",
)


class UnknownSection(ParameterError):
    """A top-level parameter key that no pipeline reads."""


def known_sections() -> list[str]:
    return [*SECTIONS, *REGISTRY, *CATALOG_KEYS]


def section_model(name: str) -> type[BaseModel] | None:
    """The model of top-level section ``name`` (None: a catalog key or no section)."""
    return SECTIONS.get(name) or (ArchitectureParams if name in REGISTRY else None)


def check_sections(params: Mapping[str, Any]) -> None:
    """Raise :class:`UnknownSection` for top-level keys no section model or catalog entry reads."""
    known = known_sections()
    unknown = sorted(set(params) - set(known))
    if unknown:
        hints = []
        for key in unknown:
            close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
            hints.append(f"{key!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        raise UnknownSection(
            f"unknown parameter section(s) {', '.join(hints)}: no pipeline reads them. Valid "
            f"sections: {', '.join(known)} (docs/configuration.md)."
        )


# ------------------------------------------------------------------------------ reference docs
def _comments(model: type[BaseModel]) -> dict[str, str]:
    """Trailing ``# comments`` of field lines in the class source, inherited down the MRO."""
    found: dict[str, str] = {}
    for cls in reversed(model.__mro__):
        if not (isinstance(cls, type) and issubclass(cls, BaseModel)) or cls is BaseModel:
            continue
        try:
            source = inspect.getsource(cls)
        except (OSError, TypeError):
            continue
        pending: list[str] = []
        for line in source.splitlines():
            stripped = line.strip()
            if stripped.startswith("#"):
                pending.append(stripped.lstrip("# "))
                continue
            match = re.match(r"\s+(\w+): .*?(?:#\s*(.*))?$", line)
            if match and match.group(1) in cls.model_fields:
                trailing = re.sub(r"type: ignore\S*[\s#]*", "", match.group(2) or "").strip()
                text = trailing or " ".join(pending)
                if text:
                    found[match.group(1)] = text.strip()
            pending = []
    return found


def _type_name(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _type_name(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        return " \\| ".join(_type_name(a) for a in typing.get_args(annotation))
    if origin is typing.Literal:
        return " \\| ".join(repr(a) for a in typing.get_args(annotation)).replace("'", "")
    if origin in (list, tuple):
        inner = ", ".join(_type_name(a) for a in typing.get_args(annotation))
        return f"{origin.__name__}[{inner}]"
    if annotation is type(None):
        return "null"
    return getattr(annotation, "__name__", str(annotation))


def _range(field: FieldInfo) -> str:
    bounds = []
    for item in field.metadata:
        for name, symbol in (("ge", "≥"), ("gt", ">"), ("le", "≤"), ("lt", "<")):
            value = getattr(item, name, None)
            if value is not None:
                bounds.append(f"{symbol} {value}")
    return ", ".join(bounds)


def _default(value: Any) -> str:
    if isinstance(value, BaseModel):
        return ""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, tuple):
        value = list(value)
    return f"`{value}`"


def _rows(model: type[BaseModel], prefix: str) -> Iterator[tuple[str, str, str, str, str]]:
    comments = _comments(model)
    for name, field in model.model_fields.items():
        key = f"{prefix}.{name}" if prefix else name
        nested = field.annotation if isinstance(field.annotation, type) else None
        if nested is not None and issubclass(nested, BaseModel) and name != "options":
            yield from _rows(nested, key)
            continue
        default = "required" if field.is_required() else _default(
            field.get_default(call_default_factory=True))  # fmt: skip
        yield (key, _type_name(field.annotation), default, _range(field), comments.get(name, ""))


def _table(model: type[BaseModel], prefix: str) -> list[str]:
    lines = ["| key | type | default | range | meaning |", "|---|---|---|---|---|"]
    lines += [f"| `{key}` | {kind} | {default} | {bounds} | {meaning} |"
              for key, kind, default, bounds, meaning in _rows(model, prefix)]  # fmt: skip
    return lines


def _doc(model: type[BaseModel]) -> str:
    return " ".join((model.__doc__ or "").split())


def reference_markdown() -> str:
    """docs/configuration.md, generated from the models."""
    out = [
        "# Configuration reference",
        "",
        "Generated from the parameter models by `python -m cxr_synth.pipelines.configuration` "
        "(a test fails when this page and the models disagree). Every section is validated "
        "before any node runs: an unknown key names the closest valid one, a bad value names the "
        "key, the value and the rule. Defaults are the models'; `conf/base/parameters_*.yml` sets "
        "the demo values and `conf/nih/parameters.yml` the paper's.",
        "",
    ]
    for name, model in SECTIONS.items():
        out += [f"## `{name}`", "", _doc(model), "", *_table(model, name), ""]
    out += [
        "## `<architecture>` (one section per architecture: " + ", ".join(REGISTRY) + ")",
        "",
        "`model.architecture` names the architecture, `model.options` are its options (below); "
        "`loop` overrides single keys of `training.loop` for this architecture (any key of "
        "`training.loop`, same types and ranges; for the pair GANs and the mask-conditioned "
        "`mask2image`, keys of `pair_training.loop`).",
        "",
    ]
    for arch, spec in REGISTRY.items():
        out += [f"### `{arch}.model.options`", "", _doc(spec.options), "",
                *_table(spec.options, f"{arch}.model.options"), ""]  # fmt: skip
    out += ["## Catalog paths (runtime parameters)", "",
            "Read by the catalog (`--params nih_root=/data/nih`): "
            + ", ".join(f"`{k}`" for k in CATALOG_KEYS) + ". `data_root` (default `data`) is "
            "the folder of every output, the demo data and the run lock (e.g. a node's scratch "
            "disk; `kedro study run --executor local|slurm` gives each job its own); the "
            "others name raw data of `--env nih` (conf/nih/globals.yml).", ""]  # fmt: skip
    out += ["## Study file (`kedro study run studies/<name>.yml`)", "", _doc(StudyFile), "",
            *_table(StudyFile, ""), ""]  # fmt: skip
    return "\n".join(out)


if __name__ == "__main__":
    import sys
    from pathlib import Path

    Path(sys.argv[1] if len(sys.argv) > 1 else "docs/configuration.md").write_text(
        reference_markdown() + "\n"
    )
