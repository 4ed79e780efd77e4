"""Rendering of procedural chest phantoms: an attenuation map, its display, and exact lung masks.

Every structure is an implicit shape on a coordinate grid (an approximate signed distance,
negative inside), so the image and the lung masks come from the same geometry. Edges are
soft linear ramps a few pixels wide, not flat cartoon fills. These are phantoms, NOT clinical
data: they only imitate the layout and grey levels of a PA chest radiograph.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image

from cxr_synth.phantoms.anatomy import LEFT, RIGHT, Anatomy, Pose
from cxr_synth.phantoms.findings import (
    Finding,
    apply_anatomical_findings,
    finding_attenuation,
    plan_findings,
)

F32 = np.float32
# Work in horizontal strips of this many pixels: numpy's temporaries (128 KiB) then stay in
# cache and on the heap instead of costing fresh pages each; about twice as fast.
STRIP_PIXELS = 32768


@dataclass(frozen=True)
class Phantom:
    """A rendered phantom: ``image`` uint8 (H, W); lung masks bool (H, W), patient's sides."""

    image: np.ndarray
    left_lung: np.ndarray  # patient's left lung: image right
    right_lung: np.ndarray  # patient's right lung: image left


def ramp(g: np.ndarray, width: float) -> np.ndarray:
    """Soft inside-indicator of a signed distance ``g`` (negative inside): 1 inside, 0 outside."""
    return np.clip(F32(0.5) - g * F32(1.0 / width), 0, 1)


def strips(size: int) -> list[slice]:
    """Row ranges covering a size × size grid, each about STRIP_PIXELS pixels."""
    step = max(1, STRIP_PIXELS // size)
    return [slice(r, min(r + step, size)) for r in range(0, size, step)]


def coordinates(size: int, pose: Pose, rows: slice = slice(None)) -> tuple[np.ndarray, ...]:
    """Patient coordinates (X, Y) of the pixel centres in ``rows`` of a size × size image.

    Image coordinates run from -1 to 1 across the image; the pose's placement (shift,
    scale, rotation) is undone, so anatomy is drawn in the patient's own frame.
    """
    t = (np.arange(size, dtype=F32) + F32(0.5)) * F32(2.0 / size) - F32(1.0)
    c, s = np.cos(pose.rotation) / pose.scale, np.sin(pose.rotation) / pose.scale
    xi = (t - F32(pose.shift_x))[None, :]
    yi = (t[rows] - F32(pose.shift_y))[:, None]
    x = F32(c) * xi + F32(s) * yi
    y = F32(-s) * xi + F32(c) * yi
    return x, y


def _ellipse(x, y, cx, cy, rx, ry, tilt=0.0) -> np.ndarray:
    """Approximate signed distance to a (tilted) ellipse: zero on it, about true near it."""
    dx, dy = x - F32(cx), y - F32(cy)
    if tilt:
        c, s = F32(np.cos(tilt)), F32(np.sin(tilt))
        dx, dy = c * dx + s * dy, c * dy - s * dx
    e = (dx * F32(1 / rx)) ** 2 + (dy * F32(1 / ry)) ** 2 - F32(1)
    return e * F32(0.5 * min(rx, ry))


def dome_y(anatomy: Anatomy, pose: Pose, side: int) -> float:
    """y of a hemidiaphragm's top, after the breath-hold of ``pose``."""
    top = anatomy.left_dome_y if side == LEFT else anatomy.right_dome_y
    return anatomy.lung_top + (top - anatomy.lung_top) * pose.inspiration


def lung_sdf(x: np.ndarray, y: np.ndarray, anatomy: Anatomy, pose: Pose, side: int) -> np.ndarray:
    """Approximate signed distance to one lung field (negative inside).

    The lung is an ellipse centred low (widest at the base), sheared so the apex sits
    medially, cut by the mediastinum, the diaphragm dome, the heart and, on the patient's
    left, the aortic knob.
    """
    a = anatomy
    cx, ax = (
        (a.left_lung_cx, a.left_lung_half_width)
        if side == LEFT
        else (a.right_lung_cx, a.right_lung_half_width)
    )
    lateral = (x - F32(cx)) * F32(side)  # positive towards the patient's side
    v = (y - F32(a.lung_cy)) * F32(1 / a.lung_half_height)
    u = (lateral - F32(a.lung_shear) * v) * F32(1 / ax)
    g = (u * u + v * v - F32(1)) * F32(0.5 * ax)
    # Mediastinum: narrow at the top, widening towards the hila; on the patient's right it
    # meets the heart's right border, so the heart does not bite into the lung.
    heart = heart_params(anatomy, pose)
    widest = 0.05
    if side == RIGHT:
        hcx, _, hrx, hry, tilt = heart  # how far right of the midline the heart reaches
        reach = hrx * abs(np.cos(tilt)) + hry * abs(np.sin(tilt)) * 0.5 - hcx
        widest = max(widest, 0.9 * reach - a.mediastinum_half_width)
    t = np.clip((y - F32(a.aorta_cy)) * F32(1 / max(a.heart_cy - a.aorta_cy, 0.1)), 0, 1)
    widen = t * t * F32(widest)
    np.maximum(g, F32(a.mediastinum_half_width) + widen - x * F32(side), out=g)
    # Dome: highest slightly medial of the lung's centre, deepest at the costophrenic angle.
    w = (lateral * F32(1 / ax) + F32(0.1)) * F32(1 / 1.1)
    dome = F32(dome_y(a, pose, side)) + F32(a.dome_height) * w * w
    np.maximum(g, y - dome, out=g)
    np.maximum(g, -_ellipse(x, y, *heart), out=g)
    if side == LEFT:
        knob_x = a.mediastinum_half_width + a.aorta_offset
        knob = _ellipse(x, y, knob_x, a.aorta_cy, a.aorta_r, a.aorta_r * 1.5)
        np.maximum(g, -knob, out=g)
    return g


def heart_params(anatomy: Anatomy, pose: Pose) -> tuple[float, ...]:
    """(cx, cy, rx, ry, tilt) of the cardiac silhouette; an AP view magnifies it."""
    a = anatomy
    k = 1.12 if pose.ap else 1.0
    return (a.heart_cx, a.heart_cy, a.heart_rx * k, a.heart_ry * k, a.heart_tilt)


def _smooth_noise(rng: np.random.Generator, cells: int, size: int) -> np.ndarray:
    """Band-limited noise: a ``cells``² normal field upsampled bicubically to ``size``²."""
    small = rng.standard_normal((cells, cells), dtype=F32)
    img = Image.fromarray(small).resize((size, size), Image.Resampling.BICUBIC)
    return np.asarray(img, dtype=F32)


def upsample(field: np.ndarray, size: int) -> np.ndarray:
    """Bilinear resize of a square float32 field to ``size``² (a no-op at that size)."""
    if field.shape[0] == size:
        return field
    img = Image.fromarray(field).resize((size, size), Image.Resampling.BILINEAR)
    return np.asarray(img, dtype=F32)


def working_size(size: int) -> int:
    """Resolution the smooth attenuation is computed at: half of large outputs."""
    return size if size < 512 else (size + 1) // 2


def _ridges(rng: np.random.Generator, shape: tuple[int, int], cells: tuple[int, int]):
    """A table of ridged noise |n| of smooth noise ``n``: near zero along thin curves."""
    small = rng.standard_normal(cells, dtype=F32)
    img = Image.fromarray(small).resize(shape[::-1], Image.Resampling.BICUBIC)
    return np.abs(np.asarray(img, dtype=F32))


def lung_markings(anatomy: Anatomy, pose: Pose, size: int) -> np.ndarray:
    """Vessel-like lines fanning out from the hila plus parenchymal mottle, about [0, 1].

    The lines are ridges of noise laid out in polar coordinates around each hilum (fine
    across the angle, coarse along the radius), so they run outwards, wiggle and fade.
    Drawn from ``anatomy.vessel_seed`` so follow-ups of a patient share their markings;
    computed at half of ``size`` (they are soft) and upsampled.
    """
    rng = np.random.default_rng(anatomy.vessel_seed)
    n = max(size // 2, 16)
    n_theta, n_r, r_max = 512, 64, 1.2
    radial = np.linspace(0, r_max, n_r, dtype=F32)
    fade = np.exp(-radial / F32(0.45)) * np.clip(radial * F32(8) - F32(0.3), 0, 1)
    sharpness = np.linspace(2.0, 5.0, n_r, dtype=F32)  # thinner lines further out
    hilum_y = anatomy.heart_cy - anatomy.heart_ry * 1.1
    hila = []
    for side in (LEFT, RIGHT):
        table = np.minimum(
            _ridges(rng, (n_theta, n_r), (48, 4)), _ridges(rng, (n_theta, n_r), (120, 6)) * F32(1.4)
        )
        lines = np.clip(F32(1) - table * sharpness[None, :], 0, 1) * fade[None, :]
        wiggle = (F32(rng.uniform(9, 13)), F32(rng.uniform(0, 6.3)))
        hila.append((side, lines, wiggle))
    out = F32(0.1) * _smooth_noise(rng, 18, n) + F32(0.06) * _smooth_noise(rng, 64, n)
    for rows in strips(n):
        x, y = coordinates(n, pose, rows)
        for side, lines, (freq, phase) in hila:
            dx = (x - F32(side * (anatomy.mediastinum_half_width + 0.12))) * F32(side)
            dy = y - F32(hilum_y)
            r = np.sqrt(dx * dx + dy * dy)
            theta = np.arctan2(dy, dx) + F32(0.05) * np.sin(r * freq + phase)
            it = np.floor(theta * F32(n_theta / (2 * np.pi))).astype(np.int32) % n_theta
            ir = np.minimum((r * F32(n_r / r_max)).astype(np.int32), n_r - 1)
            out[rows] += lines[it, ir] + F32(0.8) * np.exp(-r * r * F32(1 / 0.015))
    return upsample(out, size)


def _ribs(x, y, a: Anatomy) -> np.ndarray:
    """Posterior ribs as curved bands with bright cortical borders; fainter anterior ribs."""
    ax_ = np.abs(x)
    cage_rx = max(abs(a.left_lung_cx) + a.left_lung_half_width, abs(a.right_lung_cx))
    cage_rx += a.right_lung_half_width * 0.4 + 0.04
    cage = ramp(_ellipse(x, y, 0.0, a.lung_cy, cage_rx, a.lung_half_height + 0.12), 0.04)
    # Posterior: nearly level at the spine, falling laterally; spacing widens downwards.
    yp = y - F32(a.rib_curvature) * (ax_ - F32(0.25)) ** 2
    t = np.clip((yp - F32(a.rib_top)) * F32(1 / a.rib_span), 0, None)
    phase = F32(a.rib_count) * t * (F32(1.15) - F32(0.15) * t)
    d = np.abs(phase - np.floor(phase) - F32(0.5))
    hw = F32(a.rib_width / 2)
    band = ramp(d - hw, 0.1) + F32(0.45) * np.clip(F32(1) - np.abs(d - hw) * F32(1 / 0.05), 0, 1)
    band *= ramp(phase - F32(a.rib_count + 0.4), 0.3) * np.clip(t * F32(30), 0, 1)
    band *= np.clip((ax_ - F32(0.05)) * F32(1 / 0.1), 0, 1)
    # Anterior: down and inwards from the axilla, fainter, ending before the sternum.
    w = F32(0.85) - ax_
    ya = y - F32(0.5) * w - F32(0.3) * w * w
    pa = (ya - F32(a.rib_top + 0.05)) * F32(a.rib_count / (a.rib_span * 1.25))
    da = np.abs(pa - np.floor(pa) - F32(0.5))
    ant = ramp(da - F32(0.2), 0.12) * np.clip((ax_ - F32(0.25)) * F32(1 / 0.15), 0, 1)
    ant *= ramp(pa - F32(6.4), 0.3) * np.clip(pa * F32(2), 0, 1)
    return cage * (band + F32(0.3) * ant)


def _clavicles(x, y, a: Anatomy, pose: Pose) -> np.ndarray:
    """Clavicles: gently S-shaped bars from the sternum out to the shoulders."""
    ax_ = np.abs(x)
    slope = a.clavicle_slope * (0.3 if pose.ap else 1.0)
    cy = a.clavicle_y - (0.06 if pose.ap else 0.0)
    w = np.clip((ax_ - F32(0.05)) * F32(1 / 0.6), 0, 1)
    yc = F32(cy) - F32(slope * 0.6) * w + F32(0.02) * np.sin(w * F32(2 * np.pi))
    hw = F32(0.017) + F32(0.008) * (F32(1) - w)
    d = np.abs(y - yc) - hw
    bar = ramp(d, 0.01) + F32(0.4) * np.clip(F32(1) - np.abs(d) * F32(1 / 0.006), 0, 1)
    return bar * ramp(ax_ - F32(0.64), 0.05) * ramp(F32(0.05) - ax_, 0.02)


def _body(x, y, a: Anatomy) -> np.ndarray:
    """Soft-tissue thickness: torso, neck and shoulders, arms beside the chest."""
    ax_ = np.abs(x)
    half_width = F32(a.body_half_width) * (F32(1) - F32(0.1) * np.clip(y - F32(0.1), 0, None))
    neck = np.clip(F32(1) - (ax_ - F32(a.neck_half_width)) * F32(1 / 0.28), 0, 1)
    top = F32(a.shoulder_y) - F32(0.6) * neck * neck + F32(0.2) * np.clip(ax_ - F32(0.45), 0, 1)
    torso = ramp(np.maximum(top - y, ax_ - half_width), 0.05)
    thickness = np.sqrt(np.clip(F32(1) - (x * F32(1 / a.body_half_width)) ** 2, 0, 1))
    # Arms: a soft band beyond the axillae, separated from the chest wall by a dark gap.
    arm = ramp(half_width + F32(0.06) - ax_, 0.06) * ramp(top + F32(0.08) - y, 0.06)
    return torso * (F32(0.2) + F32(0.8) * thickness) + F32(0.3) * arm


def _attenuation(x, y, a: Anatomy, pose: Pose, eps: float, markings: np.ndarray, rows: slice):
    """Attenuation (higher = brighter) and the two lung sdfs on one strip of the grid."""
    att = F32(a.soft_tissue) * _body(x, y, a)

    # Lungs: aerated fields remove attenuation, more so away from their borders.
    g_left = lung_sdf(x, y, a, pose, LEFT)
    g_right = lung_sdf(x, y, a, pose, RIGHT)
    g_lungs = np.minimum(g_left, g_right)
    depth = np.sqrt(np.clip(g_lungs * F32(-1 / 0.1), 0, 1))
    apical = F32(0.82) + F32(0.18) * np.clip((y - F32(a.lung_top)) * F32(1 / 0.4), 0, 1)
    air = ramp(g_lungs, eps) * (F32(0.5) + F32(0.5) * depth) * apical
    att -= air * (F32(a.lung_air) - F32(0.25) * markings[rows])

    # Heart: a little extra density over the mediastinum, rounder where thicker.
    g_heart = _ellipse(x, y, *heart_params(a, pose))
    att += F32(a.heart_density) * np.sqrt(np.clip(g_heart * F32(-6), 0, 1))

    # Gastric air bubble under the left dome.
    bubble = _ellipse(x, y, a.left_lung_cx - 0.05, dome_y(a, pose, LEFT) + 0.1, 0.09, 0.05)
    att -= F32(0.15) * ramp(bubble, 0.04)

    # Spine: a column of vertebral bodies with darker disc spaces.
    col = np.sqrt(np.clip(F32(1) - (x * F32(1 / a.spine_half_width)) ** 2, 0, 1))
    ph = y * F32(1 / a.vertebra_period) + F32(a.vertebra_phase)
    ph -= np.floor(ph)
    disc = np.clip((np.abs(ph - F32(0.5)) - F32(0.38)) * F32(1 / 0.08), 0, 1)
    att += F32(a.bone * 0.6) * col * (F32(1) - F32(0.35) * disc)

    # Trachea: an air column above the carina.
    carina = a.aorta_cy + 0.08
    att -= F32(0.15) * ramp(np.abs(x) - F32(0.03), 0.015) * ramp(y - F32(carina), 0.05)

    att += F32(a.bone) * _ribs(x, y, a) + F32(a.bone * 2.2) * _clavicles(x, y, a, pose)
    return att, g_left, g_right


def _exposed(
    anatomy: Anatomy, pose: Pose, n: int, plan: Sequence[Finding]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Display values before noise (n × n, about [0, 1]) and the (left, right) lung sdfs."""
    eps = max(5.0 / n, 0.004)  # edge ramp: about 2.5 pixels at 1024
    markings = lung_markings(anatomy, pose, n)
    value = np.empty((n, n), dtype=F32)
    g_left = np.empty((n, n), dtype=F32)
    g_right = np.empty((n, n), dtype=F32)
    for rows in strips(n):
        x, y = coordinates(n, pose, rows)
        att, g_left[rows], g_right[rows] = _attenuation(x, y, anatomy, pose, eps, markings, rows)
        if plan:
            att += finding_attenuation(plan, x, y, anatomy, g_left[rows], g_right[rows], eps, rows)
        # Exposure: transmitted fraction turned into brightness (bright = attenuating).
        value[rows] = F32(1 + pose.brightness) - np.exp(att * F32(-pose.exposure))
    return value, g_left, g_right


def _mask(g: np.ndarray, size: int) -> np.ndarray:
    """Full-size mask ``g < 0`` from a working-size sdf ``g``, with a sub-pixel boundary.

    Near the boundary g is stored linearly in 8 bits (0 at 128, ±4 working pixels across
    the range), upsampled bilinearly and thresholded: where the smooth sdf changes sign.
    """
    n = g.shape[0]
    scale = F32(127 * n / 8)  # 127 levels per 4 working pixels (2 / n each)
    coded = np.empty((n, n), dtype=np.uint8)
    for rows in strips(n):
        coded[rows] = np.clip(g[rows] * scale + F32(128), 0, 255)
    if n != size:
        coded = np.asarray(Image.fromarray(coded).resize((size, size), Image.Resampling.BILINEAR))
    return coded < 128


def lung_mask(
    anatomy: Anatomy, pose: Pose, size: int, side: int, labels: Sequence[str] = ()
) -> np.ndarray:
    """One lung's mask (``side``: LEFT or RIGHT), bool (size²), exactly as :func:`render`'s."""
    anatomy = apply_anatomical_findings(anatomy, labels)
    n = working_size(size)
    g = np.empty((n, n), dtype=F32)
    for rows in strips(n):
        x, y = coordinates(n, pose, rows)
        g[rows] = lung_sdf(x, y, anatomy, pose, side)
    return _mask(g, size)


def lung_masks(
    anatomy: Anatomy, pose: Pose, size: int, labels: Sequence[str] = ()
) -> tuple[np.ndarray, np.ndarray]:
    """The (left, right) lung masks, bool (size²), exactly as :func:`render` returns them."""
    return (
        lung_mask(anatomy, pose, size, LEFT, labels),
        lung_mask(anatomy, pose, size, RIGHT, labels),
    )


def display(value: np.ndarray, pose: Pose, size: int, rng: np.random.Generator) -> np.ndarray:
    """Display values to uint8: detector noise and a gamma table, then upsampling to size²."""
    n = value.shape[0]
    levels = 4095
    lut = np.round((np.arange(levels + 1) / levels) ** pose.gamma * 255).astype(np.uint8)
    amplitude = F32(pose.noise * np.sqrt(12) * levels)  # uniform noise, std = pose.noise
    image = np.empty((n, n), dtype=np.uint8)
    for rows in strips(n):
        noise = rng.random((rows.stop - rows.start, n), dtype=F32) - F32(0.5)
        q = value[rows] * F32(levels) + noise * amplitude
        image[rows] = lut[np.clip(q, 0, levels).astype(np.uint16)]
    if n != size:  # bilinear: the noise grain spans about two output pixels
        image = np.array(Image.fromarray(image).resize((size, size), Image.Resampling.BILINEAR))
    return image


def render(
    anatomy: Anatomy,
    pose: Pose,
    size: int = 1024,
    labels: Sequence[str] = (),
    rng: np.random.Generator | None = None,
) -> Phantom:
    """Render one phantom image (uint8, size²) and its exact lung masks.

    ``labels`` are NIH finding names; some draw a finding-like change (see
    :mod:`cxr_synth.phantoms.findings`). ``rng`` drives the noise and the findings' placement.
    """
    rng = rng if rng is not None else np.random.default_rng(0)
    anatomy = apply_anatomical_findings(anatomy, labels)
    n = working_size(size)
    plan = plan_findings(labels, anatomy, rng, n)
    value, g_left, g_right = _exposed(anatomy, pose, n, plan)
    return Phantom(
        image=display(value, pose, size, rng),
        left_lung=_mask(g_left, size),
        right_lung=_mask(g_right, size),
    )
