"""Backbones: input normalisation, the offline network's determinism, locating the Inception
weights without network access, and the Inception path end to end on stand-in weights."""

from __future__ import annotations

import hashlib
import math
import socket
import urllib.request

import numpy as np
import pytest
import torch

from cxr_synth.metrics import (
    INCEPTION_WEIGHTS_ENV,
    INCEPTION_WEIGHTS_FILE,
    INCEPTION_WEIGHTS_URL,
    InceptionBackbone,
    InceptionWeightsUnavailable,
    MetricOptions,
    RandomConvBackbone,
    build_backbone,
    evaluate_generator_samples,
    extract_features,
    feature_stats,
    fid_from_samples,
    inception_weights,
    locate_inception_weights,
    to_uint8_images,
)

# sha256 of the seed-0 weights; changes only if the architecture or the init changes (then bump
# RandomConvBackbone.ARCHITECTURE and docs/metrics.md).
SEED0_FINGERPRINT = "34d9a8243887"


# --------------------------------------------------------------------------- input handling
def test_to_uint8_images_shapes_and_float_mapping():
    u8 = np.arange(2 * 4 * 4, dtype=np.uint8).reshape(2, 4, 4)
    out = to_uint8_images(u8)
    assert out.shape == (2, 1, 4, 4) and out.dtype == torch.uint8
    assert torch.equal(out[:, 0], torch.from_numpy(u8))
    assert torch.equal(to_uint8_images(torch.from_numpy(u8).unsqueeze(1)), out)
    floats = torch.tensor([-1.0, -0.5, 0.0, 0.5, 1.0, 1.02]).view(1, 1, 2, 3)
    assert to_uint8_images(floats).flatten().tolist() == [0, 64, 128, 191, 255, 255]
    assert to_uint8_images(floats + 1, value_range=(0.0, 2.0)).flatten().tolist()[:3] == [
        0,
        64,
        128,
    ]


def test_to_uint8_images_refuses_ambiguous_input():
    with pytest.raises(ValueError, match="grayscale"):
        to_uint8_images(np.zeros((2, 3, 8, 8), dtype=np.uint8))
    with pytest.raises(ValueError, match="value_range"):
        to_uint8_images(np.full((1, 8, 8), 200.0))  # floats in 0..255, not [-1, 1]
    with pytest.raises(ValueError, match="0..255"):
        to_uint8_images(np.full((1, 8, 8), 300, dtype=np.int64))


# --------------------------------------------------------------------------- offline backbone
def test_random_backbone_is_deterministic_and_versioned(phantoms64):
    a, b = RandomConvBackbone(seed=0), RandomConvBackbone(seed=0)
    assert a.fingerprint == SEED0_FINGERPRINT
    assert a.identifier == f"rand-vgg6-v1-seed0-innative-{SEED0_FINGERPRINT}"
    assert RandomConvBackbone(seed=1).fingerprint != SEED0_FINGERPRINT
    fa, fb = extract_features(a, phantoms64[:8]), extract_features(b, phantoms64[:8])
    assert fa.shape == (8, a.num_features) == (8, 544) and fa.dtype == np.float64
    np.testing.assert_array_equal(fa, fb)
    assert np.std(fa, axis=0).mean() > 0  # features differ between images
    assert a.name == "FD_rand" and a.label("KID") == "KID_rand" and "FID" not in a.identifier


def test_building_the_random_backbone_leaves_torch_rng_alone():
    before = torch.get_rng_state()
    RandomConvBackbone(seed=3)
    assert torch.equal(before, torch.get_rng_state())


def test_random_backbone_accepts_float_generator_output(random_backbone, phantoms64):
    as_float = torch.from_numpy(phantoms64[:4]).float() / 127.5 - 1.0
    np.testing.assert_allclose(
        random_backbone(as_float).numpy(), random_backbone(phantoms64[:4]).numpy(), rtol=1e-6
    )


# --------------------------------------------------------------------------- no network
@pytest.fixture
def no_network(monkeypatch):
    """Every socket connection / DNS lookup / urlopen is recorded and fails."""
    attempts: list[str] = []

    def refuse(kind):
        def _refuse(*args, **kwargs):
            attempts.append(kind)
            raise OSError(f"network disabled in tests ({kind})")

        return _refuse

    monkeypatch.setattr(socket.socket, "connect", refuse("connect"))
    monkeypatch.setattr(socket, "create_connection", refuse("create_connection"))
    monkeypatch.setattr(socket, "getaddrinfo", refuse("getaddrinfo"))
    real_urlopen = urllib.request.urlopen

    def recording_urlopen(*args, **kwargs):
        attempts.append("urlopen")
        return real_urlopen(*args, **kwargs)

    monkeypatch.setattr(urllib.request, "urlopen", recording_urlopen)
    return attempts


@pytest.fixture
def empty_hub(tmp_path, monkeypatch):
    """A torch hub directory without the Inception weights, and no override variable."""
    monkeypatch.delenv(INCEPTION_WEIGHTS_ENV, raising=False)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    return tmp_path / "hub" / "checkpoints"


def test_missing_weights_raise_a_reason_naming_file_path_and_url(empty_hub, no_network):
    with pytest.raises(InceptionWeightsUnavailable) as info:
        locate_inception_weights()
    error = info.value
    assert error.expected_path == empty_hub / INCEPTION_WEIGHTS_FILE
    assert error.url == INCEPTION_WEIGHTS_URL
    assert str(empty_hub / INCEPTION_WEIGHTS_FILE) in str(error) and INCEPTION_WEIGHTS_URL in str(
        error
    )
    assert INCEPTION_WEIGHTS_ENV in str(error)
    assert no_network == []


def test_our_url_is_torch_fidelitys():
    fidelity = pytest.importorskip("torch_fidelity.feature_extractor_inceptionv3")
    assert INCEPTION_WEIGHTS_URL == fidelity.URL_INCEPTION_V3


def test_offline_auto_path_touches_no_network(empty_hub, no_network, phantoms64):
    backbone = build_backbone("auto")
    assert isinstance(backbone, RandomConvBackbone) and backbone.name == "FD_rand"
    assert len(backbone.warnings) == 1
    assert str(empty_hub / INCEPTION_WEIGHTS_FILE) in backbone.warnings[0]
    stats = feature_stats(backbone, phantoms64[:30])
    assert math.isfinite(fid_from_samples(stats, backbone, phantoms64[30:60]))
    result = evaluate_generator_samples(
        phantoms64[:30], phantoms64[30:60], backbone,
        MetricOptions(kid_subsets=2, ms_ssim_pairs=10),
    )  # fmt: skip
    assert backbone.warnings[0] in result["warnings"]
    assert "FD_rand" in result["metrics"] and "FID" not in result["metrics"]
    assert no_network == []


def test_download_is_attempted_only_when_allowed_and_fails_cleanly(empty_hub, no_network):
    with pytest.raises(InceptionWeightsUnavailable, match="download from"):
        locate_inception_weights(allow_download=True, timeout=1.0)
    assert no_network  # the blocker saw the attempt, so the "no attempt" checks above can fail
    assert not list(empty_hub.glob("*"))  # no partial file left behind


def test_explicit_missing_path_is_an_error_not_a_fallback(empty_hub, monkeypatch, tmp_path):
    monkeypatch.setenv(INCEPTION_WEIGHTS_ENV, str(tmp_path / "nowhere.pth"))
    with pytest.raises(InceptionWeightsUnavailable, match=INCEPTION_WEIGHTS_ENV):
        locate_inception_weights()
    with pytest.raises(InceptionWeightsUnavailable, match="not a file"):
        build_backbone("inception", weights_path=tmp_path / "also_nowhere.pth")


def test_hub_checkpoint_directory_is_where_the_file_is_found(empty_hub):
    empty_hub.mkdir(parents=True)
    (empty_hub / INCEPTION_WEIGHTS_FILE).write_bytes(b"placeholder")
    expected = hashlib.sha256(b"placeholder").hexdigest()[:8]  # a stand-in is not the official file
    assert locate_inception_weights(expected_sha256=expected) == empty_hub / INCEPTION_WEIGHTS_FILE


# --------------------------------------------------------------------------- Inception path
@pytest.fixture(scope="module")
def stand_in_inception_weights(tmp_path_factory):
    """A randomly initialised Inception state dict saved under the official file name."""
    from torch_fidelity import feature_extractor_inceptionv3 as fidelity

    with pytest.MonkeyPatch.context() as patch:  # build the module without any weights
        patch.setattr(fidelity, "load_state_dict_from_url", lambda *a, **k: {})
        patch.setattr(fidelity.FeatureExtractorInceptionV3, "load_state_dict", lambda *a, **k: None)
        net = fidelity.FeatureExtractorInceptionV3("inception-v3-compat", ["2048"])
    generator = torch.Generator().manual_seed(0)
    state = {}
    for key, value in net.state_dict().items():
        if key.endswith("conv.weight"):  # He-normal keeps activations O(1) through 90 layers
            fan_in = value[0].numel()
            value = torch.randn(value.shape, generator=generator) * math.sqrt(2.0 / fan_in)
        state[key] = value.clone()
    path = tmp_path_factory.mktemp("inception") / INCEPTION_WEIGHTS_FILE
    torch.save(state, path)
    return path


def test_inception_path_loads_weights_under_the_official_name(
    stand_in_inception_weights, monkeypatch, phantoms64
):
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    monkeypatch.setenv(INCEPTION_WEIGHTS_ENV, str(stand_in_inception_weights))
    stand_in_hash = hashlib.sha256(stand_in_inception_weights.read_bytes()).hexdigest()
    monkeypatch.setattr(inception_weights, "INCEPTION_WEIGHTS_SHA256_PREFIX", stand_in_hash[:8])
    backbone = build_backbone("auto")
    assert isinstance(backbone, InceptionBackbone) and backbone.sha256 == stand_in_hash
    assert backbone.name == "FID" and backbone.num_features == 2048 and not backbone.warnings
    assert backbone.identifier.startswith("inception-v3-compat-pool3-2048-sha256:")
    images = phantoms64[:3]
    features = backbone(images).numpy()
    assert features.shape == (3, 2048) and np.isfinite(features).all()
    assert features.std(axis=0).max() > 0
    # Same numbers as torch-fidelity's own extractor (TF1-compatible resize to 299).
    reference = FeatureExtractorInceptionV3(
        "inception-v3-compat",
        ["2048"],
        feature_extractor_weights_path=str(stand_in_inception_weights),
    )
    rgb = torch.from_numpy(images).unsqueeze(1).repeat(1, 3, 1, 1)
    with torch.no_grad():
        expected = reference(rgb)[0].double().numpy()
    np.testing.assert_allclose(features, expected, rtol=1e-4, atol=1e-5 * np.abs(expected).max())


# --------------------------------------------------------------------------- device placement
def _devices(module: torch.nn.Module) -> set[torch.device]:
    return {t.device for t in [*module.buffers(), *module.parameters()]}


def test_backbone_sits_on_the_requested_device_and_returns_cpu_features(monkeypatch, phantoms64):
    moved = []
    real_to = torch.nn.Module.to
    monkeypatch.setattr(
        torch.nn.Module, "to", lambda self, *a, **k: moved.append(a) or real_to(self, *a, **k)
    )
    backbone = build_backbone("random", device="cpu")
    assert moved == [("cpu",)]  # build_backbone placed it, not the default
    assert _devices(backbone) == {torch.device("cpu")}
    features = backbone(phantoms64[:2])
    assert features.device.type == "cpu" and features.dtype == torch.float64


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_backbone_on_cuda_matches_the_cpu(phantoms64):
    cpu = build_backbone("random")(phantoms64[:8]).numpy()
    backbone = build_backbone("random", device="cuda")
    assert {d.type for d in _devices(backbone)} == {"cuda"}
    cuda = backbone(phantoms64[:8]).numpy()
    np.testing.assert_allclose(cuda, cpu, rtol=1e-4, atol=1e-5 * np.abs(cpu).max())
