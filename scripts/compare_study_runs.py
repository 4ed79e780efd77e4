"""Are two executions of one study the same? Every (variant, seed) run of ``--study`` in the
reference stores (e.g. a sequential run, possibly split by seed over several project copies)
against the same pair in the last store (e.g. ``--executor local``): the parent run's metrics,
its child runs' metrics, the held-out evaluation (``<arch>/evaluation.json``), the resampled
metrics, the training history and the generator's weights (every tensor), without wall-clock
values. Local file stores only (sqlite + ./mlruns).

    python scripts/compare_study_runs.py --study ablation_proposed_cpu --architecture proposed \
        ../abl_seq/mlflow.db ../abl_seq2/mlflow.db ../abl_loc/mlflow.db

``--study NAME:VARIANT`` takes one variant's runs, and ``--checked-study`` another study (or
variant) for the last store: the same settings run under another study, matched seed by seed.
"""

import argparse
import json
from pathlib import Path

import mlflow
import pandas as pd
import torch

TIMING = ("time", "_per_s", "_hours", "wall", "seconds")


def timing(key):
    return any(t in key for t in TIMING)


def runs(db, spec):
    """``NAME`` -> {(variant, seed): run}; ``NAME:VARIANT`` -> {(None, seed): run} of that
    variant."""
    study, _, variant = spec.partition(":")
    found = _runs(db, study)
    if not variant:
        return found
    return {(None, seed): run for (name, seed), run in found.items() if name == variant}


def _runs(db, study):
    client = mlflow.MlflowClient(f"sqlite:///{db}")
    exp = client.get_experiment_by_name("cxr_synth").experiment_id
    found = client.search_runs(
        [exp],
        f"tags.`cxr_synth.study` = '{study}' and "
        "tags.`cxr_synth.study_role` = 'seed' and attributes.status = 'FINISHED'",
        max_results=1000,
    )
    out = {}
    for r in found:
        if "mlflow.parentRunId" in r.data.tags:
            continue
        variant = r.data.tags.get("cxr_synth.study_variant")
        key = (variant, int(r.data.tags["cxr_synth.study_seed"]))
        kids = client.search_runs([exp], f"tags.`mlflow.parentRunId` = '{r.info.run_id}'")
        out[key] = (r, kids, Path(r.info.artifact_uri.replace("file://", "")))
    return out


def view(entry, arch):
    run, kids, root = entry
    metrics = {k: v for k, v in run.data.metrics.items() if not timing(k)}
    for kid in kids:
        metrics |= {
            f"{kid.info.run_name}/{k}": v for k, v in kid.data.metrics.items() if not timing(k)
        }
    evaluation = json.loads((root / arch / "evaluation.json").read_text())["metrics"]
    metrics |= {f"heldout/{k}": v for k, v in evaluation.items() if not timing(k)}
    history = pd.read_csv(root / arch / "history.csv")
    history = history[[c for c in history.columns if not timing(c)]]
    resampled = pd.read_csv(root / arch / "resampled_metrics.csv")
    weights = torch.load(root / arch / "generator.pt", map_location="cpu", weights_only=True)
    return metrics, history, resampled, weights


def same_weights(a, b):
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same_weights(a[k], b[k]) for k in a)
    if isinstance(a, torch.Tensor):
        return torch.equal(a, b)
    return a == b


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--study", required=True)
    parser.add_argument("--architecture", required=True)
    parser.add_argument(
        "--checked-study", help="the last store's study[:variant] (default: --study)"
    )
    parser.add_argument(
        "stores", nargs="+", help="reference mlflow.db files, then the one to check"
    )
    args = parser.parse_args()
    *references, checked = args.stores
    other = runs(checked, args.checked_study or args.study)
    reference = {}
    for db in references:
        reference.update(runs(db, args.study))
    common = sorted(set(reference) & set(other))
    print(f"reference {len(reference)}, checked {len(other)}, both {len(common)}")
    same = 0
    for key in common:
        (ma, ha, ra, wa) = view(reference[key], args.architecture)
        (mb, hb, rb, wb) = view(other[key], args.architecture)
        checks = {
            "metrics": ma == mb,
            "history": ha.equals(hb),
            "resampled": ra.equals(rb),
            "weights": same_weights(wa, wb),
        }
        same += all(checks.values())
        print(
            f"{key[0] or '':16s} {key[1]} metrics {len(ma):3d} held-out FD_rand "
            f"{ma['heldout/FD_rand']:.4f} KID {ma['heldout/KID_rand_mean']:.5f} "
            f"{'identical' if all(checks.values()) else checks} "
            f"reference={reference[key][0].info.run_id} checked={other[key][0].info.run_id}"
        )
    print(f"identical in every check: {same}/{len(common)}")


if __name__ == "__main__":
    main()
