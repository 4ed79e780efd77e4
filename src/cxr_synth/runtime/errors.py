"""User errors: bad input or environment, reported as a short message instead of a traceback."""

from __future__ import annotations

import logging
import re
import sys
import traceback
from pathlib import Path
from types import TracebackType

logger = logging.getLogger(__name__)

ERROR_LOG = Path("logs") / "last_error.log"


class UserError(Exception):
    """Something the user can fix (a parameter, a file, a locked project, a server): the message
    says what is wrong, where, and the fix. ``kedro run`` prints just that message."""


_KEDRO_PARAMETER_LINE = re.compile(
    r"^- Parameter '(?P<key>[^']+)': (?:Failed to instantiate \w+ for parameter '[^']+': )?"
)


def parameter_errors(message: str) -> str:
    """Kedro's parameter-validation message as ``full.key: problem`` lines (the models' own
    lines are relative to the section Kedro names)."""
    lines, key = [], ""
    for line in message.splitlines():
        match = _KEDRO_PARAMETER_LINE.match(line)
        if match:
            key, line = match.group("key"), line[match.end():]
        elif not key or not line.strip():
            continue
        lines.append(f"  {key}.{line}" if ":" in line.split(" ")[0] else f"  {key}: {line}")
    return "invalid parameters, nothing was run:\n" + "\n".join(lines)


def find_user_error(error: BaseException | None) -> Exception | None:
    """The first user error in ``error``'s cause/context chain (a :class:`UserError`, or Kedro's
    parameter validation, reformatted), if any."""
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, UserError):
            return error
        if type(error).__name__ == "ParameterValidationError":
            return UserError(parameter_errors(str(error)))
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return None


def short_excepthook(
    kind: type[BaseException], error: BaseException, tb: TracebackType | None
) -> None:
    """``sys.excepthook`` for the CLI: a user error prints one message (the full traceback goes to
    ``logs/last_error.log``); anything else keeps Python's full traceback."""
    user_error = find_user_error(error)
    if user_error is None:
        sys.__excepthook__(kind, error, tb)
        return
    where = "not written"
    try:
        ERROR_LOG.parent.mkdir(parents=True, exist_ok=True)
        ERROR_LOG.write_text("".join(traceback.format_exception(kind, error, tb)))
        where = str(ERROR_LOG)
    except OSError:
        pass
    print(f"\nError: {user_error}\n(full traceback: {where})", file=sys.stderr)  # noqa: T201
