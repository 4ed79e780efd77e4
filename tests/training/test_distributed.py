"""DDP: two CPU processes on Gloo, launched the way torchrun would (RANK/WORLD_SIZE/... in env)."""

from __future__ import annotations

import os
import socket
import time

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from cxr_synth.training import train_gan
from cxr_synth.training.checkpoint import list_checkpoints
from tests.training import Blobs, make_tiny_gan, make_tiny_single, states_equal, tiny_config

WORLD_SIZE = 2


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class CountingTracker:
    def __init__(self) -> None:
        self.calls = 0

    def log_params(self, params):
        self.calls += 1

    def log_metrics(self, metrics, step):
        self.calls += 1

    def log_image(self, image, artifact_path):
        self.calls += 1


def _as_rank(rank: int, port: int) -> None:
    """Set what torchrun would for process ``rank``; one thread per process."""
    os.environ.update(
        RANK=str(rank),
        LOCAL_RANK=str(rank),
        WORLD_SIZE=str(WORLD_SIZE),
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
    )
    torch.set_num_threads(1)


def _worker(rank: int, port: int, out_dir: str) -> None:
    _as_rank(rank, port)
    calls = []
    tracker = CountingTracker()
    # Different initial weights per rank: DDP must broadcast rank 0's.
    gan = make_tiny_gan(seed=rank, ema_decay=0.9)
    config = tiny_config(
        epochs=2, batch_size=8, checkpoint_dir=os.path.join(out_dir, f"ckpt_rank{rank}")
    )
    result = train_gan(
        gan, Blobs(32), config, evaluate=lambda g: calls.append(1) or {"fid": 1.0}, tracker=tracker
    )
    torch.save(
        {
            "final": result.final_state,
            "history": result.history,
            "evaluate_calls": len(calls),
            "tracker_calls": tracker.calls,
            "group_left_initialised": dist.is_initialized(),
            "global_step": result.global_step,
        },
        os.path.join(out_dir, f"rank{rank}.pt"),
    )


def _run_workers(worker, out_dir) -> None:
    """``WORLD_SIZE`` gloo processes running ``worker(rank, port, out_dir)``; fails the test if
    one raises (re-raised here) or if they hang for 60 s (a stuck collective)."""
    # fork: the workers inherit the imported torch (spawn would re-import it, seconds each).
    workers = mp.start_processes(
        worker, args=(_free_port(), str(out_dir)), nprocs=WORLD_SIZE, join=False,
        start_method="fork",
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while not workers.join(timeout=1):  # re-raises a worker's exception
        if time.monotonic() > deadline:
            for process in workers.processes:
                process.kill()
            pytest.fail("the DDP workers did not finish within 60 s (hung collective?)")


def test_two_process_gloo_ddp(tmp_path):
    _run_workers(_worker, tmp_path)
    r0, r1 = (torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in range(WORLD_SIZE))
    # Batch 8 over 2 processes = 4 each; 32 images / 2 ranks / 4 = 4 steps per epoch.
    assert r0["global_step"] == r1["global_step"] == 8
    for part in ("generator", "discriminator", "ema"):  # parameters and averaged BN buffers
        assert states_equal(r0["final"][part], r1["final"][part]), part
    # The ranks saw different data, yet their reduced losses agree.
    assert [h["d_loss"] for h in r0["history"]] == [h["d_loss"] for h in r1["history"]]
    assert r0["evaluate_calls"] == 2 and r1["evaluate_calls"] == 0
    assert r0["tracker_calls"] > 0 and r1["tracker_calls"] == 0
    assert [p.name for p in list_checkpoints(tmp_path / "ckpt_rank0")] == [
        "epoch_000001.pt",
        "epoch_000002.pt",
    ]
    assert not (tmp_path / "ckpt_rank1").exists()
    assert not r0["group_left_initialised"] and not r1["group_left_initialised"]


def _micro_batch_worker(rank: int, port: int, out_dir: str) -> None:
    """DDP with micro-batches (local batch 4 as 2 x 2) and the barrier after evaluation."""
    from cxr_synth.training import distributed

    _as_rank(rank, port)
    barriers = []
    original = distributed.barrier
    distributed.barrier = lambda info: barriers.append(1) or original(info)
    evaluated = []

    def slow_evaluate(generator):
        time.sleep(0.3)  # rank 1 waits at the barrier meanwhile
        evaluated.append(1)
        return {"fid": 1.0}

    config = tiny_config(epochs=2, batch_size=8, micro_batch_size=2, eval_every=1)
    result = train_gan(
        make_tiny_gan(seed=rank, n_critic=2), Blobs(32), config, evaluate=slow_evaluate
    )
    torch.save(
        {
            "final": result.final_state,
            "barriers": len(barriers),
            "evaluated": len(evaluated),
            "step": result.global_step,
        },
        os.path.join(out_dir, f"micro{rank}.pt"),
    )


def test_two_process_micro_batches_and_evaluation_barrier(tmp_path):
    _run_workers(_micro_batch_worker, tmp_path)
    r0, r1 = (torch.load(tmp_path / f"micro{r}.pt", weights_only=True) for r in range(WORLD_SIZE))
    assert r0["step"] == r1["step"] == 8  # micro-batches do not change the step count
    for part in ("generator", "discriminator"):
        assert states_equal(r0["final"][part], r1["final"][part]), part
    assert r0["evaluated"] == 2 and r1["evaluated"] == 0
    assert r0["barriers"] == r1["barriers"] == 2  # one per evaluation, on every rank


def _single_network_worker(rank: int, port: int, out_dir: str) -> None:
    """A model without D (different initial weights per rank), EMA, micro-batches."""
    _as_rank(rank, port)
    config = tiny_config(epochs=2, batch_size=8, micro_batch_size=2)
    result = train_gan(make_tiny_single(seed=rank, ema_decay=0.9), Blobs(32), config)
    torch.save(
        {"final": result.final_state, "step": result.global_step, "history": result.history},
        os.path.join(out_dir, f"single{rank}.pt"),
    )


def test_two_process_single_network(tmp_path):
    _run_workers(_single_network_worker, tmp_path)
    r0, r1 = (torch.load(tmp_path / f"single{r}.pt", weights_only=True) for r in range(WORLD_SIZE))
    assert r0["step"] == r1["step"] == 8
    assert r0["final"]["discriminator"] is None
    for part in ("generator", "ema"):  # gradients and BN buffers kept in step across ranks
        assert states_equal(r0["final"][part], r1["final"][part]), part
    assert [h["g_loss"] for h in r0["history"]] == [h["g_loss"] for h in r1["history"]]
