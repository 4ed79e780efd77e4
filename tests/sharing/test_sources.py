"""generate() from each kind of source, the PNG writer and the `generate` command."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

import cxr_synth
from cxr_synth.models.registry import ARCHITECTURES, build_gan
from cxr_synth.runtime.errors import UserError
from cxr_synth.sharing import Generator, generate, load_generator, write_pngs
from cxr_synth.training import train_gan
from cxr_synth.training.checkpoint import list_checkpoints
from tests.training import Blobs, tiny_config

OPTIONS = {"g_width": 4, "d_width": 4}


def tiny_generator(architecture: str = "dcgan", options: dict = OPTIONS, **shape) -> Generator:
    """An untrained tiny generator with its spec (16 px unless ``resolution`` is given)."""
    shape = {"resolution": 16, "channels": 1, "latent_dim": 8, **shape}
    gan = build_gan(architecture, seed=0, **shape, **options)
    spec = {"architecture": architecture, "options": options, **shape, "latent_dim": gan.latent_dim}
    return Generator(gan.generator.state_dict(), spec)


def test_package_exports_generate():
    assert cxr_synth.generate is generate and "generate" in cxr_synth.__all__


def test_model_folder_gives_seeded_uint8_images(tmp_path):
    generator = tiny_generator()
    folder = generator.save(tmp_path / "dcgan")
    assert json.loads((folder / "generator_spec.json").read_text())["architecture"] == "dcgan"
    images = generate(folder, 5, seed=3, device="cpu")
    assert images.shape == (5, 16, 16) and images.dtype == np.uint8
    np.testing.assert_array_equal(images, generator.sample(5, 3, device="cpu"))
    np.testing.assert_array_equal(generate(folder / "generator.pt", 5, seed=3), images)
    assert not np.array_equal(generate(folder, 5, seed=4), images)


@pytest.mark.skipif("ddpm" not in ARCHITECTURES, reason="ddpm is not in the registry yet")
def test_the_diffusion_model_samples_like_the_gans(tmp_path):
    options = {"widths": [8, 8], "layers_per_block": 1, "attention_resolutions": [],
               "patch_size": 4, "sampling_steps": 2}  # fmt: skip
    folder = tiny_generator("ddpm", options).save(tmp_path)
    images = generate(folder, 2, seed=5)
    assert images.shape == (2, 16, 16) and images.dtype == np.uint8
    np.testing.assert_array_equal(generate(folder, 2, seed=5), images)


def test_pair_generators_give_channels(tmp_path):
    images = generate(tiny_generator(channels=2), 3)
    assert images.shape == (3, 2, 16, 16)
    written = write_pngs(images, tmp_path)
    assert Image.open(written[0]).size == (32, 16)  # image and mask side by side


def test_training_checkpoint_gives_the_best_generator(tmp_path):
    gan = build_gan("dcgan", resolution=16, latent_dim=8, seed=0, **OPTIONS)
    config = tiny_config(epochs=1, checkpoint_dir=str(tmp_path / "ckpt"))
    result = train_gan(gan, Blobs(), config, evaluate=lambda generator: {"fid": 1.0})
    (checkpoint,) = list_checkpoints(tmp_path / "ckpt")
    loaded = load_generator(checkpoint)
    assert loaded.origin == {"source": "checkpoint", "weights": "best (epoch 1)"}
    assert loaded.spec["resolution"] == 16 and loaded.spec["options"]["g_width"] == 4
    best = Generator(result.best_state, {**loaded.spec})
    np.testing.assert_array_equal(generate(checkpoint, 4, seed=1), best.sample(4, 1))


def test_unknown_sources_are_user_errors(tmp_path):
    with pytest.raises(UserError, match="not a model folder"):
        generate(tmp_path / "missing", 1)
    with pytest.raises(UserError, match="no generator.pt"):
        generate(tmp_path, 1)


def test_pngs_have_fresh_names_and_no_text_chunks(tmp_path):
    images = np.arange(2 * 16 * 16, dtype=np.uint8).reshape(2, 16, 16)
    first = write_pngs(images, tmp_path)
    second = write_pngs(images[:1], tmp_path)
    assert [p.name for p in first + second] == [
        "synthetic_00000.png", "synthetic_00001.png", "synthetic_00002.png",
    ]  # fmt: skip
    with Image.open(second[0]) as image:
        assert image.mode == "L" and not image.text and not image.info.get("dpi")
        np.testing.assert_array_equal(np.asarray(image), images[0])


def test_generate_command_writes_pngs_outside_a_project(tmp_path):
    folder = tiny_generator().save(tmp_path / "model")
    out = tmp_path / "pngs"
    done = subprocess.run(
        [sys.executable, "-m", "cxr_synth", "generate", str(folder), "--n", "3", "--seed", "2",
         "--device", "cpu", "--out", str(out)],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert "3 images in" in done.stdout
    pngs = sorted(out.glob("*.png"))
    assert len(pngs) == 3
    np.testing.assert_array_equal(np.asarray(Image.open(pngs[2])), generate(folder, 3, 2)[2])
    failed = subprocess.run(
        [sys.executable, "-m", "cxr_synth", "generate", str(tmp_path / "nothing"), "--n", "1",
         "--out", str(out)],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert failed.returncode == 1 and "not a model folder" in failed.stderr
    assert "Traceback" not in failed.stderr
