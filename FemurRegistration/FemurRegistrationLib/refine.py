"""Test-time refinement of a registration against the radiographs (optional, ``--refine``).

A few Adam steps on a smooth displacement correction and a similarity correction about the femoral head; the
objective compares the DRR of the warped femur-only atlas with each radiograph inside its femur mask and the
projected warped atlas label with the mask (details in :func:`refineRegistration`).
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from . import inference, transforms
from .conventions import IMAGE_SIZE, NETWORK_SPACING_MM, RAY_RADIUS_MM
from .grid import boxGrid
from .hipmeasures import FemurShapeModel, hipMeasurements
from .radiographs import NetworkView

#: Adam steps, detector subsampling, samples per ray, learning rates, smoothness weight.
REFINE_STEPS = 30
REFINE_DETECTOR_FACTOR = 3
REFINE_SAMPLES_PER_RAY = 64
REFINE_FIELD_RATE_MM = 0.8
REFINE_SIMILARITY_RATE = 0.02
REFINE_SMOOTHNESS = 1.0
#: Weight of the silhouette term: soft Dice between the projected warped atlas label and the femur mask.
REFINE_SILHOUETTE_WEIGHT = 20.0
#: Femur path length (mm) at which a ray counts as 63 % inside the silhouette.
REFINE_SILHOUETTE_MM = 2.0


def refineRegistration(registration: "inference.Registration", atlas: dict, views: Sequence[NetworkView],
                       steps: int = None, device: str = "cpu", progress=None) -> "inference.Registration":
    """A few Adam steps on a smooth displacement correction and a similarity correction (test-time refinement).

    The correction lives on an 8 mm grid, upsampled (trilinear) to the network's 4 mm field; the new map is
    ``T C (p + u(p) + d(p))`` with ``C`` a similarity about the femoral head; Adam with cosine-decaying rates.
    Objective per view: 1 - NCC between
    the DRR of the warped femur-only atlas (2 mm) and the radiograph inside its mask, minus its lowest decile and
    0 outside the mask, on the virtual detector subsampled by :data:`REFINE_DETECTOR_FACTOR`; plus
    :data:`REFINE_SMOOTHNESS` x the mean squared gradient of the correction (mm per 8 mm); plus
    :data:`REFINE_SILHOUETTE_WEIGHT` x (1 - soft Dice) between the projected warped atlas label and the femur
    mask. The inverse displacement is recomputed by fixed-point iteration.
    """
    import torch
    import torch.nn.functional as F

    from ReconCoreLib.projector import ConeBeamProjector, ViewGeometry, lpsToGridMatrix

    steps = REFINE_STEPS if steps is None else int(steps)
    factor = REFINE_DETECTOR_FACTOR
    size = IMAGE_SIZE // factor
    targets, silhouettes = [], []
    for view in views:
        image = view.image[:size * factor, :size * factor].reshape(size, factor, size, factor).mean((1, 3))
        mask = view.mask[:size * factor, :size * factor].reshape(size, factor, size, factor).mean((1, 3)) >= 0.5
        baseline = np.percentile(image[mask], 10) if mask.any() else 0.0
        targets.append(np.clip(image - baseline, 0.0, None) * mask)
        silhouettes.append(view.mask[:size * factor, :size * factor].reshape(size, factor, size, factor).mean((1, 3)))
    target = torch.as_tensor(np.stack(targets), dtype=torch.float32, device=device)  # [2, h, w]
    silhouette = torch.as_tensor(np.stack(silhouettes), dtype=torch.float32, device=device)

    projector = ConeBeamProjector(IMAGE_SIZE, IMAGE_SIZE, REFINE_SAMPLES_PER_RAY, "integral")
    rays = ViewGeometry.fromCArm([view.geometry for view in views], radiusMm=RAY_RADIUS_MM, device=device)
    centre = factor // 2  # the ray through the middle pixel of each factor x factor block
    points = projector.rayPoints(*rays.tensors())[:, :, centre:size * factor:factor, centre:size * factor:factor]
    points = points.reshape(1, -1, 1, 1, 3)  # working-frame LPS
    step = ((rays.far - rays.near) / (REFINE_SAMPLES_PER_RAY - 1))[:, None, None]
    from .drr import downsample

    femur = torch.as_tensor(np.stack([inference.networkAtlas(atlas), downsample(atlas["label"])]), dtype=torch.float32,
                            device=device)[None]  # attenuation and label, one grid_sample
    atlasLpsToGrid = torch.as_tensor(lpsToGridMatrix(boxGrid(NETWORK_SPACING_MM)[0],
                                                     femur.shape[2:]), dtype=torch.float32, device=device)[None]
    affine, displacement, inverse, fieldLpsToGrid = registration.tensors(device)
    headAtlas = torch.as_tensor(atlasHeadCentre(atlas), dtype=torch.float32, device=device)
    head = transforms.transformPoints(torch.linalg.inv(affine), headAtlas[None, None])[0, 0]
    fieldShape = tuple(displacement.shape[2:])
    coarse = torch.zeros(1, 3, *[(size + 1) // 2 for size in fieldShape], device=device, requires_grad=True)
    similarity = torch.zeros(1, 7, device=device, requires_grad=True)
    optimizer = torch.optim.Adam([{"params": [coarse], "lr": REFINE_FIELD_RATE_MM},
                                  {"params": [similarity], "lr": REFINE_SIMILARITY_RATE}])

    def correction():
        return F.interpolate(coarse, size=fieldShape, mode="trilinear", align_corners=True)

    def ncc(first, second):
        first = first - first.mean((1, 2), keepdim=True)
        second = second - second.mean((1, 2), keepdim=True)
        return (first * second).sum((1, 2)) / torch.sqrt((first ** 2).sum((1, 2)) * (second ** 2).sum((1, 2)) + 1e-8)

    rates = [group["lr"] for group in optimizer.param_groups]
    for index in range(steps):
        for group, rate in zip(optimizer.param_groups, rates):  # cosine decay: settle instead of oscillating
            group["lr"] = rate * 0.5 * (1.0 + math.cos(math.pi * index / max(steps, 1)))
        optimizer.zero_grad()
        moved = affine @ transforms.similarityMatrix(similarity, head)
        atlasPoints = transforms.patientToAtlas(points, moved, displacement + correction(), fieldLpsToGrid)
        samples = F.grid_sample(femur, transforms.transformPoints(atlasLpsToGrid, atlasPoints), mode="bilinear",
                                padding_mode="zeros", align_corners=True)
        beam = samples.reshape(2, len(views), REFINE_SAMPLES_PER_RAY, size, size)
        integrals = (beam.sum(2) - 0.5 * (beam[:, :, 0] + beam[:, :, -1])) * step
        drrs, projected = integrals[0], 1.0 - torch.exp(-integrals[1] / REFINE_SILHOUETTE_MM)
        overlap = 2.0 * (projected * silhouette).sum((1, 2)) / (projected.sum((1, 2)) + silhouette.sum((1, 2)) + 1e-6)
        smooth = sum((coarse.diff(dim=axis) ** 2).mean() for axis in (2, 3, 4))
        loss = (1.0 - ncc(drrs, target)).sum() + REFINE_SILHOUETTE_WEIGHT * (1.0 - overlap).sum() \
            + REFINE_SMOOTHNESS * smooth
        loss.backward()
        optimizer.step()
        if progress is not None:
            progress((index + 1) / steps, f"refinement {index + 1}/{steps}")
    with torch.no_grad():
        newAffine = affine @ transforms.similarityMatrix(similarity, head)
        newDisplacement = displacement + correction()
        newInverse = inference.inverseDisplacement(newDisplacement, inverse)
    return inference.Registration(newAffine[0].cpu().double().numpy(), newDisplacement[0].cpu().numpy(),
                                  newInverse[0].cpu().numpy(), registration.mirrored)


def atlasHeadCentre(atlas: dict) -> np.ndarray:
    """The femoral head centre of the atlas (LPS mm), the centre of the similarity correction."""
    return np.asarray(hipMeasurements(atlas["verticesLps"], FemurShapeModel.load())["head_centre_lps"], float)
