"""Fetching the Inception weights: a local HTTP server on 127.0.0.1 stands in for GitHub.

Every test here runs with ``loopback_only``: a connection to anything but 127.0.0.1 fails the
test, so nothing reaches the network. The stand-in file is a few kilobytes of random bytes;
"accepted" tests override the expected hash prefix with the stand-in's own.
"""

from __future__ import annotations

import hashlib
import http.server
import logging
import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from kedro.config import OmegaConfigLoader

from cxr_synth import settings
from cxr_synth.metrics import (
    INCEPTION_WEIGHTS_ENV,
    INCEPTION_WEIGHTS_FILE,
    INCEPTION_WEIGHTS_SHA256_PREFIX,
    INCEPTION_WEIGHTS_URL,
    InceptionWeightsParams,
    InceptionWeightsUnavailable,
    RandomConvBackbone,
    build_backbone,
    locate_inception_weights,
)

PROJECT_ROOT = Path(__file__).resolve().parents[2]
PAYLOAD = os.urandom(300_000)
PAYLOAD_PREFIX = hashlib.sha256(PAYLOAD).hexdigest()[:8]


class _Handler(http.server.BaseHTTPRequestHandler):
    """/good: the payload; /slow: answers after 3 s; /truncated: half the promised bytes;
    /missing: 404. Every request is counted in ``server.requests``."""

    def do_GET(self) -> None:
        self.server.requests.append(self.path)
        if self.path == "/slow":
            time.sleep(3)
        if self.path == "/missing":
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(PAYLOAD)))
        self.end_headers()
        body = PAYLOAD[: len(PAYLOAD) // 2] if self.path == "/truncated" else PAYLOAD
        self.wfile.write(body)

    def log_message(self, *args) -> None:  # keep the test output clean
        pass


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch):
    """Fail any connection that is not to 127.0.0.1 (the guard these tests rely on)."""
    real_connect = socket.socket.connect

    def connect(self, address):
        if not (isinstance(address, tuple) and address[0] == "127.0.0.1"):
            raise AssertionError(f"test tried to reach {address!r} (only 127.0.0.1 is allowed)")
        return real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", connect)


@pytest.fixture
def server() -> Iterator[str]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads, httpd.block_on_close, httpd.requests = True, False, []
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def url(server, path: str) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}{path}"


@pytest.fixture
def hub(tmp_path, monkeypatch) -> Path:
    """An empty torch hub cache; the target of every download here."""
    monkeypatch.delenv(INCEPTION_WEIGHTS_ENV, raising=False)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    return tmp_path / "hub" / "checkpoints"


def test_download_lands_atomically_in_the_hub_cache_and_is_used_once(server, hub):
    umask = os.umask(0)
    os.umask(umask)
    path = locate_inception_weights(
        allow_download=True, url=url(server, "/good"), timeout=2, expected_sha256=PAYLOAD_PREFIX
    )
    assert path == hub / INCEPTION_WEIGHTS_FILE and path.read_bytes() == PAYLOAD
    assert sorted(p.name for p in hub.iterdir()) == [INCEPTION_WEIGHTS_FILE]  # no temp file left
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask  # the shared atomic writer's permissions
    again = locate_inception_weights(
        allow_download=True, url=url(server, "/good"), expected_sha256=PAYLOAD_PREFIX
    )
    assert again == path and server.requests == ["/good"]  # found on disk, not fetched again


def test_a_download_with_the_wrong_hash_is_refused_and_not_retried(server, hub):
    with pytest.raises(InceptionWeightsUnavailable) as info:
        locate_inception_weights(allow_download=True, url=url(server, "/good"), timeout=2)
    message = str(info.value)
    assert "refused" in message and INCEPTION_WEIGHTS_SHA256_PREFIX in message
    assert hashlib.sha256(PAYLOAD).hexdigest() in message and str(hub) in message
    assert not hub.exists() or not list(hub.iterdir())  # nothing landed
    with pytest.raises(InceptionWeightsUnavailable, match="refused"):
        locate_inception_weights(allow_download=True, url=url(server, "/good"), timeout=2)
    assert server.requests == ["/good"]  # remembered: a run asks the server once


def test_a_truncated_transfer_leaves_no_file(server, hub):
    with pytest.raises(InceptionWeightsUnavailable, match=r"stopped after 150000 of 300000 bytes"):
        locate_inception_weights(
            allow_download=True, url=url(server, "/truncated"), expected_sha256=PAYLOAD_PREFIX
        )
    assert not list(hub.iterdir())


def test_the_timeout_is_honoured(server, hub):
    started = time.monotonic()
    with pytest.raises(InceptionWeightsUnavailable, match=r"timeout 0\.5 s"):
        locate_inception_weights(allow_download=True, url=url(server, "/slow"), timeout=0.5)
    assert time.monotonic() - started < 2.0  # the server answers only after 3 s
    assert server.requests == ["/slow"]


def test_an_explicit_path_is_downloaded_to_that_path(server, tmp_path, hub):
    target = tmp_path / "elsewhere" / "inception.pth"
    path = locate_inception_weights(
        target, allow_download=True, url=url(server, "/good"), expected_sha256=PAYLOAD_PREFIX
    )
    assert path == target and target.read_bytes() == PAYLOAD and not hub.exists()


def test_auto_falls_back_with_one_warning_and_inception_raises(server, hub, caplog):
    weights = {"allow_download": True, "url": url(server, "/missing"), "timeout": 2}
    with caplog.at_level(logging.WARNING, logger="cxr_synth.metrics.features"):
        first = build_backbone("auto", **weights)
        second = build_backbone("auto", **weights)
    assert isinstance(first, RandomConvBackbone) and isinstance(second, RandomConvBackbone)
    assert first.warnings == second.warnings and len(first.warnings) == 1
    assert "HTTP Error 404" in first.warnings[0] and str(hub) in first.warnings[0]
    assert [r.getMessage() for r in caplog.records] == first.warnings  # logged once
    assert server.requests == ["/missing"]  # the failure is remembered, not retried
    with pytest.raises(InceptionWeightsUnavailable, match="404"):
        build_backbone("inception", **weights)


def test_downloading_is_off_unless_asked(server, hub):
    message = r"downloading is off \(set inception_weights.download to true\)"
    with pytest.raises(InceptionWeightsUnavailable, match=message):
        locate_inception_weights(url=url(server, "/good"))
    assert server.requests == []


def test_weights_parameters_refuse_unknown_keys_and_bad_values():
    assert InceptionWeightsParams.parse(None).backbone_kwargs() == {
        "allow_download": False,
        "url": INCEPTION_WEIGHTS_URL,
        "weights_path": None,
        "timeout": 30.0,
    }
    with pytest.raises(
        ValueError, match=r"inception_weights.downlaod: unknown key; did you mean 'download'"
    ):
        InceptionWeightsParams.parse({"downlaod": True}, prefix="evaluation.inception_weights").backbone_kwargs()
    with pytest.raises(ValueError, match="evaluation.inception_weights.download"):
        InceptionWeightsParams.parse({"download": "yes"}, prefix="evaluation.inception_weights").backbone_kwargs()
    with pytest.raises(ValueError, match="timeout"):
        InceptionWeightsParams.parse({"timeout": 0}, prefix="x").backbone_kwargs()
    with pytest.raises(ValueError, match="url"):
        InceptionWeightsParams.parse({"url": "ftp://example.org/w.pth"}, prefix="x").backbone_kwargs()


@pytest.mark.parametrize(("env", "download"), [("local", False), ("nih", True)])
def test_only_the_nih_environment_downloads(env, download):
    loader = OmegaConfigLoader(
        str(PROJECT_ROOT / "conf"),
        base_env="base",
        default_run_env=env,
        merge_strategy=settings.CONFIG_LOADER_ARGS["merge_strategy"],
    )
    params = loader["parameters"]
    for section in (params["evaluation"], params["training"]["evaluation"]):
        options = InceptionWeightsParams.parse(section["inception_weights"], prefix="inception_weights").backbone_kwargs()
        assert options["allow_download"] is download
        assert options["url"] == INCEPTION_WEIGHTS_URL
