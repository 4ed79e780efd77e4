"""The raw inputs' datasets: a missing, empty or unreadable download is one line naming the file
or folder and the fix (``cxr_synth.runtime.errors.UserError``), not a traceback."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
from kedro.io import DatasetError
from kedro_datasets.pandas import CSVDataset
from kedro_datasets.partitions import PartitionedDataset

from cxr_synth.runtime.errors import UserError

WHERE = "conf/nih/globals.yml, or --params nih_root=<folder>"  # where the raw paths are set


class MetadataCSVDataset(CSVDataset):
    """``pandas.CSVDataset`` for the NIH metadata; the frame names its file in
    ``attrs["source"]`` so that schema errors can name it too."""

    def load(self) -> pd.DataFrame:
        path = Path(self._get_load_path())
        if self._protocol == "file" and not path.is_file():
            folder = "" if path.parent.is_dir() else " (its folder does not exist either)"
            raise UserError(f"{path}: no such file{folder}; set nih_root to the folder of your "
                            f"NIH download ({WHERE})")  # fmt: skip
        try:
            frame = super().load()
        except DatasetError as error:
            user_error = _not_a_csv(path, error.__cause__)
            if user_error is None:
                raise
            raise user_error from error
        frame.attrs["source"] = str(path)
        return frame


def _not_a_csv(path: Path, cause: BaseException | None) -> UserError | None:
    if isinstance(cause, UnicodeDecodeError):
        return UserError(
            f"{path}: not UTF-8 text (byte 0x{cause.object[cause.start]:02x}; UTF-16 or "
            "Latin-1?); re-save it as a UTF-8 CSV (Excel: 'CSV UTF-8')"
        )
    if isinstance(cause, pd.errors.ParserError | pd.errors.EmptyDataError):
        return UserError(f"{path}: not a CSV table ({str(cause).strip()}); use the "
                         "Data_Entry_2017.csv downloaded from NIH, saved as a UTF-8 CSV")  # fmt: skip
    return None


class ImageFolderDataset(PartitionedDataset):
    """``partitions.PartitionedDataset`` of a raw image folder; a folder with no file to load
    stops the run naming the folder it looked in."""

    def load(self) -> dict[str, Any]:
        try:
            return super().load()
        except DatasetError:
            if self._list_partitions():
                raise
            what = "does not exist" if not Path(self._path).exists() else "has none"
            raise UserError(
                f"no *{self._filename_suffix} file under {self._path} (the folder {what}); "
                f"point the catalog at the folder of your images ({WHERE}, or seg_root=...)"
            ) from None
