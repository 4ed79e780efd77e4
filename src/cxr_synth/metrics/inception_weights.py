"""The Inception-v3 FID weights file: where it is looked for, how it is fetched, how it is checked.

``locate_inception_weights`` returns the path of a *verified* file: its SHA-256 must start with
the prefix in the official file name (``6726825d``, what ``torch.hub``'s ``check_hash`` checks),
else ``InceptionWeightsMismatch``. Nothing touches the network unless ``allow_download`` is true;
then the file is fetched once, atomically (``cxr_synth.runtime.atomic``), with a progress bar and a
per-connection/read timeout, hashed while it streams and refused before it lands if the hash is
wrong. A failed download is remembered for ``RETRY_AFTER_S`` (10 min): one run tries, and warns, once.
torchmetrics/torch-fidelity always get an explicit file path and never download anything.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, Field
from tqdm.auto import tqdm

from cxr_synth.runtime.atomic import atomic_write
from cxr_synth.runtime.schema import Bool, Float, StrictModel

logger = logging.getLogger(__name__)

INCEPTION_WEIGHTS_FILE = "weights-inception-2015-12-05-6726825d.pth"
INCEPTION_WEIGHTS_SHA256_PREFIX = "6726825d"  # the hash part of the official file name
# torch_fidelity.feature_extractor_inceptionv3.URL_INCEPTION_V3 (torch-fidelity 0.4.0).
INCEPTION_WEIGHTS_URL = (
    "https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/" + INCEPTION_WEIGHTS_FILE
)
INCEPTION_WEIGHTS_ENV = "CXR_SYNTH_INCEPTION_WEIGHTS"
DEFAULT_TIMEOUT_S = 30.0
RETRY_AFTER_S = 600.0  # a failed download is not retried by this process before then


_failed_downloads: dict[tuple[str, str], tuple[float, str]] = {}


class InceptionWeightsUnavailable(FileNotFoundError):
    """The Inception-v3 weights file is not on disk (and was not, or could not be, downloaded)."""

    def __init__(self, reason: str, expected_path: Path, url: str = INCEPTION_WEIGHTS_URL):
        self.reason = reason
        self.expected_path = Path(expected_path)
        self.url = url
        super().__init__(
            f"Inception-v3 weights for FID are unavailable: {reason}. Put the file "
            f"{INCEPTION_WEIGHTS_FILE} at {self.expected_path} (download it elsewhere from "
            f"{url}), or point {INCEPTION_WEIGHTS_ENV} at it."
        )


class InceptionWeightsMismatch(InceptionWeightsUnavailable):
    """A weights file (on disk or just downloaded) is not the official one: its hash differs."""

    def __init__(self, path: Path, sha256: str, expected: str, url: str = INCEPTION_WEIGHTS_URL):
        self.sha256, self.expected_sha256 = sha256, expected
        super().__init__(
            f"{path} has SHA-256 {sha256}, but the official file's starts with {expected} "
            f"(corrupt, truncated or a different network); delete it and fetch it again",
            path,
            url,
        )


def default_inception_weights_path() -> Path:
    """Where torch-fidelity/torchmetrics cache the file: ``torch.hub.get_dir()/checkpoints/``."""
    import torch  # here: the parameter models import this module, and need no torch

    return Path(torch.hub.get_dir()) / "checkpoints" / INCEPTION_WEIGHTS_FILE


def _http_url(value: str) -> str:
    if not value.startswith(("https://", "http://")):
        raise ValueError(f"must be an http(s) URL, got {value!r}")
    return value


class InceptionWeightsParams(StrictModel):
    """Where the FID weights come from (``evaluation.inception_weights``): ``path`` (else
    ``$CXR_SYNTH_INCEPTION_WEIGHTS``, else the torch hub cache), downloaded from ``url`` on
    first use only when ``download`` is true; the SHA-256 is checked in any case."""

    download: Bool = False  # fetch the file on first use (never in tests/CI)
    # where it is fetched from; its SHA-256 must start with 6726825d
    url: Annotated[str, AfterValidator(_http_url)] = INCEPTION_WEIGHTS_URL
    # the file; null = $CXR_SYNTH_INCEPTION_WEIGHTS, else the torch hub cache
    path: str | None = None
    timeout: Annotated[Float, Field(gt=0)] = DEFAULT_TIMEOUT_S  # seconds per connection/read

    def backbone_kwargs(self) -> dict[str, Any]:
        """The ``build_backbone`` keywords."""
        return {"allow_download": self.download, "url": self.url, "weights_path": self.path,
                "timeout": self.timeout}  # fmt: skip


def sha256_of(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file (about 0.1 s for the 91 MB weights)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(1 << 22):
            digest.update(block)
    return digest.hexdigest()


def verify_inception_weights(
    path: str | os.PathLike, expected_sha256: str | None = None, url: str = INCEPTION_WEIGHTS_URL
) -> str:
    """The file's SHA-256, or ``InceptionWeightsMismatch`` when it does not start with
    ``expected_sha256`` (default: the official prefix)."""
    expected = (expected_sha256 or INCEPTION_WEIGHTS_SHA256_PREFIX).lower()
    actual = sha256_of(path)
    if not actual.startswith(expected):
        raise InceptionWeightsMismatch(Path(path), actual, expected, url)
    return actual


def locate_inception_weights(
    path: str | os.PathLike | None = None,
    *,
    allow_download: bool = False,
    timeout: float = DEFAULT_TIMEOUT_S,
    url: str = INCEPTION_WEIGHTS_URL,
    expected_sha256: str | None = None,
) -> Path:
    """Return the path of the verified Inception-v3 FID weights, or raise
    ``InceptionWeightsUnavailable`` (``InceptionWeightsMismatch`` for a file with the wrong hash).

    Looks at ``path``, else ``$CXR_SYNTH_INCEPTION_WEIGHTS``, else the torch hub checkpoint
    directory. A missing file is fetched from ``url`` to that same place when ``allow_download``
    is true, else it is an error (an explicit path never falls back to the hub directory).
    """
    explicit = path if path is not None else os.environ.get(INCEPTION_WEIGHTS_ENV) or None
    target = (
        Path(explicit).expanduser() if explicit is not None else default_inception_weights_path()
    )
    if not target.is_file():
        if explicit is not None:
            source = "the path given" if path is not None else f"${INCEPTION_WEIGHTS_ENV}"
            where = f"{source} names {target}, which is not a file"
        else:
            where = f"{target} does not exist"
        if not allow_download:
            reason = f"{where} and downloading is off (set inception_weights.download to true)"
            raise InceptionWeightsUnavailable(reason, target, url)
        download_inception_weights(url, target, timeout, expected_sha256)
    verify_inception_weights(target, expected_sha256, url)
    return target


class _Refused(Exception):
    """A download that arrived but is not the official file."""


def download_inception_weights(
    url: str, target: Path, timeout: float = DEFAULT_TIMEOUT_S, expected_sha256: str | None = None
) -> None:
    """Fetch ``url`` to ``target`` atomically, refusing it unless its SHA-256 matches; any
    failure raises ``InceptionWeightsUnavailable`` and leaves ``target`` as it was."""
    expected = (expected_sha256 or INCEPTION_WEIGHTS_SHA256_PREFIX).lower()
    key = (url, str(target))
    failed_at, reason = _failed_downloads.get(key, (-RETRY_AFTER_S, ""))
    if time.monotonic() - failed_at < RETRY_AFTER_S:
        raise InceptionWeightsUnavailable(reason, target, url)  # the same words: warned once
    logger.info("downloading the Inception-v3 FID weights from %s to %s", url, target)
    digest, received = hashlib.sha256(), 0
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, atomic_write(target) as out:
            size = int(response.headers.get("Content-Length") or 0) or None
            with tqdm(
                total=size, unit="B", unit_scale=True, desc=target.name, leave=False, disable=None
            ) as bar:
                while chunk := response.read(1 << 20):
                    out.write(chunk)
                    digest.update(chunk)
                    received += len(chunk)
                    bar.update(len(chunk))
            if size is not None and received != size:  # raising here discards the temp file
                raise _Refused(f"the download from {url} stopped after {received} of {size} bytes")
            if not digest.hexdigest().startswith(expected):
                raise _Refused(
                    f"the file downloaded from {url} has SHA-256 {digest.hexdigest()}, not the "
                    f"official one (starting {expected}), and was refused"
                )
    except (
        _Refused,
        OSError,
        urllib.error.URLError,
        http.client.HTTPException,
        ValueError,
    ) as error:
        reason = (
            str(error)
            if isinstance(error, _Refused)
            else f"download from {url} failed ({type(error).__name__}: {error}; timeout {timeout} s)"
        )
        _failed_downloads[key] = (time.monotonic(), reason)
        raise InceptionWeightsUnavailable(reason, target, url) from error
    logger.info("Inception-v3 weights saved to %s (sha256 %s)", target, digest.hexdigest())
