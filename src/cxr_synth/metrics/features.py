"""Feature backbones for the distribution metrics: Inception-v3 (real FID) and an offline one.

- ``InceptionBackbone``: the standard FID network (Heusel et al. 2017) as torchmetrics wraps it
  from torch-fidelity: the 2048-d pool3 features of the TF-ported Inception-v3, uint8 input,
  resized to 299x299 with the TF1-compatible bilinear resize of the reference implementation.
  Its weights file is found, fetched if allowed and verified by ``inception_weights``.
- ``RandomConvBackbone``: a fixed, seeded, randomly initialised VGG-style CNN that needs no
  download (Naeem et al. 2020, "Reliable Fidelity and Diversity Metrics for Generative
  Models": random embeddings for data far from ImageNet). Its Fréchet distance is
  labelled ``FD_rand``, never FID.

Every backbone is an ``nn.Module`` with an integer ``num_features``, so it also works as the
``feature=`` module of torchmetrics' ``FrechetInceptionDistance``/``KernelInceptionDistance``.
Calling it on a uint8 batch (N, H, W) or (N, 1, H, W) returns (N, D) float64 features on the CPU.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import math
import os
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from cxr_synth.metrics.inception_weights import (  # noqa: F401  (re-exported)
    DEFAULT_TIMEOUT_S,
    INCEPTION_WEIGHTS_ENV,
    INCEPTION_WEIGHTS_FILE,
    INCEPTION_WEIGHTS_URL,
    InceptionWeightsMismatch,
    InceptionWeightsUnavailable,
    default_inception_weights_path,
    locate_inception_weights,
    sha256_of,
)

logger = logging.getLogger(__name__)

BACKBONE_NAMES = ("inception", "random", "auto")
_warned: set[str] = set()  # fallback warnings already logged by this process

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
        if x.numel():
            smallest, largest = torch.aminmax(x)  # one pass
            if smallest < low - 0.5 * width or largest > high + 0.5 * width:
                raise ValueError(
                    f"float images must lie in value_range={value_range}; got values in "
                    f"[{float(smallest):.3g}, {float(largest):.3g}] (pass uint8, or set "
                    "value_range)"
                )
        # The same float64 arithmetic as ((x - low) * (255 / width)).round().clamp(0, 255), in
        # place on one copy: bit-identical, and two orders of magnitude faster on the CPU than
        # the out-of-place chain (measured by benchmarks/run.py --rows synthesis).
        y = x.to(torch.float64, copy=True)
        y.sub_(low).mul_(255.0 / width).round_().clamp_(0, 255)
        return y.to(torch.uint8)
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


# --------------------------------------------------------------------------- backbones
@contextlib.contextmanager
def _fp32_convolutions() -> Iterator[None]:
    """cuDNN convolutions without TF32 (on by default on Ampere+): features in full fp32."""
    previous = torch.backends.cudnn.allow_tf32
    torch.backends.cudnn.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32 = previous


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
        with torch.no_grad(), _fp32_convolutions():
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
        timeout: float = DEFAULT_TIMEOUT_S,
        url: str = INCEPTION_WEIGHTS_URL,
        expected_sha256: str | None = None,
    ) -> None:
        super().__init__()
        path = locate_inception_weights(
            weights_path,
            allow_download=allow_download,
            timeout=timeout,
            url=url,
            expected_sha256=expected_sha256,
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
        self.sha256 = sha256_of(path)  # verified by locate_inception_weights
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
    timeout: float = DEFAULT_TIMEOUT_S,
    url: str = INCEPTION_WEIGHTS_URL,
    expected_sha256: str | None = None,
    seed: int = 0,
    input_size: int | None = None,
    device: str | torch.device | None = None,
) -> FeatureBackbone:
    """Build ``"inception"`` (FID; raises if the verified weights are unavailable), ``"random"``
    (FD_rand, offline) or ``"auto"``: Inception when its weights are on disk (or, with
    ``allow_download``, fetched from ``url``) and pass the SHA-256 check, else the random backbone
    with a warning (logged once per message, always in ``backbone.warnings``) saying what was
    tried and which file to put where. ``device``: where the network runs (default: the CPU).
    """
    if name not in BACKBONE_NAMES:
        raise ValueError(f"backbone must be one of {BACKBONE_NAMES}, not {name!r}")
    weights = {
        "allow_download": allow_download,
        "timeout": timeout,
        "url": url,
        "expected_sha256": expected_sha256,
    }
    backbone: FeatureBackbone
    if name == "inception":
        backbone = InceptionBackbone(weights_path, **weights)
    elif name == "random":
        backbone = RandomConvBackbone(seed=seed, input_size=input_size)
    else:
        try:
            backbone = InceptionBackbone(weights_path, **weights)
        except InceptionWeightsUnavailable as error:
            backbone = RandomConvBackbone(seed=seed, input_size=input_size)
            message = (
                f"FID not computed: {error} Falling back to the offline backbone "
                f"{backbone.identifier}; its Fréchet distance is reported as FD_rand and is not "
                f"comparable with published FID values."
            )
            (logger.debug if message in _warned else logger.warning)(message)
            _warned.add(message)
            backbone.warnings.append(message)
    if device is not None:
        backbone.to(device)
    return backbone


def backbone_label(name: str, weights_path: str | os.PathLike | None = None) -> str:
    """The label ``build_backbone(name)`` would give its Fréchet distance with the weights now on
    disk ("FID" or "FD_rand"), without building the network or touching the network."""
    if name == "random":
        return RandomConvBackbone.name
    if name == "inception":
        return InceptionBackbone.name
    try:
        locate_inception_weights(weights_path)
    except InceptionWeightsUnavailable:
        return RandomConvBackbone.name
    return InceptionBackbone.name


def extract_features(
    backbone: FeatureBackbone, images: ImageBatches, batch_size: int = 64
) -> np.ndarray:
    """All features (N, D) float64 of ``images`` (array, tensor or iterable of batches)."""
    batches = iter_batches(images, batch_size, progress=f"features ({backbone.name})")
    chunks = [backbone(batch).numpy() for batch in batches]
    if not chunks:
        return np.zeros((0, backbone.num_features))
    return np.concatenate(chunks, axis=0)
