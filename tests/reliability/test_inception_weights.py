"""Issue #10: a file at the Inception weights path is used for "FID" only if it is the official one.

One fault per test: a tampered copy of a file that passes the check (the official SHA-256 prefix
is replaced by the good stand-in's own, as if it were the official file) is an error under
``inception`` and a fallback to FD_rand with a warning under ``auto``.
"""

from __future__ import annotations

import hashlib
import logging
import os

import pytest

from cxr_synth.metrics import (
    INCEPTION_WEIGHTS_ENV,
    InceptionWeightsMismatch,
    RandomConvBackbone,
    build_backbone,
    inception_weights,
    locate_inception_weights,
)


@pytest.fixture
def weights(tmp_path, monkeypatch):
    """A good stand-in file, accepted as official, and its tampered copy (one byte flipped)."""
    good = os.urandom(50_000)
    monkeypatch.setattr(
        inception_weights, "INCEPTION_WEIGHTS_SHA256_PREFIX", hashlib.sha256(good).hexdigest()[:8]
    )
    tampered = bytearray(good)
    tampered[1000] ^= 0x01
    (tmp_path / "good.pth").write_bytes(good)
    (tmp_path / "tampered.pth").write_bytes(bytes(tampered))
    monkeypatch.delenv(INCEPTION_WEIGHTS_ENV, raising=False)
    return tmp_path


def test_the_untampered_file_passes_the_check(weights):
    assert locate_inception_weights(weights / "good.pth") == weights / "good.pth"


def test_a_tampered_file_is_an_error_under_inception(weights):
    path = weights / "tampered.pth"
    with pytest.raises(InceptionWeightsMismatch) as info:
        build_backbone("inception", weights_path=path)
    message = str(info.value)
    assert str(path) in message and inception_weights.INCEPTION_WEIGHTS_SHA256_PREFIX in message
    assert hashlib.sha256(path.read_bytes()).hexdigest() in message


def test_a_tampered_file_falls_back_to_fd_rand_with_a_warning_under_auto(weights, caplog):
    path = weights / "tampered.pth"
    with caplog.at_level(logging.WARNING, logger="cxr_synth.metrics.features"):
        backbone = build_backbone("auto", weights_path=path)
    assert isinstance(backbone, RandomConvBackbone) and backbone.name == "FD_rand"
    assert len(backbone.warnings) == 1
    warning = backbone.warnings[0]
    assert str(path) in warning and inception_weights.INCEPTION_WEIGHTS_SHA256_PREFIX in warning
    assert "FD_rand" in warning and [r.getMessage() for r in caplog.records] == [warning]


def test_a_tampered_file_is_never_overwritten_by_a_download(weights):
    """With downloading allowed, a present-but-wrong file is still refused, not replaced."""
    path = weights / "tampered.pth"
    before = path.read_bytes()
    with pytest.raises(InceptionWeightsMismatch):
        locate_inception_weights(path, allow_download=True, url="http://127.0.0.1:9/unused")
    assert path.read_bytes() == before
