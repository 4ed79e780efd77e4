"""Time every metric on phantom images: ``python benchmarks/bench_metrics.py --n-fake 500 1000``.

Real, held-out and "synthetic" sets are chest phantoms (``cxr_synth.phantoms``; the synthetic
ones are other patients with pixel noise added). ``--backbone inception-standin`` times the
Inception path on randomly initialised weights saved under the official file name (same compute
as the real weights; the numbers themselves are meaningless). Prints one JSON line per N, with its time ratio to the first N of the same run.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from cxr_synth.metrics.features import (
    INCEPTION_WEIGHTS_FILE,
    FeatureBackbone,
    InceptionBackbone,
    RandomConvBackbone,
)
from cxr_synth.metrics.fid import feature_stats, fid_from_samples
from cxr_synth.metrics.suite import evaluate_generator_samples


def phantom_set(seed: int, n: int, size: int) -> np.ndarray:
    from cxr_synth.phantoms import chest_phantom

    return np.stack([chest_phantom(seed=seed, patient=i, size=size).image for i in range(n)])


def stand_in_inception(directory: Path) -> InceptionBackbone:
    """Inception-v3 with random He-normal weights saved under the official name (timing only)."""
    from torch_fidelity import feature_extractor_inceptionv3 as fidelity

    original = (
        fidelity.load_state_dict_from_url,
        fidelity.FeatureExtractorInceptionV3.load_state_dict,
    )
    fidelity.load_state_dict_from_url = lambda *a, **k: {}
    fidelity.FeatureExtractorInceptionV3.load_state_dict = lambda *a, **k: None
    try:
        net = fidelity.FeatureExtractorInceptionV3("inception-v3-compat", ["2048"])
    finally:
        fidelity.load_state_dict_from_url = original[0]
        fidelity.FeatureExtractorInceptionV3.load_state_dict = original[1]
    state = {}
    for key, value in net.state_dict().items():
        if key.endswith("conv.weight"):
            value = torch.randn(value.shape) * math.sqrt(2.0 / value[0].numel())
        state[key] = value
    path = directory / INCEPTION_WEIGHTS_FILE
    torch.save(state, path)
    return InceptionBackbone(path)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-fake", type=int, nargs="+", default=[500, 1000])
    parser.add_argument("--n-real", type=int, default=1000)
    parser.add_argument("--n-heldout", type=int, default=500)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--backbone", choices=["random", "inception-standin"], default="random")
    args = parser.parse_args(argv)

    real = phantom_set(11, args.n_real, args.size)
    heldout = phantom_set(12, args.n_heldout, args.size)
    fake = phantom_set(13, max(args.n_fake), args.size)
    fake = np.clip(fake + np.random.default_rng(0).normal(0, 5, fake.shape), 0, 255).astype(
        np.uint8
    )
    with tempfile.TemporaryDirectory() as tmp:
        backbone: FeatureBackbone = (
            RandomConvBackbone() if args.backbone == "random" else stand_in_inception(Path(tmp))
        )
        start = time.perf_counter()
        real_stats = feature_stats(backbone, real)
        real_stats.sqrt_cov()
        stats_seconds = time.perf_counter() - start
        baseline_total = None  # the first N of this run: later rows print their time ratio to it
        for n in args.n_fake:
            start = time.perf_counter()
            fd = fid_from_samples(real_stats, backbone, fake[:n])
            fd_seconds = time.perf_counter() - start
            start = time.perf_counter()
            result = evaluate_generator_samples(real, fake[:n], backbone, heldout=heldout)
            total = time.perf_counter() - start
            baseline_total = baseline_total or (n, total)
            row = {
                "backbone": backbone.identifier,
                "size": args.size,
                "n_real": args.n_real,
                "n_heldout": args.n_heldout,
                "n_fake": n,
                "torch_threads": torch.get_num_threads(),
                "real_stats_s": round(stats_seconds, 1),
                "fid_from_samples_s": round(fd_seconds, 1),
                "evaluate_total_s": round(total, 1),
                f"time_ratio_vs_n{baseline_total[0]}": round(total / baseline_total[1], 2),
                "evaluate_steps_s": {k: round(v, 1) for k, v in result["seconds"].items()},
                backbone.name: round(fd, 4),
            }
            sys.stdout.write(json.dumps(row) + "\n")
            sys.stdout.flush()


if __name__ == "__main__":
    main()
