"""Smoke test of benchmarks/bench_gpu.py at tiny sizes on CPU: the tables' shape, never timings."""

from __future__ import annotations

import pytest

from tests.benchmarks import load_benchmark


@pytest.fixture(scope="module")
def bench():
    return load_benchmark("bench_gpu")


def _table_rows(text: str) -> list[list[str]]:
    rows = [line for line in text.splitlines() if line.startswith("|")]
    return [[cell.strip() for cell in row.strip("|").split("|")] for row in rows]


def test_quick_cpu_run_appends_the_table(bench, tmp_path):
    out = tmp_path / "performance.md"
    out.write_text("# Performance\n")
    args = ["--device", "cpu", "--quick", "--archs", "dcgan,wgan_gp,proposed", "--out", str(out)]
    text = bench.main([*args, "--variants", "fp32,amp,amp+cl,fp16+cl", "--loader-s", "0.05"])
    assert out.read_text() == "# Performance\n" + text
    header, rule, *rows = _table_rows(text)
    assert header[:4] == ["architecture", "variant", "precision", "images/s"]
    assert "GradScaler skips" in header and "100 epochs × 60,361 (h)" in header
    assert len(rule) == len(header) and all(len(r) == len(header) for r in rows)
    # 3 architectures x 4 variants, spectral norm off, the critic without GroupNorm (2 layouts)
    assert len(rows) == 3 * 4 + 1 + 2
    assert {r[0] for r in rows} == {"dcgan", "wgan_gp", "proposed"}
    assert all(r[6] != "—" for r in rows if r[1] == "fp16+cl")  # skipped steps counted
    assert "DataLoader alone" in text and "Spectral norm" in text and "GroupNorm" in text
    assert text.count("projected") == 1 and "- dcgan:" in text


def test_memory_estimate_table(bench):
    text = bench.main(["--estimate-memory", "--archs", "dcgan,stylegan", "--resolutions", "16"])
    header, _, *rows = _table_rows(text)
    assert header[0] == "architecture" and len(rows) == 2
    assert all(len(r) == len(header) and float(r[6]) >= 0 for r in rows)
