"""C-arm / radiograph cone-beam geometry from DICOM positioner attributes.

Frames
------
- Patient frame: DICOM LPS (x to the patient's Left, y Posterior, z Superior), millimetres, with the
  isocenter at the origin, patient supine head first. Slicer works in RAS: :data:`LPS_TO_RAS` and
  :func:`lpsToRas` / :func:`rasToLps` are the one place where the two meet.
- Image frame: pixel (column, row), zero-based, pixel centres at integers, as displayed in the cath lab:
  in the AP view (both angles zero) the patient's right is on the image left and the head at the top.
  The central ray pierces the detector at the image centre ((Columns-1)/2, (Rows-1)/2).

C-arm angles (DICOM PS3.3 C.8.7.5, XA Positioner module):
- PositionerPrimaryAngle: rotation about the patient's head-foot axis, LAO positive (detector towards the
  patient's left), RAO negative; -180..180 deg.
- PositionerSecondaryAngle: rotation about the patient's left-right axis as moved by the primary
  rotation, CRA positive (detector towards the head), CAU negative; -90..90 deg.
The gantry (source, detector and image axes together) turns rigidly:
``rotationLps = Rz(primary) @ Rx(-secondary)`` applied to the AP pose, in which the detector is anterior
(direction -y), image columns run to the patient's left (+x) and image rows to the feet (-z).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Mapping

import numpy as np

from .conventions import (MAX_PIXELS, PIXEL_SPACING_RANGE_MM, PRIMARY_ANGLE_RANGE_DEG, SECONDARY_ANGLE_RANGE_DEG,
                          SOURCE_TO_DETECTOR_RANGE_MM, SOURCE_TO_PATIENT_RANGE_MM)
from .dicomvalues import toNumber

#: 4x4 homogeneous LPS -> RAS (and RAS -> LPS: it is its own inverse).
LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])

#: DICOM keywords this geometry is built from (also the keys of a JSON sidecar).
GEOMETRY_KEYWORDS = (
    "PositionerPrimaryAngle",
    "PositionerSecondaryAngle",
    "DistanceSourceToDetector",
    "DistanceSourceToPatient",
    "ImagerPixelSpacing",
    "Rows",
    "Columns",
)



def lpsToRas(pointsLps: np.ndarray) -> np.ndarray:
    """Convert (..., 3) points or directions from LPS to RAS (mm)."""
    points = np.asarray(pointsLps, dtype=float)
    return points * np.array([-1.0, -1.0, 1.0])


def rasToLps(pointsRas: np.ndarray) -> np.ndarray:
    """Convert (..., 3) points or directions from RAS to LPS (mm)."""
    return lpsToRas(pointsRas)


def _rotationZ(angleRad: float) -> np.ndarray:
    c, s = math.cos(angleRad), math.sin(angleRad)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def _rotationX(angleRad: float) -> np.ndarray:
    c, s = math.cos(angleRad), math.sin(angleRad)
    return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])


def _inRange(name: str, value, low: float, high: float, unit: str) -> float:
    number = toNumber(value, name)  # refuses booleans (JSON true/false), text and NaN
    if not low <= number <= high:
        raise ValueError(f"{name} = {number:g} {unit} is outside the plausible range [{low:g}, {high:g}] {unit}")
    return number


@dataclass(frozen=True)
class CArmGeometry:
    """Cone-beam geometry of one X-ray view (one C-arm position or one calibrated radiograph).

    :param primaryAngleDeg: PositionerPrimaryAngle, LAO positive (deg).
    :param secondaryAngleDeg: PositionerSecondaryAngle, CRA positive (deg).
    :param sourceToDetectorMm: DistanceSourceToDetector (mm).
    :param sourceToPatientMm: DistanceSourceToPatient, source to isocenter (mm).
    :param pixelSpacingMm: ImagerPixelSpacing at the detector, (row spacing, column spacing) in DICOM order (mm).
    :param rows: Rows of the image.
    :param columns: Columns of the image.
    """

    primaryAngleDeg: float
    secondaryAngleDeg: float
    sourceToDetectorMm: float
    sourceToPatientMm: float
    pixelSpacingMm: tuple
    rows: int
    columns: int

    def __post_init__(self):
        set_ = object.__setattr__
        primary = _inRange("PositionerPrimaryAngle", self.primaryAngleDeg, *PRIMARY_ANGLE_RANGE_DEG, "deg")
        secondary = _inRange("PositionerSecondaryAngle", self.secondaryAngleDeg, *SECONDARY_ANGLE_RANGE_DEG, "deg")
        set_(self, "primaryAngleDeg", primary)
        set_(self, "secondaryAngleDeg", secondary)
        sid = _inRange("DistanceSourceToDetector", self.sourceToDetectorMm, *SOURCE_TO_DETECTOR_RANGE_MM, "mm")
        sod = _inRange("DistanceSourceToPatient", self.sourceToPatientMm, *SOURCE_TO_PATIENT_RANGE_MM, "mm")
        if sod >= sid:
            raise ValueError(
                f"DistanceSourceToPatient ({sod:g} mm) must be smaller than DistanceSourceToDetector ({sid:g} mm): "
                "the isocenter lies between source and detector")
        set_(self, "sourceToDetectorMm", sid)
        set_(self, "sourceToPatientMm", sod)
        spacing = self.pixelSpacingMm
        if isinstance(spacing, (int, float)) or spacing is None or len(spacing) != 2:
            raise ValueError(f"ImagerPixelSpacing must be two numbers (row spacing, column spacing), got {spacing!r}")
        set_(self, "pixelSpacingMm", tuple(
            _inRange("ImagerPixelSpacing", value, *PIXEL_SPACING_RANGE_MM, "mm") for value in spacing))
        for name, attribute in (("Rows", "rows"), ("Columns", "columns")):
            value = toNumber(getattr(self, attribute), name)
            if value != int(value) or not 1 <= value <= MAX_PIXELS:
                raise ValueError(f"{name} must be an integer in [1, {MAX_PIXELS}], got {getattr(self, attribute)!r}")
            set_(self, attribute, int(value))

    # ----------------------------------------------------------------------------------------------
    # Construction from DICOM attributes / JSON sidecars
    @classmethod
    def fromAttributes(cls, attributes: Mapping, rows: int | None = None, columns: int | None = None,
                       source: str = "") -> "CArmGeometry":
        """Build from a mapping keyed by DICOM keywords (:data:`GEOMETRY_KEYWORDS`).

        ``rows``/``columns`` fill Rows/Columns when the mapping lacks them (e.g. taken from the image).
        A missing attribute raises ``ValueError`` naming it (and ``source``, e.g. the file).
        """
        where = f" in {source}" if source else ""
        values = dict(attributes)
        if rows is not None:
            values.setdefault("Rows", rows)
        if columns is not None:
            values.setdefault("Columns", columns)
        missing = [key for key in GEOMETRY_KEYWORDS if values.get(key) is None]
        if missing:
            raise ValueError(f"missing X-ray geometry attribute{'s' if len(missing) > 1 else ''} "
                             f"{', '.join(missing)}{where}")
        try:
            return cls(
                primaryAngleDeg=values["PositionerPrimaryAngle"],
                secondaryAngleDeg=values["PositionerSecondaryAngle"],
                sourceToDetectorMm=values["DistanceSourceToDetector"],
                sourceToPatientMm=values["DistanceSourceToPatient"],
                pixelSpacingMm=tuple(values["ImagerPixelSpacing"]) if not isinstance(
                    values["ImagerPixelSpacing"], (int, float, str)) else values["ImagerPixelSpacing"],
                rows=values["Rows"],
                columns=values["Columns"],
            )
        except ValueError as error:
            raise ValueError(f"{error}{where}") from None

    def toAttributes(self) -> dict:
        """The geometry as a dict keyed by DICOM keywords (JSON-serializable)."""
        return {
            "PositionerPrimaryAngle": self.primaryAngleDeg,
            "PositionerSecondaryAngle": self.secondaryAngleDeg,
            "DistanceSourceToDetector": self.sourceToDetectorMm,
            "DistanceSourceToPatient": self.sourceToPatientMm,
            "ImagerPixelSpacing": list(self.pixelSpacingMm),
            "Rows": self.rows,
            "Columns": self.columns,
        }

    def withImageSize(self, rows: int, columns: int) -> "CArmGeometry":
        """Same field of view resampled to ``rows`` x ``columns`` pixels (pixel spacing scaled to match)."""
        spacing = (self.pixelSpacingMm[0] * self.rows / rows, self.pixelSpacingMm[1] * self.columns / columns)
        values = asdict(self)
        values.update(rows=rows, columns=columns, pixelSpacingMm=spacing)
        return CArmGeometry(**values)

    # ----------------------------------------------------------------------------------------------
    # Frames (LPS, mm)
    @property
    def rotationLps(self) -> np.ndarray:
        """3x3 rotation taking the AP gantry pose to this one (LPS)."""
        return _rotationZ(math.radians(self.primaryAngleDeg)) @ _rotationX(-math.radians(self.secondaryAngleDeg))

    @property
    def detectorDirectionLps(self) -> np.ndarray:
        """Unit vector from the isocenter towards the detector (= the central ray's direction)."""
        return self.rotationLps @ np.array([0.0, -1.0, 0.0])

    @property
    def columnDirectionLps(self) -> np.ndarray:
        """Unit vector along increasing image column on the detector."""
        return self.rotationLps @ np.array([1.0, 0.0, 0.0])

    @property
    def rowDirectionLps(self) -> np.ndarray:
        """Unit vector along increasing image row on the detector."""
        return self.rotationLps @ np.array([0.0, 0.0, -1.0])

    @property
    def sourcePositionLps(self) -> np.ndarray:
        """X-ray focal spot (mm, LPS)."""
        return -self.sourceToPatientMm * self.detectorDirectionLps

    @property
    def detectorCenterLps(self) -> np.ndarray:
        """Point where the central ray meets the detector (mm, LPS)."""
        return (self.sourceToDetectorMm - self.sourceToPatientMm) * self.detectorDirectionLps

    @property
    def principalPoint(self) -> np.ndarray:
        """(column, row) of the central ray's pixel."""
        return np.array([(self.columns - 1) / 2.0, (self.rows - 1) / 2.0])

    @property
    def magnification(self) -> float:
        """Geometric magnification at the isocenter (SID / SOD)."""
        return self.sourceToDetectorMm / self.sourceToPatientMm

    def pixelToDetectorLps(self, pixels: np.ndarray) -> np.ndarray:
        """(N, 2) pixel (column, row) -> (N, 3) points on the detector plane (mm, LPS)."""
        pixels = np.atleast_2d(np.asarray(pixels, dtype=float))
        offset = pixels - self.principalPoint
        return (self.detectorCenterLps
                + offset[:, :1] * self.pixelSpacingMm[1] * self.columnDirectionLps
                + offset[:, 1:2] * self.pixelSpacingMm[0] * self.rowDirectionLps)

    def imageIjkToLps(self) -> np.ndarray:
        """4x4 matrix placing the image on its detector plane: IJK (i=column, j=row) -> LPS (mm).

        The k axis is column x row (it points from the detector back towards the source), so the
        direction matrix is a proper rotation.
        """
        matrix = np.eye(4)
        matrix[:3, 0] = self.columnDirectionLps * self.pixelSpacingMm[1]
        matrix[:3, 1] = self.rowDirectionLps * self.pixelSpacingMm[0]
        matrix[:3, 2] = np.cross(self.columnDirectionLps, self.rowDirectionLps)
        matrix[:3, 3] = self.pixelToDetectorLps([[0.0, 0.0]])[0]
        return matrix

    def imageIjkToRas(self) -> np.ndarray:
        """4x4 IJK -> RAS of the image on its detector plane (what a Slicer volume node needs)."""
        return LPS_TO_RAS @ self.imageIjkToLps()

    # ----------------------------------------------------------------------------------------------
    # Projection
    def projectionMatrixLps(self) -> np.ndarray:
        """3x4 matrix P: homogeneous patient point (mm, LPS) -> homogeneous pixel (column, row, 1).

        ``P = K [M | -M s]`` with M's rows the column, row and central-ray directions and s the source.
        (M has determinant -1: the image is seen from the detector side, as displayed.)
        """
        focal = self.sourceToDetectorMm
        intrinsics = np.array([
            [focal / self.pixelSpacingMm[1], 0.0, self.principalPoint[0]],
            [0.0, focal / self.pixelSpacingMm[0], self.principalPoint[1]],
            [0.0, 0.0, 1.0],
        ])
        axes = np.stack([self.columnDirectionLps, self.rowDirectionLps, self.detectorDirectionLps])
        extrinsics = np.concatenate([axes, (-axes @ self.sourcePositionLps)[:, None]], axis=1)
        return intrinsics @ extrinsics

    def projectionMatrixRas(self) -> np.ndarray:
        """3x4 matrix: homogeneous patient point (mm, RAS) -> homogeneous pixel (column, row, 1)."""
        return self.projectionMatrixLps() @ LPS_TO_RAS

    def projectLps(self, pointsLps: np.ndarray) -> np.ndarray:
        """(N, 3) points (mm, LPS) -> (N, 2) pixels (column, row)."""
        points = np.atleast_2d(np.asarray(pointsLps, dtype=float))
        homogeneous = np.concatenate([points, np.ones((len(points), 1))], axis=1) @ self.projectionMatrixLps().T
        return homogeneous[:, :2] / homogeneous[:, 2:3]

    def projectRas(self, pointsRas: np.ndarray) -> np.ndarray:
        """(N, 3) points (mm, RAS) -> (N, 2) pixels (column, row)."""
        return self.projectLps(rasToLps(pointsRas))


def viewSeparationDeg(first: CArmGeometry, second: CArmGeometry) -> float:
    """Angle between the lines of the two views' central rays (deg, 0..90): what determines depth.

    Taken modulo 180 deg: two views 180 deg apart look along one line (mirror images of each other, no depth), and
    views 150 deg apart see depth as views 30 deg apart do.
    """
    cosine = float(np.clip(abs(first.detectorDirectionLps @ second.detectorDirectionLps), 0.0, 1.0))
    return math.degrees(math.acos(cosine))


def paperProjection(pointsPaperWorld: np.ndarray, thetaDeg: float, phiDeg: float, distanceL: float,
                    focal: float, sensorSize: tuple, imageSize: tuple) -> np.ndarray:
    """The two-view angiography paper's chain, equations (1)-(8), written as printed (for cross-checking).

    ``T_world->psp`` (eq. 1) is read as the matrix whose columns are the rotated (psp) axes in world
    coordinates, the camera sits at z_psp = L (eq. 2-3), and eq. 7 maps to pixels with centre (w/2, h/2),
    i.e. pixel-edge coordinates. The equivalence with :class:`CArmGeometry` (tested) is::

        paper world (x, y, z) = LPS (x, z, y): x to the patient's left, y to the head, z towards the
            source in the AP view (posterior; the paper calls it 'frontal' without a sign)
        theta = PositionerSecondaryAngle, phi = -PositionerPrimaryAngle,
        L = DistanceSourceToPatient, f = DistanceSourceToDetector,
        (sx, sy) = (Columns * column spacing, Rows * row spacing), (w, h) = (Columns, Rows),
        paper pixel = our pixel + 0.5.

    (The paper's text names theta LAO/RAO and phi CRA/CAU, but eq. 1 turns theta about the patient's
    left-right axis and phi about the head-foot axis; the equations, not the labels, are followed.)
    """
    theta, phi = math.radians(thetaDeg), math.radians(phiDeg)
    ct, st, cp, sp = math.cos(theta), math.sin(theta), math.cos(phi), math.sin(phi)
    worldToPsp = np.array([[cp, sp * st, sp * ct], [0.0, ct, -st], [-sp, cp * st, cp * ct]])  # eq. 1
    pspToCam = np.array([[1.0, 0, 0, 0], [0, 1.0, 0, 0], [0, 0, -1.0, distanceL], [0, 0, 0, 1.0]])  # eq. 2
    width, height = imageSize
    sx, sy = sensorSize
    camToImage = np.array([[focal * width / sx, 0.0, width / 2.0],
                           [0.0, -focal * height / sy, height / 2.0],
                           [0.0, 0.0, 1.0]])  # eq. 7
    points = np.atleast_2d(np.asarray(pointsPaperWorld, dtype=float))
    pointsPsp = points @ worldToPsp  # columns of worldToPsp are the psp axes: coordinates = R^T x
    camera = np.concatenate([pointsPsp, np.ones((len(points), 1))], axis=1) @ pspToCam.T  # eq. 3
    homogeneous = camera[:, :3] @ camToImage.T  # eq. 8
    return homogeneous[:, :2] / homogeneous[:, 2:3]
