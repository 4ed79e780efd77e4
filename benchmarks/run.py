"""One benchmark command: every row a ratio to a baseline measured in the same run (issue #16).

    python benchmarks/run.py [--quick] [--rows training,auto,...] [--rounds 5] [--no-write]

Each row runs its target and its baseline alternately (the order flips every round), ``--rounds``
times, and reports the median of the per-round ratios with their min-max: on a shared, loaded
machine both sides see the same load, so the ratio stays meaningful when the absolute figures do
not. The table is printed and (unless ``--no-write`` or ``--quick``) replaces the "## CPU
benchmarks" section of docs/performance.md with the machine it ran on; ``--out FILE`` writes
elsewhere. Not run in CI; tests/benchmarks/test_run.py runs ``--quick`` on tiny sizes and checks
the table's shape only.

Rows (default: all but ``demo``): training, auto, preprocessing, prep_memory, ingestion, features,
evaluation, synthesis, startup, gpu (a pointer to benchmarks/gpu.sh), demo (the whole
``kedro run``, ~14 min: only when asked for with ``--rows demo``).
"""

from __future__ import annotations

import argparse
import datetime
import json
import logging
import multiprocessing
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))  # the bench_* scripts' helpers

SECTION = "## CPU benchmarks"


@dataclass
class Row:
    benchmark: str
    baseline: str
    measured: str  # the absolute figures (median), for context
    ratios: list[float]  # one per round: target vs baseline (see `unit`)
    goal: str
    met: bool | None  # None: not measured / no goal
    unit: str = "x"  # "x" (ratio) or "s" (seconds of overhead)
    notes: list[str] = field(default_factory=list)

    def cells(self) -> list[str]:
        if not self.ratios:
            value = "not measured"
        else:
            med = statistics.median(self.ratios)
            lo, hi = min(self.ratios), max(self.ratios)
            fmt = "{:.2f}"
            value = f"{fmt.format(med)}{self.unit} ({fmt.format(lo)}–{fmt.format(hi)})"
        met = {True: "met", False: "**missed**", None: "—"}[self.met]
        return [self.benchmark, self.baseline, self.measured, value, self.goal, met]


HEADER = ["benchmark", "baseline (same run)", "measured (median)", "ratio, median (min–max)",
          "goal", "status"]  # fmt: skip


def alternate(sides: dict[str, Callable[[], float]], rounds: int) -> dict[str, list[float]]:
    """Run every side once per round, flipping the order each round; each returns a figure."""
    names = list(sides)
    values: dict[str, list[float]] = {name: [] for name in names}
    for r in range(rounds):
        for name in names if r % 2 == 0 else names[::-1]:
            values[name].append(float(sides[name]()))
    return values


def paired(values: dict[str, list[float]], target: str, baseline: str) -> list[float]:
    return [t / b for t, b in zip(values[target], values[baseline], strict=True)]


def med(values: list[float]) -> float:
    return statistics.median(values)


# --------------------------------------------------------------------------- training
def _bare_loop(gan, images: torch.Tensor, batch: int, steps: int, warmup: int,
               precision: str = "fp32", channels_last: bool = False) -> float:  # fmt: skip
    """A plain PyTorch loop: the same networks, objective and Adam settings, data in memory
    (a single-network model such as ddpm: one ``generator_loss(G, real)`` step per batch)."""
    fmt = torch.channels_last if channels_last else torch.preserve_format
    g = gan.generator.to(memory_format=fmt).train()
    g_opt = torch.optim.Adam(g.parameters(), **gan.g_optimizer)
    d = gan.discriminator
    if d is not None:
        d = d.to(memory_format=fmt).train()
        d_opt = torch.optim.Adam(d.parameters(), **gan.d_optimizer)
    ema = [p.detach().clone() for p in g.parameters()] if gan.ema_decay else None
    cast = (torch.autocast("cpu", dtype=torch.bfloat16) if precision == "bf16"
            else torch.autocast("cpu", enabled=False))  # fmt: skip
    n = images.shape[0] // batch
    began = 0.0
    for step in range(warmup + steps):
        if step == warmup:
            began = time.perf_counter()
        real = images[(step % n) * batch : (step % n + 1) * batch].to(memory_format=fmt)
        real = real.float() / 127.5 - 1.0
        if d is None:
            g_opt.zero_grad(set_to_none=True)
            with cast:
                g_loss, _ = gan.objective.generator_loss(g, real)
            g_loss.backward()
            g_opt.step()
            if ema is not None:
                torch._foreach_lerp_(ema, [p.detach() for p in g.parameters()], 1 - gan.ema_decay)
            continue
        d_opt.zero_grad(set_to_none=True)
        with cast:
            with torch.no_grad():
                fake = g(torch.randn(batch, gan.latent_dim))
            d_loss, _ = gan.objective.discriminator_loss(d, real, fake, step)
        d_loss.backward()
        d_opt.step()
        if (step + 1) % gan.n_critic == 0:
            g_opt.zero_grad(set_to_none=True)
            with cast:
                g_loss, _ = gan.objective.generator_loss(d, g(torch.randn(batch, gan.latent_dim)))
            g_loss.backward()
            g_opt.step()
            if ema is not None:
                torch._foreach_lerp_(ema, [p.detach() for p in g.parameters()], 1 - gan.ema_decay)
    return steps * batch / (time.perf_counter() - began)


def _project_loop(arch: str, args, images: np.ndarray, precision: str = "fp32",
                  channels_last: bool | str = False) -> float:  # fmt: skip
    from cxr_synth.data.torch_data import ChestXrayDataset
    from cxr_synth.training import train_gan

    config = {
        "epochs": 2, "batch_size": args.batch, "device": "cpu", "precision": precision,
        "channels_last": channels_last, "max_steps_per_epoch": args.steps, "eval_every": 1000,
        "seed": 0,
    }  # fmt: skip
    result = train_gan(_gan(arch, args), ChestXrayDataset(images), config)
    return float(result.history[-1]["images_per_s"])  # epoch 2: after the warm-up epoch


def _gan(arch: str, args):
    from bench_training import options

    from cxr_synth.models.registry import build_gan

    return build_gan(arch, resolution=args.resolution, seed=0, **options(arch, args.width))


def _training_images(args) -> np.ndarray:
    return np.random.default_rng(0).integers(
        0, 256, (args.batch * args.steps, args.resolution, args.resolution), dtype=np.uint8
    )


def row_training(args) -> list[Row]:
    from cxr_synth.models.registry import ARCHITECTURES

    images = _training_images(args)
    tensor = torch.from_numpy(images).unsqueeze(1)
    rows = []
    for arch in args.archs or ARCHITECTURES:
        values = alternate(
            {
                "loop": lambda a=arch: _project_loop(a, args, images),
                "bare": lambda a=arch: _bare_loop(_gan(a, args), tensor, args.batch, args.steps,
                                                  args.steps),  # fmt: skip
            },
            args.rounds,
        )
        ratios = paired(values, "loop", "bare")
        rows.append(Row(
            f"training step `{arch}`, batch {args.batch}, {args.resolution}², width {args.width}",
            "bare loop, same models/optimisers, data in memory",
            f"{med(values['loop']):.0f} vs {med(values['bare']):.0f} img/s",
            ratios, "≥ 0.95", med(ratios) >= 0.95,
        ))  # fmt: skip
    return rows


def row_auto(args) -> list[Row]:
    """``precision: auto`` + ``channels_last: auto`` (measured once per machine, then cached;
    runtime/devices.py) against the bare fp32 loop, and in the same run what the bare loop
    gains with channels_last or bf16: the goal is 1.3x only where one of them pays."""
    from cxr_synth.runtime.devices import resolve_settings

    precision, channels_last = resolve_settings(torch.device("cpu"), "auto", "auto")
    images = _training_images(args)
    tensor = torch.from_numpy(images).unsqueeze(1)
    arch = (args.archs or ["dcgan"])[0]
    sides = {
        "auto": lambda: _project_loop(arch, args, images, precision="auto", channels_last="auto"),
        "bare": lambda: _bare_loop(_gan(arch, args), tensor, args.batch, args.steps, args.steps),
        # what auto could have chosen, in the same run: does channels_last / bf16 pay here?
        "bare+cl": lambda: _bare_loop(_gan(arch, args), tensor, args.batch, args.steps,
                                      args.steps, channels_last=True),  # fmt: skip
        "bare+bf16+cl": lambda: _bare_loop(_gan(arch, args), tensor, args.batch, args.steps,
                                           args.steps, "bf16", True),  # fmt: skip
    }
    values = alternate(sides, args.rounds)
    ratios = paired(values, "auto", "bare")
    others = {k: med(paired(values, k, "bare")) for k in ("bare+cl", "bare+bf16+cl")}
    best = max(others.values())
    goal_value = 1.3 if best >= 1.3 else 0.95
    return [Row(
        f"training `{arch}` with automatic settings (precision/channels_last: auto, resolved "
        f"here: {precision}, channels_last {'on' if channels_last else 'off'}; measured once, "
        "cached per machine)",
        "bare fp32 loop",
        f"{med(values['auto']):.0f} vs {med(values['bare']):.0f} img/s; same run: bare+cl "
        f"{others['bare+cl']:.2f}x, bare+bf16+cl {others['bare+bf16+cl']:.2f}x",
        ratios,
        "≥ 1.3 where cl/bf16 pay (they do not here)" if goal_value < 1.3 else "≥ 1.3",
        med(ratios) >= goal_value,
    )]  # fmt: skip


# --------------------------------------------------------------------------- preprocessing
def _decode_only(path: str) -> int:
    from PIL import Image

    with Image.open(path) as image:
        image.load()
        return image.size[0]


def _decode_prepare(job: tuple[str, object]) -> int:
    from PIL import Image

    from cxr_synth.data.imaging import prepare_image

    path, spec = job
    with Image.open(path) as image:
        return int(prepare_image(image, spec)[0, 0])


def _write_pngs(root: str, count: int, size: int) -> list[str]:
    from bench_preprocessing import write_images

    return list(write_images(root, count, size))


def row_preprocessing(args) -> list[Row]:
    import pandas as pd
    from kedro_datasets.partitions import PartitionedDataset

    from cxr_synth.data.imaging import worker_count
    from cxr_synth.pipelines.preprocessing.nodes import preprocess_nih_images
    from cxr_synth.pipelines.preprocessing.params import PreprocessingParams

    workers = worker_count(None)
    params = PreprocessingParams(resolution=args.prep_resolution)
    with tempfile.TemporaryDirectory() as root:
        partitions = _write_pngs(root, args.prep_images, args.prep_size)
        paths = [os.path.join(root, p + ".png") for p in partitions]
        loaders = PartitionedDataset(
            path=root, dataset="pillow.ImageDataset", filename_suffix=".png"
        ).load()
        manifest = pd.DataFrame({"partition": partitions})
        context = multiprocessing.get_context("fork")

        def project() -> float:
            start = time.perf_counter()
            array, _, rejects = preprocess_nih_images(manifest, loaders, params)
            assert len(array) == len(paths) and rejects.empty
            return len(paths) / (time.perf_counter() - start)

        def decode() -> float:
            start = time.perf_counter()
            with context.Pool(workers) as pool:
                sizes = pool.map(_decode_only, paths, chunksize=16)
            assert len(sizes) == len(paths)
            return len(paths) / (time.perf_counter() - start)

        def ceiling() -> float:  # the work itself, no loader, no transfer: the best possible
            start = time.perf_counter()
            with context.Pool(workers) as pool:
                pool.map(_decode_prepare, [(p, params.spec()) for p in paths], chunksize=16)
            return len(paths) / (time.perf_counter() - start)

        values = alternate({"project": project, "decode": decode, "ceiling": ceiling},
                           args.rounds)  # fmt: skip
    ratios = paired(values, "project", "decode")
    return [Row(
        f"preprocessing {args.prep_size}² PNG → {args.prep_resolution}² uint8 "
        f"({params.resample}), {workers} processes, {args.prep_images} images",
        f"PIL decode alone, {workers} processes",
        f"{med(values['project']):.0f} vs {med(values['decode']):.0f} img/s; decode + "
        f"prepare_image alone in the same pool (no loader, no transfer): "
        f"{med(paired(values, 'ceiling', 'decode')):.2f}x",
        ratios, "≥ 0.85", med(ratios) >= 0.85,
    )]  # fmt: skip


_RSS_SCRIPT = r"""
import json, resource, sys
import numpy as np, pandas as pd
from kedro_datasets.partitions import PartitionedDataset
from cxr_synth.pipelines.preprocessing.nodes import preprocess_nih_images
from cxr_synth.pipelines.preprocessing.params import PreprocessingParams
root, n, resolution = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
loaders = PartitionedDataset(path=root, dataset="pillow.ImageDataset", filename_suffix=".png").load()
keys = sorted(loaders)
partitions = [f"copy{i:06d}/{keys[i % len(keys)]}" for i in range(n)]
images = {p: loaders[p.split("/", 1)[1]] for p in partitions}
manifest = pd.DataFrame({"partition": partitions})
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
array, _, _ = preprocess_nih_images(manifest, images, PreprocessingParams(resolution=resolution))
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"before_kib": before, "peak_kib": peak, "array_kib": array.nbytes / 1024}))
"""


def row_prep_memory(args) -> list[Row]:
    small, large = args.mem_images
    with tempfile.TemporaryDirectory() as root:
        _write_pngs(root, args.mem_sources, args.mem_size)

        def peak(n: int) -> dict:
            out = subprocess.run(
                [sys.executable, "-c", _RSS_SCRIPT, root, str(n), str(args.prep_resolution)],
                capture_output=True, text=True, check=True,
            )  # fmt: skip
            return json.loads(out.stdout.strip().splitlines()[-1])

        runs: dict[int, list[dict]] = {small: [], large: []}
        for r in range(args.mem_rounds):
            for n in (small, large) if r % 2 == 0 else (large, small):
                runs[n].append(peak(n))
    # peak RSS apart from the output array (which grows with N by design), in MiB
    net = {n: [(x["peak_kib"] - x["array_kib"]) / 1024 for x in xs] for n, xs in runs.items()}
    ratios = [b / a for a, b in zip(net[small], net[large], strict=True)]
    return [Row(
        f"preprocessing memory, {small} → {large} images ({args.mem_size}² PNGs, "
        f"{args.mem_sources} files repeated)",
        f"parent peak RSS minus the output array at {small} images",
        f"{med(net[small]):.0f} → {med(net[large]):.0f} MiB (output array "
        f"{runs[large][0]['array_kib'] / 1024:.0f} MiB at {large})",
        ratios, "flat: ≤ +10 %", med(ratios) <= 1.1,  # less is fine: the peak is fixed costs
    )]  # fmt: skip


# --------------------------------------------------------------------------- ingestion
def row_ingestion(args) -> list[Row]:
    import pandas as pd

    from cxr_synth.pipelines.demo_data.nodes import make_nih_metadata
    from cxr_synth.pipelines.demo_data.params import DemoDataParams
    from cxr_synth.pipelines.ingestion.nodes import filter_rows, validate_metadata
    from cxr_synth.pipelines.ingestion.params import IngestionParams

    # 1..4 follow-ups per patient (2.5 on average): enough patients, then cut to the NIH count
    frame = make_nih_metadata(
        DemoDataParams.parse({"nih": {"n_patients": int(args.csv_rows / 2.4) + 10}})
    ).iloc[: args.csv_rows]
    params = IngestionParams()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "Data_Entry_2017.csv"
        frame.to_csv(path, index=False)

        def project() -> float:
            start = time.perf_counter()
            valid, _ = validate_metadata(pd.read_csv(path))
            filter_rows(valid, params)
            return time.perf_counter() - start

        def read() -> float:
            start = time.perf_counter()
            pd.read_csv(path)
            return time.perf_counter() - start

        values = alternate({"project": project, "read": read}, args.rounds)
    ratios = paired(values, "project", "read")  # time ratio: lower is better
    return [Row(
        f"ingestion of a {len(frame):,}-row metadata CSV (read + validate_metadata + filter_rows)",
        "`pandas.read_csv` of the same file",
        f"{med(values['project']):.2f} vs {med(values['read']):.2f} s",
        ratios, "≤ 2 (time)", med(ratios) <= 2.0,
    )]  # fmt: skip


# --------------------------------------------------------------------------- metrics
def _phantom_sets(args):
    from bench_metrics import phantom_set

    real = phantom_set(11, args.n_real, args.metric_size)
    heldout = phantom_set(12, args.n_real // 2, args.metric_size)
    base = phantom_set(13, min(max(args.eval_n), 1000), args.metric_size)
    reps = -(-max(args.eval_n) // len(base))
    noise = np.random.default_rng(0).normal(0, 5, (reps * len(base), *base.shape[1:]))
    fake = np.clip(np.tile(base, (reps, 1, 1)) + noise, 0, 255).astype(np.uint8)
    return real, heldout, fake[: max(args.eval_n)]


def _throughput_row(name: str, baseline: str, project, bare, rounds: int) -> Row:
    """Images/s of ``project()`` against ``bare()``, alternated over ``rounds``; goal ≥ 0.9."""
    values = alternate({"project": project, "bare": bare}, rounds)
    ratios = paired(values, "project", "bare")
    return Row(
        name, baseline, f"{med(values['project']):.0f} vs {med(values['bare']):.0f} img/s",
        ratios, "≥ 0.9", med(ratios) >= 0.9,
    )  # fmt: skip


def row_features(args) -> list[Row]:
    from cxr_synth.metrics.features import RandomConvBackbone, extract_features

    backbone = RandomConvBackbone()
    images = np.random.default_rng(0).integers(
        0, 256, (args.feature_n, args.metric_size, args.metric_size), dtype=np.uint8
    )
    tensor = torch.from_numpy(images).unsqueeze(1)

    def project() -> float:
        start = time.perf_counter()
        extract_features(backbone, images, 64)
        return args.feature_n / (time.perf_counter() - start)

    def bare() -> float:
        start = time.perf_counter()
        with torch.no_grad():
            for s in range(0, len(tensor), 64):
                backbone.extract(tensor[s : s + 64])
        return args.feature_n / (time.perf_counter() - start)

    return [_throughput_row(
        f"feature extraction ({backbone.ARCHITECTURE}), {args.feature_n} × {args.metric_size}²",
        "the backbone called on an in-memory tensor", project, bare, args.rounds,
    )]  # fmt: skip


def row_evaluation(args) -> list[Row]:
    from cxr_synth.metrics.features import RandomConvBackbone
    from cxr_synth.metrics.suite import evaluate_generator_samples

    real, heldout, fake = _phantom_sets(args)
    backbone = RandomConvBackbone()
    steps: dict[int, list[dict]] = {n: [] for n in args.eval_n}

    def run(n: int) -> float:
        start = time.perf_counter()
        result = evaluate_generator_samples(real, fake[:n], backbone, heldout=heldout)
        steps[n].append(result["seconds"])
        return time.perf_counter() - start

    values = alternate({n: (lambda n=n: run(n)) for n in args.eval_n}, args.eval_rounds)
    first = args.eval_n[0]
    rows = []
    for n in args.eval_n[1:]:
        ratios = paired(values, n, first)
        limit = 1.1 * n / first
        sim = med([b["similarity"] / a["similarity"] for a, b in zip(steps[first], steps[n],
                                                                      strict=True)])  # fmt: skip
        rows.append(Row(
            f"evaluation at N = {n} synthetic ({args.n_real} real, {len(heldout)} held-out, "
            f"{args.metric_size}²)",
            f"its own N = {first} time",
            f"{med(values[n]):.1f} vs {med(values[first]):.1f} s; NN-SSIM/PSNR step "
            f"{sim:.2f}x for {n / first:.0f}x the N·M pairs",
            ratios, f"≤ {limit:.1f} (≤ linear in N)", med(ratios) <= limit,
        ))  # fmt: skip
    return rows


# --------------------------------------------------------------------------- synthesis
def row_synthesis(args) -> list[Row]:
    from bench_training import options

    from cxr_synth.models.registry import build_gan
    from cxr_synth.sharing.sampling import sample_images

    arch = (args.archs or ["dcgan"])[0]
    opts = options(arch, args.width)
    gan = build_gan(arch, resolution=args.resolution, seed=0, **opts)
    spec = {"architecture": arch, "resolution": args.resolution, "channels": 1,
            "latent_dim": gan.latent_dim, "options": opts}  # fmt: skip
    state = gan.generator.state_dict()
    generator = gan.generator.eval()
    n = args.synth_n

    def project() -> float:
        start = time.perf_counter()
        sample_images(state, spec, n_images=n, batch_size=64, device="cpu")
        return n / (time.perf_counter() - start)

    def bare() -> float:
        start = time.perf_counter()
        noise = torch.Generator().manual_seed(0)
        with torch.no_grad():
            for s in range(0, n, 64):
                generator(torch.randn(min(64, n - s), gan.latent_dim, generator=noise))
        return n / (time.perf_counter() - start)

    return [_throughput_row(
        f"synthesis `{arch}` {args.resolution}², {n} images, batch 64",
        "bare generator forward in a loop", project, bare, args.rounds,
    )]  # fmt: skip


# --------------------------------------------------------------------------- start-up, demo
def _isolated_project(tmp: str) -> Path:
    """A copy of the project's configuration (same installed package) with its own data/."""
    root = Path(tmp) / "project"
    root.mkdir()
    shutil.copy(ROOT / "pyproject.toml", root)
    shutil.copytree(ROOT / "conf", root / "conf", ignore=shutil.ignore_patterns("local"))
    (root / "conf" / "local").mkdir()
    (root / "src").mkdir()
    (root / "src" / "cxr_synth").symlink_to(ROOT / "src" / "cxr_synth")  # the same code
    for name in (".telemetry",):
        if (ROOT / name).exists():
            shutil.copy(ROOT / name, root)
    return root


def _timed(command: list[str], cwd: Path) -> float:
    env = {**os.environ, "DO_NOT_TRACK": "true", "MLFLOW_DISABLE_TELEMETRY": "true"}
    start = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"{' '.join(command)} failed:\n{done.stderr[-3000:]}")
    return time.perf_counter() - start


_IMPORT_PROFILE = (
    "import sys; from kedro.framework.cli import main; sys.argv = ['kedro', 'registry', 'list']; "
    "main()"
)
_WATCHED = ("torch", "torchvision", "torch._dynamo", "mlflow", "matplotlib", "scipy.stats",
            "cxr_synth.hooks", "cxr_synth.pipelines", "cxr_synth.models", "cxr_synth.segmentation",
            "cxr_synth.pipelines.demo_data", "cxr_synth.pipelines.segmentation.nodes",
            "cxr_synth.pipelines.evaluation.pipeline", "kedro.framework.cli")  # fmt: skip


def import_profile(root: Path) -> list[str]:
    """`python -X importtime` of `kedro registry list`: cumulative seconds of the big imports,
    and which module imported each first (the chain to make lazy)."""
    env = {**os.environ, "DO_NOT_TRACK": "true", "MLFLOW_DISABLE_TELEMETRY": "true"}
    done = subprocess.run([sys.executable, "-X", "importtime", "-c", _IMPORT_PROFILE], cwd=root,
                          env=env, capture_output=True, text=True)  # fmt: skip
    entries = []  # (depth, module, cumulative us), in import-completion order
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _, cumulative, name = line.split("|")
        depth = (len(name) - len(name.lstrip(" ")) - 1) // 2
        entries.append((depth, name.strip(), int(cumulative)))
    notes = []
    for index, (depth, module, cumulative) in enumerate(entries):
        if module not in _WATCHED:
            continue
        parents, want = [], depth - 1  # the enclosing imports come later in the output
        for d, name, _ in entries[index + 1 :]:
            if d == want:
                parents.append(name)
                want -= 1
            if want < 0:
                break
        chain = " → ".join([*parents[::-1][-4:], module]) if parents else "top level"
        notes.append(f"`{module}` {cumulative / 1e6:.2f} s (first import: {chain})")
    return notes


def row_startup(args) -> list[Row]:
    kedro = str(Path(sys.executable).with_name("kedro"))
    with tempfile.TemporaryDirectory() as tmp:
        root = _isolated_project(tmp)
        profile = import_profile(root)
        sides = {
            "import": lambda: _timed([sys.executable, "-c", "import kedro"], root),
            "run": lambda: _timed([kedro, "run", "--pipelines", "demo_data", "--nodes",
                                   "demo_data.make_nih_metadata"], root),
            "registry": lambda: _timed([kedro, "registry", "list"], root),
        }
        values = alternate(sides, args.rounds)
    rows = []
    for name, what in (("run", "`kedro run --pipelines demo_data --nodes demo_data.make_nih_metadata` (1 node)"),
                       ("registry", "`kedro registry list`")):  # fmt: skip
        overhead = [t - b for t, b in zip(values[name], values["import"], strict=True)]
        rows.append(Row(
            what, '`python -c "import kedro"`',
            f"{med(values[name]):.1f} vs {med(values['import']):.1f} s",
            overhead, "overhead ≤ 2 s", med(overhead) <= 2.0, unit=" s",
        ))  # fmt: skip
    rows[-1].notes = [
        "import profile (`python -X importtime`, `kedro registry list`, same run): " + "; ".join(
            profile
        )
    ]
    return rows


def row_demo(args) -> list[Row]:
    kedro = str(Path(sys.executable).with_name("kedro"))
    with tempfile.TemporaryDirectory() as tmp:
        root = _isolated_project(tmp)
        seconds = _timed([kedro, "run"], root)
    return [Row(
        "the whole demo (`kedro run`, warm environment, fresh data/)", "— (absolute)",
        f"{seconds / 60:.1f} min", [], "≤ 15 min on 2 cores", seconds <= 900,
    )]  # fmt: skip


def row_gpu(args) -> list[Row]:
    return [Row(
        "GPU training variants (fp32/amp/channels_last/compile)", "fp32 on the same GPU",
        "see the GPU section: `bash benchmarks/gpu.sh` (benchmarks/bench_gpu.py), by hand",
        [], "—", None,
    )]  # fmt: skip


ROWS: dict[str, Callable] = {
    "training": row_training,
    "auto": row_auto,
    "preprocessing": row_preprocessing,
    "prep_memory": row_prep_memory,
    "ingestion": row_ingestion,
    "features": row_features,
    "evaluation": row_evaluation,
    "synthesis": row_synthesis,
    "startup": row_startup,
    "gpu": row_gpu,
    "demo": row_demo,
}
DEFAULT_ROWS = [name for name in ROWS if name != "demo"]


# --------------------------------------------------------------------------- output
def machine() -> dict[str, str]:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        model = platform.processor() or "unknown"
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count() or 1
    return {
        "cpu": model,
        "cores": str(cores),
        "torch": f"{torch.__version__}, {torch.get_num_threads()} threads",
        "date": datetime.datetime.now().astimezone().isoformat(timespec="minutes"),
    }


def load() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "unknown"


def table(rows: list[Row]) -> str:
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    lines += ["| " + " | ".join(row.cells()) + " |" for row in rows]
    return "\n".join(lines)


def section(rows: list[Row], command: str, info: dict[str, str], loads: tuple[str, str]) -> str:
    return "\n".join([
        SECTION, "",
        f"`{command}` — {info['date']}, {info['cpu']}, {info['cores']} cores, torch "
        f"{info['torch']}; load average (1/5/15 min) {loads[0]} at the start, {loads[1]} at the "
        "end. Every ratio is the median of per-round ratios of target and baseline run "
        "alternately in this run (min–max in brackets); `s` rows are seconds of overhead.", "",
        table(rows), "",
        *[f"- {row.benchmark}: {note}" for row in rows for note in row.notes],
        "",
    ])  # fmt: skip


def write_section(path: Path, text: str) -> None:
    """Replace the CPU section (up to the next "## " heading) or insert it before the GPU one."""
    old = path.read_text() if path.exists() else "# Performance\n"
    lines = old.splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if line.strip() == SECTION), None)
    if start is None:
        gpu = next((i for i, line in enumerate(lines) if line.startswith("## ")), len(lines))
        new = [*lines[:gpu], text + "\n", *lines[gpu:]]
    else:
        end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")),
                   len(lines))  # fmt: skip
        new = [*lines[:start], text + "\n", *lines[end:]]
    path.write_text("".join(new))


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="tiny sizes (smoke test)")
    parser.add_argument("--rows", default=",".join(DEFAULT_ROWS), help=f"subset of {list(ROWS)}")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--eval-rounds", type=int, default=None,
                        help="rounds of the evaluation row (default: --rounds; ~9 min each)")
    parser.add_argument("--eval-n", default=None,
                        help="evaluation sizes, e.g. 1000,5000,10000 (the default)")
    parser.add_argument("--archs", default=None, help="training architectures (default: all)")
    parser.add_argument("--out", type=Path, default=None,
                        help="default: docs/performance.md (with --quick: nothing written)")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    args.archs = args.archs.split(",") if args.archs else None
    sizes = {  # full / quick
        "batch": (64, 4), "steps": (4, 2), "resolution": (64, 32), "width": (16, 4),
        "prep_images": (200, 8), "prep_size": (1024, 64), "prep_resolution": (128, 32),
        "mem_images": ((1000, 10000), (20, 60)), "mem_sources": (100, 4), "mem_size": (256, 64), "mem_rounds": (3, 1),
        "csv_rows": (112_120, 500), "feature_n": (1000, 16), "metric_size": (64, 32),
        "n_real": (1000, 16), "eval_n": ((1000, 5000, 10000), (16, 32)), "eval_rounds": (5, 1),
        "synth_n": (1000, 16),
    }  # fmt: skip
    eval_rounds, args.eval_n_option = args.eval_rounds, args.eval_n
    for key, (full, quick) in sizes.items():
        setattr(args, key, quick if args.quick else full)
    if args.quick:
        args.rounds = min(args.rounds, 1)
    args.eval_rounds = eval_rounds or args.rounds
    if args.eval_n_option:
        args.eval_n = tuple(int(n) for n in args.eval_n_option.split(","))
    return args


def main(argv: list[str] | None = None) -> str:
    args = parse(argv)
    logging.basicConfig(level=logging.WARNING)
    os.environ.setdefault("DO_NOT_TRACK", "true")
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("TQDM_DISABLE", "1")
    names = [name.strip() for name in args.rows.split(",") if name.strip()]
    unknown = [name for name in names if name not in ROWS]
    if unknown:
        raise SystemExit(f"unknown rows {unknown}; choose from {list(ROWS)}")
    load_start, rows = load(), []
    for name in names:
        began = time.perf_counter()
        new = ROWS[name](args)
        rows += new
        for row in new:  # as soon as measured: a long run shows its progress
            print("| " + " | ".join(row.cells()) + " |", file=sys.stderr, flush=True)
        print(f"[{name}: {time.perf_counter() - began:.0f} s, load {load()}]", file=sys.stderr)
    command = "python benchmarks/run.py " + " ".join(argv if argv is not None else sys.argv[1:])
    text = section(rows, command.strip(), machine(), (load_start, load()))
    print(text)
    out = args.out or (None if args.quick else ROOT / "docs" / "performance.md")
    if out is not None and not args.no_write:
        write_section(out, text)
    return text


if __name__ == "__main__":
    main()
