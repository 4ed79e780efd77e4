"""Finding-like changes drawn onto chest phantoms, keyed by NIH ChestX-ray14 label names.

These are crude visual stand-ins (a blob, a blunted costophrenic angle, a larger heart) so
labelled phantom rows differ from "No Finding" ones. They are NOT models of disease and the
phantoms are NOT clinical data.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image

from cxr_synth.phantoms.anatomy import LEFT, RIGHT, Anatomy

F32 = np.float32

FINDINGS = (
    "Atelectasis",
    "Cardiomegaly",
    "Effusion",
    "Infiltration",
    "Mass",
    "Nodule",
    "Pneumonia",
    "Pneumothorax",
    "Consolidation",
    "Edema",
    "Emphysema",
    "Fibrosis",
    "Pleural_Thickening",
    "Hernia",
)
_PATCHY = {"Infiltration": 0.18, "Pneumonia": 0.28, "Consolidation": 0.35, "Atelectasis": 0.25}


@dataclass(frozen=True)
class Finding:
    """One drawable change: its shape ``kind``, where it sits and how dense it is."""

    kind: str  # "effusion", "blob", "patchy", "pneumothorax", "thickening" or "hernia"
    side: int
    cx: float
    cy: float
    r: float
    strength: float
    texture: np.ndarray | None = None  # working-size field in [0, 1] for "patchy"


def apply_anatomical_findings(anatomy: Anatomy, labels: Sequence[str]) -> Anatomy:
    """Findings that change the anatomy itself (and so the lung masks)."""
    if "Cardiomegaly" in labels:
        anatomy = anatomy.with_cardiomegaly(1.25)
    if "Emphysema" in labels:
        anatomy = anatomy.with_hyperinflation(1.0)
    return anatomy


def _lung(a: Anatomy, side: int) -> tuple[float, float, float]:
    """(centre x, half-width, dome y) of one lung."""
    if side == LEFT:
        return a.left_lung_cx, a.left_lung_half_width, a.left_dome_y
    return a.right_lung_cx, a.right_lung_half_width, a.right_dome_y


def _lung_point(a: Anatomy, side: int, rng: np.random.Generator) -> tuple[float, float]:
    """A random point well inside one lung field."""
    cx, ax, dome = _lung(a, side)
    y = rng.uniform(a.lung_top + 0.3, dome - 0.1)
    return float(cx + side * ax * rng.uniform(-0.35, 0.5)), float(y)


def _patches(rng: np.random.Generator, n: int, cells: int) -> np.ndarray:
    """Patchy, airspace-like texture in [0, 1]: thresholded smooth noise, n × n."""
    small = rng.standard_normal((cells, cells), dtype=F32)
    img = Image.fromarray(small, mode="F").resize((n, n), Image.Resampling.BICUBIC)
    return np.clip(np.asarray(img, dtype=F32) * F32(0.8) + F32(0.2), 0, 1)


def plan_findings(
    labels: Sequence[str], anatomy: Anatomy, rng: np.random.Generator, n: int
) -> list[Finding]:
    """Where and how to draw the drawable findings in ``labels`` on an n × n working grid."""
    a = anatomy
    plan: list[Finding] = []
    for label in labels:
        side = LEFT if rng.random() < 0.5 else RIGHT
        cx, _, dome = _lung(a, side)
        if label == "Effusion":
            level = dome - rng.uniform(0.03, 0.15)
            plan.append(Finding("effusion", side, cx, level, 0.0, 0.6))
        elif label in ("Mass", "Nodule"):
            r = rng.uniform(0.05, 0.09) if label == "Mass" else rng.uniform(0.014, 0.028)
            px, py = _lung_point(a, side, rng)
            plan.append(Finding("blob", side, px, py, r, 0.3 if label == "Mass" else 0.35))
        elif label in _PATCHY or label == "Fibrosis":
            px, py = _lung_point(a, side, rng)
            texture = _patches(rng, n, 40 if label == "Fibrosis" else 14)
            strength = _PATCHY.get(label, 0.18)
            plan.append(Finding("patchy", side, px, py, rng.uniform(0.1, 0.18), strength, texture))
        elif label == "Edema":
            for s in (LEFT, RIGHT):  # bilateral, around the hila
                hx, hy = s * (a.mediastinum_half_width + 0.1), a.heart_cy - a.heart_ry
                plan.append(Finding("patchy", s, hx, hy, 0.3, 0.2, _patches(rng, n, 16)))
        elif label == "Pneumothorax":
            plan.append(Finding("pneumothorax", side, 0.0, 0.0, rng.uniform(0.04, 0.08), 0.12))
        elif label == "Pleural_Thickening":
            plan.append(Finding("thickening", side, 0.0, 0.0, 0.025, 0.25))
        elif label == "Hernia":
            hx, hy = a.heart_cx - 0.05, a.heart_cy + a.heart_ry * 0.5
            plan.append(Finding("hernia", side, hx, hy, 0.1, 0.12))
    return plan


def _ramp(g: np.ndarray, width: float) -> np.ndarray:
    return np.clip(F32(0.5) - g * F32(1.0 / width), 0, 1)


def _blob(x, y, cx: float, cy: float, r: float) -> np.ndarray:
    """A soft round opacity, densest at its centre."""
    d2 = ((x - F32(cx)) ** 2 + (y - F32(cy)) ** 2) * F32(1 / (r * r))
    return np.sqrt(np.clip(F32(1) - d2, 0, 1)) + F32(0.15) * np.clip(F32(1.3) - d2, 0, 0.3)


def finding_attenuation(
    plan: Sequence[Finding],
    x: np.ndarray,
    y: np.ndarray,
    anatomy: Anatomy,
    g_left: np.ndarray,
    g_right: np.ndarray,
    eps: float,
    rows: slice,
) -> np.ndarray:
    """Attenuation added (or removed) by ``plan`` on the grid rows ``rows`` (x, y, g of them)."""
    out = np.zeros(np.broadcast_shapes(x.shape, y.shape), dtype=F32)
    for f in plan:
        g = g_left if f.side == LEFT else g_right
        inside = _ramp(g, eps)
        if f.kind == "effusion":
            # Fluid filling the costophrenic angle, its meniscus climbing laterally.
            lateral = np.clip((x - F32(f.cx)) * F32(f.side * 3), 0, 1)
            out += F32(f.strength) * _ramp(F32(f.cy) - F32(0.18) * lateral - y, 0.03) * inside
        elif f.kind == "blob":
            out += F32(f.strength) * _blob(x, y, f.cx, f.cy, f.r) * inside
        elif f.kind == "patchy":
            envelope = np.clip(_blob(x, y, f.cx, f.cy, f.r), 0, 1)
            out += F32(f.strength) * envelope * f.texture[rows] * inside
        elif f.kind == "pneumothorax":
            # A rim of air without lung markings at the apex, edged by a thin pleural line.
            upper = _ramp(y - F32(anatomy.lung_top + 0.45), 0.1) * inside
            band = _ramp(-(g + F32(f.r)), eps) * upper
            line = np.clip(F32(1) - np.abs(g + F32(f.r)) * F32(1 / 0.004), 0, 1) * upper
            out += F32(-f.strength) * band + F32(0.15) * line
        elif f.kind == "thickening":
            rim = _ramp(-(g + F32(f.r)), eps) * inside
            out += F32(f.strength) * rim * _ramp(y - F32(anatomy.lung_top + 0.5), 0.1)
        elif f.kind == "hernia":
            gas = _blob(x, y, f.cx, f.cy, f.r * 0.4)
            out += F32(f.strength) * _blob(x, y, f.cx, f.cy, f.r) - F32(0.08) * gas
    return out
