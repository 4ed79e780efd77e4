"""One way to check parameters: strict Pydantic models.

Every parameter section (``ingestion``, ``training.loop``, an architecture's options, ...) is a
:class:`StrictModel`. Kedro validates the YAML against them before any node runs (node
arguments annotated with the model; "Parameter validation" in the Kedro docs), and the library
uses the same classes as its config objects, so a typo fails the same way from a notebook.

Unknown keys are refused with the closest valid one; integers are not silently built from
booleans or fractional floats; messages read ``loop.epochs: must be >= 1 (got -1)``.
"""

from __future__ import annotations

import difflib
import json
import os
import re
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    ValidationError,
)

from cxr_synth.runtime.errors import UserError


def _not_bool(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError("must be a number, not true/false")
    return value


def check_device(value: str) -> str:
    """``value`` if it names a device (auto, cpu, cuda, cuda:N, mps), else a ValueError."""
    if not re.fullmatch(r"auto|cpu|mps|cuda(:\d+)?", value):
        raise ValueError(f"must be auto, cpu, cuda, cuda:N or mps, got {value!r}")
    return value


def _path(value: Any) -> Any:
    return os.fspath(value) if isinstance(value, os.PathLike) else value


Int = Annotated[int, BeforeValidator(_not_bool)]  # 3 and "3" pass; true and 3.5 are refused
Float = Annotated[float, BeforeValidator(_not_bool)]  # also "2e-4", which YAML may leave a string
Bool = Annotated[bool, Strict()]  # true/false only, not "yes" or 1
Device = Annotated[str, AfterValidator(check_device)]
PathStr = Annotated[str, BeforeValidator(_path)]  # a path, kept as the string YAML gives
Count = Annotated[Int, Field(ge=1)]  # a positive integer: sizes, counts, epochs
Split = Literal["train", "val", "test"]  # a split of the manifest or the lung-mask set  # "auto": cuda, else mps, else cpu


class ParameterError(UserError, ValueError):
    """Parameters that do not fit their model; the message names each key, value and fix."""


class StrictModel(BaseModel):
    """Base of every parameter model: frozen, no unknown keys, readable errors."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)

    @classmethod
    def model_validate(cls, obj: Any, **kwargs: Any):
        """Pydantic's ``model_validate`` (what Kedro calls), raising :class:`ParameterError`."""
        try:
            return super().model_validate(obj, **kwargs)
        except ValidationError as error:
            raise ParameterError(describe(error, cls)) from None

    @classmethod
    def parse(cls, data: Any = None, *, prefix: str = ""):
        """Validate ``data`` (a dict, a model or None = defaults); errors name ``prefix.key``."""
        if isinstance(data, cls):
            return data
        try:
            return super().model_validate(dict(data or {}))
        except ValidationError as error:
            raise ParameterError(describe(error, cls, prefix)) from None

    def to_dict(self) -> dict[str, Any]:
        """Plain values (lists, not tuples), as YAML would hold them."""
        return self.model_dump(mode="json")

    def __str__(self) -> str:  # what kedro-mlflow logs for a whole section: compact JSON
        return json.dumps(self.to_dict(), separators=(",", ":"))


def _model_at(model: type[BaseModel], path: tuple[Any, ...]) -> type[BaseModel] | None:
    """The nested model that ``path`` (field names) leads to, if the fields are models."""
    for part in path:
        field = model.model_fields.get(str(part))
        if field is None:
            return None
        candidates = [field.annotation, *getattr(field.annotation, "__args__", ())]
        nested = [c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)]
        if not nested:
            return None
        model = nested[0]
    return model


_NESTED_LINE = re.compile(r"^(?P<key>[a-z_][\w.]*): (?P<problem>.+)$")
_UNION_BRANCH = re.compile(r"^(bool|int|float|str|none|list|tuple|dict)$|\[|^function-")


def describe(error: ValidationError, model: type[BaseModel], prefix: str = "") -> str:
    """One ``key: problem`` line per key, with the full key and, for typos, the closest one
    (alternatives of a union are joined with "or")."""
    problems: dict[str, list[str]] = {}
    for item in error.errors(include_url=False):
        loc = tuple(p for p in item["loc"] if not (isinstance(p, str) and _UNION_BRANCH.search(p)))
        key = ".".join(str(part) for part in (prefix, *loc) if part != "")
        if item["type"] == "extra_forbidden":
            parent = _model_at(model, loc[:-1])
            valid = sorted(parent.model_fields) if parent else []
            close = difflib.get_close_matches(str(loc[-1]), valid, n=1, cutoff=0.6)
            hint = f"did you mean {close[0]!r}?" if close else f"valid: {', '.join(valid)}"
            problems.setdefault(key, []).append(f"unknown key; {hint}")
            continue
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "value_error":  # a nested model's own "key: problem" lines, or prose
            for line in message.splitlines():
                inner = _NESTED_LINE.match(line)
                where = ".".join(k for k in (key, inner["key"] if inner else "") if k)
                problems.setdefault(where, []).append(inner["problem"] if inner else line)
            continue
        shown = "" if item["type"] == "missing" else f" (got {item['input']!r})"
        problems.setdefault(key, []).append(message + shown)
    return "\n".join(
        f"{key}: {text}" if key else text
        for key, found in problems.items()
        for text in [", or ".join(dict.fromkeys(found))]
    )
