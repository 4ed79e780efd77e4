"""``kedro run --config FILE --params …``: Click replaces the file's whole ``params`` block with
the command line's, silently (Kedro's behaviour). Found here, before any node, so the run can stop
with one line instead of running with settings the user did not mean."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import yaml

from cxr_synth.runtime.errors import UserError


def _option(argv: Sequence[str], *names: str) -> str | None:
    """The value of the last ``--name VALUE`` / ``--name=VALUE`` / ``-n VALUE`` in ``argv``."""
    value = None
    for i, arg in enumerate(argv):
        for name in names:
            if arg == name and i + 1 < len(argv):
                value = argv[i + 1]
            elif arg.startswith(f"{name}="):
                value = arg.split("=", 1)[1]
    return value


def check_config_and_params(argv: Sequence[str]) -> None:
    """Raise a `UserError` when ``argv`` is ``kedro run`` with both ``--config FILE`` (whose
    ``run`` section has ``params``) and ``--params``: the file's params would be dropped."""
    if len(argv) < 2 or argv[1] != "run":
        return
    config, params = _option(argv, "--config", "-c"), _option(argv, "--params")
    if config is None or params is None or not Path(config).is_file():
        return
    loaded = yaml.safe_load(Path(config).read_text()) or {}
    dropped = (loaded.get("run") or {}).get("params") if isinstance(loaded, dict) else None
    if dropped:
        raise UserError(
            f"kedro run --config {config} --params {params}: Kedro would drop the file's whole "
            f"params block ({', '.join(sorted(map(str, dropped)))}) for the command line's. Put "
            f"the extra params in the file, or run `kedro study run {config} --params {params}` "
            "(it merges key by key; the file needs a `seeds:` list)."
        )
