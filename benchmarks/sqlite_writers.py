"""Does MLflow's embedded sqlite store survive parallel writers (``kedro study run --executor
local``)? N processes log M metric values each, at once, into one new ``mlflow.db``; prints the
failed calls and how many values were stored. By hand (tens of seconds to minutes):

    python benchmarks/sqlite_writers.py --writers 4 --metrics 300
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import tempfile
import time


def _writer(job: tuple[str, int]) -> int:
    """One process: a run of its own in experiment "w", ``n`` metric calls; failed calls."""
    uri, n = job
    import mlflow

    client = mlflow.MlflowClient(uri)
    experiment = client.get_experiment_by_name("w")
    run = client.create_run(experiment.experiment_id)
    failed = 0
    for step in range(n):
        try:
            client.log_metric(run.info.run_id, "m", float(step), step=step)
        except Exception:  # noqa: BLE001 - counting failures is the point
            failed += 1
    client.set_terminated(run.info.run_id)
    return failed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--writers", type=int, default=4)
    parser.add_argument("--metrics", type=int, default=300)
    args = parser.parse_args()
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    import mlflow

    uri = f"sqlite:///{tempfile.mkdtemp()}/mlflow.db"
    client = mlflow.MlflowClient(uri)
    client.create_experiment("w")  # the schema and the experiment exist before the writers start
    started = time.perf_counter()
    with multiprocessing.get_context("spawn").Pool(args.writers) as pool:
        failed = pool.map(_writer, [(uri, args.metrics)] * args.writers)
    runs = client.search_runs([client.get_experiment_by_name("w").experiment_id])
    stored = sum(len(client.get_metric_history(r.info.run_id, "m")) for r in runs)
    print(f"{args.writers} writers x {args.metrics} metric calls: {sum(failed)} failed, "
          f"{stored}/{args.writers * args.metrics} stored, {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
