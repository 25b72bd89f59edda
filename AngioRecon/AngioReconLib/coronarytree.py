"""Synthetic coronary artery trees, their voxel labels and their X-ray views (training data for AngioRecon).

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
from scipy import ndimage

from ReconCoreLib.xraygeometry import CArmGeometry, viewSeparationDeg

__all__ = [
    "STANDARD_VIEWS",
    "CoronaryCase",
    "Vessel",
    "augment",
    "generateCase",
    "normalizedHeartRadius",
    "perturbVesselMap",
    "renderAngiogram",
    "renderVesselMap",
    "sampleViewPair",
    "voxelize",
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

#: Standard clinical view pairs (primary angle LAO+ / RAO-, secondary CRA+ / CAU-, deg): left coronary
#: RAO 30 CAU 25, LAO 45 CRA 25, AP CRA 30, LAO 50 CAU 30 ("spider"); right coronary LAO 30, RAO 30,
#: LAO 30 CRA 20. Source: the issue (standard cath-lab practice).
STANDARD_VIEWS = {"left": [(-30, -25), (45, 25), (0, 30), (50, -30)], "right": [(30, 0), (-30, 0), (30, 20)]}
#: View sampling (issue): jitter on each angle (deg), SID and SOD (mm), minimum separation (deg), and the
#: detector field-of-view factor (the 128 mm cube fills ~90 % of the image).
VIEW_JITTER_DEG = 8.0
SID_RANGE_MM = (900.0, 1200.0)
SOD_RANGE_MM = (700.0, 800.0)
MIN_VIEW_SEPARATION_DEG = 30.0
FIELD_OF_VIEW_FACTOR = 1.11
CUBE_SIDE_MM = 128.0

#: Augmentation (paper, section IV.A): rotation 5-15 deg about a random axis, scale by 3-10 % up or down.
AUGMENT_ROTATION_DEG = (5.0, 15.0)
AUGMENT_SCALE_PERCENT = (3.0, 10.0)

#: Vessel-map perturbation (imitates a vesselness segmentation): small leaf branches (radius < 0.8 mm at
#: their origin) each missed with probability 0.3, blur sigma 0-1 px, additive Gaussian noise, a random
#: sigmoid "threshold" mixed in.
DROP_RADIUS_MM = 0.8
DROP_PROBABILITY = 0.3

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


# ------------------------------------------------------------------------------------------------------
# Tree construction
@dataclass
class _Draft:
    name: str
    parent: str | None
    points: np.ndarray
    parentIndex: int = -1  # index of the branch point on the parent (-1 for a root)
    ratio: float = 0.0  # side branch: child/parent radius ratio; terminal branch: share of r**3
    terminal: bool = False  # starts at its parent's last point (terminal bifurcation)
    endFactor: float | None = None  # r_end / r_0 for a vessel that ends in a terminal bifurcation
    rootRadius: float | None = None


def _tortuous(heart: _Heart, dense: np.ndarray, rng: np.random.Generator, amplitudeMm: float) -> np.ndarray:
    """Smooth low-frequency lateral displacement on the surface (zero at the vessel's origin), re-projected."""
    arc = _arcLength(dense)
    lateral = _normalize(np.cross(_tangents(dense), heart.normal(dense)))
    offset = np.zeros(len(dense))
    for _ in range(2):
        amplitude = rng.uniform(0.0, amplitudeMm)
        wavelength = rng.uniform(*TORTUOSITY_WAVELENGTH_MM)
        phase = rng.uniform(0.0, 2 * math.pi)
        offset += amplitude * np.sin(2 * math.pi * arc / wavelength + phase)
    offset = (offset - offset[0]) * _smoothstep(arc / 6.0)
    return heart.project(dense + offset[:, None] * lateral)


def _surfaceVessel(heart: _Heart, theta: np.ndarray, phi: np.ndarray, rng: np.random.Generator,
                   amplitudeMm: float, start: np.ndarray | None = None) -> np.ndarray:
    dense = _tortuous(heart, heart.surface(theta, phi), rng, amplitudeMm)
    points = _resample(dense)
    if start is not None:
        points[0] = start
    return points


def _pickIndices(arc: np.ndarray, mask: np.ndarray, count: int, minSpacingMm: float, taken: list[float],
                 rng: np.random.Generator) -> list[int]:
    """Up to ``count`` random indices where ``mask``, >= ``minSpacingMm`` of arc from each other and ``taken``."""
    candidates = np.flatnonzero(mask)
    chosen = []
    if len(candidates) == 0:
        return chosen
    for _ in range(count):
        for _attempt in range(60):
            index = int(candidates[rng.integers(len(candidates))])
            if all(abs(arc[index] - other) >= minSpacingMm for other in taken):
                taken.append(float(arc[index]))
                chosen.append(index)
                break
    return sorted(chosen)


def _branchPath(heart: _Heart, parent: np.ndarray, index: int, thetaEnd: float, phiEndOffset: float,
                rng: np.random.Generator) -> np.ndarray:
    """Epicardial branch from ``parent[index]`` to (thetaEnd, phi_start + phiEndOffset) with a random bend."""
    theta0, phi0 = (float(v) for v in heart.angles(parent[index]))
    t = np.linspace(0.0, 1.0, 800)
    bend = rng.uniform(-0.3, 0.6)
    theta = theta0 + (thetaEnd - theta0) * t
    phi = phi0 + phiEndOffset * (t + bend * t * (1.0 - t))
    return _surfaceVessel(heart, theta, phi, rng, TORTUOSITY_AMPLITUDE_MM["branch"], start=parent[index])


def _septal(heart: _Heart, parent: np.ndarray, index: int, lengthMm: float, rng: np.random.Generator) -> np.ndarray:
    """Septal perforator: from the LAD into the septum (inwards and towards the apex), below the surface."""
    start = parent[index]
    normal = heart.normal(start)
    tangent = _tangents(parent)[index]
    tangent = _normalize(tangent - (tangent @ normal) * normal)
    beta = math.radians(rng.uniform(20.0, 50.0))
    direction = -math.cos(beta) * normal + math.sin(beta) * tangent
    bend = rng.uniform(0.002, 0.012)  # 1/mm: curves on towards the apex
    s = np.arange(0.0, lengthMm + 1e-9, 0.1)
    dense = start + s[:, None] * direction + (bend * s ** 2)[:, None] * tangent
    radius = heart.normalizedRadius(dense)
    outside = np.flatnonzero((s > 1.5) & (radius > 0.985))  # never re-emerge through the epicardium
    if len(outside):
        dense = dense[: max(outside[0], 20)]
    points = _resample(dense)
    points[0] = start
    return points


def _leftMain(heart: _Heart, thetaGroove: float, rng: np.random.Generator) -> dict:
    """Left main and aortic root: the LM bifurcation on the base ring near the anterior IV groove, the LM
    running back from it (inwards, upwards, towards +phi) to the left-sinus ostium, and the aortic root
    centre one sinus radius further on (the LM leaves the root perpendicular to its wall)."""
    thetaBif = min(thetaGroove - rng.uniform(0.0, 0.04), -0.005)  # at/above the base plane: LM stays outside
    phiBif = -math.radians(rng.uniform(12.0, 30.0))
    bifurcation = heart.surface(thetaBif, phiBif)
    normal = heart.normal(bifurcation)
    tangentPhi = _normalize(heart.surface(thetaBif, phiBif + 1e-3) - bifurcation)
    length = rng.uniform(*LEFT_MAIN_LENGTH_MM)
    direction = _normalize(rng.uniform(0.4, 0.9) * normal - rng.uniform(0.3, 0.8) * tangentPhi
                           + rng.uniform(0.15, 0.5) * heart.axis)
    ostium = bifurcation - length * direction
    aortaRadius = rng.uniform(*AORTIC_SINUS_RADIUS_MM)
    horizontal = _normalize(direction - (direction @ heart.axis) * heart.axis)
    return {"thetaBif": thetaBif, "phiBif": phiBif, "bifurcation": bifurcation, "ostium": ostium,
            "aortaRadius": aortaRadius, "aortaCentre": ostium - aortaRadius * horizontal, "leftSinus": horizontal}


def _buildLeft(heart: _Heart, rng: np.random.Generator) -> tuple[list[_Draft], dict]:
    thetaGroove = rng.uniform(*AV_GROOVE_THETA)
    root = _leftMain(heart, thetaGroove, rng)
    thetaBif, phiBif, bifurcation, ostium = root["thetaBif"], root["phiBif"], root["bifurcation"], root["ostium"]
    lm = _resample(np.linspace(ostium, bifurcation, 200))
    drafts = [_Draft("LM", None, lm, endFactor=rng.uniform(0.97, 1.0),
                     rootRadius=rng.uniform(*LEFT_MAIN_DIAMETER_MM) / 2)]
    ladShare = rng.uniform(*LAD_CUBE_SHARE)

    # LAD: from the bifurcation into the anterior IV groove (phi ~ 0), down to and around the apex.
    thetaEnd = math.pi / 2 + rng.uniform(0.05, 0.45)
    theta = np.linspace(thetaBif, thetaEnd, 2000)
    width, drift = rng.uniform(0.12, 0.25), rng.uniform(-0.08, 0.08)
    phi = phiBif * np.exp(-(theta - thetaBif) / width) + drift * (theta - thetaBif)
    lad = _surfaceVessel(heart, theta, phi, rng, TORTUOSITY_AMPLITUDE_MM["main"], start=bifurcation)
    drafts.append(_Draft("LAD", "LM", lad, parentIndex=len(lm) - 1, ratio=ladShare, terminal=True))

    # LCx: along the left AV groove towards the posterior (right dominant: stops before the crux).
    phiEnd = -math.radians(rng.uniform(100.0, 140.0))
    phi = np.linspace(phiBif, phiEnd, 1500)
    sag = rng.uniform(0.0, 0.04)
    progress = (phi - phiBif) / (phiEnd - phiBif)
    theta = thetaGroove + (thetaBif - thetaGroove) * np.exp(-np.abs(phi - phiBif) / 0.15) + sag * np.sin(
        math.pi * progress)
    lcx = _surfaceVessel(heart, theta, phi, rng, TORTUOSITY_AMPLITUDE_MM["main"], start=bifurcation)
    drafts.append(_Draft("LCx", "LM", lcx, parentIndex=len(lm) - 1, ratio=1.0 - ladShare, terminal=True))

    # Diagonals: from the proximal 2/3 of the LAD to the anterolateral wall.
    arc = _arcLength(lad)
    taken: list[float] = []
    count = int(rng.integers(BRANCH_COUNT["D"][0], BRANCH_COUNT["D"][1] + 1))
    mask = (arc > 0.06 * arc[-1]) & (arc < 0.6 * arc[-1])
    for number, index in enumerate(_pickIndices(arc, mask, count, 8.0, taken, rng), start=1):
        theta0, phi0 = (float(v) for v in heart.angles(lad[index]))
        phiTarget = -math.radians(rng.uniform(35.0, 75.0))  # absolute: the anterolateral LV wall
        path = _branchPath(heart, lad, index, min(theta0 + rng.uniform(0.3, 0.6), 1.35), phiTarget - phi0, rng)
        drafts.append(_Draft(f"D{number}", "LAD", path, parentIndex=index,
                             ratio=rng.uniform(*BRANCH_RADIUS_RATIO["D"])))

    # Septals: short perforators from the LAD (once in the groove) into the septum.
    phiLad = np.abs(heart.angles(lad)[1])
    count = int(rng.integers(BRANCH_COUNT["S"][0], BRANCH_COUNT["S"][1] + 1))
    mask = (arc > 0.08 * arc[-1]) & (arc < 0.6 * arc[-1]) & (phiLad < math.radians(12.0))
    for number, index in enumerate(_pickIndices(arc, mask, count, 4.0, taken, rng), start=1):
        key = "S1" if number == 1 else "S"
        length = rng.uniform(*(FIRST_SEPTAL_LENGTH_MM if number == 1 else SEPTAL_LENGTH_MM))
        drafts.append(_Draft(f"S{number}", "LAD", _septal(heart, lad, index, length, rng), parentIndex=index,
                             ratio=rng.uniform(*BRANCH_RADIUS_RATIO[key])))

    # Obtuse marginals: from the LCx on the lateral wall, down towards the apex.
    arc = _arcLength(lcx)
    phiLcx = heart.angles(lcx)[1]
    count = int(rng.integers(BRANCH_COUNT["OM"][0], BRANCH_COUNT["OM"][1] + 1))
    mask = (phiLcx < -math.radians(45.0)) & (arc > 6.0) & (arc < arc[-1] - 3.0)
    for number, index in enumerate(_pickIndices(arc, mask, count, 10.0, [], rng), start=1):
        path = _branchPath(heart, lcx, index, rng.uniform(0.85, 1.25), math.radians(rng.uniform(-10.0, 15.0)), rng)
        drafts.append(_Draft(f"OM{number}", "LCx", path, parentIndex=index,
                             ratio=rng.uniform(*BRANCH_RADIUS_RATIO["OM"])))

    landmarks = {"aortaCenterLps": root["aortaCentre"], "aortaRadiusMm": root["aortaRadius"], "ostiumLps": ostium}
    return drafts, landmarks


def _buildRight(heart: _Heart, rng: np.random.Generator) -> tuple[list[_Draft], dict]:
    # The aortic root is built as for the left tree; the right ostium sits on its anterior-right sinus,
    # 120-160 deg around the root from the left one (towards the right ventricle), slightly lower.
    thetaGroove = rng.uniform(*AV_GROOVE_THETA)
    root = _leftMain(heart, rng.uniform(*AV_GROOVE_THETA), rng)
    aortaCentre, aortaRadius = root["aortaCentre"], root["aortaRadius"]
    turn = math.radians(rng.uniform(120.0, 160.0))  # +turn increases phi (rotation from g towards y)
    sinusDirection = max((_rotationAbout(heart.axis, sign * turn) @ root["leftSinus"] for sign in (1.0, -1.0)),
                         key=lambda direction: direction @ heart.frame[:, 2])
    ostium = aortaCentre + aortaRadius * sinusDirection + rng.uniform(0.0, 4.0) * heart.axis
    ostium = ostium - max(heart.height(ostium) + 0.5, 0.0) * heart.axis  # stay above the base plane

    # Entry into the right AV groove, then along it to the crux (phi = 180 deg).
    phiOstium = float(heart.angles(ostium)[1])
    phiEntry = float(np.clip(phiOstium + math.radians(rng.uniform(5.0, 30.0)), math.radians(15.0),
                             math.radians(90.0)))
    phi = np.linspace(phiEntry, math.pi, 1800)
    dip = rng.uniform(0.0, 0.06)
    theta = thetaGroove + dip * np.sin(math.pi * (phi - phiEntry) / (math.pi - phiEntry))
    groove = _tortuous(heart, heart.surface(theta, phi), rng, TORTUOSITY_AMPLITUDE_MM["main"])
    entry = groove[0]
    scale = 1.2 * np.linalg.norm(entry - ostium)
    tangentOut, tangentIn = sinusDirection * scale, _tangents(groove[:20])[0] * scale
    t = np.linspace(0.0, 1.0, 300)[:, None]
    hermite = ((2 * t ** 3 - 3 * t ** 2 + 1) * ostium + (t ** 3 - 2 * t ** 2 + t) * tangentOut
               + (-2 * t ** 3 + 3 * t ** 2) * entry + (t ** 3 - t ** 2) * tangentIn)
    rca = _resample(heart.keepOutside(np.concatenate([hermite[:-1], groove])))
    cruxIndex = len(rca) - 1
    proximalArc = _arcLength(hermite).max()
    drafts = [_Draft("RCA", None, rca, endFactor=rng.uniform(*RCA_CRUX_RADIUS_FACTOR),
                     rootRadius=rng.uniform(*RCA_DIAMETER_MM) / 2)]
    pdaShare = rng.uniform(*PDA_CUBE_SHARE)
    crux = rca[-1]
    thetaCrux, phiCrux = (float(v) for v in heart.angles(crux))

    # PDA: down the posterior IV groove towards the apex.
    theta = np.linspace(thetaCrux, rng.uniform(0.95, 1.35), 1500)
    phi = phiCrux + rng.uniform(-0.1, 0.1) * (theta - thetaCrux)
    pda = _surfaceVessel(heart, theta, phi, rng, TORTUOSITY_AMPLITUDE_MM["main"], start=crux)
    drafts.append(_Draft("PDA", "RCA", pda, parentIndex=cruxIndex, ratio=pdaShare, terminal=True))

    # PLB: beyond the crux along the left AV groove, giving posterolateral branches to the LV inferior wall.
    phi = np.linspace(phiCrux, phiCrux + math.radians(rng.uniform(25.0, 55.0)), 800)
    theta = thetaCrux + rng.uniform(0.0, 0.05) * np.sin(math.pi * np.linspace(0.0, 1.0, len(phi)))
    plb = _surfaceVessel(heart, theta, phi, rng, TORTUOSITY_AMPLITUDE_MM["branch"], start=crux)
    drafts.append(_Draft("PLB", "RCA", plb, parentIndex=cruxIndex, ratio=1.0 - pdaShare, terminal=True))

    # Acute marginals: from the RCA's groove part down the RV free wall.
    arc = _arcLength(rca)
    phiRca = heart.angles(rca)[1]
    count = int(rng.integers(BRANCH_COUNT["AM"][0], BRANCH_COUNT["AM"][1] + 1))
    mask = (arc > proximalArc + 3.0) & (phiRca > math.radians(65.0)) & (phiRca < math.radians(150.0))
    for number, index in enumerate(_pickIndices(arc, mask, count, 10.0, [], rng), start=1):
        path = _branchPath(heart, rca, index, rng.uniform(0.5, 1.0), math.radians(rng.uniform(-15.0, 15.0)), rng)
        drafts.append(_Draft(f"AM{number}", "RCA", path, parentIndex=index,
                             ratio=rng.uniform(*BRANCH_RADIUS_RATIO["AM"])))

    arc = _arcLength(plb)
    count = int(rng.integers(BRANCH_COUNT["PL"][0], BRANCH_COUNT["PL"][1] + 1))
    mask = (arc > 4.0) & (arc < arc[-1] - 1.0)
    for number, index in enumerate(_pickIndices(arc, mask, count, 6.0, [], rng), start=1):
        path = _branchPath(heart, plb, index, rng.uniform(0.5, 0.95), math.radians(rng.uniform(0.0, 20.0)), rng)
        drafts.append(_Draft(f"PL{number}", "PLB", path, parentIndex=index,
                             ratio=rng.uniform(*BRANCH_RADIUS_RATIO["PL"])))

    landmarks = {"aortaCenterLps": aortaCentre, "aortaRadiusMm": aortaRadius, "ostiumLps": ostium}
    return drafts, landmarks


def _radiusProfile(arc: np.ndarray, r0: float, rEnd: float, branches: list[tuple[int, float]], exponent: float):
    """Taper from r0 to rEnd with Murray steps at side branches (index, child/parent radius ratio).

    ``log r`` falls by the branch steps plus a continuous part ``~ (s / S) ** exponent`` (exponent > 1:
    most of the continuous narrowing is distal, as in Dodge et al. 1992 where proximal and mid segments
    differ less than mid and distal). The branch drops are scaled down if they would take more than 80 %
    of the total log-decrease, so a vessel never widens. Returns (radii, child start radii).
    """
    total = math.log(r0 / rEnd)
    drops = np.array([-math.log(1.0 - ratio ** 3) / 3.0 for _, ratio in branches])
    if drops.sum() > 0.8 * total:
        drops *= 0.8 * total / drops.sum()
    continuous = (total - drops.sum()) * (arc / max(arc[-1], 1e-9)) ** exponent
    steps = np.zeros(len(arc))
    for (index, _), drop in zip(branches, drops):
        steps[index + 1:] += drop
        continuous[index + 1] = continuous[index]  # the step is exactly Murray's (no taper across it)
    radii = r0 * np.exp(-continuous - steps)
    children = [radii[index] * (1.0 - math.exp(-3.0 * drop)) ** (1.0 / 3.0)
                for (index, _), drop in zip(branches, drops)]
    return radii, children


def _assignRadii(drafts: list[_Draft], rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Radii top-down (parents before children); see the module docstring."""
    radii: dict[str, np.ndarray] = {}
    startRadius: dict[str, float] = {}
    for draft in drafts:
        r0 = draft.rootRadius if draft.parent is None else startRadius[draft.name]
        arc = _arcLength(draft.points)
        children = [d for d in drafts if d.parent == draft.name]
        side = [d for d in children if not d.terminal]
        terminal = [d for d in children if d.terminal]
        if terminal:
            rEnd = r0 * draft.endFactor
        else:
            rEnd = min(rng.uniform(*DISTAL_DIAMETER_MM) / 2, 0.85 * r0)
        ratios = [d.ratio for d in side]
        exponent = rng.uniform(*TAPER_EXPONENT)
        profile, childRadii = _radiusProfile(arc, r0, rEnd, [(d.parentIndex, q) for d, q in zip(side, ratios)],
                                             exponent)
        # widen branches that would start below MIN_BRANCH_RADIUS_MM, then recompute once
        widened = [max(q, min(MIN_BRANCH_RADIUS_MM / profile[d.parentIndex], 0.9)) for d, q in zip(side, ratios)]
        if widened != ratios:
            profile, childRadii = _radiusProfile(arc, r0, rEnd, [(d.parentIndex, q) for d, q in zip(side, widened)],
                                                 exponent)
        radii[draft.name] = profile
        for d, radius in zip(side, childRadii):
            startRadius[d.name] = float(radius)
        for d in terminal:
            startRadius[d.name] = float(profile[-1] * d.ratio ** (1.0 / 3.0))
    return radii


def _addStenoses(case: CoronaryCase, drafts: list[_Draft], rng: np.random.Generator) -> None:
    count = int(rng.choice(3, p=STENOSIS_COUNT_PROBABILITIES))
    names = [name for name in STENOSIS_VESSELS[case.tree] if any(v.name == name for v in case.vessels)]
    for _ in range(count):
        vessel = case.vessel(names[int(rng.integers(len(names)))])
        percent = rng.uniform(*STENOSIS_PERCENT)
        length = rng.uniform(*STENOSIS_LENGTH_MM)
        arc = _arcLength(vessel.pointsLps)
        margin = length / 2 + 1.5  # the lesion stays clear of branch points (Murray steps) and vessel ends
        mask = (vessel.radiiMm >= 0.75) & (arc > margin) & (arc < arc[-1] - margin)
        for draft in drafts:
            if draft.parent == vessel.name:
                mask &= np.abs(arc - arc[draft.parentIndex]) > margin
        for other in case.stenoses:
            if other["vessel"] == vessel.name:
                mask &= np.abs(arc - other["arcMm"]) > margin + other["lengthMm"] / 2
        candidates = np.flatnonzero(mask)
        if len(candidates) == 0:
            continue
        index = int(candidates[rng.integers(len(candidates))])
        distance = np.abs(arc - arc[index])
        bump = np.where(distance < length / 2, 0.5 * (1.0 + np.cos(2 * math.pi * distance / length)), 0.0)
        vessel.radiiMm = vessel.radiiMm * (1.0 - percent / 100.0 * bump)
        case.stenoses.append({"vessel": vessel.name, "arcMm": float(arc[index]), "percent": float(percent),
                              "lengthMm": float(length)})


def generateCase(seed: int, tree: str) -> CoronaryCase:
    """Synthetic coronary tree, deterministic by (``seed``, ``tree``).

    :param seed: any non-negative integer.
    :param tree: ``"left"`` (LM, LAD, LCx and branches) or ``"right"`` (RCA, PDA, PLB and branches).
    :returns: the case, centred on the isocenter (bounding box centre within +-3 mm of the origin, all
        points within +-:data:`FIT_HALF_EXTENT_MM` mm), LPS mm.
    """
    if tree not in _TREE_CODES:
        raise ValueError(f"tree must be 'left' or 'right', got {tree!r}")
    rng = np.random.default_rng([int(seed), _TREE_CODES[tree], 20200326])
    build = _buildLeft if tree == "left" else _buildRight
    for _attempt in range(100):
        heart, info = _drawHeart(rng)
        drafts, landmarks = build(heart, rng)
        points = np.concatenate([d.points for d in drafts])
        low, high = points.min(axis=0), points.max(axis=0)
        halfExtent = (high - low) / 2
        if halfExtent.max() <= FIT_HALF_EXTENT_MM:
            break
    else:  # pragma: no cover - never seen; a deterministic fallback that shrinks the last draw
        factor = FIT_HALF_EXTENT_MM / halfExtent.max()
        heart.semiAxes *= factor
        for draft in drafts:
            draft.points = draft.points * factor
        landmarks = {k: (v * factor) for k, v in landmarks.items()}
        points = np.concatenate([d.points for d in drafts])
        low, high = points.min(axis=0), points.max(axis=0)
        halfExtent = (high - low) / 2
    room = np.minimum(CENTRE_JITTER_MM, FIT_HALF_EXTENT_MM - halfExtent)
    shift = -(low + high) / 2 + rng.uniform(-1.0, 1.0, size=3) * room
    for draft in drafts:
        draft.points = draft.points + shift
    heart.centre = heart.centre + shift
    radii = _assignRadii(drafts, rng)
    vessels = [Vessel(d.name, d.points, radii[d.name], d.parent) for d in drafts]
    heartDict = heart.toDict() | info | {
        "aortaCenterLps": (landmarks["aortaCenterLps"] + shift).tolist(),
        "aortaRadiusMm": float(landmarks["aortaRadiusMm"]),
        "ostiumLps": (landmarks["ostiumLps"] + shift).tolist(),
    }
    case = CoronaryCase(tree=tree, seed=int(seed), vessels=vessels, heart=heartDict)
    _addStenoses(case, drafts, rng)
    return case


# ------------------------------------------------------------------------------------------------------
# Augmentation (paper, section IV.A)
def augment(case: CoronaryCase, rng: np.random.Generator) -> CoronaryCase:
    """Random rotation (5-15 deg about a uniformly random axis through the isocenter) and scaling by 3-10 %
    up or down, applied to points (LPS mm, about the origin), radii, the heart model and stenosis lengths.

    :returns: a new case (the input is not modified); ``augmentation`` gains the parameters used.
    """
    axis = _normalize(rng.standard_normal(3))
    angle = rng.uniform(*AUGMENT_ROTATION_DEG)
    sign = 1.0 if rng.random() < 0.5 else -1.0
    scale = 1.0 + sign * rng.uniform(*AUGMENT_SCALE_PERCENT) / 100.0
    rotation = _rotationAbout(axis, math.radians(angle))
    vessels = [Vessel(v.name, scale * v.pointsLps @ rotation.T, scale * v.radiiMm, v.parent) for v in case.vessels]
    heart = dict(case.heart)
    for key in ("centerLps", "aortaCenterLps", "ostiumLps"):
        if key in heart:
            heart[key] = (scale * rotation @ np.asarray(heart[key])).tolist()
    for key in ("longAxisLps", "anteriorGrooveLps", "rightVentricleLps"):
        if key in heart:
            heart[key] = (rotation @ np.asarray(heart[key])).tolist()
    for key in ("longAxisMm", "aortaRadiusMm"):
        if key in heart:
            heart[key] = heart[key] * scale
    if "shortAxisMm" in heart:
        heart["shortAxisMm"] = [value * scale for value in heart["shortAxisMm"]]
    stenoses = [s | {"arcMm": s["arcMm"] * scale, "lengthMm": s["lengthMm"] * scale} for s in case.stenoses]
    record = {"rotationAxis": axis.tolist(), "rotationDeg": float(angle), "scale": float(scale)}
    return CoronaryCase(case.tree, case.seed, vessels, stenoses, heart, case.augmentation + [record])


# ------------------------------------------------------------------------------------------------------
# Voxelization
def _freeEnds(case: CoronaryCase) -> dict[str, tuple[bool, bool]]:
    """Per vessel: (start is free, end is free). Free ends get a flat cap; joints stay round (no notch)."""
    endsWithChildren = set()
    for vessel in case.vessels:
        if vessel.parent is None:
            continue
        try:
            parent = case.vessel(vessel.parent)
        except KeyError:
            continue
        if np.linalg.norm(parent.pointsLps[-1] - vessel.pointsLps[0]) < 1e-6:
            endsWithChildren.add(parent.name)
    return {v.name: (v.parent is None, v.name not in endsWithChildren) for v in case.vessels}


def voxelize(case: CoronaryCase, size: int = 64, sideMm: float = 128.0) -> tuple[np.ndarray, np.ndarray]:
    """Fractional lumen occupancy on an axis-aligned LPS cube centred at the origin.

    Occupancy of a voxel centre x: ``clip((r - d) / voxel + 0.5, 0, 1)`` maximized over centerline samples
    (d = distance to the sample, r its radius) and over vessels, i.e. a one-voxel partial-volume ramp across
    the lumen wall: ``occupancy >= 0.5`` exactly where x is inside the lumen, and a 1 mm lumen on a 2 mm
    grid still shows. Free ends (ostia, distal tips) are cut flat. Summed over a tube, the occupancy
    integrates to ``pi (r**2 + voxel**2 / 12)`` per mm (the ramp adds ``voxel**2 / 12``).

    :param size: voxels per side.
    :param sideMm: cube side (mm); voxel centres at ``-side/2 + (index + 0.5) * side/size``.
    :returns: (float32 [k, j, i] occupancy with k along LPS z, j along y, i along x; 4x4 ijkToLps).
    """
    voxel = sideMm / size
    origin = -sideMm / 2 + voxel / 2
    volume = np.zeros(size ** 3, dtype=np.float32)
    freeEnds = _freeEnds(case)
    for vessel in case.vessels:
        points, radii = np.asarray(vessel.pointsLps, float), np.asarray(vessel.radiiMm, float)
        if len(points) == 0:
            continue
        half = int(math.ceil(radii.max() / voxel + 1.0))
        axis = np.arange(-half, half + 1)
        offsets = np.stack(np.meshgrid(axis, axis, axis, indexing="ij"), axis=-1).reshape(-1, 3)
        centres = np.rint((points - origin) / voxel).astype(np.int64)
        arc = _arcLength(points)
        reach = radii.max() + 2 * voxel
        tangents = _tangents(points) if len(points) > 1 else np.zeros((1, 3))
        startFree, endFree = freeEnds[vessel.name]
        chunk = max(1, 400_000 // len(offsets))
        for first in range(0, len(points), chunk):
            part = slice(first, first + chunk)
            ijk = centres[part, None, :] + offsets[None]
            difference = origin + ijk * voxel - points[part, None, :]
            value = (radii[part, None] - np.linalg.norm(difference, axis=-1)) / voxel + 0.5
            if len(points) > 1 and startFree:
                near = arc[part] < reach
                value[near] = np.where(difference[near] @ tangents[0] < 0.0, 0.0, value[near])
            if len(points) > 1 and endFree:
                near = arc[part] > arc[-1] - reach
                value[near] = np.where(difference[near] @ tangents[-1] > 0.0, 0.0, value[near])
            keep = (value > 0.0) & np.all((ijk >= 0) & (ijk < size), axis=-1)
            flat = (ijk[..., 2] * size + ijk[..., 1]) * size + ijk[..., 0]
            np.maximum.at(volume, flat[keep], np.minimum(value[keep], 1.0).astype(np.float32))
    ijkToLps = np.diag([voxel, voxel, voxel, 1.0])
    ijkToLps[:3, 3] = origin
    return volume.reshape(size, size, size), ijkToLps


# ------------------------------------------------------------------------------------------------------
# Projections
def _splat(geometry: CArmGeometry, points: np.ndarray, radii: np.ndarray, labels: np.ndarray, layers: int,
           kind: str, tangents: np.ndarray | None = None) -> np.ndarray:
    """Per-layer max over samples of a disk splat; ``kind`` 'occupancy' (anti-aliased silhouette) or
    'chord' (lumen chord length through the tube, mm). Returns float32 (layers, rows, columns)."""
    rows, columns = geometry.rows, geometry.columns
    image = np.zeros(layers * rows * columns, dtype=np.float32)
    if len(points) == 0:
        return image.reshape(layers, rows, columns)
    pixels = geometry.projectLps(points)
    rays = points - geometry.sourcePositionLps
    depth = rays @ geometry.detectorDirectionLps  # along the central ray, from the source (mm)
    magnification = geometry.sourceToDetectorMm / depth
    radiusDetector = radii * magnification  # mm on the detector
    rowSpacing, columnSpacing = geometry.pixelSpacingMm
    meanSpacing = math.sqrt(rowSpacing * columnSpacing)
    marginColumns, marginRows = radiusDetector / columnSpacing + 2, radiusDetector / rowSpacing + 2
    inView = ((pixels[:, 0] > -marginColumns) & (pixels[:, 0] < columns - 1 + marginColumns)
              & (pixels[:, 1] > -marginRows) & (pixels[:, 1] < rows - 1 + marginRows))
    if kind == "chord":
        sine = np.linalg.norm(np.cross(tangents, _normalize(rays)), axis=1)
        obliquity = 1.0 / np.maximum(sine, 1.0 / 3.0)  # longer chords where the vessel runs along the ray
        pixelAtObject = meanSpacing / magnification
        effective = np.maximum(radii, 0.6 * pixelAtObject)  # sub-pixel vessels: widen, conserve area
        areaFactor = (radii / effective) ** 2
    keep = np.flatnonzero(inView)
    reachMm = radiusDetector[keep].max(initial=0.0)
    if kind == "chord":
        reachMm = max(reachMm, 0.6 * meanSpacing)
    half = int(math.ceil(reachMm / min(rowSpacing, columnSpacing) + 1.0))
    axis = np.arange(-half, half + 1)
    offsetRow, offsetColumn = (grid.ravel() for grid in np.meshgrid(axis, axis, indexing="ij"))
    chunk = max(1, 300_000 // len(offsetRow))
    for first in range(0, len(keep), chunk):
        part = keep[first:first + chunk]
        column = np.rint(pixels[part, 0]).astype(np.int64)[:, None] + offsetColumn
        row = np.rint(pixels[part, 1]).astype(np.int64)[:, None] + offsetRow
        distance = np.hypot((column - pixels[part, 0:1]) * columnSpacing, (row - pixels[part, 1:2]) * rowSpacing)
        if kind == "occupancy":
            value = np.clip((radiusDetector[part, None] - distance) / meanSpacing + 0.5, 0.0, 1.0)
        else:
            distanceObject = distance / magnification[part, None]
            r = effective[part, None]
            value = (2.0 * np.sqrt(np.maximum(r * r - distanceObject ** 2, 0.0))
                     * (areaFactor[part] * obliquity[part])[:, None])
        valid = (value > 0.0) & (row >= 0) & (row < rows) & (column >= 0) & (column < columns)
        flat = (labels[part, None] * rows + row) * columns + column
        np.maximum.at(image, flat[valid], value[valid].astype(np.float32))
    return image.reshape(layers, rows, columns)


def _stack(vessels: list[Vessel]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    points = np.concatenate([v.pointsLps for v in vessels]) if vessels else np.zeros((0, 3))
    radii = np.concatenate([v.radiiMm for v in vessels]) if vessels else np.zeros(0)
    labels = (np.concatenate([np.full(len(v.pointsLps), i) for i, v in enumerate(vessels)]) if vessels
              else np.zeros(0, int))
    tangents = np.concatenate([_tangents(v.pointsLps) if len(v.pointsLps) > 1 else np.zeros((1, 3))
                               for v in vessels]) if vessels else np.zeros((0, 3))
    return points, radii, labels.astype(np.int64), tangents


def renderVesselMap(case: CoronaryCase, geometry: CArmGeometry) -> np.ndarray:
    """Perspective silhouette of the lumen tubes: for each centerline sample a disk of radius
    ``r * SID / depth`` (depth from the source along the central ray) at its projection, anti-aliased
    ``clip(r_pix - d + 0.5, 0, 1)``, max over samples.

    :returns: float32 (rows, columns) in [0, 1], image frame of ``geometry`` (column, row).
    """
    points, radii, _, _ = _stack(case.vessels)
    return _splat(geometry, points, radii, np.zeros(len(points), np.int64), 1, "occupancy")[0]


def _catheter(case: CoronaryCase, rng: np.random.Generator) -> Vessel:
    """A contrast-filled guiding catheter (6 F, ~2 mm) engaged in the root's ostium, running up the aorta."""
    root = case.vessels[0]
    ostium = root.pointsLps[0]
    backwards = -_tangents(root.pointsLps[:10])[0]
    up = _normalize(np.array([0.0, 0.0, 1.0]) + 0.3 * rng.standard_normal(3))
    length = rng.uniform(60.0, 100.0)
    t = np.linspace(0.0, 1.0, 400)[:, None]
    control = (ostium, ostium + 15.0 * backwards, ostium + 15.0 * backwards + length * up)
    dense = (1 - t) ** 2 * control[0] + 2 * t * (1 - t) * control[1] + t ** 2 * control[2]
    points = _resample(dense)
    return Vessel("catheter", points, np.full(len(points), 1.0), None)


def _heartChord(case: CoronaryCase, geometry: CArmGeometry) -> np.ndarray:
    """Chord length (mm) of every pixel's ray through the heart ellipsoid (the cardiac shadow)."""
    if not case.heart:
        return np.zeros((geometry.rows, geometry.columns))
    heart = _Heart.fromDict(case.heart)
    columns, rows = np.meshgrid(np.arange(geometry.columns), np.arange(geometry.rows))
    pixels = np.stack([columns.ravel(), rows.ravel()], axis=1).astype(float)
    source = geometry.sourcePositionLps
    directions = _normalize(geometry.pixelToDetectorLps(pixels) - source)
    origin = ((source - heart.centre) @ heart.frame) / heart.semiAxes
    step = (directions @ heart.frame) / heart.semiAxes
    a = np.sum(step * step, axis=1)
    b = 2.0 * step @ origin
    c = origin @ origin - 1.0
    discriminant = np.maximum(b * b - 4 * a * c, 0.0)
    return (np.sqrt(discriminant) / a).reshape(geometry.rows, geometry.columns)


def renderAngiogram(case: CoronaryCase, geometry: CArmGeometry, rng: np.random.Generator) -> np.ndarray:
    """X-ray-angiogram-like image of the tree (MONOCHROME2: contrast-filled vessels dark).

    Transmission ``exp(-tau)`` with ``tau`` = background (smooth random field, spine band, optional
    diaphragm edge and rib stripes, the cardiac shadow: ray chord through the heart ellipsoid x 0.001-0.004
    /mm, blurred) + ``mu * chord`` with mu 0.08-0.25 /mm (a tuned value for diluted iodinated contrast, giving
    25-60 % contrast on 3-4 mm vessels) and chord = lumen chord length (mm) ``2 sqrt(r**2 - d**2)`` at
    object scale (d: the pixel's distance to the projected centre de-magnified), /sin of the angle between
    vessel and ray (capped at 3x), max over a vessel's samples, summed over vessels; with p = 0.6 a guiding
    catheter at the ostium. Then detector blur (0.3-0.8 px), Poisson quantum noise (200-2000 photons per
    background pixel), log and a percentile window to [0, 1].

    :returns: float32 (rows, columns) in [0, 1].
    """
    rows, columns = geometry.rows, geometry.columns
    vessels = list(case.vessels)
    if rng.random() < 0.6 and vessels:
        vessels.append(_catheter(case, rng))
    points, radii, labels, tangents = _stack(vessels)
    chord = _splat(geometry, points, radii, labels, max(len(vessels), 1), "chord", tangents).sum(axis=0)
    mu = rng.uniform(0.08, 0.25)

    scaleRow, scaleColumn = np.meshgrid(np.linspace(-1, 1, rows), np.linspace(-1, 1, columns), indexing="ij")
    tau = np.full((rows, columns), rng.uniform(1.0, 2.0))
    field = ndimage.gaussian_filter(rng.standard_normal((rows, columns)), rng.uniform(6.0, 16.0) * rows / 128)
    tau += rng.uniform(0.05, 0.2) * field / max(field.std(), 1e-9)
    angle = math.radians(rng.uniform(-15.0, 15.0))  # spine: a darker (more attenuating) near-vertical band
    across = scaleColumn * math.cos(angle) - scaleRow * math.sin(angle) - rng.uniform(-0.6, 0.6)
    halfWidth, edge = rng.uniform(0.12, 0.25), rng.uniform(0.02, 0.06)
    tau += rng.uniform(0.15, 0.45) / (1.0 + np.exp(-(halfWidth - np.abs(across)) / edge))
    if rng.random() < 0.7:  # diaphragm / liver: dark below a curved edge
        angle = math.radians(rng.uniform(-20.0, 20.0))
        down = scaleRow * math.cos(angle) + scaleColumn * math.sin(angle)
        boundary = rng.uniform(0.2, 0.9) + rng.uniform(-0.3, 0.3) * scaleColumn ** 2
        tau += rng.uniform(0.3, 0.8) / (1.0 + np.exp(-(down - boundary) / rng.uniform(0.02, 0.08)))
    if rng.random() < 0.6:  # ribs: soft oblique stripes
        angle = math.radians(rng.uniform(-40.0, 40.0))
        along = scaleRow * math.cos(angle) + scaleColumn * math.sin(angle) + 0.3 * scaleColumn ** 2
        period = rng.uniform(0.2, 0.35)
        tau += rng.uniform(0.03, 0.08) * (0.5 + 0.5 * np.sin(2 * math.pi * along / period + rng.uniform(0, 6.3))) ** 2
    shadowSigma = rng.uniform(1.5, 4.0) * rows / 128  # the beating heart's edge is blurred
    tau += rng.uniform(0.001, 0.004) * ndimage.gaussian_filter(_heartChord(case, geometry), shadowSigma)
    tau += mu * chord
    tau = ndimage.gaussian_filter(tau, rng.uniform(0.3, 0.8))
    photons = rng.uniform(200.0, 2000.0)
    counts = rng.poisson(photons * np.exp(-(tau - np.median(tau))))
    logImage = np.log(np.maximum(counts, 0.5))
    low, high = np.percentile(logImage, [0.5, 99.5])
    return np.clip((logImage - low) / max(high - low, 1e-6), 0.0, 1.0).astype(np.float32)


def perturbVesselMap(vesselMap: np.ndarray, case: CoronaryCase, geometry: CArmGeometry,
                     rng: np.random.Generator) -> np.ndarray:
    """An imperfect vessel map, as a vesselness segmentation of a real angiogram would give.

    Small leaf branches (radius < :data:`DROP_RADIUS_MM` at their origin) are each dropped with probability
    :data:`DROP_PROBABILITY` (the map is re-rendered without them); with p = 0.2 a guiding catheter is added;
    then Gaussian blur (sigma 0-1 px), additive Gaussian noise (sigma 0-0.08) and a random sigmoid
    threshold (centre 0.2-0.6, gain 3-12) mixed in with weight 0-1.

    :param vesselMap: the clean map of ``case`` in ``geometry`` (:func:`renderVesselMap`).
    :returns: float32 (rows, columns) in [0, 1].
    """
    parents = {v.parent for v in case.vessels}
    kept = []
    for vessel in case.vessels:
        small = vessel.parent is not None and vessel.name not in parents and vessel.radiiMm[0] < DROP_RADIUS_MM
        if not (rng.random() < DROP_PROBABILITY and small):
            kept.append(vessel)
    image = np.asarray(vesselMap, dtype=np.float32)
    if len(kept) < len(case.vessels):
        image = renderVesselMap(CoronaryCase(case.tree, case.seed, kept, case.stenoses, case.heart), geometry)
    if rng.random() < 0.2 and case.vessels:
        catheter = _catheter(case, rng)
        image = np.maximum(image, _splat(geometry, catheter.pointsLps, catheter.radiiMm,
                                         np.zeros(len(catheter.pointsLps), np.int64), 1, "occupancy")[0])
    sigma = rng.uniform(0.0, 1.0)
    if sigma > 0.05:
        image = ndimage.gaussian_filter(image, sigma)
    image = image + rng.normal(0.0, rng.uniform(0.0, 0.08), size=image.shape)
    centre, gain, weight = rng.uniform(0.2, 0.6), rng.uniform(3.0, 12.0), rng.uniform(0.0, 1.0)

    def sigmoid(x):
        return 1.0 / (1.0 + np.exp(-gain * (x - centre)))

    thresholded = (sigmoid(image) - sigmoid(0.0)) / (sigmoid(1.0) - sigmoid(0.0))
    image = (1.0 - weight) * image + weight * thresholded
    return np.clip(image, 0.0, 1.0).astype(np.float32)


# ------------------------------------------------------------------------------------------------------
# Views
def _jitteredView(view: tuple, rng: np.random.Generator, rows: int, columns: int) -> CArmGeometry:
    primary = view[0] + rng.uniform(-VIEW_JITTER_DEG, VIEW_JITTER_DEG)
    secondary = view[1] + rng.uniform(-VIEW_JITTER_DEG, VIEW_JITTER_DEG)
    sid = rng.uniform(*SID_RANGE_MM)
    sod = rng.uniform(*SOD_RANGE_MM)
    fieldMm = FIELD_OF_VIEW_FACTOR * CUBE_SIDE_MM * sid / sod  # detector field of view
    return CArmGeometry(primary, secondary, sid, sod, (fieldMm / rows, fieldMm / columns), rows, columns)


def sampleViewPair(tree: str, rng: np.random.Generator, rows: int = 128,
                   columns: int = 128) -> tuple[CArmGeometry, CArmGeometry]:
    """Two different standard views of ``tree`` (:data:`STANDARD_VIEWS`) with +-8 deg jitter on each angle,
    SID 900-1200 mm, SOD 700-800 mm, pixel spacing ``1.11 * 128 * (SID/SOD) / rows`` (mm at the detector,
    so the 128 mm cube at the isocenter fills ~90 % of the image), redrawn until >= 30 deg apart."""
    views = STANDARD_VIEWS[tree]
    for _ in range(1000):
        first, second = rng.choice(len(views), size=2, replace=False)
        pair = (_jitteredView(views[first], rng, rows, columns), _jitteredView(views[second], rng, rows, columns))
        if viewSeparationDeg(*pair) >= MIN_VIEW_SEPARATION_DEG:
            return pair
    raise RuntimeError(f"no standard view pair of the {tree} tree is {MIN_VIEW_SEPARATION_DEG} deg apart")
