"""Project settings (https://docs.kedro.org/en/stable/configure/configuration_basics/)."""

import os
import sys
import warnings

from kedro.config import OmegaConfigLoader

from cxr_synth.hooks import (
    DemoDataHook,
    DistributedRankHook,
    MlflowWorkspaceHook,
    ProvenanceHook,
    RunSafetyHook,
    TypedParamsLoggingHook,
)
from cxr_synth.runtime import atomic
from cxr_synth.runtime.errors import short_excepthook
from cxr_synth.runtime.rank import distributed_rank

# Patient-data projects do not phone home: Kedro's and MLflow's telemetry stay off unless the
# user explicitly sets these variables otherwise.
os.environ.setdefault("DO_NOT_TRACK", "true")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

# Known noise on every run (see ../shared/STACK.md): mlflow's pyfunc type-hint advice and
# omegaconf's resolver deprecation. Both are about code outside this project.
warnings.filterwarnings("ignore", message="Add type hints to the `predict` method")
warnings.filterwarnings("ignore", message=".*register_new_resolver.*deprecated")

# Every catalog save is atomic (temp file + fsync + rename): a kill never leaves a torn output.
atomic.install()
# User errors (cxr_synth.runtime.errors.UserError) print one message; the traceback goes to logs/.
sys.excepthook = short_excepthook

HOOKS = (
    RunSafetyHook(),
    ProvenanceHook(),
    MlflowWorkspaceHook(),
    TypedParamsLoggingHook(),
    DemoDataHook(),
    DistributedRankHook(),
)
# Under torchrun only rank 0 talks to MLflow (one run per `kedro run`, not one per process) and
# writes kedro-viz's run statistics (.viz/stats.json, .viz/kedro_pipeline_events.json), which on
# other ranks would describe their in-memory outputs.
DISABLE_HOOKS_FOR_PLUGINS = ("kedro_mlflow", "kedro-viz") if distributed_rank() > 0 else ()

CONFIG_LOADER_CLASS = OmegaConfigLoader
CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    "config_patterns": {"mlflow": ["mlflow*", "mlflow*/**", "**/mlflow*"]},
    # An environment (e.g. conf/nih) overrides single parameters, not whole sections.
    "merge_strategy": {"parameters": "soft", "mlflow": "soft"},
}
