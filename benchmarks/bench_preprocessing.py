"""Preprocessing throughput: one decoding process (baseline) vs all cores, same images, same run.

    python benchmarks/bench_preprocessing.py [--images 200] [--size 1024] [--resolution 128]

Writes phantom PNGs (NIH layout) to a temporary folder, decodes them through the catalog's
PartitionedDataset loaders with `preprocess_nih_images`, and prints images/s and the ratio to
the single-process baseline, plus the parent's peak resident memory after each pass.
"""

from __future__ import annotations

import argparse
import logging
import resource
import tempfile
import time

import numpy as np
import pandas as pd
from kedro_datasets.partitions import PartitionedDataset
from PIL import Image

from cxr_synth.data.imaging import worker_count
from cxr_synth.phantoms import chest_phantom
from cxr_synth.pipelines.preprocessing.nodes import preprocess_nih_images


def write_images(root: str, count: int, size: int) -> dict[str, Image.Image]:
    images = {
        f"images_001/images/{i:08d}_000": Image.fromarray(
            chest_phantom(seed=0, patient=i, size=size).image
        )
        for i in range(count)
    }
    PartitionedDataset(path=root, dataset="pillow.ImageDataset", filename_suffix=".png").save(
        images
    )
    return images


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--resolution", type=int, default=128)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    with tempfile.TemporaryDirectory() as root:
        partitions = list(write_images(root, args.images, args.size))
        loaders = PartitionedDataset(
            path=root, dataset="pillow.ImageDataset", filename_suffix=".png"
        ).load()
        manifest = pd.DataFrame({"partition": partitions})
        results = {}
        for workers in (1, worker_count(None)):
            params = {"resolution": args.resolution, "workers": workers}
            start = time.perf_counter()
            array, _, rejects = preprocess_nih_images(manifest, loaders, params)
            elapsed = time.perf_counter() - start
            assert len(array) == args.images and rejects.empty
            results[workers] = args.images / elapsed
            print(
                f"workers={workers}: {results[workers]:7.1f} img/s  ({args.images} x {args.size}² -> "
                f"{args.resolution}², {elapsed:.2f} s, parent peak RSS {peak_rss_mib():.0f} MiB, "
                f"checksum {int(np.asarray(array, dtype=np.int64).sum())})"
            )
        baseline = results[1]
        for workers, rate in results.items():
            print(f"ratio vs 1 worker: workers={workers} -> {rate / baseline:.2f}x")


if __name__ == "__main__":
    main()
