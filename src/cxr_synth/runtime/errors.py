"""User errors: bad input or environment, reported as a short message instead of a traceback."""

from __future__ import annotations

import errno
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


class BadInput(UserError, ValueError):
    """Input data a run cannot use (a file, a folder, a table): the message names it and the fix."""


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


# OS errors the user fixes outside the project: a full disk, a read-only or foreign folder.
DISK_FIXES = {
    errno.ENOSPC: "free disk space and run again (outputs saved before are intact)",
    errno.EDQUOT: "free space in your disk quota and run again",
    errno.EROFS: "make it writable, or run from a writable copy of the project",
    errno.EACCES: "make it writable, or run from a writable copy of the project",
    errno.EPERM: "make it writable, or run from a writable copy of the project",
}
_SAVING = re.compile(r"^([\w.@-]+): Failed while saving data to dataset")
_FILEPATH = re.compile(r"filepath'?[=:] ?(?:PurePosixPath\()?'([^']+)'")


def _saving(error: BaseException) -> tuple[str, str | None] | None:
    """The dataset (and its file) of Kedro's "<dataset>: Failed while saving ..." error."""
    text = str(error)
    name, path = _SAVING.match(text), _FILEPATH.search(text)
    return (name[1], path and str(Path(path[1]).parent)) if name else None


def disk_error(error: OSError, saving: tuple[str, str | None] | None) -> UserError:
    """One line for an OS error of :data:`DISK_FIXES`: the dataset being saved (if known), the
    folder, the OS's reason and the fix."""
    where = str(Path(error.filename).parent) if error.filename else saving and saving[1]
    what = f"could not save {saving[0]}" if saving else "could not write"
    reason = error.strerror or errno.errorcode.get(error.errno or 0, "")
    return UserError(
        f"{what}{f' in {where}' if where else ''}: {reason}; {DISK_FIXES[error.errno]}"  # type: ignore[index]
    )


def find_user_error(error: BaseException | None) -> Exception | None:
    """The first user error in ``error``'s cause/context chain (a :class:`UserError`, Kedro's
    parameter validation, reformatted, or an OS error of :data:`DISK_FIXES`), if any."""
    seen: set[int] = set()
    saving = None  # Kedro's "<dataset>: Failed while saving ..." above an OS error
    while error is not None and id(error) not in seen:
        if isinstance(error, UserError):
            return error
        if type(error).__name__ == "ParameterValidationError":
            return UserError(parameter_errors(str(error)))
        if isinstance(error, OSError) and error.errno in DISK_FIXES:
            return disk_error(error, saving)
        saving = saving or _saving(error)
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
