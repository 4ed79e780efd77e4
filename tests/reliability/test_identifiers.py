"""Fault: patient-derived source names or local absolute paths leaking into outputs or MLflow."""

import sqlite3
from pathlib import Path

from PIL import Image

SHARED_LAYERS = ("04_feature", "06_models", "07_model_output", "08_reporting")  # leave the machine


def _source_names(workdir: Path) -> set[str]:
    raw = workdir / "data/01_raw"
    return {p.stem for p in raw.rglob("*.png")} - {""}


def _leaks(blob: bytes, needles: set[str]) -> set[str]:
    return {n for n in needles if n.encode() in blob}


def test_no_source_name_or_absolute_path_in_outputs_or_mlflow(tiny_study):
    names = _source_names(tiny_study)
    assert any(n.startswith("MCUCXR_") for n in names) and any("_00" in n for n in names)
    paths = {str(tiny_study.resolve()), str(Path.home())}
    outputs = [p for layer in SHARED_LAYERS for p in (tiny_study / "data" / layer).rglob("*")]
    outputs += list((tiny_study / "mlruns").rglob("*"))
    files = [p for p in outputs if p.is_file()]
    assert len(files) > 100
    leaks = {str(p): _leaks(p.read_bytes(), names | paths) for p in files}
    assert {p: found for p, found in leaks.items() if found} == {}

    store = sqlite3.connect(tiny_study / "mlflow.db")
    for table in ("params", "tags", "metrics"):
        values = " ".join(f"{k}={v}" for k, v in store.execute(f"SELECT key, value FROM {table}"))
        assert _leaks(values.encode(), names | paths) == set(), table


def test_per_image_results_use_pseudonyms_mapped_only_locally(tiny_study):
    import pandas as pd

    runs = pd.read_csv(tiny_study / "data/08_reporting/segmentation/none_runs.csv")
    assert runs["image"].str.fullmatch(r"img\d{5}").all()
    mapping = pd.read_parquet(tiny_study / "data/05_model_input/seg_split_index.parquet")
    stems = mapping.set_index("row")["stem"]
    assert {stems[int(i[3:])] for i in runs["image"]} <= set(mapping["stem"])  # resolvable here


def test_png_outputs_carry_no_text_chunks(tiny_study):
    pngs = [p for layer in SHARED_LAYERS for p in (tiny_study / "data" / layer).rglob("*.png")]
    assert any("loss_curves" in p.name for p in pngs)  # matplotlib figures are among them
    with_text = {}
    for path in pngs:
        with Image.open(path) as image:
            image.load()
            if image.text:
                with_text[str(path)] = dict(image.text)
    assert with_text == {}
