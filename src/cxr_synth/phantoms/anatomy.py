"""Random anatomy and acquisition parameters for the procedural chest phantoms.

A phantom is drawn in normalised image coordinates: ``x`` and ``y`` run from -1 to 1, ``x``
left to right and ``y`` top to bottom, as a PA radiograph is viewed. The patient's left side
therefore appears on the image's right (``side = +1``) and the patient's right on the image's
left (``side = -1``). These are geometric phantoms, NOT clinical data.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

RIGHT = -1  # patient's right lung: image left
LEFT = +1  # patient's left lung: image right


@dataclass(frozen=True)
class Anatomy:
    """One phantom patient's geometry and tissue densities (fixed across follow-ups)."""

    body_half_width: float
    neck_half_width: float
    shoulder_y: float
    lung_top: float  # y of the lung apices
    lung_half_height: float  # vertical semi-axis of the lung ellipses (cut by the domes)
    lung_cy: float  # y of the lung ellipse centres (low: lungs are widest at the base)
    right_lung_cx: float
    right_lung_half_width: float
    left_lung_cx: float
    left_lung_half_width: float
    lung_shear: float  # apices sit more medially than the bases
    mediastinum_half_width: float
    right_dome_y: float  # y of the right hemidiaphragm's top
    left_dome_y: float
    dome_height: float
    heart_cx: float
    heart_cy: float
    heart_rx: float
    heart_ry: float
    heart_tilt: float  # radians
    aorta_offset: float  # knob centre, beyond the mediastinum's edge
    aorta_cy: float
    aorta_r: float  # knob half-width; it is 1.5 times taller
    spine_half_width: float
    vertebra_period: float
    vertebra_phase: float
    rib_top: float
    rib_span: float  # from the first to the last visible posterior rib
    rib_count: int
    rib_curvature: float
    rib_width: float  # fraction of a rib period covered by bone
    clavicle_y: float
    clavicle_slope: float
    soft_tissue: float  # attenuation of the body at its thickest
    lung_air: float  # attenuation removed by aerated lung
    bone: float
    heart_density: float
    vessel_seed: int  # texture of the lung markings

    def with_cardiomegaly(self, factor: float) -> Anatomy:
        """The same patient with the heart scaled by ``factor`` (a larger cardiac silhouette)."""
        return replace(
            self,
            heart_rx=self.heart_rx * factor,
            heart_ry=self.heart_ry * (1 + (factor - 1) * 0.6),
            heart_cx=self.heart_cx + (factor - 1) * 0.12,
        )

    def with_hyperinflation(self, amount: float) -> Anatomy:
        """The same patient with emphysema-like lungs: darker, taller, flatter domes."""
        return replace(
            self,
            lung_air=self.lung_air * (1 + 0.12 * amount),
            right_dome_y=self.right_dome_y + 0.06 * amount,
            left_dome_y=self.left_dome_y + 0.06 * amount,
            dome_height=self.dome_height * (1 - 0.5 * amount),
        )


@dataclass(frozen=True)
class Pose:
    """Acquisition of one image: patient placement, exposure and detector noise."""

    shift_x: float
    shift_y: float
    scale: float
    rotation: float  # radians
    inspiration: float  # lung height factor
    exposure: float  # gain of the attenuation-to-brightness curve
    brightness: float  # offset added to the display value
    gamma: float
    noise: float  # std of the pixel noise, in display units (0..1)
    ap: bool = False  # AP view: magnified heart, more horizontal clavicles


def sample_anatomy(rng: np.random.Generator) -> Anatomy:
    """Draw one phantom patient's anatomy from ``rng``."""
    u = rng.uniform
    lung_top = u(-0.78, -0.66)
    right_dome_y = u(0.3, 0.44)
    right_half_width = u(0.28, 0.33)
    lung_cx = u(0.36, 0.42)
    lung_half_height = u(0.85, 0.95)
    return Anatomy(
        body_half_width=u(0.84, 0.97),
        neck_half_width=u(0.15, 0.2),
        shoulder_y=lung_top - u(0.12, 0.2),
        lung_top=lung_top,
        lung_half_height=lung_half_height,
        lung_cy=lung_top + lung_half_height,
        right_lung_cx=-lung_cx - u(0.0, 0.02),
        right_lung_half_width=right_half_width,
        left_lung_cx=lung_cx + u(0.0, 0.02),
        left_lung_half_width=right_half_width * u(0.9, 0.97),
        lung_shear=u(0.04, 0.09),
        mediastinum_half_width=u(0.07, 0.1),
        right_dome_y=right_dome_y,
        left_dome_y=right_dome_y + u(0.02, 0.07),
        dome_height=u(0.1, 0.17),
        heart_cx=u(0.07, 0.13),
        heart_cy=right_dome_y - u(0.06, 0.12),
        heart_rx=u(0.34, 0.4),
        heart_ry=u(0.21, 0.25),
        heart_tilt=u(0.45, 0.7),
        aorta_offset=u(0.0, 0.02),
        aorta_cy=lung_top + u(0.3, 0.38),
        aorta_r=u(0.04, 0.055),
        spine_half_width=u(0.07, 0.09),
        vertebra_period=u(0.075, 0.09),
        vertebra_phase=u(0.0, 1.0),
        rib_top=lung_top - u(0.02, 0.06),
        rib_span=u(0.95, 1.1),
        rib_count=int(rng.integers(9, 11)),
        rib_curvature=u(1.4, 1.9),
        rib_width=u(0.36, 0.46),
        clavicle_y=lung_top + u(0.02, 0.08),
        clavicle_slope=u(0.1, 0.25),
        soft_tissue=u(0.95, 1.15),
        lung_air=u(0.72, 0.84),
        bone=u(0.07, 0.1),
        heart_density=u(0.03, 0.06),
        vessel_seed=int(rng.integers(0, 2**31 - 1)),
    )


def sample_pose(rng: np.random.Generator, ap: bool = False) -> Pose:
    """Draw a patient's usual acquisition (placement, exposure, noise) from ``rng``."""
    u = rng.uniform
    return Pose(
        shift_x=u(-0.04, 0.04),
        shift_y=u(-0.05, 0.05),
        scale=u(0.92, 1.05),
        rotation=u(-0.03, 0.03),
        inspiration=1.0,
        exposure=u(1.5, 1.9),
        brightness=u(-0.04, 0.04),
        gamma=u(1.2, 1.5),
        noise=u(0.004, 0.01),
        ap=ap,
    )


def jitter_pose(pose: Pose, rng: np.random.Generator, ap: bool | None = None) -> Pose:
    """A follow-up of the same patient: small changes of placement, breath-hold and exposure."""
    u = rng.uniform
    return replace(
        pose,
        shift_x=pose.shift_x + u(-0.02, 0.02),
        shift_y=pose.shift_y + u(-0.02, 0.02),
        scale=pose.scale * u(0.98, 1.02),
        rotation=pose.rotation + u(-0.02, 0.02),
        inspiration=u(0.96, 1.03),
        exposure=pose.exposure * u(0.93, 1.07),
        brightness=pose.brightness + u(-0.02, 0.02),
        gamma=pose.gamma * u(0.96, 1.04),
        noise=pose.noise * u(0.85, 1.15),
        ap=pose.ap if ap is None else ap,
    )
