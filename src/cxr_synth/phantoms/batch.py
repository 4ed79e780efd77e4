"""Many phantoms, drawn lazily and a few ahead in background threads.

A writer that saves files one by one (e.g. Kedro's ``PartitionedDataset`` with lazy
callables) asks for job ``i``; a :class:`LazyRenderer` has already started jobs ``i+1 …
i+ahead`` in a thread pool, so drawing overlaps with PNG encoding while memory stays
bounded. numpy and Pillow release the GIL in their loops, so threads run in parallel.
Phantoms are NOT clinical data.
"""

from __future__ import annotations

import os
import weakref
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from cxr_synth.phantoms import LEFT, RIGHT, chest_phantom, phantom_geometry
from cxr_synth.phantoms.render import lung_mask

OUTPUTS = ("image", "left_lung", "right_lung")


@dataclass(frozen=True)
class PhantomJob:
    """One file to draw: a phantom image, or one of its lung masks (0/255)."""

    seed: int
    patient: int
    follow_up: int = 0
    size: int = 1024
    labels: tuple[str, ...] = ()
    view: str = "PA"
    output: str = "image"  # one of OUTPUTS


def run_job(job: PhantomJob) -> np.ndarray:
    """Draw ``job``: uint8 (size, size); masks are 0/255 from the image's own geometry."""
    if job.output == "image":
        return chest_phantom(
            job.seed, job.patient, job.follow_up, job.size, job.labels, job.view
        ).image
    if job.output not in OUTPUTS:
        raise ValueError(f"Unknown phantom output {job.output!r}; expected one of {OUTPUTS}.")
    anatomy, pose = phantom_geometry(job.seed, job.patient, job.follow_up, job.view)
    side = LEFT if job.output == "left_lung" else RIGHT
    mask = lung_mask(anatomy, pose, job.size, side, job.labels)
    return mask.astype(np.uint8) * np.uint8(255)


def default_workers(n_jobs: int) -> int:
    """Background threads worth starting: none for a single job, else all cores but one."""
    if n_jobs < 2:
        return 0
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min((cores or 1) - 1, 4))


class LazyRenderer:
    """Draws ``jobs[i]`` when asked, with up to ``ahead`` later jobs started in threads.

    ``workers=0`` draws in the calling thread. The pool starts on the first request and
    shuts down once every job has been fetched (or when the renderer is garbage-collected).
    """

    def __init__(self, jobs: Sequence[PhantomJob], workers: int | None = None, ahead: int = 6):
        self.jobs = list(jobs)
        self.workers = default_workers(len(self.jobs)) if workers is None else workers
        self.ahead = max(ahead, self.workers)
        self._futures: dict[int, Future] = {}
        self._submitted: set[int] = set()
        self._pool: ThreadPoolExecutor | None = None

    def __len__(self) -> int:
        return len(self.jobs)

    def get(self, index: int) -> np.ndarray:
        """The drawn array of ``jobs[index]``."""
        if self.workers <= 0:
            return run_job(self.jobs[index])
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="phantoms")
            weakref.finalize(self, self._pool.shutdown, wait=False, cancel_futures=True)
        if index not in self._futures:
            self._futures[index] = self._pool.submit(run_job, self.jobs[index])
        for i in range(index + 1, min(index + self.ahead + 1, len(self.jobs))):
            if i not in self._submitted:
                self._futures[i] = self._pool.submit(run_job, self.jobs[i])
        self._submitted.update(self._futures)
        result = self._futures.pop(index).result()
        if len(self._submitted) == len(self.jobs) and not self._futures:
            self._pool.shutdown(wait=True)  # every job drawn and handed out
            self._pool = None
            self._submitted.clear()
        return result
