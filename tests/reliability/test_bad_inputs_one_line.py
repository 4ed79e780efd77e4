"""Faults: a broken or misplaced download, the demo's leftovers and a batch bigger than the data.
Each used to end in a raw traceback (KeyError, UnicodeDecodeError, Kedro's DatasetError); now
`kedro run` prints one line naming the file, folder or key and the fix (``find_user_error`` is
what it prints; the traceback goes to logs/last_error.log)."""

from pathlib import Path

import pytest

from cxr_synth.runtime.errors import find_user_error
from tests.conftest import TINY_DEMO, run_kedro
from tests.pipelines.ingestion.test_nodes import metadata


def _one_line(workdir: Path, pipelines: list[str], env: str | None = None, **params) -> str:
    with pytest.raises(Exception) as error:
        run_kedro(workdir, pipelines, env=env, params=params)
    message = find_user_error(error.value)
    assert message is not None, error.value  # a user error: one line, no traceback
    assert "\n" not in str(message)
    return str(message)


def _nih_download(root: Path, csv: bytes | None = None) -> Path:
    """An NIH folder with ``csv`` as its Data_Entry_2017.csv (the tiny valid one by default)."""
    root.mkdir()
    default = metadata().to_csv(index=False).encode()
    (root / "Data_Entry_2017.csv").write_bytes(default if csv is None else csv)
    return root


def test_a_header_only_metadata_file_names_the_file(workdir):
    header = metadata().iloc[0:0].to_csv(index=False).encode()
    root = _nih_download(workdir / "nih", header)
    message = _one_line(workdir, ["ingestion"], "nih", nih_root=str(root))
    assert message.startswith(f"{root}/Data_Entry_2017.csv has 0 data rows")


def test_a_file_without_the_view_position_column_names_it(workdir):
    csv = metadata().drop(columns=["View Position"]).to_csv(index=False).encode()
    root = _nih_download(workdir / "nih", csv)
    message = _one_line(workdir, ["ingestion"], "nih", nih_root=str(root))
    assert f"{root}/Data_Entry_2017.csv is missing" in message and "['View Position']" in message


@pytest.mark.parametrize("encoding", ["random bytes", "utf-16", "latin-1"])
def test_a_metadata_file_that_is_not_utf8_says_resave_it(workdir, encoding):
    """Before: Kedro's DatasetError around pandas' UnicodeDecodeError, 128 lines."""
    table = metadata().assign(**{"Finding Labels": "Épanchement"}).to_csv(index=False)
    csv = bytes(range(128, 256)) * 16 if encoding == "random bytes" else table.encode(encoding)
    root = _nih_download(workdir / "nih", csv)
    message = _one_line(workdir, ["ingestion"], "nih", nih_root=str(root))
    assert message.startswith(f"{root}/Data_Entry_2017.csv: not UTF-8 text")
    assert "re-save it as a UTF-8 CSV" in message


def test_an_nih_root_that_does_not_exist_names_it(workdir):
    message = _one_line(workdir, ["ingestion"], "nih", nih_root=str(workdir / "nowhere"))
    assert message.startswith(f"{workdir}/nowhere/Data_Entry_2017.csv: no such file")
    assert "set nih_root" in message


def test_an_image_folder_without_pngs_says_where_it_looked(workdir):
    root = _nih_download(workdir / "nih")
    message = _one_line(workdir, ["ingestion"], "nih", nih_root=str(root))
    assert message.startswith(f"no *.png file under {root}")
    assert not (workdir / "data/02_intermediate/nih_manifest.parquet").exists()


def test_the_demo_manifest_with_another_data_source_says_run_ingestion(workdir):
    """Demo first, then `--env nih` and only `preprocessing`: a raw KeyError before."""
    run_kedro(workdir, ["ingestion"], params=TINY_DEMO)
    root = _nih_download(workdir / "nih")
    (root / "images_001/images").mkdir(parents=True)
    (root / "images_001/images/99999999_000.png").write_bytes(b"")  # any PNG: not the demo's
    seg = {"seg_root": str(workdir / "data/01_raw/seg/montgomery"),  # the demo's: valid
           "preprocessing.segmentation.layout": "montgomery"}  # fmt: skip
    message = _one_line(
        workdir, ["preprocessing"], "nih", nih_root=str(root), **seg,
        **{"preprocessing.resolution": 32, "preprocessing.segmentation.resolution": 32},
    )  # fmt: skip
    assert message.startswith(
        "nih_manifest lists 25 of its 25 images that are not under nih_images"
    )
    assert "from another data source" in message and "run ingestion first" in message


def test_a_batch_larger_than_the_data_names_the_key(workdir):
    """The message was there, at the end of a 60-line traceback."""
    message = _one_line(
        workdir,
        ["ingestion", "preprocessing", "train_dcgan"],
        **{**TINY_DEMO, "training.loop.batch_size": 512},
    )
    assert message == (
        "dcgan: the training set (18 images) is smaller than one batch (512); set "
        "training.loop.batch_size (or dcgan.loop, pair_training.loop for pairs) to at most 18"
    )
