"""Feature backbones for the distribution metrics: Inception-v3 (real FID) and an offline one.

- ``InceptionBackbone``: the standard FID network (Heusel et al. 2017) as torchmetrics wraps it
  from torch-fidelity: the 2048-d pool3 features of the TF-ported Inception-v3, uint8 input,
  resized to 299x299 with the TF1-compatible bilinear resize of the reference implementation.
  Its weights must be on disk (no network where we develop): see ``locate_inception_weights``.
- ``RandomConvBackbone``: a fixed, seeded, randomly initialised VGG-style CNN that needs no
  download (Naeem et al. 2020, "Reliable Fidelity and Diversity Metrics for Generative
  Models": random embeddings for data far from ImageNet). Its Fréchet distance is
  labelled ``FD_rand``, never FID.

Every backbone is an ``nn.Module`` with an integer ``num_features``, so it also works as the
``feature=`` module of torchmetrics' ``FrechetInceptionDistance``/``KernelInceptionDistance``.
Calling it on a uint8 batch (N, H, W) or (N, 1, H, W) returns (N, D) float64 features on the CPU.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import math
import os
import urllib.error
import urllib.request
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

logger = logging.getLogger(__name__)

INCEPTION_WEIGHTS_FILE = "weights-inception-2015-12-05-6726825d.pth"
# torch_fidelity.feature_extractor_inceptionv3.URL_INCEPTION_V3 (torch-fidelity 0.4.0).
INCEPTION_WEIGHTS_URL = (
    "https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/" + INCEPTION_WEIGHTS_FILE
)
INCEPTION_WEIGHTS_ENV = "CXR_SYNTH_INCEPTION_WEIGHTS"
BACKBONE_NAMES = ("inception", "random", "auto")

ImageBatches = np.ndarray | torch.Tensor | Iterable[Any]


# --------------------------------------------------------------------------- image helpers
def to_uint8_images(
    images: np.ndarray | torch.Tensor, value_range: tuple[float, float] = (-1.0, 1.0)
) -> torch.Tensor:
    """Return images as a uint8 tensor (N, 1, H, W), the one input format of every metric here.

    Accepts (N, H, W) or (N, 1, H, W) numpy arrays or tensors. uint8 (and other integer types
    holding 0..255) pass through; floating point images are mapped from ``value_range``
    (generators' tanh output: [-1, 1]) to 0..255, rounded and clipped. A float batch far outside
    ``value_range`` (e.g. floats in 0..255) is refused rather than silently clipped.
    """
    x = images if torch.is_tensor(images) else torch.from_numpy(np.array(images, copy=True))
    if x.ndim == 3:
        x = x.unsqueeze(1)
    if x.ndim != 4 or x.shape[1] != 1:
        raise ValueError(
            f"expected grayscale images shaped (N, H, W) or (N, 1, H, W), got {tuple(x.shape)}"
        )
    if x.dtype == torch.uint8:
        return x
    if x.dtype == torch.bool:
        raise TypeError("boolean arrays are masks, not images")
    if x.is_floating_point():
        low, high = value_range
        width = high - low
        if x.numel() and (x.min() < low - 0.5 * width or x.max() > high + 0.5 * width):
            raise ValueError(
                f"float images must lie in value_range={value_range}; got values in "
                f"[{float(x.min()):.3g}, {float(x.max()):.3g}] (pass uint8, or set value_range)"
            )
        x = ((x.double() - low) * (255.0 / width)).round().clamp(0, 255)
        return x.to(torch.uint8)
    if x.numel() and (x.min() < 0 or x.max() > 255):
        raise ValueError(f"integer images must hold 0..255, got dtype {x.dtype} outside it")
    return x.to(torch.uint8)


def iter_batches(
    images: ImageBatches,
    batch_size: int = 64,
    value_range: tuple[float, float] = (-1.0, 1.0),
    progress: str | None = None,
) -> Iterator[torch.Tensor]:
    """Yield uint8 (B, 1, H, W) batches from an array/tensor (sliced, so a memory-mapped array is
    read ``batch_size`` images at a time) or from any iterable of batches (e.g. generator output).

    ``progress``: a progress-bar label (shown on a terminal only).
    """
    if isinstance(images, np.ndarray | torch.Tensor):
        batches = (
            to_uint8_images(images[start : start + batch_size], value_range)
            for start in range(0, len(images), batch_size)
        )
        total = math.ceil(len(images) / batch_size)
    else:
        batches = (to_uint8_images(batch, value_range) for batch in images)
        total = None
    if progress is not None:
        batches = tqdm(batches, desc=progress, total=total, unit="batch", leave=False, disable=None)
    yield from batches


# --------------------------------------------------------------------------- Inception weights
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


def default_inception_weights_path() -> Path:
    """Where torch-fidelity/torchmetrics cache the file: ``torch.hub.get_dir()/checkpoints/``."""
    return Path(torch.hub.get_dir()) / "checkpoints" / INCEPTION_WEIGHTS_FILE


def locate_inception_weights(
    path: str | os.PathLike | None = None, *, allow_download: bool = False, timeout: float = 10.0
) -> Path:
    """Return the path of the Inception-v3 FID weights, or raise ``InceptionWeightsUnavailable``.

    Looks at ``path``, else ``$CXR_SYNTH_INCEPTION_WEIGHTS``, else the torch hub checkpoint
    directory. An explicit path or environment variable that names a missing file is an error (no
    fallback). Nothing is downloaded unless ``allow_download`` is true; then the file is fetched
    into the hub directory with a ``timeout`` (seconds, per connection/read) and never hangs.
    """
    explicit = path if path is not None else os.environ.get(INCEPTION_WEIGHTS_ENV) or None
    if explicit is not None:
        candidate = Path(explicit).expanduser()
        if candidate.is_file():
            return candidate
        source = "the path given" if path is not None else f"${INCEPTION_WEIGHTS_ENV}"
        raise InceptionWeightsUnavailable(
            f"{source} names {candidate}, which is not a file", candidate
        )
    candidate = default_inception_weights_path()
    if candidate.is_file():
        return candidate
    if not allow_download:
        raise InceptionWeightsUnavailable(
            f"{candidate} does not exist and downloading is off (allow_download=False)", candidate
        )
    _download(INCEPTION_WEIGHTS_URL, candidate, timeout)
    return candidate


def _download(url: str, target: Path, timeout: float) -> None:
    """Fetch ``url`` to ``target`` atomically; any failure raises InceptionWeightsUnavailable."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, open(partial, "wb") as out:
            while chunk := response.read(1 << 20):
                out.write(chunk)
        os.replace(partial, target)
    except (OSError, urllib.error.URLError, http.client.HTTPException, ValueError) as error:
        partial.unlink(missing_ok=True)
        raise InceptionWeightsUnavailable(
            f"download from {url} failed ({type(error).__name__}: {error})", target, url
        ) from error


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(1 << 22):
            digest.update(block)
    return digest.hexdigest()


# --------------------------------------------------------------------------- backbones
class FeatureBackbone(nn.Module):
    """Base class: uint8 images in, (N, D) float64 features out (CPU), in eval mode, no grad.

    ``name`` labels the Fréchet distance in tables ("FID" only for Inception); ``suffix`` is
    appended to every other metric computed on these features ("" or "_rand").
    ``identifier`` names the exact weights, so cached statistics are never mixed across backbones.
    ``warnings`` lists caveats (e.g. why ``auto`` fell back) that result tables must carry.
    """

    name: str = ""
    suffix: str = ""
    identifier: str = ""
    num_features: int = 0

    def __init__(self) -> None:
        super().__init__()
        self.warnings: list[str] = []
        self.register_buffer("_device_probe", torch.zeros(0), persistent=False)

    def label(self, metric: str) -> str:
        """Column name for ``metric`` on this backbone's features, e.g. ``KID`` -> ``KID_rand``."""
        return metric + self.suffix

    def train(self, mode: bool = True) -> FeatureBackbone:
        return super().train(False)  # never leaves eval mode

    def forward(self, images: np.ndarray | torch.Tensor) -> torch.Tensor:
        x = to_uint8_images(images).to(self._device_probe.device)
        with torch.no_grad():
            features = self.extract(x)
        return features.detach().to("cpu", torch.float64)

    def extract(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError


class InceptionBackbone(FeatureBackbone):
    """FID's Inception-v3 (pool3, 2048-d), exactly torch-fidelity's forward pass.

    Grayscale is repeated to 3 channels; torchmetrics' ``NoTrainInceptionV3`` is used with
    ``antialias=False``, i.e. torch-fidelity's TF1-compatible bilinear resize to 299x299 (the
    reference FID; torchmetrics' own default ``antialias=True`` gives slightly different numbers).
    """

    name = "FID"
    suffix = ""
    num_features = 2048

    def __init__(
        self,
        weights_path: str | os.PathLike | None = None,
        *,
        allow_download: bool = False,
        timeout: float = 10.0,
    ) -> None:
        super().__init__()
        path = locate_inception_weights(
            weights_path, allow_download=allow_download, timeout=timeout
        )
        from torchmetrics.image.fid import NoTrainInceptionV3

        # torch-fidelity loads with weights_only=False; refuse files that hold more than tensors.
        torch.load(path, map_location="cpu", weights_only=True)
        with torch.random.fork_rng(devices=[]):  # default inits must not move the global RNG
            self.net = NoTrainInceptionV3(
                name="inception-v3-compat",
                features_list=["2048"],
                feature_extractor_weights_path=str(path),
                antialias=False,
            )
        self.weights_path = path
        self.sha256 = _sha256(path)
        self.identifier = f"inception-v3-compat-pool3-2048-sha256:{self.sha256[:16]}"
        logger.info("FID backbone: Inception-v3 from %s (sha256 %s)", path, self.sha256)

    def extract(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.expand(-1, 3, -1, -1).contiguous())


class RandomConvBackbone(FeatureBackbone):
    """Offline backbone ``rand-vgg6``: a seeded, randomly initialised VGG-style CNN.

    Six stages of 3x3 conv (zero padding, no bias) + ReLU, 2x2 max-pool between stages, widths
    32-64-64-128-128-128; He-normal weights drawn from numpy's legacy ``RandomState(seed)``,
    whose stream numpy guarantees never to change. Input: uint8 scaled to [-1, 1] like FID's
    Inception, at its native resolution (``input_size=None``; upsampling would smooth away the
    noise the metric should see) or resized to ``input_size``² (bilinear, antialiased).
    Features: the global average of every stage's ReLU output, concatenated (544-d): texture
    statistics at receptive fields of 3, 8, 18, 38, 78 and 158 px (the last stages see the whole
    of a 64- or 128-px image, hence its layout, through the zero padding), so blur, noise and
    checkerboard artefacts move them. Images must be at least 32 px. Weights are buffers, not parameters, and
    building the network does not touch torch's global RNG.
    """

    name = "FD_rand"
    suffix = "_rand"
    ARCHITECTURE = "rand-vgg6-v1"
    WIDTHS = (32, 64, 64, 128, 128, 128)

    def __init__(self, seed: int = 0, input_size: int | None = None) -> None:
        super().__init__()
        rng = np.random.RandomState(seed)
        digest = hashlib.sha256()
        channels = 1
        self.num_layers = len(self.WIDTHS)
        for i, width in enumerate(self.WIDTHS):
            std = math.sqrt(2.0 / (channels * 9))  # He et al. 2015, fan-in, ReLU
            weight = (rng.standard_normal((width, channels, 3, 3)) * std).astype("<f4")
            digest.update(weight.tobytes())
            self.register_buffer(f"weight{i}", torch.from_numpy(weight))
            channels = width
        self.seed = seed
        self.input_size = input_size
        self.num_features = int(sum(self.WIDTHS))
        self.fingerprint = digest.hexdigest()[:12]
        size = "native" if input_size is None else str(input_size)
        self.identifier = f"{self.ARCHITECTURE}-seed{seed}-in{size}-{self.fingerprint}"

    def extract(self, x: torch.Tensor) -> torch.Tensor:
        x = (x.float() - 128.0) / 128.0
        if min(x.shape[-2:]) < 2 ** (self.num_layers - 1):
            raise ValueError(f"{self.ARCHITECTURE} needs images of at least 32 px, got {x.shape}")
        if self.input_size is not None and tuple(x.shape[-2:]) != (self.input_size,) * 2:
            size = (self.input_size, self.input_size)
            x = F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=True)
        pooled = []
        for i in range(self.num_layers):
            if i:
                x = F.max_pool2d(x, 2)
            x = F.relu(F.conv2d(x, getattr(self, f"weight{i}"), padding=1))
            pooled.append(x.mean(dim=(2, 3)))
        return torch.cat(pooled, dim=1)


def build_backbone(
    name: str = "auto",
    *,
    weights_path: str | os.PathLike | None = None,
    allow_download: bool = False,
    timeout: float = 10.0,
    seed: int = 0,
    input_size: int | None = None,
    device: str | torch.device | None = None,
) -> FeatureBackbone:
    """Build ``"inception"`` (FID; raises if the weights are missing), ``"random"`` (FD_rand,
    offline) or ``"auto"``: Inception when its weights are on disk, else the random backbone with
    a logged warning (also in ``backbone.warnings``) saying which file to put where.
    """
    if name not in BACKBONE_NAMES:
        raise ValueError(f"backbone must be one of {BACKBONE_NAMES}, not {name!r}")
    backbone: FeatureBackbone
    if name == "inception":
        backbone = InceptionBackbone(weights_path, allow_download=allow_download, timeout=timeout)
    elif name == "random":
        backbone = RandomConvBackbone(seed=seed, input_size=input_size)
    else:
        try:
            backbone = InceptionBackbone(
                weights_path, allow_download=allow_download, timeout=timeout
            )
        except InceptionWeightsUnavailable as error:
            backbone = RandomConvBackbone(seed=seed, input_size=input_size)
            message = (
                f"FID not computed: {error} Falling back to the offline backbone "
                f"{backbone.identifier}; its Fréchet distance is reported as FD_rand and is not "
                f"comparable with published FID values."
            )
            logger.warning(message)
            backbone.warnings.append(message)
    if device is not None:
        backbone.to(device)
    return backbone


def extract_features(
    backbone: FeatureBackbone, images: ImageBatches, batch_size: int = 64
) -> np.ndarray:
    """All features (N, D) float64 of ``images`` (array, tensor or iterable of batches)."""
    batches = iter_batches(images, batch_size, progress=f"features ({backbone.name})")
    chunks = [backbone(batch).numpy() for batch in batches]
    if not chunks:
        return np.zeros((0, backbone.num_features))
    return np.concatenate(chunks, axis=0)
