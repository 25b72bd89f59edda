"""Training and evaluation data for FemurRegistration, generated (there is no femur CT here).

A case is a CT-like phantom of one right femur (:mod:`phantom`: real shape model + extra variation, pose,
cortical/cancellous bone, marrow, soft tissue, acetabulum) on the 1 mm crop box. A sample is that case seen
in two calibrated views with the paper's geometry (source-detector 1000 mm, source-isocenter 925 mm):

- ``orthogonal``: AP (primary angle 0) and lateral (primary -90: the detector on the femur's side);
- ``generalized``: each of the two primary angles varied uniformly by +-30 deg (the paper's second set).

Radiographs are DRRs of the whole phantom (soft tissue and acetabulum included) through the shared
cone-beam projector, with a photon-count noise model, contrast (gamma) and blur variation, masked by the
projected femur label as in the paper. Cases are cached as .npz under ``<work>/cases`` by a generator
process (``python -m FemurRegistrationDev.dataset --work runs/femur --count 600``) so training can start
while more are written. Training seeds start at 0, held-out seeds at :data:`HELD_OUT_SEED_OFFSET`.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from FemurRegistrationLib.conventions import DETECTOR_PIXEL_MM, IMAGE_SIZE
from FemurRegistrationLib.drr import downsample, projectVolume, relativeAttenuation
from FemurRegistrationLib.transforms import viewParameters
from ReconCoreLib.xraygeometry import CArmGeometry

from . import phantom

HELD_OUT_SEED_OFFSET = 1_000_000
SOURCE_TO_DETECTOR_MM = 1000.0
SOURCE_TO_PATIENT_MM = 925.0
AP_PRIMARY_DEG, LATERAL_PRIMARY_DEG = 0.0, -90.0
GENERALIZED_RANGE_DEG = 30.0
#: Linear attenuation of water at a typical radiographic effective energy (~60 keV), 1/mm.
WATER_MU_PER_MM = 0.02
SETTINGS = ("orthogonal", "generalized")


def viewGeometries(setting: str, rng: np.random.Generator | None = None, angleErrorDeg: float = 0.0,
                   rows: int = IMAGE_SIZE, columns: int = IMAGE_SIZE,
                   pixelMm: float = DETECTOR_PIXEL_MM) -> list[CArmGeometry]:
    """(AP, lateral) geometries of ``setting``; ``angleErrorDeg`` is added to the lateral primary angle."""
    if setting not in SETTINGS:
        raise ValueError(f"setting must be one of {SETTINGS}, got {setting!r}")
    angles = [AP_PRIMARY_DEG, LATERAL_PRIMARY_DEG]
    if setting == "generalized":
        angles = [angle + rng.uniform(-GENERALIZED_RANGE_DEG, GENERALIZED_RANGE_DEG) for angle in angles]
    angles[1] += angleErrorDeg
    return [CArmGeometry(angle, 0.0, SOURCE_TO_DETECTOR_MM, SOURCE_TO_PATIENT_MM, (pixelMm, pixelMm), rows, columns)
            for angle in angles]


def simulateRadiographs(hu: np.ndarray, label: np.ndarray, ijkToLps: np.ndarray, geometries,
                        rng: np.random.Generator, others=(), photons=(2000.0, 20000.0), gamma=((0.8, 1.25),),
                        blurPixels=(0.0, 1.0)) -> tuple[np.ndarray, np.ndarray]:
    """(radiographs [N, rows, cols] float32, femur masks [N, rows, cols] uint8) of a phantom.

    Radiograph = log-attenuation ``-ln(counts / N0)`` with Poisson counts (N0 uniform in ``photons`` per pixel),
    then a gamma (uniform in one of the ``gamma`` bands) and a Gaussian blur (``blurPixels``): bone is bright, as on
    a displayed radiograph. The defaults are training's (N0 2,000-20,000, gamma 0.8-1.25, blur 0-1 pixel; the
    out-of-distribution split's are :data:`.outofdistribution.RADIOGRAPH_STYLE`).
    The mask holds the pixels whose ray crosses at least 0.5 mm of femur (both from one projection).
    ``others``: (hu, ijkToLps) of more phantoms in the field (the other hip), in the radiographs, not in the masks.
    """
    from scipy.ndimage import gaussian_filter

    projected = projectVolume(np.stack([relativeAttenuation(hu), label.astype(np.float32)]), ijkToLps, geometries)
    lineIntegral = WATER_MU_PER_MM * projected[:, 0]
    for otherHu, otherIjkToLps in others:  # line integrals add
        lineIntegral = lineIntegral + WATER_MU_PER_MM * projectVolume(relativeAttenuation(otherHu), otherIjkToLps,
                                                                      geometries)
    masks = (projected[:, 1] > 0.5).astype(np.uint8)
    images = []
    for integral in lineIntegral:
        incident = rng.uniform(*photons)
        counts = np.maximum(rng.poisson(incident * np.exp(-integral)), 1)
        band = gamma[int(rng.integers(len(gamma)))] if len(gamma) > 1 else gamma[0]  # one band: training's draws
        image = np.clip(-np.log(counts / incident), 0.0, None) ** rng.uniform(*band)
        images.append(gaussian_filter(image, rng.uniform(*blurPixels)).astype(np.float32))
    return np.asarray(images), masks


def casePath(work: Path, seed: int) -> Path:
    return Path(work) / "cases" / f"{seed:07d}.npz"


def loadOrMakeCase(seed: int, work: Path | None = None) -> dict:
    """A phantom case (``hu``, ``label``, ``verticesLps``, ``ijkToLps``), from the cache when present."""
    path = casePath(work, seed) if work is not None else None
    if path is not None and path.exists():
        with np.load(path) as data:
            return {key: data[key] for key in data.files}
    case = phantom.makeCase(seed)
    arrays = {"hu": case.hu.astype(np.int16), "label": case.label.astype(np.uint8),
              "verticesLps": np.asarray(case.verticesLps, np.float32),
              "ijkToLps": np.asarray(case.ijkToLps, np.float64), "seed": np.int64(seed)}
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".tmp.npz")
        np.savez(partial, **arrays)
        partial.replace(path)
    return arrays


#: Share of training samples whose given lateral angle is off by up to :data:`TRAINING_ANGLE_ERROR_DEG`.
TRAINING_ANGLE_ERROR_SHARE, TRAINING_ANGLE_ERROR_DEG = 0.25, 5.0


def insideBox(pointsLps: np.ndarray, ijkToLps: np.ndarray, shapeKji, marginMm: float = 0.0) -> np.ndarray:
    """True for the points [N, 3] (LPS mm) inside the voxel grid of ``ijkToLps``/``shapeKji``, shrunk by ``marginMm``."""
    ijkToLps = np.asarray(ijkToLps, dtype=float)
    ijk = (np.asarray(pointsLps, dtype=float) - ijkToLps[:3, 3]) @ np.linalg.inv(ijkToLps[:3, :3]).T
    spacing = np.linalg.norm(ijkToLps[:3, :3], axis=0)
    limits = np.asarray(shapeKji[::-1], dtype=float) - 1.0
    margin = marginMm / spacing
    return np.all((ijk >= margin) & (ijk <= limits - margin), axis=1)


def trainingSample(case: dict, rng: np.random.Generator) -> dict:
    """Network inputs and targets of one case in a random setting (60 % orthogonal, 40 % generalized).

    In a quarter of the samples the lateral angle given to the network is off by up to 5 deg (robustness
    to calibration error). ``vertices`` are the case's surface vertices (same numbering as the atlas's);
    ``vertexInside`` marks those inside the crop box, where the local field is defined.
    """
    setting = "orthogonal" if rng.random() < 0.6 else "generalized"
    geometries = viewGeometries(setting, rng)
    images, masks = simulateRadiographs(case["hu"], case["label"], case["ijkToLps"], geometries, rng)
    given = geometries
    if rng.random() < TRAINING_ANGLE_ERROR_SHARE:
        from dataclasses import replace

        error = rng.uniform(-TRAINING_ANGLE_ERROR_DEG, TRAINING_ANGLE_ERROR_DEG)
        given = [geometries[0], replace(geometries[1], primaryAngleDeg=geometries[1].primaryAngleDeg + error)]
    femur = relativeAttenuation(case["hu"]) * case["label"]
    vertices = np.asarray(case["verticesLps"], np.float32)
    inside = insideBox(vertices, case["ijkToLps"], case["label"].shape, marginMm=2.0)
    return {"images": images, "masks": masks.astype(np.float32), "views": viewParameters(given),
            "target": downsample(femur), "targetLabel": downsample(case["label"]), "vertices": vertices,
            "vertexInside": inside.astype(np.float32)}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description="Generate and cache FemurRegistration phantom cases.")
    parser.add_argument("--work", type=Path, default=Path("runs/femur"))
    parser.add_argument("--count", type=int, default=600, help="training cases (seeds 0..count-1)")
    parser.add_argument("--held-out", type=int, default=0, help="held-out cases (seeds from 1,000,000)")
    arguments = parser.parse_args(argv)
    torch.set_num_threads(1)
    started = time.time()
    seeds = list(range(arguments.held_out)) + list(range(arguments.count))
    offsets = [HELD_OUT_SEED_OFFSET] * arguments.held_out + [0] * arguments.count
    for number, (seed, offset) in enumerate(zip(seeds, offsets)):
        loadOrMakeCase(seed + offset, arguments.work)
        if number % 50 == 0:
            print(f"{number + 1}/{len(seeds)} cases, {time.time() - started:.0f} s", flush=True)


if __name__ == "__main__":
    main()
