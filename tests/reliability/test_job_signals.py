"""The decoding pool ends inside a study job: submitit's jobs (``kedro study run --executor
local|slurm``) "bypass" SIGTERM, forked pool workers inherited that handler, and ``Pool.terminate``
(the end of ``with pool``), which stops workers by SIGTERM, then waited for them forever. Found
when the real ablation study ran with ``--executor local``: every job hung in preprocessing."""

import subprocess
import sys
import textwrap

import pytest

from tests.conftest import PROJECT_ROOT

# A job process that ignores SIGTERM, as submitit's does, stops reading a decode early (a reject
# limit, an error downstream): the pool is terminated while its workers are busy.
JOB = textwrap.dedent("""
    import signal
    import time

    from cxr_synth.data.imaging import parallel_map

    signal.signal(signal.SIGTERM, lambda *_: None)
    decoded = parallel_map(time.sleep, [(0.05,)] * 256, workers=2)
    next(decoded)
    decoded.close()
    print("ended")
""")


@pytest.mark.skipif(sys.platform != "linux", reason="the forked pool is Linux's")
def test_a_job_that_ignores_sigterm_still_ends_its_decoding_pool():
    try:  # on timeout, subprocess.run kills by SIGKILL, which no handler can bypass
        done = subprocess.run([sys.executable, "-c", JOB], capture_output=True, text=True,
                              cwd=PROJECT_ROOT, timeout=120)  # fmt: skip
    except subprocess.TimeoutExpired:
        pytest.fail("the pool's workers ignored the SIGTERM that ends them: the job hung")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["ended"]
