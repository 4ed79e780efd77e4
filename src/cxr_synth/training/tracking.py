"""Where the training loop reports: a small ``Tracker`` protocol, MLflow and no-op implementations."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any, Protocol, runtime_checkable

import numpy as np

from cxr_synth.runtime.privacy import relative_to_project
from cxr_synth.runtime.provenance import torch_record
from cxr_synth.runtime.rank import distributed_rank

logger = logging.getLogger("cxr_synth.training")


@runtime_checkable
class Tracker(Protocol):
    """What the loop logs to. Implementations must tolerate being called often and cheaply."""

    def log_params(self, params: dict[str, Any]) -> None: ...

    def log_metrics(self, metrics: dict[str, float], step: int) -> None: ...

    def log_image(self, image: np.ndarray, artifact_path: str) -> None:
        """``image``: uint8, HxW (grayscale) or HxWxC; ``artifact_path`` like ``samples/e1.png``."""


class NullTracker:
    """Logs nothing."""

    def log_params(self, params: dict[str, Any]) -> None:
        pass

    def log_metrics(self, metrics: dict[str, float], step: int) -> None:
        pass

    def log_image(self, image: np.ndarray, artifact_path: str) -> None:
        pass


class MlflowTracker:
    """Logs to the active MLflow run (e.g. the one kedro-mlflow opened); a no-op without one.

    Parameters already logged with another value (a resumed run in the same MLflow run) are
    skipped with a warning instead of failing the training.
    """

    def __init__(self) -> None:
        import mlflow  # deferred: importing mlflow takes seconds

        self._mlflow = mlflow
        self._warned_no_run = False

    def _active(self) -> bool:
        if self._mlflow.active_run() is not None:
            return True
        if not self._warned_no_run:
            logger.info("MlflowTracker: no active MLflow run, nothing will be logged")
            self._warned_no_run = True
        return False

    def log_params(self, params: dict[str, Any]) -> None:
        if not self._active():
            return
        try:
            self._mlflow.log_params({k: _param_value(v) for k, v in params.items()})
        except self._mlflow.exceptions.MlflowException as err:
            logger.warning("MLflow did not accept the parameters (%s); continuing", err)

    def log_metrics(self, metrics: dict[str, float], step: int) -> None:
        if self._active():
            self._mlflow.log_metrics({k: float(v) for k, v in metrics.items()}, step=step)

    def log_image(self, image: np.ndarray, artifact_path: str) -> None:
        if self._active():
            self._mlflow.log_image(np.ascontiguousarray(image), artifact_file=artifact_path)


RunOpener = Callable[[str], AbstractContextManager[Tracker]]  # child_run, no_run: name -> tracker


@contextlib.contextmanager
def no_run(name: str) -> Iterator[Tracker]:
    """A :class:`NullTracker` for a run called ``name``: what library drivers open by default."""
    yield NullTracker()


@contextlib.contextmanager
def child_run(name: str) -> Iterator[Tracker]:
    """A tracker for a nested MLflow run called ``name`` under the active run, ended on exit.

    One child run per trained architecture keeps their ``train/*`` and ``eval/*`` curves apart
    inside one pipeline run; it carries the parent's provenance tags (commit, versions,
    machine: ``cxr_synth.runtime.provenance``). Without an active run, on DDP ranks other than 0, or
    without mlflow, it yields a :class:`NullTracker` and creates nothing.
    """
    if distributed_rank() != 0:
        yield NullTracker()
        return
    try:
        import mlflow
    except ImportError:
        yield NullTracker()
        return
    if mlflow.active_run() is None:
        logger.info("child_run(%r): no active MLflow run, metrics are not tracked", name)
        yield NullTracker()
        return
    parent = mlflow.get_run(mlflow.active_run().info.run_id).data.tags
    provenance = {k: v for k, v in parent.items() if k.startswith("cxr_synth.")}
    provenance.update(torch_record())  # the parent may not have them yet (ProvenanceHook)
    with mlflow.start_run(run_name=name, nested=True, tags=provenance):
        yield MlflowTracker()


def _param_value(value: Any) -> Any:
    """MLflow stores params as strings of at most 6000 characters; paths relative to the
    project (the working directory of ``kedro run``)."""
    text = relative_to_project(str(value), os.getcwd())
    return text if len(text) <= 6000 else text[:5997] + "..."
