"""FemurRegistration pipeline: AP + lateral radiographs -> femur atlas registered in patient space, with checks.

Steps
-----
1. Femur masks: given (one per view, same size as its radiograph), else a proposal (:func:`proposeFemurMask`:
   multi-level Otsu, largest bright component, holes filled) that the user can correct.
2. Virtual detector: each radiograph and mask is resampled (after a Gaussian anti-aliasing filter) onto the
   network's detector, :data:`~.network.IMAGE_SIZE` x :data:`~.network.IMAGE_SIZE` pixels of
   :data:`~.network.DETECTOR_PIXEL_MM`, centred on the principal point, same angles and distances: every virtual
   pixel is placed on the detector plane (LPS) and projected back to the original image's pixel.
3. Side: the network knows right femurs. A left femur is registered as the mirrored (x -> -x, LPS) right femur:
   primary angles negated and image columns flipped (:func:`~.inference.mirrorGeometry`); every output is
   mirrored back. "Working frame" below means the right-femur frame the network sees (the patient frame for a
   right femur, its mirror image for a left one).
4. Network (TorchScript): similarity + diffeomorphic displacement (patient -> atlas) and its inverse;
   optionally a short test-time refinement (:func:`refineRegistration`).
5. Outputs in patient RAS: the warped atlas CT (1 mm crop box), the warped femur label, the atlas -> patient
   grid transform, the warped landmarks, the femur outline projected on each input radiograph, readouts (NCC of
   each radiograph with the DRR of the warped femur inside its mask, minimum Jacobian determinant, hip
   measurements of the warped atlas surface, timings; Dice / Jaccard / ASSD / HD95 against a reference).

Transform convention (``transform.h5``, the grid transform node): its 'to parent' direction maps atlas points
(RAS mm; for a left femur the mirrored, i.e. left, atlas) to patient points, so the atlas placed under it
appears on the patient; its inverse ('from parent') maps patient points to the atlas, which is how the atlas
was resampled into ``volume.nrrd``. The displacement lives on the 4 mm grid of the atlas crop box.

Console example (Slicer Python console or any Python with the environment)::

    from FemurRegistrationLib import pipeline
    from ReconCoreLib import runtime
    from ReconCoreLib.xrayio import readXrayImage
    result = pipeline.registerFemur(readXrayImage("hip_ap.dcm"), readXrayImage("hip_lat.dcm"), side="right")
    print(result.readouts.summary())
    nodes = pipeline.addToScene(result, runtime.getScene())
"""

from __future__ import annotations

import functools
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional, Sequence

import numpy as np

from ReconCoreLib.readouts import Readouts
from ReconCoreLib.xraygeometry import LPS_TO_RAS, CArmGeometry, viewSeparationDeg
from ReconCoreLib.xrayio import XrayImage, checkImage, isDicom, sidecarPath

from . import inference
from .network import DETECTOR_PIXEL_MM, IMAGE_SIZE

MODULE = "FemurRegistration"
SIDES = ("left", "right")
VIEW_NAMES = ("AP", "lateral")
MIN_SEPARATION_DEG = 30.0
WARN_SEPARATION_DEG = 60.0
#: Primary angles of the training views (working frame): AP 0 +- 30 deg, lateral -90 +- 30 deg; secondary 0.
TRAINED_PRIMARY_DEG = ((-30.0, 30.0), (-120.0, -60.0))
TRAINED_SECONDARY_DEG = 5.0
FEMUR_COLOR = (0.95, 0.88, 0.72)
OUTLINE_COLOR = (1.0, 0.85, 0.1)
#: Landmark label -> key of :func:`~.shapemodel.hipMeasurements`.
LANDMARKS = {
    "head centre": "head_centre_lps",
    "greater trochanter": "greater_trochanter_lps",
    "lesser trochanter": "lesser_trochanter_lps",
    "medial posterior condyle": "medial_posterior_condyle_lps",
    "lateral posterior condyle": "lateral_posterior_condyle_lps",
    "medial epicondyle": "medial_epicondyle_lps",
    "lateral epicondyle": "lateral_epicondyle_lps",
}
#: Landmarks below the crop box (outside the radiographs' field): moved by the registration's border values.
DISTAL_LANDMARKS = ("medial posterior condyle", "lateral posterior condyle", "medial epicondyle", "lateral epicondyle")
HIP_READOUTS = ("head_diameter_mm", "neck_shaft_angle_deg", "femoral_offset_mm", "anteversion_deg")
#: Mask proposals are computed on a copy at most this many pixels wide.
PROPOSAL_PIXELS = 128
#: The dark side of a split is air when its mean is this close (fraction of the range) to the darkest pixels.
PROPOSAL_AIR_FRACTION = 0.15
#: The projected outline is computed at most this many pixels wide, then interpolated to the radiograph.
OUTLINE_MAX_PIXELS = 128
OUTLINE_SAMPLES_PER_RAY = 96
#: Test-time refinement: Adam steps, detector subsampling, samples per ray, learning rates, smoothness weight.
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
SAMPLE_DIRECTORY = Path(__file__).resolve().parents[1] / "Resources" / "SampleData"


def _check(abortFlag, progressCallback, fraction, message):
    if abortFlag is not None and abortFlag():
        raise InterruptedError("cancelled")
    if progressCallback is not None:
        progressCallback(fraction, message)


# ------------------------------------------------------------------------------------------------
# Side (laterality)
def lateralityOfFile(path) -> Optional[str]:
    """'left' / 'right' from a radiograph's DICOM ImageLaterality (else Laterality) or its JSON sidecar; else None."""
    path = Path(path)
    value = None
    if isDicom(path):
        import pydicom

        try:
            dataset = pydicom.dcmread(str(path), stop_before_pixels=True)
        except Exception:  # unreadable files are reported by the image reader, with a better message
            return None
        value = dataset.get("ImageLaterality") or dataset.get("Laterality")
    elif sidecarPath(path).is_file():
        try:
            attributes = json.loads(sidecarPath(path).read_text())
        except (OSError, json.JSONDecodeError):
            return None
        if isinstance(attributes, dict):
            value = attributes.get("ImageLaterality") or attributes.get("Laterality")
    return {"L": "left", "R": "right"}.get(str(value or "").strip().upper())


def resolveSide(side: Optional[str], paths: Sequence = ()) -> str:
    """``side`` when it is 'left' or 'right'; for None / 'auto' the files' laterality, else 'right'.

    :raises ValueError: an unknown side, or files that disagree on laterality.
    """
    if side in SIDES:
        return side
    if side not in (None, "", "auto"):
        raise ValueError(f"side must be 'left', 'right' or 'auto', got {side!r}")
    found = {lateralityOfFile(path) for path in paths if path}
    found.discard(None)
    if len(found) > 1:
        raise ValueError("the radiographs disagree on laterality (one says left, the other right); give the side")
    return found.pop() if found else "right"


# ------------------------------------------------------------------------------------------------
# Masks and the virtual detector
def checkMask(mask, shape, name: str) -> np.ndarray:
    """A femur mask as bool (rows, columns): 2D, finite, non-empty, the size of its radiograph."""
    array = np.asarray(mask)
    if array.ndim == 3 and 1 in array.shape:
        array = array.reshape([size for size in array.shape if size != 1])
    if array.ndim != 2:
        raise ValueError(f"{name} femur mask: expected a 2D image, got shape {np.shape(mask)}")
    if array.shape != tuple(shape):
        raise ValueError(f"{name} femur mask {array.shape[0]} x {array.shape[1]} and radiograph {shape[0]} x "
                         f"{shape[1]} differ in size")
    if not np.issubdtype(array.dtype, np.number) and array.dtype != bool:
        raise ValueError(f"{name} femur mask: values are not numbers ({array.dtype})")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} femur mask contains NaN or infinite values")
    binary = array > 0
    if not binary.any():
        raise ValueError(f"{name} femur mask is empty")
    return binary


def _otsuLevel(values: np.ndarray) -> float:
    import SimpleITK as sitk

    otsu = sitk.OtsuThresholdImageFilter()
    otsu.SetInsideValue(0)
    otsu.SetOutsideValue(1)
    otsu.Execute(sitk.GetImageFromArray(np.asarray(values, np.float32).reshape(1, -1)))
    return float(otsu.GetThreshold())


def proposeFemurMask(pixels: np.ndarray) -> np.ndarray:
    """A femur mask proposal (uint8 0/1, the radiograph's size) for a radiograph with bright bone, to check and edit.

    On a smoothed copy at most :data:`PROPOSAL_PIXELS` wide, Otsu's threshold splits the region (first the whole
    image) and the largest bright component is kept. When the dark side of the split is air (its mean within
    :data:`PROPOSAL_AIR_FRACTION` of the intensity range above the darkest pixels), that component is the body,
    and the split is repeated inside it (border eroded by 4 %). The bone component is then closed and its holes
    filled (SimpleITK). Pelvic bone touching the femoral head may be included.

    :raises ValueError: nothing bright enough to be bone.
    """
    import SimpleITK as sitk

    image = np.asarray(pixels, np.float32)
    factor = max(1, math.ceil(max(image.shape) / PROPOSAL_PIXELS))
    rows, columns = math.ceil(image.shape[0] / factor), math.ceil(image.shape[1] / factor)
    padded = np.pad(image, ((0, rows * factor - image.shape[0]), (0, columns * factor - image.shape[1])), mode="edge")
    small = padded.reshape(rows, factor, columns, factor).mean(axis=(1, 3))
    smoothed = sitk.GetArrayFromImage(sitk.SmoothingRecursiveGaussian(sitk.GetImageFromArray(small), 1.0))
    region = np.ones(smoothed.shape, bool)
    margin = max(1, int(round(0.04 * max(small.shape))))
    low, high = np.percentile(smoothed, [1, 99])
    bone = None
    for _ in range(2):
        values = smoothed[region]
        if values.size < 10 or float(values.max() - values.min()) <= 1e-6 * max(1.0, float(np.abs(values).max())):
            break
        level = _otsuLevel(values)
        bright = sitk.GetImageFromArray(((smoothed > level) & region).astype(np.uint8))
        bright = sitk.BinaryMorphologicalOpening(bright, [1, 1])
        largest = sitk.RelabelComponent(sitk.ConnectedComponent(bright), sortByObjectSize=True) == 1
        if not sitk.GetArrayViewFromImage(largest).any():
            break
        bone = largest
        dark = values[values <= level]
        if dark.size == 0 or float(dark.mean()) - low > PROPOSAL_AIR_FRACTION * (high - low):
            break  # the dark side is soft tissue: the bright component is bone
        region = sitk.GetArrayFromImage(sitk.BinaryErode(largest, [margin, margin])) > 0
    if bone is None:
        raise ValueError("no bone-like bright region found for a femur mask proposal; draw the mask")
    filled = sitk.GetArrayFromImage(sitk.BinaryFillhole(sitk.BinaryMorphologicalClosing(
        sitk.Cast(bone, sitk.sitkUInt8), [2, 2])))
    full = np.repeat(np.repeat(filled.astype(np.uint8), factor, axis=0), factor, axis=1)
    return full[:image.shape[0], :image.shape[1]]


def virtualDetector(geometry: CArmGeometry) -> CArmGeometry:
    """The network's detector for a view: same angles and distances, 96 x 96 pixels of 2.03 mm, same centre."""
    return CArmGeometry(geometry.primaryAngleDeg, geometry.secondaryAngleDeg, geometry.sourceToDetectorMm,
                        geometry.sourceToPatientMm, (DETECTOR_PIXEL_MM, DETECTOR_PIXEL_MM), IMAGE_SIZE, IMAGE_SIZE)


def resampleToDetector(pixels: np.ndarray, geometry: CArmGeometry, target: CArmGeometry) -> np.ndarray:
    """Resample an image of ``geometry`` onto the detector of ``target`` (float32, target rows x columns).

    Each target pixel is placed on its detector plane (LPS) and projected through ``geometry`` onto the source
    image (bilinear; 0 outside it). When target pixels are larger, a Gaussian of sigma (scale - 1) / 2 source
    pixels is applied first (anti-aliasing).
    """
    from scipy.ndimage import gaussian_filter, map_coordinates

    image = np.asarray(pixels, np.float32)
    magnification = geometry.sourceToDetectorMm / target.sourceToDetectorMm  # target mm -> source detector mm
    scale = [target.pixelSpacingMm[axis] * magnification / geometry.pixelSpacingMm[axis] for axis in (0, 1)]
    sigma = [max(0.0, (value - 1.0) / 2.0) for value in scale]
    if max(sigma) > 0:
        image = gaussian_filter(image, sigma, mode="nearest")
    columns, rows = np.meshgrid(np.arange(target.columns, dtype=float), np.arange(target.rows, dtype=float))
    detector = target.pixelToDetectorLps(np.stack([columns.ravel(), rows.ravel()], axis=1))
    source = geometry.projectLps(detector)
    values = map_coordinates(image, [source[:, 1], source[:, 0]], order=1, mode="constant", cval=0.0)
    return values.reshape(target.rows, target.columns).astype(np.float32)


@dataclass
class NetworkView:
    """One view as the network sees it (working frame): image, mask, geometry, and the mask at full size."""

    image: np.ndarray  # float32 [96, 96]
    mask: np.ndarray  # float32 0/1 [96, 96]
    geometry: CArmGeometry  # virtual detector, mirrored for a left femur
    fullMask: np.ndarray  # uint8 (rows, columns) on the input radiograph
    maskProposed: bool


def prepareView(view: XrayImage, mask, side: str, name: str) -> NetworkView:
    """Mask (given or proposed), then image and mask on the virtual detector, mirrored for a left femur."""
    view = XrayImage(checkImage(view.pixels, view.sourcePath or f"{name} radiograph"), view.geometry, view.sourcePath,
                     view.modality, view.frameIndex, view.numberOfFrames)
    if (view.geometry.rows, view.geometry.columns) != view.pixels.shape:
        raise ValueError(f"{name} radiograph: geometry says {view.geometry.rows} x {view.geometry.columns} pixels, "
                         f"the image is {view.pixels.shape[0]} x {view.pixels.shape[1]}")
    if mask is None:
        fullMask, proposed = proposeFemurMask(view.pixels), True
    else:
        fullMask, proposed = checkMask(mask, view.pixels.shape, name).astype(np.uint8), False
    target = virtualDetector(view.geometry)
    image = resampleToDetector(view.pixels, view.geometry, target)
    networkMask = (resampleToDetector(fullMask.astype(np.float32), view.geometry, target) >= 0.5).astype(np.float32)
    if not networkMask.any():
        raise ValueError(f"{name} femur mask lies outside the network's field of view ({IMAGE_SIZE * DETECTOR_PIXEL_MM:.0f}"
                         " mm square on the detector, centred on the central ray)")
    if side == "left":
        image, networkMask = image[:, ::-1].copy(), networkMask[:, ::-1].copy()
        target = inference.mirrorGeometry(target)
    return NetworkView(image, networkMask, target, fullMask, proposed)


# ------------------------------------------------------------------------------------------------
# Frames
def mirrorIjkToLps(ijkToLps: np.ndarray, shapeKji: Sequence[int]) -> np.ndarray:
    """IJK -> LPS of the x-mirrored copy of a volume stored with its i axis reversed (``array[..., ::-1]``).

    The result keeps a right-handed grid: voxel i of the reversed array is voxel n-1-i of the original, whose
    position x -> -x.
    """
    flip = np.eye(4)
    flip[0, 0], flip[0, 3] = -1.0, shapeKji[2] - 1
    return inference.MIRROR @ np.asarray(ijkToLps, dtype=float) @ flip


def _toPatient(points: np.ndarray, side: str) -> np.ndarray:
    """Working-frame LPS points -> patient LPS (mirror x for a left femur)."""
    points = np.array(points, dtype=float)
    if side == "left":
        points[..., 0] *= -1.0
    return points


def _volumeToPatient(array: np.ndarray, ijkToLps: np.ndarray, side: str) -> tuple[np.ndarray, np.ndarray]:
    if side == "left":
        return np.ascontiguousarray(array[..., ::-1]), mirrorIjkToLps(ijkToLps, array.shape)
    return array, np.asarray(ijkToLps, dtype=float)


def atlasToPatientField(registration: "inference.Registration", side: str) -> tuple[np.ndarray, np.ndarray]:
    """(displacement [k, j, i, 3] in mm RAS, grid ijkToLps): atlas point q -> patient point - q on the 4 mm box grid.

    The atlas frame of a left femur is the mirrored atlas, so the map stays orientation-preserving.
    """
    import torch

    from ReconCoreLib.projector import gridPointsLps

    fieldIjkToLps, fieldShape = inference.boxGrid(inference.FIELD_SPACING_MM)
    if side == "left":
        fieldIjkToLps = mirrorIjkToLps(fieldIjkToLps, fieldShape)
    atlasPoints = gridPointsLps(fieldIjkToLps, fieldShape, dtype=torch.float64).numpy()
    patientPoints = _toPatient(inference.warpPoints(_toPatient(atlasPoints.reshape(-1, 3), side), registration), side)
    displacementLps = patientPoints.reshape(atlasPoints.shape) - atlasPoints
    return displacementLps * np.array([-1.0, -1.0, 1.0]), fieldIjkToLps


# ------------------------------------------------------------------------------------------------
# Model files
@functools.lru_cache(maxsize=2)
def _loadAtlas(path: str, modified: float) -> dict:
    return inference.loadAtlas(path)


def loadAtlas(path=None) -> dict:
    """The atlas (``FemurAtlas.npz`` beside the model unless ``path``), read once per file version."""
    path = Path(path) if path is not None else inference.defaultAtlasPath()
    if not path.is_file():
        raise ValueError(f"{MODULE}: the atlas {path.name} is missing beside the model; nothing was computed")
    return _loadAtlas(str(path.resolve()), path.stat().st_mtime)


def atlasPathFor(modelPath) -> Path:
    """The atlas that belongs to a model file: ``FemurAtlas.npz`` in its folder, else the bundled one."""
    candidate = Path(modelPath).parent / "FemurAtlas.npz"
    return candidate if candidate.is_file() else inference.defaultAtlasPath()


# ------------------------------------------------------------------------------------------------
# Checks and readouts
def maskedNcc(image: np.ndarray, other: np.ndarray, mask: np.ndarray) -> float:
    """Normalized cross-correlation of two images over the pixels where ``mask`` is set (0 when flat)."""
    inside = np.asarray(mask) > 0
    first = np.asarray(image, float)[inside]
    second = np.asarray(other, float)[inside]
    first, second = first - first.mean(), second - second.mean()
    denominator = math.sqrt(float((first ** 2).sum() * (second ** 2).sum()))
    return float((first * second).sum() / denominator) if denominator > 0 else 0.0


def femurDrrs(hu: np.ndarray, label: np.ndarray, geometries) -> np.ndarray:
    """DRRs [N, rows, cols] of the femur only (relative attenuation inside the label) of a 1 mm box volume."""
    from .dataset import downsample, projectVolume, relativeAttenuation

    factor = int(inference.NETWORK_SPACING_MM / inference.ATLAS_SPACING_MM)
    femur = downsample(relativeAttenuation(hu) * (label > 0), factor)
    ijkToLps, _ = inference.boxGrid(inference.NETWORK_SPACING_MM)
    return projectVolume(femur, ijkToLps, geometries, samplesPerRay=IMAGE_SIZE)


def projectedOutline(label: np.ndarray, ijkToLps: np.ndarray, geometry: CArmGeometry) -> np.ndarray:
    """Silhouette (uint8 0/1, geometry rows x columns) of a label volume (1 mm box grid, placed by ``ijkToLps``).

    Projected at most :data:`OUTLINE_MAX_PIXELS` wide with the same field of view, then interpolated.
    """
    import torch
    from scipy.ndimage import map_coordinates

    from ReconCoreLib.projector import ConeBeamProjector, ViewGeometry, lpsToGridMatrix

    from .dataset import downsample
    from .network import RAY_RADIUS_MM

    factor = max(1, math.ceil(max(geometry.rows, geometry.columns) / OUTLINE_MAX_PIXELS))
    small = geometry.withImageSize(math.ceil(geometry.rows / factor), math.ceil(geometry.columns / factor))
    volume = downsample(np.asarray(label, np.float32), 2)
    coarseIjkToLps = np.asarray(ijkToLps, float) @ np.diag([2.0, 2.0, 2.0, 1.0])
    coarseIjkToLps[:3, 3] += np.asarray(ijkToLps, float)[:3, :3] @ np.full(3, 0.5)  # block centres
    center = coarseIjkToLps @ np.append((np.array(volume.shape[::-1]) - 1) / 2.0, 1.0)
    projector = ConeBeamProjector(small.rows, small.columns, OUTLINE_SAMPLES_PER_RAY, "max")
    views = ViewGeometry.fromCArm([small], center[:3], RAY_RADIUS_MM)
    lpsToGrid = torch.as_tensor(lpsToGridMatrix(coarseIjkToLps, volume.shape), dtype=torch.float32)[None]
    with torch.no_grad():
        silhouette = projector(torch.as_tensor(volume)[None, None], lpsToGrid, *views.tensors())[0, 0].numpy()
    scaleRow = geometry.pixelSpacingMm[0] / small.pixelSpacingMm[0]
    scaleColumn = geometry.pixelSpacingMm[1] / small.pixelSpacingMm[1]
    rows = (np.arange(geometry.rows) - (geometry.rows - 1) / 2.0) * scaleRow + (small.rows - 1) / 2.0
    columns = (np.arange(geometry.columns) - (geometry.columns - 1) / 2.0) * scaleColumn + (small.columns - 1) / 2.0
    grid = np.meshgrid(rows, columns, indexing="ij")
    full = map_coordinates(silhouette, grid, order=1, mode="constant", cval=0.0)
    return (full >= 0.5).astype(np.uint8)


def resampleLabel(label: np.ndarray, ijkToRas: np.ndarray, shapeKji: Sequence[int],
                  targetIjkToRas: np.ndarray) -> np.ndarray:
    """A label volume resampled (linear, >= 0.5) onto another grid (``shapeKji``, ``targetIjkToRas``): bool."""
    import torch
    import torch.nn.functional as F

    from ReconCoreLib.projector import gridPointsLps, lpsToGridMatrix

    if tuple(np.shape(label)) == tuple(shapeKji) and np.allclose(ijkToRas, targetIjkToRas, atol=1e-6):
        return np.asarray(label) > 0  # same grid: nothing to interpolate
    source = torch.as_tensor(np.asarray(label, np.float32))[None, None]
    toGrid = torch.as_tensor(lpsToGridMatrix(ijkToRas, label.shape) @ np.asarray(targetIjkToRas, float),
                             dtype=torch.float32)  # target ijk -> source grid_sample coordinates
    result = np.zeros(tuple(shapeKji), dtype=bool)
    depth, height, width = shapeKji
    slab = max(1, int(4_000_000 // max(height * width, 1)))
    with torch.no_grad():
        for first in range(0, depth, slab):
            count = min(slab, depth - first)
            ijkToFirst = np.eye(4)
            ijkToFirst[2, 3] = first
            ijk = gridPointsLps(ijkToFirst, (count, height, width))  # target voxel indices (i, j, k)
            grid = ijk @ toGrid[:3, :3].T + toGrid[:3, 3]
            values = F.grid_sample(source, grid[None], mode="bilinear", padding_mode="zeros", align_corners=True)
            result[first:first + count] = values[0, 0].numpy() >= 0.5
    return result


def referenceMetrics(label: np.ndarray, ijkToRas: np.ndarray, reference: np.ndarray,
                     referenceIjkToRas: np.ndarray) -> dict:
    """Dice, Jaccard, ASSD and HD95 (mm) of the registered label against a reference, on the reference's grid."""
    from ReconCoreLib.metrics import overlapMetrics, spacingKjiFromIjkToRas, surfaceMetrics

    truth = np.asarray(reference) > 0
    if not truth.any():
        raise ValueError("the reference segmentation is empty")
    predicted = resampleLabel(label, ijkToRas, truth.shape, referenceIjkToRas)
    metrics = overlapMetrics(predicted, truth)
    if predicted.any():
        union = np.argwhere(predicted | truth)
        low = np.maximum(union.min(0) - 3, 0)
        high = union.max(0) + 4
        crop = tuple(slice(a, b) for a, b in zip(low, high))  # surface distances do not change by cropping
        metrics.update(surfaceMetrics(predicted[crop], truth[crop], spacingKjiFromIjkToRas(referenceIjkToRas)))
    return metrics


def _trainingRangeWarnings(geometries) -> list[str]:
    warnings = []
    for name, geometry, (low, high) in zip(VIEW_NAMES, geometries, TRAINED_PRIMARY_DEG):
        if not low <= geometry.primaryAngleDeg <= high or abs(geometry.secondaryAngleDeg) > TRAINED_SECONDARY_DEG:
            warnings.append(f"{name} view (primary {geometry.primaryAngleDeg:.0f} deg, secondary "
                            f"{geometry.secondaryAngleDeg:.0f} deg in the right-femur frame) is outside the views the "
                            f"network was trained on (primary {low:.0f} to {high:.0f} deg, secondary 0): check the "
                            "result against the radiographs")
    return warnings


# ------------------------------------------------------------------------------------------------
# Test-time refinement
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

    from ReconCoreLib.projector import ConeBeamProjector, ViewGeometry, gridPointsLps, lpsToGridMatrix

    from . import network
    from .network import RAY_RADIUS_MM

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
    from .dataset import downsample

    femur = torch.as_tensor(np.stack([inference.networkAtlas(atlas), downsample(atlas["label"])]), dtype=torch.float32,
                            device=device)[None]  # attenuation and label, one grid_sample
    atlasLpsToGrid = torch.as_tensor(lpsToGridMatrix(inference.boxGrid(inference.NETWORK_SPACING_MM)[0],
                                                     femur.shape[2:]), dtype=torch.float32, device=device)[None]
    affine, displacement, inverse, fieldLpsToGrid = registration.tensors(device)
    headAtlas = torch.as_tensor(_atlasHeadCentre(atlas), dtype=torch.float32, device=device)
    head = network.transformPoints(torch.linalg.inv(affine), headAtlas[None, None])[0, 0]
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
        moved = affine @ network.similarityMatrix(similarity, head)
        atlasPoints = network.patientToAtlas(points, moved, displacement + correction(), fieldLpsToGrid)
        samples = F.grid_sample(femur, network.transformPoints(atlasLpsToGrid, atlasPoints), mode="bilinear",
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
            progress(index + 1, steps)
    with torch.no_grad():
        newAffine = affine @ network.similarityMatrix(similarity, head)
        newDisplacement = displacement + correction()
        fieldIjkToLps, _ = inference.boxGrid(inference.FIELD_SPACING_MM)
        gridPoints = gridPointsLps(fieldIjkToLps, fieldShape).to(device)[None]
        moved = gridPoints + network.sampleField(inverse, fieldLpsToGrid, gridPoints)
        for _ in range(30):  # p + u'(p) = r  <=>  p = r - u'(p)
            moved = gridPoints - network.sampleField(newDisplacement, fieldLpsToGrid, moved)
        newInverse = (moved - gridPoints).permute(0, 4, 1, 2, 3)
    return inference.Registration(newAffine[0].cpu().double().numpy(), newDisplacement[0].cpu().numpy(),
                                  newInverse[0].cpu().numpy(), registration.mirrored)


@functools.lru_cache(maxsize=2)
def _shapeModel():
    from .shapemodel import FemurShapeModel

    return FemurShapeModel.load()


def _atlasHeadCentre(atlas: dict) -> np.ndarray:
    from .shapemodel import hipMeasurements

    return np.asarray(hipMeasurements(atlas["verticesLps"], _shapeModel())["head_centre_lps"], float)


# ------------------------------------------------------------------------------------------------
# The whole method
def checkSeparation(first: CArmGeometry, second: CArmGeometry) -> float:
    """The angle between the two views (deg); ``ValueError`` below :data:`MIN_SEPARATION_DEG`."""
    separation = viewSeparationDeg(first, second)
    if separation < MIN_SEPARATION_DEG:
        raise ValueError(f"the AP and lateral views are only {separation:.1f} deg apart; at least "
                         f"{MIN_SEPARATION_DEG:.0f} deg is needed to register in 3D")
    return separation


def prepareInputs(apView: XrayImage, latView: XrayImage, apMask=None, latMask=None, side: str = "right",
                  abortFlag=None, progressCallback=None) -> tuple[list, list[str]]:
    """The two :class:`NetworkView` (working frame) and the warnings about the inputs.

    Warnings: views less than :data:`WARN_SEPARATION_DEG` apart, views outside the training range, proposed masks.
    :raises ValueError: views too close, unknown side, bad image or mask.
    """
    separation = checkSeparation(apView.geometry, latView.geometry)
    if side not in SIDES:
        raise ValueError(f"side must be 'left' or 'right', got {side!r}")
    warnings = []
    if separation < WARN_SEPARATION_DEG:
        warnings.append(f"the views are {separation:.1f} deg apart (< {WARN_SEPARATION_DEG:.0f} deg): depth is poorly "
                        "determined, check the result against both radiographs")
    _check(abortFlag, progressCallback, 0.02, "femur masks")
    views = []
    for index, (name, view, mask) in enumerate(zip(VIEW_NAMES, (apView, latView), (apMask, latMask))):
        views.append(prepareView(view, mask, side, name))
        if views[-1].maskProposed:
            warnings.append(f"no {name} femur mask was given: an automatic proposal was used (check it)")
        _check(abortFlag, progressCallback, 0.08 + 0.08 * index, "femur masks")
    return views, warnings + _trainingRangeWarnings([view.geometry for view in views])


@dataclass
class FemurResult:
    """Everything one registration produces; volumes [k, j, i] placed by ``ijkToRas`` (patient RAS)."""

    side: str
    registration: "inference.Registration"  # working (right-femur) frame, LPS
    hu: np.ndarray  # int16, the warped atlas CT on the 1 mm crop box
    label: np.ndarray  # uint8, the warped atlas femur label
    ijkToRas: np.ndarray
    landmarkNames: list
    landmarksRas: np.ndarray  # (N, 3)
    landmarkDescriptions: list
    transformDisplacementRas: np.ndarray  # [k, j, i, 3] mm: atlas point -> patient point - atlas point
    transformIjkToRas: np.ndarray
    views: tuple  # the two input XrayImage
    masks: tuple  # femur masks used (uint8, radiograph size)
    masksProposed: tuple
    outlines: tuple  # silhouettes of the registered femur on the two radiographs (uint8, radiograph size)
    networkViews: tuple  # the two NetworkView
    measurements: dict  # hip measurements (working frame, LPS)
    readouts: Readouts


def registerFemur(apView: XrayImage, latView: XrayImage, apMask=None, latMask=None, side: str = "right",
                  device: str = "auto", refine: bool = False, reference=None, modelPath=None, atlasPath=None,
                  progressCallback: Optional[Callable[[float, str], None]] = None,
                  abortFlag: Optional[Callable[[], bool]] = None) -> FemurResult:
    """Register the femur atlas to an AP and a lateral radiograph.

    :param apMask, latMask: femur masks (radiograph size, non-zero = femur); None: a proposal is used (warning).
    :param side: 'left' or 'right' (see :func:`resolveSide` for files).
    :param reference: optional (label array [k, j, i], ijkToRas) for Dice / Jaccard / ASSD / HD95.
    :raises ValueError: bad input (the message names it); ``InterruptedError`` when ``abortFlag`` says stop.
    """
    from ReconCoreLib.models import findBundledModel, loadModel, notBundledMessage, resolveDevice, sha256

    views, warnings = prepareInputs(apView, latView, apMask, latMask, side, abortFlag, progressCallback)
    device = resolveDevice(device)
    modelPath = modelPath or findBundledModel(MODULE)
    if modelPath is None:
        raise ValueError(notBundledMessage(MODULE))
    atlas = loadAtlas(atlasPath or atlasPathFor(modelPath))
    readouts = Readouts(MODULE, modelSha256=sha256(modelPath), device=device)
    readouts.set("side", side)
    readouts.set("view_separation_deg", viewSeparationDeg(apView.geometry, latView.geometry))
    for message in warnings:
        readouts.warn(message)

    _check(abortFlag, progressCallback, 0.2, "registration network")
    from .network import viewParameters

    model = loadModel(modelPath, device)
    started = time.perf_counter()
    registration = inference.register(model, np.stack([view.image for view in views]),
                                      np.stack([view.mask for view in views]),
                                      viewParameters([view.geometry for view in views]), device, side == "left")
    readouts.set("inference_s", time.perf_counter() - started)
    if refine:
        _check(abortFlag, progressCallback, 0.3, "refinement")
        started = time.perf_counter()

        def refineProgress(step, steps):
            _check(abortFlag, progressCallback, 0.3 + 0.3 * step / steps, f"refinement {step}/{steps}")

        registration = refineRegistration(registration, atlas, views, device=device, progress=refineProgress)
        readouts.set("refine_s", time.perf_counter() - started)
        readouts.set("refine_steps", REFINE_STEPS)

    _check(abortFlag, progressCallback, 0.62, "warping the atlas")
    hu, label = inference.warpAtlas(atlas, registration, device)
    if not label.any():
        raise ValueError("the registered femur is empty (the atlas left the field of view); check the masks and "
                         "the geometry")
    boxIjkToLps, _ = inference.boxGrid(inference.ATLAS_SPACING_MM)
    for name, view, drr in zip(("ncc_ap", "ncc_lat"), views, femurDrrs(hu, label, [v.geometry for v in views])):
        readouts.set(name, maskedNcc(view.image, drr, view.mask))
    minimumJacobian = inference.minimumJacobian(registration)
    readouts.set("min_jacobian", minimumJacobian)
    if minimumJacobian <= 0:
        readouts.warn(f"the deformation folds (minimum Jacobian determinant {minimumJacobian:.3f} <= 0)")
    readouts.set("femur_volume_mm3", float(label.sum()) * inference.ATLAS_SPACING_MM ** 3)

    _check(abortFlag, progressCallback, 0.7, "landmarks and hip measurements")
    from .shapemodel import hipMeasurements

    measurements = {}
    try:
        measurements = hipMeasurements(inference.warpPoints(atlas["verticesLps"], registration), _shapeModel())
    except ValueError as error:
        readouts.warn(f"hip measurements failed on the registered surface ({error})")
    for key in HIP_READOUTS:
        if key in measurements:
            readouts.set(key, float(measurements[key]))
    if measurements:
        # Their accuracy is the model's (held-out errors in the model card; for the bundled model several mm and
        # degrees, close to the atlas's own values): say so with every result rather than assume it.
        readouts.warn("hip measurements come from the registered atlas surface; their held-out errors are in the "
                      "model card (FemurRegistration.md): not for surgical planning")
    names = [name for name, key in LANDMARKS.items() if key in measurements]
    landmarksRas = _toPatient(np.array([measurements[LANDMARKS[name]] for name in names]).reshape(-1, 3),
                              side) * [-1.0, -1.0, 1.0]
    descriptions = [f"{side} femur; " + ("below the radiographs' field of view: follows the registration's border "
                                         "values" if name in DISTAL_LANDMARKS else "registered atlas landmark")
                    for name in names]

    # Patient frame (mirror back a left femur), RAS for Slicer.
    hu, patientIjkToLps = _volumeToPatient(hu, boxIjkToLps, side)
    label, _ = _volumeToPatient(label, boxIjkToLps, side)
    displacementRas, fieldIjkToLps = atlasToPatientField(registration, side)
    _check(abortFlag, progressCallback, 0.78, "outlines on the radiographs")
    outlines = tuple(projectedOutline(label, patientIjkToLps, view.geometry) for view in (apView, latView))
    result = FemurResult(side, registration, hu, label, LPS_TO_RAS @ patientIjkToLps, names, landmarksRas,
                         descriptions, displacementRas, LPS_TO_RAS @ fieldIjkToLps, (apView, latView),
                         tuple(view.fullMask for view in views), tuple(view.maskProposed for view in views), outlines,
                         tuple(views), measurements, readouts)
    if reference is not None:
        _check(abortFlag, progressCallback, 0.84, "comparison with the reference")
        referenceArray, referenceIjkToRas = reference
        for key, value in referenceMetrics(label, result.ijkToRas, referenceArray, referenceIjkToRas).items():
            readouts.set(key, value)
    _check(abortFlag, progressCallback, 0.88, "registration done")
    return result


# ------------------------------------------------------------------------------------------------
# Scene, files, command line
def addToScene(result: FemurResult, scene, outputVolume=None, outputSegmentation=None, outputModel=None,
               outputTransform=None, outputLandmarks=None, outputTable=None, outputApOutline=None,
               outputLatOutline=None, radiographNodes=None) -> dict:
    """Put a registration into ``scene`` (filling the given nodes or new ones); returns the nodes by name.

    ``radiographNodes``: the two radiograph volume nodes the outlines are drawn on (their own IJK -> RAS); when
    None, the radiographs are added to the scene on their detector planes (and the proposed masks, if any).
    """
    from ReconCoreLib import runtime

    nodes = {"outputVolume": runtime.volumeNodeFromArray(scene, result.hu, result.ijkToRas, "femur atlas registered",
                                                         node=outputVolume)}
    nodes["outputSegmentation"] = runtime.segmentationNodeFromLabelmap(
        scene, result.label, result.ijkToRas, {1: ("femur", FEMUR_COLOR)}, "femur", node=outputSegmentation)
    nodes["outputModel"] = runtime.modelNodeFromSegment(scene, nodes["outputSegmentation"], "femur", "femur model",
                                                        node=outputModel)
    nodes["outputTransform"] = runtime.gridTransformNodeFromDisplacement(
        scene, result.transformDisplacementRas, result.transformIjkToRas, "atlas to patient", node=outputTransform)
    nodes["outputLandmarks"] = runtime.markupsNodeFromPoints(
        scene, result.landmarksRas, result.landmarkNames, "femur landmarks", result.landmarkDescriptions,
        node=outputLandmarks)
    nodes["outputTable"] = result.readouts.toTableNode(scene, "femur readouts", node=outputTable)
    if radiographNodes is None:
        radiographNodes = []
        for name, view, mask, proposed in zip(VIEW_NAMES, result.views, result.masks, result.masksProposed):
            node = runtime.volumeNodeFromArray(scene, view.pixels[None], view.geometry.imageIjkToRas(),
                                               f"{name} radiograph")
            radiographNodes.append(node)
            if proposed:
                runtime.segmentationNodeFromLabelmap(scene, mask[None], view.geometry.imageIjkToRas(),
                                                     {1: ("femur mask", FEMUR_COLOR)}, f"{name} femur mask proposal",
                                                     closedSurface=False)
    for key, name, outline, radiograph, node in zip(("outputApOutline", "outputLatOutline"), VIEW_NAMES,
                                                    result.outlines, radiographNodes,
                                                    (outputApOutline, outputLatOutline)):
        segmentation = runtime.segmentationNodeFromLabelmap(
            scene, outline[None], runtime.ijkToRasFromNode(radiograph), {1: ("registered femur", OUTLINE_COLOR)},
            f"{name} femur outline", closedSurface=False, node=node)
        segmentation.GetDisplayNode().SetVisibility2DFill(False)  # outline only, over the radiograph
        nodes[key] = segmentation
    return nodes


def writeOutputs(result: FemurResult, nodes: dict, scene, directory: Path) -> None:
    """volume.nrrd, segmentation.seg.nrrd, model.vtk, transform.h5, landmarks.mrk.json, readouts.json, scene.mrb."""
    from ReconCoreLib import runtime

    directory = Path(directory)
    runtime.saveNode(nodes["outputVolume"], directory / "volume.nrrd")
    runtime.saveNode(nodes["outputSegmentation"], directory / "segmentation.seg.nrrd")
    runtime.saveNode(nodes["outputModel"], directory / "model.vtk")
    runtime.saveNode(nodes["outputTransform"], directory / "transform.h5")
    runtime.saveNode(nodes["outputLandmarks"], directory / "landmarks.mrk.json")
    result.readouts.writeJson(directory / "readouts.json")
    runtime.saveScene(scene, directory / "scene.mrb")


def _maskFromNode(node, radiograph):
    """A mask node (segmentation or labelmap / scalar volume) as a (rows, columns) array on the radiograph."""
    from ReconCoreLib import runtime

    if node is None:
        return None
    if node.IsA("vtkMRMLSegmentationNode"):
        array, _, _ = runtime.labelmapFromSegmentation(node, radiograph)
    else:
        array = runtime.arrayFromVolumeNode(node)
    return array


def _referenceFromNode(node):
    """(label array, ijkToRas) of a reference segmentation or labelmap node: its 'femur' segment, else all."""
    from ReconCoreLib import runtime

    if node is None:
        return None
    if not node.IsA("vtkMRMLSegmentationNode"):
        return runtime.arrayFromVolumeNode(node) > 0, runtime.ijkToRasFromNode(node)
    array, ijkToRas, names = runtime.labelmapFromSegmentation(node)
    femur = [index + 1 for index, name in enumerate(names) if name.strip().lower() == "femur"]
    return (np.isin(array, femur) if femur else array > 0), ijkToRas


def run(scene, apRadiograph, latRadiograph, apGeometry, latGeometry, apMask=None, latMask=None, reference=None,
        refine=False, side="right", device="auto", modelPath=None, progressCallback=None, abortFlag=None,
        **outputs) -> dict:
    """Slicer entry point (FemurRegistrationLogic.process): volume nodes + geometries -> filled output nodes."""
    from ReconCoreLib import runtime
    from ReconCoreLib.xrayio import checkImage

    views = []
    for node, geometry in ((apRadiograph, apGeometry), (latRadiograph, latGeometry)):
        pixels = runtime.arrayFromVolumeNode(node)
        if pixels.ndim == 3 and pixels.shape[0] > 1:
            raise ValueError(f"{node.GetName()}: expected one radiograph, got {pixels.shape[0]} frames")
        pixels = checkImage(pixels, node.GetName())
        if (geometry.rows, geometry.columns) != pixels.shape:
            raise ValueError(f"{node.GetName()}: geometry says {geometry.rows} x {geometry.columns} pixels, the image "
                             f"is {pixels.shape[0]} x {pixels.shape[1]}")
        views.append(XrayImage(pixels, geometry, node.GetName()))
    masks = [_maskFromNode(mask, radiograph) for mask, radiograph in ((apMask, apRadiograph), (latMask, latRadiograph))]
    result = registerFemur(views[0], views[1], masks[0], masks[1], side, device, refine,
                           _referenceFromNode(reference), modelPath, progressCallback=progressCallback,
                           abortFlag=abortFlag)
    nodes = addToScene(result, scene, radiographNodes=(apRadiograph, latRadiograph), **outputs)
    _check(None, progressCallback, 1.0, "done")
    return nodes


def readMask(path) -> np.ndarray:
    """A femur mask file (PNG, NRRD, ...; a single-slice volume is fine) as a 2D array."""
    from ReconCoreLib.xrayio import readMaskImage

    return readMaskImage(path)


def readReference(scene, path) -> tuple[np.ndarray, np.ndarray]:
    """(label array, ijkToRas) of a reference file: ``.seg.nrrd`` segmentation, or a labelmap volume."""
    from ReconCoreLib import runtime

    name = str(path).lower()
    nodeClass = None if name.endswith(".seg.nrrd") else "vtkMRMLLabelMapVolumeNode"
    node = runtime.loadNode(scene, path, nodeClass)
    try:
        return _referenceFromNode(node)
    finally:
        scene.RemoveNode(node)


def runCase(apPath, latPath, device, directory: Path, apMask=None, latMask=None, reference=None, refine=False,
            side=None, progress=None, modelPath=None) -> Readouts:
    """Read the files, register, write every output into ``directory`` (headless)."""
    from ReconCoreLib import runtime
    from ReconCoreLib.xrayio import readXrayImage

    side = resolveSide(side, (apPath, latPath))
    apView, latView = readXrayImage(apPath), readXrayImage(latPath)
    masks = [readMask(path) if path else None for path in (apMask, latMask)]
    scene = runtime.newHeadlessScene()
    try:
        referenceLabel = readReference(scene, reference) if reference else None
        result = registerFemur(apView, latView, masks[0], masks[1], side, device, refine, referenceLabel,
                               modelPath, progressCallback=progress)
        nodes = addToScene(result, scene)
        if progress is not None:
            progress(0.92, "writing")
        writeOutputs(result, nodes, scene, Path(directory))
    finally:
        runtime.releaseScene(scene)
    if progress is not None:
        progress(1.0, "written")
    return result.readouts


def runCommandLine(args, outputDirectory: Path, device: str, progress) -> Readouts:
    """``recon2d3d femur``."""
    return runCase(args.ap, args.lat, device, outputDirectory, args.ap_mask, args.lat_mask, args.reference,
                   bool(args.refine), getattr(args, "side", None), progress)


def sampleCases() -> dict[str, dict[str, Path]]:
    """Bundled sample cases: name -> files (``ap``, ``lat``, ``apMask``, ``latMask``, ``reference``, ``truth``)."""
    from .samples import SAMPLES

    return {name: {"ap": SAMPLE_DIRECTORY / f"{name}-ap.dcm", "lat": SAMPLE_DIRECTORY / f"{name}-lat.dcm",
                   "apMask": SAMPLE_DIRECTORY / f"{name}-ap-mask.png",
                   "latMask": SAMPLE_DIRECTORY / f"{name}-lat-mask.png",
                   "reference": SAMPLE_DIRECTORY / f"{name}-reference.seg.nrrd",
                   "truth": SAMPLE_DIRECTORY / f"{name}-truth.json"} for name in SAMPLES}


def runDemo(outputDirectory: Path, device: str, progress) -> dict[str, Readouts]:
    """``recon2d3d demo``: each sample case (with its masks and reference) into its own subfolder."""
    results = {}
    for name, files in sampleCases().items():
        directory = Path(outputDirectory) / name
        directory.mkdir(parents=True, exist_ok=True)
        results[name] = runCase(files["ap"], files["lat"], device, directory, files["apMask"], files["latMask"],
                                files["reference"], progress=progress)
    return results
