"""Smoke test of benchmarks/run.py --quick on tiny sizes: the table's shape, never timings."""

from __future__ import annotations

import pytest

from tests.benchmarks import load_benchmark


@pytest.fixture(scope="module")
def bench():
    return load_benchmark("run")


def _table_rows(text: str) -> list[list[str]]:
    rows = [line for line in text.splitlines() if line.startswith("|")]
    return [[cell.strip() for cell in row.strip().strip("|").split("|")] for row in rows]


def test_quick_run_writes_one_table_and_keeps_the_gpu_section(bench, tmp_path):
    out = tmp_path / "performance.md"
    out.write_text("# Performance\n\n## GPU (`benchmarks/gpu.sh`)\n\nkept as is\n")
    args = ["--quick", "--rows", "ingestion,features,gpu", "--out", str(out)]
    text = bench.main(args)

    rows = _table_rows(text)
    assert rows[0] == bench.HEADER
    assert set(rows[1]) == {"---"}
    assert len(rows) == 2 + 3  # header, separator, one row per benchmark
    assert all(len(row) == len(bench.HEADER) for row in rows)
    for row in rows[2:4]:  # measured rows: a median ratio with its min-max, and a status
        assert "(" in row[3] and "–" in row[3]
        assert row[5] in {"met", "**missed**"}
    assert rows[4][3] == "not measured"

    written = out.read_text()
    assert written.count(bench.SECTION) == 1
    assert "kept as is" in written and written.index(bench.SECTION) < written.index("## GPU")
    bench.main(args)  # a second run replaces the section, it does not add one
    assert out.read_text().count(bench.SECTION) == 1
    assert "kept as is" in out.read_text()


def test_unknown_row_is_refused(bench):
    with pytest.raises(SystemExit, match="unknown rows"):
        bench.main(["--quick", "--rows", "nope"])


def test_quick_auto_row_runs_the_automatic_settings_against_bare_fp32(bench):
    """The auto row trains with precision/channels_last auto (the suite's own cache: conftest)."""
    rows = _table_rows(bench.main(["--quick", "--rows", "auto", "--archs", "dcgan"]))
    assert len(rows) == 3
    benchmark, baseline = rows[2][:2]
    assert "precision/channels_last: auto, resolved here:" in benchmark
    assert baseline == "bare fp32 loop"
    assert "(" in rows[2][3] and rows[2][5] in {"met", "**missed**"}


def test_quick_training_row_covers_the_single_network_model(bench):
    """ddpm has no discriminator: its bare-loop baseline is one generator_loss step per batch."""
    rows = _table_rows(bench.main(["--quick", "--rows", "training", "--archs", "ddpm"]))
    assert len(rows) == 3 and rows[2][0].startswith("training step `ddpm`")
    assert rows[2][1] == "bare loop, same models/optimisers, data in memory"
