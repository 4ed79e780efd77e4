"""The procedural chest phantoms: deterministic, well-formed, anatomically ordered."""

from __future__ import annotations

import numpy as np
import pytest

from cxr_synth.phantoms import (
    FINDINGS,
    LEFT,
    RIGHT,
    chest_phantom,
    lung_mask,
    lung_masks,
    phantom_geometry,
)
from cxr_synth.phantoms.batch import LazyRenderer, PhantomJob, run_job

SIZE = 64


def test_same_seed_gives_identical_bytes():
    a = chest_phantom(seed=7, patient=3, follow_up=1, size=SIZE)
    b = chest_phantom(seed=7, patient=3, follow_up=1, size=SIZE)
    assert a.image.tobytes() == b.image.tobytes()
    assert np.array_equal(a.left_lung, b.left_lung)
    assert np.array_equal(a.right_lung, b.right_lung)


@pytest.mark.parametrize(
    "other", [{"seed": 8}, {"patient": 4}, {"follow_up": 2}], ids=["seed", "patient", "follow_up"]
)
def test_different_inputs_give_different_images(other):
    base = {"seed": 7, "patient": 3, "follow_up": 1, "size": SIZE}
    assert not np.array_equal(chest_phantom(**base).image, chest_phantom(**{**base, **other}).image)


def test_follow_ups_share_the_patients_anatomy():
    first, later = phantom_geometry(7, 3, 0)[0], phantom_geometry(7, 3, 5)[0]
    assert first == later
    assert phantom_geometry(7, 4, 0)[0] != first


@pytest.mark.parametrize("size", [32, 64, 100, 512])
def test_dtype_and_shape_follow_the_size(size):
    p = chest_phantom(seed=1, patient=1, size=size)
    assert p.image.dtype == np.uint8 and p.image.shape == (size, size)
    assert p.left_lung.dtype == bool and p.left_lung.shape == (size, size)
    assert p.right_lung.dtype == bool and p.right_lung.shape == (size, size)


@pytest.mark.parametrize("patient", range(1, 6))
def test_lungs_are_disjoint_non_empty_and_on_their_sides(patient):
    p = chest_phantom(seed=11, patient=patient, size=SIZE)
    assert p.left_lung.sum() > 0.04 * SIZE * SIZE
    assert p.right_lung.sum() > 0.04 * SIZE * SIZE
    assert not (p.left_lung & p.right_lung).any()
    cols = np.arange(SIZE)
    # PA convention: the patient's left lung appears on the image's right.
    assert cols[p.left_lung.any(axis=0)].mean() > SIZE / 2 > cols[p.right_lung.any(axis=0)].mean()


def test_right_lung_is_larger_than_the_left_on_average():
    areas = [chest_phantom(seed=3, patient=i, size=SIZE) for i in range(1, 9)]
    assert np.mean([p.right_lung.sum() for p in areas]) > np.mean(
        [p.left_lung.sum() for p in areas]
    )


@pytest.mark.parametrize("patient", range(1, 6))
def test_lungs_are_darker_than_the_mediastinum(patient):
    p = chest_phantom(seed=5, patient=patient, size=SIZE)
    lungs = p.image[p.left_lung | p.right_lung].mean()
    rows = slice(SIZE // 4, SIZE // 2)  # upper mediastinum, between the lungs
    mediastinum = p.image[rows, SIZE // 2 - 2 : SIZE // 2 + 2].mean()
    assert lungs + 40 < mediastinum


def test_outside_the_body_is_dark():
    p = chest_phantom(seed=5, patient=1, size=SIZE)
    assert p.image[:2, :3].mean() < 40 and p.image[:2, -3:].mean() < 40


def test_masks_alone_match_the_rendered_ones():
    anatomy, pose = phantom_geometry(9, 2, 1, "AP")
    p = chest_phantom(seed=9, patient=2, follow_up=1, size=100, labels=("Cardiomegaly",), view="AP")
    left, right = lung_masks(anatomy, pose, 100, ("Cardiomegaly",))
    assert np.array_equal(left, p.left_lung) and np.array_equal(right, p.right_lung)
    assert np.array_equal(lung_mask(anatomy, pose, 100, LEFT, ("Cardiomegaly",)), left)
    assert np.array_equal(lung_mask(anatomy, pose, 100, RIGHT, ("Cardiomegaly",)), right)


def test_larger_sizes_upsample_the_same_masks():
    small, large = chest_phantom(2, 2, size=256), chest_phantom(2, 2, size=512)
    down = large.left_lung.reshape(256, 2, 256, 2).mean(axis=(1, 3)) > 0.5
    assert (down != small.left_lung).mean() < 0.01


@pytest.mark.parametrize("label", FINDINGS)
def test_every_finding_renders_and_changes_the_image(label):
    clear = chest_phantom(seed=4, patient=2, size=SIZE)
    sick = chest_phantom(seed=4, patient=2, size=SIZE, labels=(label,))
    assert sick.image.shape == (SIZE, SIZE)
    assert not np.array_equal(clear.image, sick.image)


def test_no_finding_and_unknown_labels_draw_nothing():
    clear = chest_phantom(seed=4, patient=2, size=SIZE)
    for labels in [("No Finding",), ("Not a finding",)]:
        assert np.array_equal(clear.image, chest_phantom(4, 2, size=SIZE, labels=labels).image)


def test_cardiomegaly_enlarges_the_heart_and_shrinks_the_left_lung():
    clear = chest_phantom(seed=4, patient=2, size=SIZE)
    big_heart = chest_phantom(seed=4, patient=2, size=SIZE, labels=("Cardiomegaly",))
    assert big_heart.left_lung.sum() < clear.left_lung.sum()


def test_jobs_draw_images_and_binary_masks():
    image = run_job(PhantomJob(seed=1, patient=2, size=SIZE))
    left = run_job(PhantomJob(seed=1, patient=2, size=SIZE, output="left_lung"))
    assert image.dtype == left.dtype == np.uint8
    assert set(np.unique(left)) == {0, 255}
    assert np.array_equal(left > 0, chest_phantom(1, 2, size=SIZE).left_lung)
    with pytest.raises(ValueError, match="Unknown phantom output"):
        run_job(PhantomJob(seed=1, patient=2, size=SIZE, output="heart"))


@pytest.mark.parametrize("workers", [0, 2])
def test_lazy_renderer_matches_direct_drawing_in_any_order(workers):
    jobs = [PhantomJob(seed=1, patient=i, size=32) for i in range(1, 6)]
    renderer = LazyRenderer(jobs, workers=workers, ahead=2)
    order = [0, 1, 4, 2, 3, 0]  # out of order, and one job twice
    for i in order:
        assert np.array_equal(renderer.get(i), run_job(jobs[i]))
