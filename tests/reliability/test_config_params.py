"""Fault: `kedro run --config FILE --params k=v` silently ran without the file's params (Click
replaces the whole block). Now it stops before any node with one line; the two documented ways
to combine them work."""

import subprocess
import sys

import pytest
import yaml

from cxr_synth.runtime.cli_args import check_config_and_params
from cxr_synth.runtime.errors import UserError

CONFIG = {"run": {"pipelines": "ingestion", "params": {"dcgan": {"model": {"options": {"g_width": 4}}}}}}


def test_config_plus_params_stops_with_one_line_before_any_node(workdir):
    (workdir / "run.yml").write_text(yaml.safe_dump(CONFIG))
    command = [sys.executable, "-m", "kedro", "run", "--config", "run.yml", "--params", "seed=1"]
    done = subprocess.run(command, cwd=workdir, capture_output=True, text=True, timeout=300)
    assert done.returncode != 0
    assert "would drop the file's whole params block (dcgan)" in done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.splitlines()) < 10, done.stderr
    assert not (workdir / "data/01_raw/nih").exists()  # stopped before the demo data was made


def test_each_documented_way_to_combine_them_passes_the_check(tmp_path):
    config = tmp_path / "run.yml"
    config.write_text(yaml.safe_dump(CONFIG))
    check_config_and_params(["kedro", "run", "--config", str(config)])  # params in the file
    check_config_and_params(["kedro", "study", "run", str(config), "--params", "a=1"])  # merges
    check_config_and_params(["kedro", "run", "--params", "a=1"])  # no file
    empty = tmp_path / "empty.yml"
    empty.write_text(yaml.safe_dump({"run": {"pipelines": "ingestion"}}))
    check_config_and_params(["kedro", "run", f"--config={empty}", "--params", "a=1"])
    with pytest.raises(UserError, match="kedro study run"):
        check_config_and_params(["kedro", "run", "-c", str(config), "--params=a=1"])
