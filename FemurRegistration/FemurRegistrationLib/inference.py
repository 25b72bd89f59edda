"""Run the registration network and turn its output into patient-space results (no Slicer, no Qt).

Frames: LPS mm throughout, in the box frame: the crop box (:mod:`grid`) centred at the origin, placed on the femur
in the patient (:mod:`placement`; the pipeline adds the box centre to every output). The
network works on a 2 mm atlas and a 4 mm velocity grid; its displacement is upsampled (trilinear) to warp the
1 mm atlas volume and label, and the atlas surface is moved with the inverse map (landmarks, hip
measurements). Left femurs are registered as mirrored right femurs (LPS x -> -x; see :mod:`.mirroring`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ReconCoreLib.projector import gridPointsLps, lpsToGridMatrix

from . import transforms
from .conventions import ATLAS_SPACING_MM, FIELD_SPACING_MM, NETWORK_SPACING_MM
from .grid import boxGrid
from .mirroring import mirrorIjkToLps, toPatient

def networkAtlas(atlas: dict) -> np.ndarray:
    """The attenuation-like femur-only atlas on the 2 mm network grid."""
    from .drr import downsample, relativeAttenuation

    return downsample(relativeAttenuation(atlas["hu"]) * atlas["label"], int(NETWORK_SPACING_MM / ATLAS_SPACING_MM))


@dataclass
class Registration:
    """Result of one registration (LPS mm; right-femur frame when ``mirrored``)."""

    affine: np.ndarray  # 4 x 4, patient -> atlas similarity
    displacement: np.ndarray  # [3 (x, y, z), D, H, W] on the field grid
    inverseDisplacement: np.ndarray
    mirrored: bool = False

    def tensors(self, device="cpu"):
        def tensor(array):
            return torch.as_tensor(np.asarray(array, np.float32), device=device)[None]

        fieldIjkToLps, shape = boxGrid(FIELD_SPACING_MM)
        return (tensor(self.affine), tensor(self.displacement), tensor(self.inverseDisplacement),
                tensor(lpsToGridMatrix(fieldIjkToLps, shape)))


def register(model, images: np.ndarray, masks: np.ndarray, views: np.ndarray, device="cpu",
             mirrored: bool = False) -> Registration:
    """Run the model on [2, H, W] radiographs and masks (network detector) and [2, 14] views."""
    def tensor(array):
        return torch.as_tensor(np.asarray(array, np.float32), device=device)[None]

    with torch.no_grad():
        affine, displacement, inverse = model(tensor(images), tensor(masks), tensor(views))
    return Registration(affine[0].cpu().double().numpy(), displacement[0].cpu().numpy(),
                        inverse[0].cpu().numpy(), mirrored)


def warpAtlas(atlas: dict, registration: Registration, device="cpu", labelOnly: bool = False,
              spacingMm: float = ATLAS_SPACING_MM) -> tuple[np.ndarray | None, np.ndarray]:
    """(warped HU int16, warped label uint8) of the atlas on the box at ``spacingMm`` (1 mm: the outputs' grid;
    patient frame of the registration).

    ``labelOnly`` skips the HU volume (returned as None).
    """
    affine, displacement, _, fieldLpsToGrid = registration.tensors(device)
    ijkToLps, shape = boxGrid(spacingMm)
    atlasLpsToGrid = torch.as_tensor(lpsToGridMatrix(atlas["ijkToLps"], atlas["hu"].shape), dtype=torch.float32,
                                     device=device)[None]
    channels = [atlas["label"].astype(np.float32)]
    if not labelOnly:
        channels.insert(0, atlas["hu"].astype(np.float32) + 1000.0)
    volume = torch.as_tensor(np.stack(channels), device=device)[None]  # one grid_sample for HU and label
    allPoints = gridPointsLps(ijkToLps, shape)
    slabs = []
    with torch.no_grad():
        for first in range(0, shape[0], 40):  # slabs of 40 slices: bounded memory
            points = allPoints[first:first + 40].to(device)[None]
            slabs.append(transforms.warpVolume(volume, atlasLpsToGrid, points, affine, displacement, fieldLpsToGrid)[0])
    warped = torch.cat(slabs, 1).cpu().numpy()
    label = (warped[-1] >= 0.5).astype(np.uint8)
    if labelOnly:
        return None, label
    return np.clip(np.rint(warped[0] - 1000.0), -1024, 3071).astype(np.int16), label


def warpPoints(pointsLps: np.ndarray, registration: Registration) -> np.ndarray:
    """Atlas points (LPS mm) -> patient points, through the inverse of the registration."""
    affine, _, inverse, fieldLpsToGrid = registration.tensors()
    points = torch.as_tensor(np.asarray(pointsLps, np.float32))[None]
    with torch.no_grad():
        moved = transforms.atlasToPatient(points, affine, inverse, fieldLpsToGrid)
    return moved[0].double().numpy()


def minimumJacobian(registration: Registration) -> float:
    """Smallest Jacobian determinant of the patient -> atlas map ``T(p + u(p))`` on the field grid."""
    fieldIjkToLps, _ = boxGrid(FIELD_SPACING_MM)
    spacing = np.linalg.norm(fieldIjkToLps[:3, :3], axis=0)
    field = registration.displacement  # [3 (x, y, z), k, j, i]
    gradient = np.empty(field.shape[1:] + (3, 3))
    for component in range(3):
        for axis, arrayAxis in enumerate((2, 1, 0)):  # d/dx along i (array axis 2), d/dy along j, d/dz along k
            gradient[..., component, axis] = np.gradient(field[component], spacing[axis], axis=arrayAxis)
    jacobian = np.linalg.det(gradient + np.eye(3)) * np.linalg.det(registration.affine[:3, :3])
    return float(jacobian.min())


def atlasToPatientField(registration: Registration, side: str, boxCentreLps) -> tuple[np.ndarray, np.ndarray]:
    """(displacement [k, j, i, 3] in mm RAS, grid ijkToLps): atlas point q -> patient point - q on the 4 mm box grid.

    ``registration`` was made with the crop box centred at ``boxCentreLps`` (working frame): the patient point is
    the registration's point plus that centre. The atlas frame of a left femur is the mirrored atlas, so the map
    stays orientation-preserving.
    """
    fieldIjkToLps, fieldShape = boxGrid(FIELD_SPACING_MM)
    if side == "left":
        fieldIjkToLps = mirrorIjkToLps(fieldIjkToLps, fieldShape)
    atlasPoints = gridPointsLps(fieldIjkToLps, fieldShape, dtype=torch.float64).numpy()
    patientPoints = toPatient(warpPoints(toPatient(atlasPoints.reshape(-1, 3), side), registration)
                              + np.asarray(boxCentreLps, dtype=float), side)
    displacementLps = patientPoints.reshape(atlasPoints.shape) - atlasPoints
    return displacementLps * np.array([-1.0, -1.0, 1.0]), fieldIjkToLps
