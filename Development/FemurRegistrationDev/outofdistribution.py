"""FemurRegistration's out-of-distribution split: phantoms and radiographs made with settings outside training's.

Every setting below lies outside the range the training data (:mod:`.phantom`, :mod:`.dataset`) draws from, so the
split measures what the bundled network does on femurs and radiographs it was never shown, as a hospital's would be:

- **shape**: the shape model's femur stretched about its femoral head along the shaft and across it, by the
  (length, width) scales of one of :data:`STRETCH_BANDS`: longer and slimmer or shorter and stockier femurs than the
  shape model makes (neck-shaft angles move by up to 12 deg with them); training never stretches;
- **pose**: flexion, abduction and rotation about the long axis each 12-20 deg either way (training: within +-10;
  the issue's clinical range: rotation +-20, flexion +-15);
- **tissue**: osteopenic bone (cortex 900-1150 HU, cancellous 80-140 HU; training 1200-1800 and 150-400), denser
  muscle (60-75 HU; training 35-55), more fat (15-25 % of the soft tissue, -150 to -125 HU; training 4-12 %,
  -120 to -80), CT noise 25-35 HU (training 5-20);
- **radiograph**: 500-1,500 photons per pixel (training 2,000-20,000), gamma 0.6-0.75 or 1.3-1.5 (training
  0.8-1.25), blur 1.2-2 pixels (training 0-1);
- **geometry** (:func:`acquisition`): SID 1,150-1,800 mm with the isocenter 60-120 mm in front of the detector
  (training: SID 1000, SOD 925), the femur anywhere in the field as in :mod:`.positions`.
"""

from __future__ import annotations

import numpy as np

#: The settings the split changes; ``positions --ood-only PART`` changes one of them alone (what each costs).
PARTS = ("shape", "pose", "tissue", "radiograph", "geometry")

#: ((length low, high), (width low, high)): slender, then stocky (a stockier one's shaft can no longer be measured).
STRETCH_BANDS = (((1.08, 1.15), (0.85, 0.92)), ((0.85, 0.92), (1.08, 1.12)))
POSE_ANGLE_BAND_DEG = (12.0, 20.0)
TISSUE_RANGES = {
    "corticalHu": (900.0, 1150.0), "cancellousHu": (80.0, 140.0), "muscleHu": (60.0, 75.0),
    "fatHu": (-150.0, -125.0), "fatFraction": (0.15, 0.25), "noiseHu": (25.0, 35.0),
}
#: Keyword arguments of :func:`.dataset.simulateRadiographs`: (low, high) draws; gamma from one of two bands.
RADIOGRAPH_STYLE = {"photons": (500.0, 1500.0), "gamma": ((0.6, 0.75), (1.3, 1.5)), "blurPixels": (1.2, 2.0)}
SID_RANGE_MM = (1150.0, 1800.0)
ISOCENTER_TO_DETECTOR_MM = (60.0, 120.0)


def _band(rng: np.random.Generator, bands) -> float:
    """A uniform draw from one of ``bands`` ((low, high) pairs), the band chosen at random."""
    low, high = bands[int(rng.integers(len(bands)))]
    return float(rng.uniform(low, high))


def stretch(verticesLps: np.ndarray, headCentreLps, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    """The femur stretched about its head centre: z (the shaft axis of the canonical frame) by a length scale, x and y
    by a width scale; (vertices, the two scales)."""
    lengthBand, widthBand = STRETCH_BANDS[int(rng.integers(len(STRETCH_BANDS)))]
    length, width = float(rng.uniform(*lengthBand)), float(rng.uniform(*widthBand))
    centre = np.asarray(headCentreLps, dtype=float)
    moved = (np.asarray(verticesLps, dtype=float) - centre) * [width, width, length] + centre
    return moved, {"length_scale": length, "width_scale": width}


def poseAngles(rng: np.random.Generator) -> np.ndarray:
    """(flexion, abduction, internal rotation) deg, each 12-20 deg with a random sign."""
    return rng.uniform(*POSE_ANGLE_BAND_DEG, 3) * rng.choice([-1.0, 1.0], 3)


def acquisition(rng: np.random.Generator) -> dict:
    """SID and SOD of one case (keyword arguments of :func:`.positions.viewPair`)."""
    sid = float(rng.uniform(*SID_RANGE_MM))
    return {"sourceToDetectorMm": sid, "sourceToPatientMm": sid - float(rng.uniform(*ISOCENTER_TO_DETECTOR_MM))}
