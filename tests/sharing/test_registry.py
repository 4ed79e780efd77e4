"""The registry's alias rule (cxr_synth.sharing.registry) when one registered name holds every
architecture: ``@best`` is then one URI whichever architecture the verdicts separate. (Against a
real server, one name per architecture: tests/test_team_run.py.)"""

from __future__ import annotations

import numpy as np
import pandas as pd

from cxr_synth.metrics.verdicts import NOT_SEPARATED
from cxr_synth.sharing import generate
from cxr_synth.sharing.pyfunc import active_run_id, log_generator_model, model_name
from cxr_synth.sharing.registry import BEST, CANDIDATE, promote_best
from tests.sharing.test_pyfunc import tracking  # noqa: F401  (fixture)
from tests.sharing.test_sources import tiny_generator

NAME = "cxr_synth_generator"


def _verdicts(verdict: str) -> pd.DataFrame:
    return pd.DataFrame([{"heldout_set": "heldout", "metric": "KID_rand_mean", "a": "dcgan",
                          "b": "lsgan", "verdict": verdict}])  # fmt: skip


def test_one_name_for_every_architecture_gives_best_to_the_separated_ones_version(tracking):  # noqa: F811
    import mlflow

    generators = {arch: tiny_generator(arch) for arch in ("dcgan", "lsgan")}
    with mlflow.start_run():
        for arch, generator in generators.items():
            log_generator_model(generator, model_name(arch), registered_model_name=NAME)
        run_id = active_run_id()
    records = [{"architecture": arch, "registered_model_name": NAME, "mlflow_run_id": run_id}
               for arch in generators]  # fmt: skip
    client = mlflow.MlflowClient()
    assert str(client.get_model_version_by_alias(NAME, CANDIDATE).version) == "2"  # newest

    assert promote_best(_verdicts(NOT_SEPARATED), records) is None
    assert BEST not in client.get_registered_model(NAME).aliases
    assert promote_best(_verdicts("dcgan better than lsgan"), records) == f"models:/{NAME}/1"
    assert promote_best(_verdicts("lsgan better than dcgan"), records) == f"models:/{NAME}/2"
    np.testing.assert_array_equal(
        generate(f"models:/{NAME}@{BEST}", 3, seed=1), generators["lsgan"].sample(3, 1)
    )
