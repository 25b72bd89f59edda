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


def registerInFrame(model, images: np.ndarray, masks: np.ndarray, geometries, frame: np.ndarray, device="cpu",
                    mirrored: bool = False) -> Registration:
    """:func:`register` with the box frame turned by ``frame`` (4 x 4 rigid, box frame -> the frame the network
    sees: :func:`~.transforms.framedViewParameters`), its result brought back to the box frame.

    The network maps a point ``b`` of its frame to ``T_b(b + u_b(b))``; with ``b = F p = A p + a`` that is
    ``(T_b F)(p + A^T u_b(F p))``, and the inverse displacement turns the same way; both fields are resampled on the
    box's field grid (border values where the turned grid does not reach)."""
    frame = np.asarray(frame, dtype=float)
    turned = register(model, images, masks, transforms.framedViewParameters(geometries, frame), device, mirrored)
    fieldIjkToLps, fieldShape = boxGrid(FIELD_SPACING_MM)
    lpsToGrid = torch.as_tensor(lpsToGridMatrix(fieldIjkToLps, fieldShape), dtype=torch.float64)[None]
    points = gridPointsLps(fieldIjkToLps, fieldShape, dtype=torch.float64)[None]
    frameTensor = torch.as_tensor(frame, dtype=torch.float64)[None]
    moved = transforms.transformPoints(frameTensor, points)

    def back(field):
        sampled = transforms.sampleField(torch.as_tensor(np.asarray(field, np.float64))[None], lpsToGrid, moved)
        return (sampled @ frameTensor[0, :3, :3])[0].permute(3, 0, 1, 2).numpy().astype(np.float32)

    return Registration(turned.affine @ frame, back(turned.displacement), back(turned.inverseDisplacement), mirrored)


def rotationAbout(affine: np.ndarray, centreLps) -> tuple[np.ndarray, float]:
    """(4 x 4 rigid frame, angle in deg): the rotation of the similarity ``affine`` (scale removed, nearest rotation)
    about ``centreLps``, the frame in which that similarity has no rotation left."""
    left, _, right = np.linalg.svd(np.asarray(affine, dtype=float)[:3, :3])
    rotation = left @ np.diag([1.0, 1.0, np.linalg.det(left @ right)]) @ right
    frame = np.eye(4)
    frame[:3, :3] = rotation
    frame[:3, 3] = np.asarray(centreLps, dtype=float) - rotation @ np.asarray(centreLps, dtype=float)
    angle = np.degrees(np.arccos(np.clip((np.trace(rotation) - 1.0) / 2.0, -1.0, 1.0)))
    return frame, float(angle)


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


#: A folded map (minimum Jacobian determinant <= 0) is unfolded until every determinant is at least this.
UNFOLD_FLOOR = 0.1
#: Adam steps and rate (mm) of the unfolding; weight of the folding penalty against the squared change (mm^2).
UNFOLD_STEPS, UNFOLD_RATE_MM, UNFOLD_WEIGHT = 300, 0.2, 100.0
#: Damped fixed-point iterations of the unfolded map's inverse (each point moves half way: converges at slopes < 3).
UNFOLD_INVERSE_ITERATIONS = 300


def jacobianDeterminants(displacement: torch.Tensor, affineDeterminant: float = 1.0) -> torch.Tensor:
    """Smallest Jacobian determinant [B, D, H, W] of ``T(p + u(p))`` at each node of the field grid, from a displacement
    [B, 3 (x, y, z), D, H, W] interpolated trilinearly (as the run warps with it).

    At a node the trilinear map has one Jacobian per adjacent cell: each takes the one-sided difference towards that
    cell along each axis (8 combinations; at the border the one side there is). Central differences average two
    cells and miss a fold in one of them.
    """
    fieldIjkToLps, _ = boxGrid(FIELD_SPACING_MM)
    spacing = np.linalg.norm(fieldIjkToLps[:3, :3], axis=0)  # x, y, z
    sides = []  # per axis x, y, z (array dims 4, 3, 2): (backward, forward) differences [B, 3, D, H, W]
    for axis, dim in enumerate((4, 3, 2)):
        step = displacement.diff(dim=dim) / float(spacing[axis])
        first, last = step.narrow(dim, 0, 1), step.narrow(dim, step.shape[dim] - 1, 1)
        sides.append((torch.cat([first, step], dim), torch.cat([step, last], dim)))
    smallest = None
    for choice in range(8):
        # j[c][a] = d u_c / d x_a + (c == a)
        columns = [sides[axis][(choice >> axis) & 1] for axis in range(3)]
        j = [[columns[axis][:, component] + (component == axis) for axis in range(3)] for component in range(3)]
        # the 3 x 3 determinant written out: torch.linalg.det on as many small matrices is some 10 x slower
        determinant = (j[0][0] * (j[1][1] * j[2][2] - j[1][2] * j[2][1])
                       - j[0][1] * (j[1][0] * j[2][2] - j[1][2] * j[2][0])
                       + j[0][2] * (j[1][0] * j[2][1] - j[1][1] * j[2][0]))
        smallest = determinant if smallest is None else torch.minimum(smallest, determinant)
    return smallest * affineDeterminant


def minimumJacobian(registration: Registration) -> float:
    """Smallest Jacobian determinant of the patient -> atlas map ``T(p + u(p))`` (:func:`jacobianDeterminants`)."""
    field = torch.as_tensor(np.asarray(registration.displacement, np.float64))[None]
    return float(jacobianDeterminants(field, float(np.linalg.det(registration.affine[:3, :3]))).min())


def inverseDisplacement(displacement: torch.Tensor, start: torch.Tensor, iterations: int = 30,
                        damping: float = 1.0) -> torch.Tensor:
    """The inverse displacement [B, 3, D, H, W] of ``p -> p + u(p)`` on the field grid by fixed-point iteration
    (``p + u(p) = r  <=>  p = r - u(p)``) from ``start`` (a nearby inverse). The plain iteration converges where the
    map's slopes stay within (0, 2); ``damping`` < 1 moves each point that fraction of the way per iteration, which
    converges on any slope below 2 / damping (slower)."""
    fieldIjkToLps, fieldShape = boxGrid(FIELD_SPACING_MM)
    fieldLpsToGrid = torch.as_tensor(lpsToGridMatrix(fieldIjkToLps, fieldShape), dtype=displacement.dtype,
                                     device=displacement.device)[None]
    gridPoints = gridPointsLps(fieldIjkToLps, fieldShape).to(displacement)[None]
    moved = gridPoints + transforms.sampleField(start, fieldLpsToGrid, gridPoints)
    for _ in range(iterations):
        moved = moved + damping * (gridPoints - transforms.sampleField(displacement, fieldLpsToGrid, moved) - moved)
    return (moved - gridPoints).permute(0, 4, 1, 2, 3)


def unfold(registration: Registration) -> tuple[Registration, float]:
    """(registration, largest displacement change in mm): a folded map (minimum Jacobian determinant <= 0) moved as
    little as it can be until every determinant is at least :data:`UNFOLD_FLOOR`; any other map unchanged (0 mm).

    Adam on a correction of the displacement: the squared change plus :data:`UNFOLD_WEIGHT` x the sum of
    ``relu(floor + 0.05 - det)`` (a margin above the floor); the inverse is recomputed. No registration package
    offers this for a displacement on a grid, hence the few lines here.
    """
    if minimumJacobian(registration) > 0.0:
        return registration, 0.0
    affineDeterminant = float(np.linalg.det(registration.affine[:3, :3]))
    field = torch.as_tensor(np.asarray(registration.displacement, np.float32))[None]
    correction = torch.zeros_like(field, requires_grad=True)
    optimizer = torch.optim.Adam([correction], lr=UNFOLD_RATE_MM)
    for _ in range(UNFOLD_STEPS):
        optimizer.zero_grad()
        determinants = jacobianDeterminants(field + correction, affineDeterminant)
        if float(determinants.detach().min()) >= UNFOLD_FLOOR:
            break
        loss = (correction ** 2).mean() + UNFOLD_WEIGHT * torch.relu(UNFOLD_FLOOR + 0.05 - determinants).sum()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        displacement = field + correction
        inverse = inverseDisplacement(displacement, torch.as_tensor(  # slopes near the fold: damped, more iterations
            np.asarray(registration.inverseDisplacement, np.float32))[None], UNFOLD_INVERSE_ITERATIONS, 0.5)
    change = float(correction.detach().norm(dim=1).max())
    return Registration(registration.affine, displacement[0].numpy(), inverse[0].numpy(), registration.mirrored), change


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
