"""``python -m cxr_synth`` (and ``cxr-synth``): Kedro's ``run`` in the project, or
``python -m cxr_synth generate SOURCE --n N --out DIR`` anywhere (no Kedro project needed)."""

import sys
from pathlib import Path
from typing import Any

from kedro.framework.cli.utils import find_run_command
from kedro.framework.project import configure_project


def main(*args, **kwargs) -> Any:
    if sys.argv[1:2] == ["generate"]:
        from cxr_synth.cli import generate_command

        return generate_command(sys.argv[2:], prog_name="python -m cxr_synth generate")
    package_name = Path(__file__).parent.name
    configure_project(package_name)

    interactive = hasattr(sys, "ps1")
    kwargs["standalone_mode"] = not interactive

    run = find_run_command(package_name)
    return run(*args, **kwargs)


if __name__ == "__main__":
    main()
