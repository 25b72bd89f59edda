"""The anatomy of the synthetic coronary trees: ranges, heart model, data classes (training data for AngioRecon).

Trees are built by :mod:`coronarytree`, voxelized and imaged by :mod:`coronaryimages`.

There is no CCTA data in this project, so the 3D models that the paper (Wang et al. 2020, section IV.A)
segmented from 44 CCTA scans are replaced by trees generated here, deterministic by seed. Everything is in
patient LPS millimetres with the C-arm isocenter at the origin, patient supine head first
(x = patient's left, y = posterior, z = superior), as in :mod:`ReconCoreLib.xraygeometry`.

Anatomy model
-------------
*Heart.* The ventricular epicardium is a half ellipsoid (a prolate-spheroid-like shape): its centre is the
middle of the base (the atrioventricular (AV) plane), semi-axis ``L`` runs from base to apex and the two
short semi-axes ``Rg``, ``Rr`` lie in the base plane. The frame is ``a`` (long axis, base -> apex), ``g``
(towards the anterior interventricular (IV) groove) and ``y`` (from the left towards the right ventricle,
the septal normal), with ``a x g = y``. A surface point is::

    S(theta, phi) = centre + L sin(theta) a + cos(theta) (Rg cos(phi) g + Rr sin(phi) y)

theta = 0 is the AV groove (base), theta = pi/2 the apex (theta > pi/2 continues over the apex), phi = 0 the
anterior IV groove (LAD), phi = -90 deg the left-ventricular lateral wall (obtuse margin, LCx/OM),
phi = +90 deg the right-ventricular free wall (acute marginals), phi = 180 deg the posterior IV groove
(PDA) on the diaphragmatic surface. The septum is the plane ``y = 0`` through the long axis.

*Orientation* (supine): the long axis points from base (right, posterior, superior) to apex (left,
anterior, inferior), :data:`HEART_AZIMUTH_DEG` to the left of the sagittal plane and
:data:`HEART_TILT_DEG` below the axial plane; the septal normal is horizontal (so a LAO ~45 deg view
sees the septum edge-on, the classical reason for that view), plus uniform jitter of
+-:data:`ORIENTATION_JITTER_DEG` on azimuth, tilt and roll about the long axis.
Source: the issue (anatomy consensus: cardiac axis ~45 deg left of the sagittal plane, 20-30 deg
downwards); not a specific measurement study.

*Vessels* (names after the AHA segment model, Austen et al., Circulation 1975;51:5-40):
left tree ``LM`` -> ``LAD`` (with diagonals ``D1..`` and septals ``S1..``) and ``LCx`` (with obtuse
marginals ``OM1..``); right tree ``RCA`` (with acute marginals ``AM1..``) -> ``PDA`` and the
right posterolateral branch ``PLB`` (with posterolateral branches ``PL1..``). All trees are right dominant
(PDA and PLB from the RCA, LCx ending on the lateral wall), the pattern of ~80-85 % of people.
Epicardial vessels are curves on the surface (tortuosity is a smooth lateral displacement re-projected
onto the surface); septals leave the LAD into the septum, below the surface. The LM and the proximal RCA
run from their ostia on the aortic root (not modelled as a surface) to the AV groove.

*Radii.* Each vessel tapers from its origin to ~0.5 mm (diameter ~1 mm) distally (log-radius falling like
(arc / length) ** 2-3, i.e. mostly distally, see :data:`TAPER_EXPONENT`), with a Murray step at each side
branch: ``r_before**3 = r_after**3 + r_child**3`` (Murray, PNAS
1926;12:207-214); terminal bifurcations (LM -> LAD + LCx, RCA -> PDA + PLB) split ``r**3`` with a random
fraction. Ranges follow Dodge et al., "Lumen diameter of normal human coronary arteries", Circulation
1992;86:232-246 (approximate normal means: LM ~4.5 mm, proximal LAD ~3.6 mm, proximal LCx ~3.4 mm,
proximal RCA ~3.9 mm, first diagonal / obtuse marginal ~2-2.5 mm, distal segments 1.5-2 mm).

Frames of the outputs: centerlines (N, 3) LPS mm; voxel arrays indexed [k, j, i] (k along LPS z, j along
y, i along x) with a 4x4 ijkToLps; images (rows, columns) as :class:`CArmGeometry` projects them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np


__all__ = [
    "CoronaryCase",
    "Vessel",
    "normalizedHeartRadius",
]

# ------------------------------------------------------------------------------------------------------
# Documented ranges (uniform draws unless said otherwise)

#: Centerline sample spacing (mm); every vessel is resampled to a uniform spacing <= this.
SAMPLE_SPACING_MM = 0.4

#: Base-to-apex length of the ventricular epicardium (mm). Source: the issue; consistent with echo
#: LV lengths (Lang et al., JASE 2015;28:1-39: end-diastolic LV length ~70-90 mm endocardial) plus the
#: apical wall and epicardial fat.
HEART_LONG_AXIS_MM = (80.0, 110.0)
#: Biventricular short-axis diameter at the base (mm). Source: the issue; consistent with Lang et al. 2015
#: (LV end-diastolic internal diameter 38-58 mm, basal RV diameter 25-41 mm, walls 6-12 mm).
HEART_SHORT_AXIS_MM = (70.0, 100.0)
#: Ratio of the two short semi-axes (the base is not quite circular); each stays inside the range above.
HEART_ELLIPTICITY = (0.92, 1.08)
#: Nominal long-axis azimuth, left of the sagittal plane (deg), and downward tilt (deg; middle of 20-30).
HEART_AZIMUTH_DEG = 45.0
HEART_TILT_DEG = 25.0
#: Uniform jitter on azimuth, tilt and roll about the long axis (deg). Source: the issue.
ORIENTATION_JITTER_DEG = 15.0
#: Half extent (mm) the centred tree must fit in; the reconstruction cube is +-64 mm, the margin leaves
#: room for :func:`augment` (scale up to +10 %, rotation up to 15 deg). Heart draws that do not fit are
#: redrawn (deterministically), so the largest hearts are slightly under-represented.
FIT_HALF_EXTENT_MM = 56.0
#: Random shift of the centred tree (mm per axis), kept inside :data:`FIT_HALF_EXTENT_MM`.
CENTRE_JITTER_MM = 3.0

#: AV-groove level as the surface angle theta (rad; 0.05 rad ~ 5 mm below the base plane).
AV_GROOVE_THETA = (-0.02, 0.05)
#: Left main: diameter 3.5-5 mm (issue; Dodge et al. 1992: ~4.5 +- 0.5 mm), length 5-15 mm (issue;
#: anatomy texts report a mean of ~10 mm).
LEFT_MAIN_DIAMETER_MM = (3.7, 4.9)  # drawn at the ostium; with its <= 3 % taper it stays inside 3.5-5 mm
LEFT_MAIN_LENGTH_MM = (5.0, 15.0)
#: Proximal RCA diameter (mm): Dodge et al. 1992, ~3.9 +- 0.6 mm.
RCA_DIAMETER_MM = (3.2, 4.2)
#: Aortic root radius at the sinuses of Valsalva (mm): sinus diameter ~28-36 mm (Lang et al. 2015).
AORTIC_SINUS_RADIUS_MM = (14.0, 18.0)
#: Distal end diameter of every vessel (mm): "tapering to ~1 mm distally" (issue; Dodge et al. 1992 report
#: the smallest measurable named branches at ~1-1.5 mm).
DISTAL_DIAMETER_MM = (0.9, 1.1)
#: Shape of the continuous taper: log-radius falls like (arc / length) ** exponent (see _radiusProfile).
TAPER_EXPONENT = (2.0, 3.0)
#: Smallest branch radius at its origin (mm): septals below this are widened to it.
MIN_BRANCH_RADIUS_MM = 0.5
#: Share of r**3 going to the LAD at the LM bifurcation (the LAD is usually the larger: Dodge 3.6 vs 3.4 mm).
LAD_CUBE_SHARE = (0.45, 0.65)
#: Share of r**3 going to the PDA at the crux (Dodge et al. 1992: PDA ~2 mm vs distal RCA ~3 mm).
PDA_CUBE_SHARE = (0.35, 0.6)
#: Radius at the crux relative to the proximal RCA (Dodge et al. 1992: distal ~3.1 vs proximal ~3.9 mm).
RCA_CRUX_RADIUS_FACTOR = (0.7, 0.85)
#: Child / parent radius ratios at side branches (derived from Dodge et al. 1992 segment diameters:
#: D1 ~2.1-2.5 mm on a ~3 mm LAD, OM ~2.3-2.5 mm on a ~3 mm LCx, septals ~1-1.5 mm, AM ~1.5 mm on a
#: ~3.5 mm RCA). Murray's law then sets the parent's step.
BRANCH_RADIUS_RATIO = {
    "D": (0.6, 0.85), "S": (0.3, 0.5), "S1": (0.45, 0.6), "OM": (0.65, 0.9), "AM": (0.4, 0.6), "PL": (0.55, 0.8),
}
#: Branch counts (issue): diagonals 2-4, septals ("several", short) 3-6, obtuse marginals 1-3,
#: acute marginals 1-3, posterolateral branches 1-3.
BRANCH_COUNT = {"D": (2, 4), "S": (3, 6), "OM": (1, 3), "AM": (1, 3), "PL": (1, 3)}
#: Septal branch length (mm); the first septal is the longest. Anatomy texts: septals are 1-4 cm long.
SEPTAL_LENGTH_MM = (8.0, 25.0)
FIRST_SEPTAL_LENGTH_MM = (15.0, 35.0)
#: Tortuosity: sum of two sines of the arc length, wavelength 15-45 mm, amplitude up to 1.2 mm each on main
#: vessels and 0.8 mm on branches. Chosen by eye to look like mildly tortuous normal arteries (no source).
TORTUOSITY_WAVELENGTH_MM = (15.0, 45.0)
TORTUOSITY_AMPLITUDE_MM = {"main": 1.2, "branch": 0.8}
#: Focal stenoses: 0, 1 or 2 per case with these probabilities; 30-90 % diameter reduction (issue; CAD-RADS
#: grades 25-49 % mild, 50-69 % moderate, 70-99 % severe); lesion length 4-15 mm (ACC/AHA lesion types,
#: Ryan et al., Circulation 1988;78:486-502: discrete < 10 mm, tubular 10-20 mm). Only on vessels of
#: :data:`STENOSIS_VESSELS`, where the reference radius is >= 0.75 mm, away from branch points.
STENOSIS_COUNT_PROBABILITIES = (0.4, 0.4, 0.2)
STENOSIS_PERCENT = (30.0, 90.0)
STENOSIS_LENGTH_MM = (4.0, 15.0)
STENOSIS_VESSELS = {"left": ("LAD", "LCx", "D1", "D2", "OM1", "OM2"), "right": ("RCA", "PDA", "PLB", "AM1")}

#: Augmentation (paper, section IV.A): rotation 5-15 deg about a random axis, scale by 3-10 % up or down.
AUGMENT_ROTATION_DEG = (5.0, 15.0)
AUGMENT_SCALE_PERCENT = (3.0, 10.0)

_TREE_CODES = {"left": 0, "right": 1}


# ------------------------------------------------------------------------------------------------------
# Data classes
@dataclass
class Vessel:
    """One vessel segment of a tree.

    :param name: e.g. ``"LAD"``, ``"D1"``.
    :param pointsLps: (N, 3) centerline, LPS mm, from origin (ostium or branch point) to distal end,
        uniformly spaced <= :data:`SAMPLE_SPACING_MM`. A branch's first point is a point of its parent.
    :param radiiMm: (N,) lumen radius at each point (mm).
    :param parent: name of the vessel it branches from (``None`` for LM / RCA).
    """

    name: str
    pointsLps: np.ndarray
    radiiMm: np.ndarray
    parent: str | None = None


@dataclass
class CoronaryCase:
    """A synthetic coronary tree.

    :param tree: ``"left"`` or ``"right"``.
    :param seed: the seed it was generated from.
    :param vessels: parents before children.
    :param stenoses: dicts ``{"vessel", "arcMm" (from the vessel's first point), "percent" (diameter
        reduction), "lengthMm"}``.
    :param heart: heart model parameters (LPS mm, unit vectors, degrees; see :func:`normalizedHeartRadius`).
    :param augmentation: one dict per :func:`augment` applied (``rotationAxis``, ``rotationDeg``, ``scale``).
    """

    tree: str
    seed: int
    vessels: list[Vessel]
    stenoses: list[dict] = field(default_factory=list)
    heart: dict = field(default_factory=dict)
    augmentation: list[dict] = field(default_factory=list)

    def vessel(self, name: str) -> Vessel:
        """The vessel called ``name`` (KeyError if absent)."""
        for vessel in self.vessels:
            if vessel.name == name:
                return vessel
        raise KeyError(name)

    def allPointsLps(self) -> np.ndarray:
        """(M, 3) all centerline points (LPS mm)."""
        return np.concatenate([vessel.pointsLps for vessel in self.vessels])


# ------------------------------------------------------------------------------------------------------
# Geometry helpers
def _normalize(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=float)
    return vectors / np.maximum(np.linalg.norm(vectors, axis=-1, keepdims=True), 1e-12)


def _arcLength(points: np.ndarray) -> np.ndarray:
    steps = np.linalg.norm(np.diff(points, axis=0), axis=1)
    return np.concatenate([[0.0], np.cumsum(steps)])


def _resample(points: np.ndarray, spacing: float = SAMPLE_SPACING_MM) -> np.ndarray:
    """Uniform arc-length resampling of a dense polyline (spacing <= ``spacing`` mm), ends kept."""
    arc = _arcLength(points)
    count = max(int(math.ceil(arc[-1] / spacing)), 1) + 1
    targets = np.linspace(0.0, arc[-1], count)
    return np.stack([np.interp(targets, arc, points[:, axis]) for axis in range(3)], axis=1)


def _tangents(points: np.ndarray) -> np.ndarray:
    return _normalize(np.gradient(points, axis=0))


def _rotationAbout(axis: np.ndarray, angleRad: float) -> np.ndarray:
    """3x3 rotation by ``angleRad`` about unit ``axis`` (Rodrigues)."""
    x, y, z = _normalize(axis)
    cross = np.array([[0.0, -z, y], [z, 0.0, -x], [-y, x, 0.0]])
    return np.eye(3) + math.sin(angleRad) * cross + (1.0 - math.cos(angleRad)) * cross @ cross


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


class _Heart:
    """Half-ellipsoid epicardium (see the module docstring); ``frame`` columns are a, g, y (LPS)."""

    def __init__(self, centre, frame, longMm, radiusG, radiusR):
        self.centre = np.asarray(centre, dtype=float)
        self.frame = np.asarray(frame, dtype=float)
        self.semiAxes = np.array([longMm, radiusG, radiusR], dtype=float)

    @classmethod
    def fromDict(cls, heart: dict) -> "_Heart":
        frame = np.stack([heart["longAxisLps"], heart["anteriorGrooveLps"], heart["rightVentricleLps"]], axis=1)
        return cls(heart["centerLps"], frame, heart["longAxisMm"], *(np.asarray(heart["shortAxisMm"]) / 2.0))

    @property
    def axis(self) -> np.ndarray:
        return self.frame[:, 0]

    def surface(self, theta, phi) -> np.ndarray:
        theta, phi = np.broadcast_arrays(np.asarray(theta, float), np.asarray(phi, float))
        local = np.stack([np.sin(theta), np.cos(theta) * np.cos(phi), np.cos(theta) * np.sin(phi)], axis=-1)
        return self.centre + (local * self.semiAxes) @ self.frame.T

    def scaled(self, points) -> np.ndarray:
        """Local coordinates divided by the semi-axes (unit sphere = epicardium)."""
        return ((np.asarray(points, float) - self.centre) @ self.frame) / self.semiAxes

    def normalizedRadius(self, points) -> np.ndarray:
        return np.linalg.norm(self.scaled(points), axis=-1)

    def height(self, points) -> np.ndarray:
        """Signed distance below the base plane along the long axis (mm)."""
        return (np.asarray(points, float) - self.centre) @ self.axis

    def project(self, points) -> np.ndarray:
        """Radial (centre-ray) projection onto the epicardium."""
        scaled = self.scaled(points)
        scaled = scaled / np.maximum(np.linalg.norm(scaled, axis=-1, keepdims=True), 1e-12)
        return self.centre + (scaled * self.semiAxes) @ self.frame.T

    def normal(self, points) -> np.ndarray:
        """Outward unit normal of the ellipsoid level set through ``points``."""
        return _normalize((self.scaled(points) / self.semiAxes) @ self.frame.T)

    def angles(self, points) -> tuple[np.ndarray, np.ndarray]:
        """Surface parameters (theta, phi) (rad) of ``points`` (phi wrapped to (-pi, pi])."""
        q = self.scaled(points)
        return np.arctan2(q[..., 0], np.hypot(q[..., 1], q[..., 2])), np.arctan2(q[..., 2], q[..., 1])

    def keepOutside(self, points) -> np.ndarray:
        """Points inside the ventricles (below the base plane) are pushed out onto the epicardium."""
        points = np.array(points, dtype=float)
        inside = (self.height(points) > 0.0) & (self.normalizedRadius(points) < 1.0)
        if inside.any():
            points[inside] = self.project(points[inside])
        return points

    def toDict(self) -> dict:
        return {
            "centerLps": self.centre.tolist(),
            "longAxisLps": self.frame[:, 0].tolist(),
            "anteriorGrooveLps": self.frame[:, 1].tolist(),
            "rightVentricleLps": self.frame[:, 2].tolist(),
            "longAxisMm": float(self.semiAxes[0]),
            "shortAxisMm": [float(2 * self.semiAxes[1]), float(2 * self.semiAxes[2])],
        }


def normalizedHeartRadius(heart: dict, pointsLps: np.ndarray) -> np.ndarray:
    """Ellipsoidal radius of (N, 3) points (LPS mm) in the case's heart model: 1 on the epicardium,
    < 1 inside (e.g. septal branches), > 1 outside."""
    return _Heart.fromDict(heart).normalizedRadius(pointsLps)


def _drawHeart(rng: np.random.Generator) -> tuple[_Heart, dict]:
    longMm = rng.uniform(*HEART_LONG_AXIS_MM)
    diameter = rng.uniform(*HEART_SHORT_AXIS_MM)
    ellipticity = rng.uniform(*HEART_ELLIPTICITY)
    radiusG = float(np.clip(diameter / 2 * math.sqrt(ellipticity), *np.divide(HEART_SHORT_AXIS_MM, 2)))
    radiusR = float(np.clip(diameter / 2 / math.sqrt(ellipticity), *np.divide(HEART_SHORT_AXIS_MM, 2)))
    jitter = rng.uniform(-ORIENTATION_JITTER_DEG, ORIENTATION_JITTER_DEG, size=3)
    azimuth, tilt, roll = HEART_AZIMUTH_DEG + jitter[0], HEART_TILT_DEG + jitter[1], jitter[2]
    az, ti, ro = (math.radians(v) for v in (azimuth, tilt, roll))
    axis = np.array([math.cos(ti) * math.sin(az), -math.cos(ti) * math.cos(az), -math.sin(ti)])  # L, A, I
    right0 = np.array([-math.cos(az), -math.sin(az), 0.0])  # horizontal septal normal: right and anterior
    groove0 = np.cross(right0, axis)  # anterior IV groove side (superior-anterior)
    groove = math.cos(ro) * groove0 + math.sin(ro) * right0
    right = -math.sin(ro) * groove0 + math.cos(ro) * right0
    heart = _Heart(np.zeros(3), np.stack([axis, groove, right], axis=1), longMm, radiusG, radiusR)
    info = {"azimuthDeg": float(azimuth), "tiltDeg": float(tilt), "rollDeg": float(roll), "dominance": "right"}
    return heart, info
