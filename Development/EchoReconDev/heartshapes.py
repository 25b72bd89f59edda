"""A population of hearts: smooth deformations of the template, end-diastole and end-systole, deterministic by seed.

Every case keeps the template's vertex numbering (one displacement per vertex is the network's target). All
coordinates are in mm in the heart frame of :mod:`EchoReconLib.template` (origin mitral annulus centre,
+z base -> apex along the LV long axis, +x toward the RV); each case is re-expressed in the heart frame of its own
end-diastolic shape, and its end-systolic shape is in that same frame (the base moves toward the apex).

End-diastole
------------
Composed of maps of all of space (each one smooth and one-to-one, so surfaces that do not intersect in the
template do not intersect after it), applied to every vertex:

1. global size: uniform scale ``globalScale``;
2. chamber size ratios: RV, LA, RA and aortic root scaled about their centroids with a Gaussian weight
   (``x + (s - 1) (x - c) exp(-|x - c|^2 / 2 rho^2)``, rho = the chamber's RMS radius, one-to-one for
   0 < s < 3.2; ``s`` is the scale at the centre, the chamber's own size changes by about 1 + 0.6 (s - 1));
3. a smooth random low-frequency field (a few Fourier modes, wavelengths 60-160 mm, Lipschitz constant
   <= :data:`RANDOM_FIELD_LIPSCHITZ`, so ``x + field(x)`` is one-to-one);
4. LV dilation and sphericity: radial scale ``a`` about the LV long axis (saturating beyond the epicardium, so
   neighbouring chambers are pushed rather than squeezed) and longitudinal scale ``b`` of the ventricles below the
   base, with ``a^2 b`` the volume factor and ``a / b = sphericity``; ``a`` and ``b`` are solved so the LV cavity
   has the sampled EDV;
5. wall thickness: each LV cavity vertex has an anchor on the epicardium (the template's closest point); the
   cavity moves along its (mesh-smoothed) offsets from the anchors until the mean wall thickness over the middle
   60 % of the long axis (:data:`THICKNESS_BAND`) is the sampled one.

End-systole (myocardium incompressible)
---------------------------------------
Longitudinal shortening (the base descends toward the fixed apex by ``longitudinalShortening`` of the LV length,
the atria stretch), LV twist (apex counter-clockwise seen from the apex), RV contraction and atrial filling,
radial contraction of the epicardium about the long axis (``esRadialScale``, solved so the LV cavity has the
sampled ESV); then wall thickening: the endocardium moves toward the long axis (and the apical cavity toward the
base) until the myocardial volume equals the end-diastolic one.

Ranges and sources
------------------
- LV EDV 70-300 mL, EF 15-75 %, wall thickness 6-16 mm, sampled per phenotype (:data:`PHENOTYPES`). Normal
  values from R. M. Lang et al., "Recommendations for cardiac chamber quantification by echocardiography in adults:
  an update from the ASE and EACVI", J Am Soc Echocardiogr 28(1):1-39, 2015: LVEF 52-72 % (men), 54-74 % (women);
  biplane EDV 62-150 mL (men), 46-106 mL (women); septal and posterior wall thickness 6-10 mm (men), 6-9 mm
  (women); LV mass (2D) 96-200 g (men), 66-150 g (women); global longitudinal strain about -20 % in health.
  Dilated cardiomyopathy (EDV up to 300 mL, EF 15-40 %, thin or normal walls, a more spherical LV) and concentric
  hypertrophy (walls up to 16 mm: the "moderately abnormal" septal thickness of the guideline's predecessor,
  R. M. Lang et al., J Am Soc Echocardiogr 18(12):1440-1463, 2005, is 14-16 mm in men) extend the normal ranges;
  the phenotype mix and the sphericity and chamber ratio ranges are design choices of this generator, not measured
  distributions.
- Longitudinal shortening of the LV length (base descent) ~ 0.17-0.25 x EF, i.e. 10-15 % (8-13 mm) at EF 60 %
  and 3-5 % at EF 20 %, in line with the strain values above; the radial share follows from the ESV.
- Myocardial density 1.05 g/mL (the value of the guideline's LV mass formulas).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np
from scipy import optimize

from EchoReconLib.conventions import STRUCTURES
from EchoReconLib.measure import MYOCARDIAL_DENSITY_G_PER_ML
from EchoReconLib.template import HeartTemplate, enclosedVolume

RANDOM_FIELD_LIPSCHITZ = 0.2
#: Band of the LV long axis (fraction from base to apex) over which the wall thickness is measured and set.
THICKNESS_BAND = (0.2, 0.8)
#: Largest scale of the cavity-to-epicardium offsets (end-systolic wall thickening), beyond which the cavity folds.
MAX_OFFSET_SCALE = 2.4

#: Phenotypes: sampling weight and uniform ranges (low, high) of LV EDV (mL), EF (%), mean wall thickness (mm),
#: sphericity (radial / longitudinal LV scale ratio relative to the template) and chamber linear scale factors.
PHENOTYPES = {
    "normal": {"weight": 0.40, "edvMl": (70.0, 160.0), "efPercent": (52.0, 75.0), "wallThicknessMm": (6.0, 11.0),
               "sphericity": (0.92, 1.06), "rvScale": (0.78, 1.2), "laScale": (0.78, 1.2),
               "raScale": (0.78, 1.2), "aorticScale": (0.8, 1.2)},
    "reduced": {"weight": 0.20, "edvMl": (110.0, 220.0), "efPercent": (30.0, 52.0), "wallThicknessMm": (7.0, 12.0),
                "sphericity": (0.98, 1.12), "rvScale": (0.85, 1.25), "laScale": (0.9, 1.3),
                "raScale": (0.85, 1.25), "aorticScale": (0.85, 1.2)},
    "dilated": {"weight": 0.25, "edvMl": (160.0, 300.0), "efPercent": (15.0, 40.0), "wallThicknessMm": (6.0, 10.0),
                "sphericity": (1.05, 1.25), "rvScale": (0.9, 1.4), "laScale": (1.1, 1.5),
                "raScale": (0.9, 1.3), "aorticScale": (0.85, 1.2)},
    "hypertrophic": {"weight": 0.15, "edvMl": (70.0, 140.0), "efPercent": (55.0, 75.0),
                     "wallThicknessMm": (11.0, 16.0), "sphericity": (0.9, 1.02), "rvScale": (0.78, 1.15),
                     "laScale": (1.0, 1.4), "raScale": (0.78, 1.15), "aorticScale": (0.85, 1.25)},
}
_CHAMBER_SCALES = {"RV": "rvScale", "LA": "laScale", "RA": "raScale", "aortic root": "aorticScale"}


@dataclass
class HeartShape:
    """One sampled heart: vertices [V, 3] at end-diastole and end-systole (mm, the case's heart frame, template
    numbering), the sampled parameters and the measured volumes (mL), mass (g), lengths (mm)."""

    seed: int
    phenotype: str
    verticesEd: np.ndarray
    verticesEs: np.ndarray
    parameters: dict = field(default_factory=dict)
    measurements: dict = field(default_factory=dict)

    @property
    def edvMl(self) -> float:
        return self.measurements["edvMl"]

    @property
    def esvMl(self) -> float:
        return self.measurements["esvMl"]

    @property
    def efPercent(self) -> float:
        return self.measurements["efPercent"]


# -- smooth maps of space (heart frame, mm) ------------------------------------------------------------------


def _smoothProfile(knotsZ, knotsValue, sigmaMm: float = 6.0):
    """A smooth function of z: the piecewise-linear interpolant of the knots, Gaussian-smoothed (sigma mm)."""
    grid, values = _profileTable(tuple(float(value) for value in knotsZ), tuple(float(value) for value in knotsValue),
                                 float(sigmaMm))
    return lambda z: np.interp(z, grid, values)


@functools.lru_cache(maxsize=256)
def _profileTable(knotsZ: tuple, knotsValue: tuple, sigmaMm: float) -> tuple[np.ndarray, np.ndarray]:
    from scipy.ndimage import gaussian_filter1d

    grid = np.arange(-250.0, 350.0, 0.5)
    return grid, gaussian_filter1d(np.interp(grid, knotsZ, knotsValue), sigmaMm / 0.5, mode="nearest")


def _softMin(r: np.ndarray, limit: float, widthMm: float = 6.0) -> np.ndarray:
    """Smooth min(r, limit) with value 0 and slope ~1 at r = 0 and slope in (0, 1)."""
    def soft(value):
        return -widthMm * np.logaddexp(-value / widthMm, -limit / widthMm)
    return soft(r) - soft(np.zeros(1))


def _softPlus(z: np.ndarray, widthMm: float = 6.0) -> np.ndarray:
    """Smooth max(z, 0)."""
    return widthMm * np.logaddexp(0.0, z / widthMm)


def chamberScale(points: np.ndarray, centre: np.ndarray, scale: float, radiusMm: float) -> np.ndarray:
    """Scale about ``centre`` with a Gaussian weight of width ``radiusMm`` (one-to-one for 0 < scale < 3.2)."""
    offset = points - centre
    weight = np.exp(-np.einsum("ij,ij->i", offset, offset) / (2.0 * radiusMm ** 2))
    return points + (scale - 1.0) * offset * weight[:, None]


def lvRadialLongitudinal(points: np.ndarray, radialScale: float, longitudinalScale: float,
                         radiusLimitMm: float) -> np.ndarray:
    """Scale the ventricles radially about the z axis (saturating at ``radiusLimitMm``: beyond it everything is
    shifted by the same amount) and along z below the base (z > 0), fading out above the base (atria)."""
    x, y, z = points.T
    r = np.hypot(x, y)
    weight = _ventricleWeight(z)
    newR = r + (radialScale - 1.0) * _softMin(r, radiusLimitMm) * weight
    factor = np.where(r > 1e-9, newR / np.maximum(r, 1e-9), 1.0 + (radialScale - 1.0) * weight)
    newZ = z + (longitudinalScale - 1.0) * (_softPlus(z) - _softPlus(np.zeros(1)))
    return np.stack([x * factor, y * factor, newZ], axis=1)


_VENTRICLE_WEIGHT = None


def _ventricleWeight(z: np.ndarray) -> np.ndarray:
    """1 in the ventricles (z > ~5 mm), 0 in the atria (z < ~-12 mm), smooth in between."""
    global _VENTRICLE_WEIGHT
    if _VENTRICLE_WEIGHT is None:
        _VENTRICLE_WEIGHT = _smoothProfile([-12.0, 5.0], [0.0, 1.0], sigmaMm=4.0)
    return _VENTRICLE_WEIGHT(z)


def baseDescent(points: np.ndarray, descentMm: float, apexZ: float, atrialHeightMm: float = 60.0) -> np.ndarray:
    """Move the base (z = 0) toward the apex by ``descentMm``, the apex fixed, the atrial roofs fixed (z' = z +
    descent q(z), q = 1 at the base, 0 at the apex and ``atrialHeightMm`` above the base)."""
    profile = _smoothProfile([-atrialHeightMm, 0.0, apexZ], [0.0, 1.0, 0.0], sigmaMm=4.0)
    moved = points.copy()
    moved[:, 2] += descentMm * profile(points[:, 2])
    return moved


def twist(points: np.ndarray, apexAngleDeg: float, apexZ: float) -> np.ndarray:
    """Rotate about the z axis by an angle growing from 0 at the base to ``apexAngleDeg`` at the apex
    (counter-clockwise seen from the apex looking toward the base: a rotation by -angle about +z)."""
    profile = _smoothProfile([0.0, apexZ], [0.0, 1.0], sigmaMm=4.0)
    angle = -np.radians(apexAngleDeg) * profile(points[:, 2])
    cos, sin = np.cos(angle), np.sin(angle)
    return np.stack([cos * points[:, 0] - sin * points[:, 1], sin * points[:, 0] + cos * points[:, 1],
                     points[:, 2]], axis=1)


def endocardialContraction(points: np.ndarray, cavity: np.ndarray, amount: float, apexZ: float,
                           apexShiftMm: float = 6.0) -> np.ndarray:
    """Systolic wall thickening: the LV cavity vertices (indices ``cavity``) move toward the long axis (radius x
    (1 - amount), fading to no move at the base) and the apical cavity moves toward the base (by ``amount`` x
    ``apexShiftMm`` at the apex). A one-to-one map of the cavity for amount < 1 that keeps it inside itself
    (amount > 0) and so inside the epicardium."""
    moved = points.copy()
    x, y, z = points[cavity].T
    radial = 1.0 - amount * _smoothProfile([0.03 * apexZ, 0.25 * apexZ], [0.0, 1.0], sigmaMm=3.0)(z)
    apical = np.clip((z - 0.5 * apexZ) / (0.5 * apexZ), 0.0, None) ** 2
    moved[cavity] = np.stack([x * radial, y * radial, z - amount * apexShiftMm * np.minimum(apical, 1.0)], axis=1)
    return moved


class RandomField:
    """Smooth random displacement field: a sum of Fourier modes (mm), Lipschitz constant <= ``lipschitz``."""

    def __init__(self, rng: np.random.Generator, modes: int = 6, lipschitz: float = RANDOM_FIELD_LIPSCHITZ,
                 wavelengthMm: tuple[float, float] = (60.0, 160.0)):
        directions = rng.normal(size=(modes, 3))
        directions /= np.linalg.norm(directions, axis=1, keepdims=True)
        self.frequencies = directions * (2.0 * np.pi / rng.uniform(*wavelengthMm, size=(modes, 1)))
        self.phases = rng.uniform(0.0, 2.0 * np.pi, size=modes)
        amplitudes = rng.normal(size=(modes, 3))
        bound = np.sum(np.linalg.norm(amplitudes, axis=1) * np.linalg.norm(self.frequencies, axis=1))
        self.amplitudes = amplitudes * (lipschitz * rng.uniform(0.5, 1.0) / bound)

    def __call__(self, points: np.ndarray) -> np.ndarray:
        return points + np.sin(points @ self.frequencies.T + self.phases) @ self.amplitudes


# -- LV measurements and wall thickness ----------------------------------------------------------------------


class _LvGeometry:
    """Cached index sets of the template's LV (cavity, myocardium triangles, thickness band, smoothing)."""

    def __init__(self, template: HeartTemplate, smoothingIterations: int = 10):
        from scipy import sparse

        self.template = template
        self.cavity = template.structureVertexIndices("LV cavity")
        self.cavityTriangles = template.structureTriangles("LV cavity")
        self.epicardiumTriangles = template.structureTriangles("LV myocardium")
        apexZ = template.landmarks()["lvApex"][2]
        z = template.vertices[self.cavity, 2]
        self.band = (z > THICKNESS_BAND[0] * apexZ) & (z < THICKNESS_BAND[1] * apexZ)
        local = np.searchsorted(self.cavity, self.cavityTriangles)
        edges = np.concatenate([local[:, [0, 1]], local[:, [1, 2]], local[:, [2, 0]]])
        count = len(self.cavity)
        adjacency = sparse.coo_matrix((np.ones(2 * len(edges)), (np.r_[edges[:, 0], edges[:, 1]],
                                                                  np.r_[edges[:, 1], edges[:, 0]])),
                                      shape=(count, count)).tocsr()
        adjacency.data[:] = 1.0
        adjacency = adjacency + sparse.identity(count, format="csr")
        self.step = (sparse.diags(1.0 / np.asarray(adjacency.sum(axis=1)).ravel()) @ adjacency).tocsr()
        self.smoothingIterations = smoothingIterations
        self.localTriangles = local

    def smooth(self, values: np.ndarray) -> np.ndarray:
        """Values per cavity vertex averaged over their neighbourhood (a few mesh-Laplacian steps)."""
        for _ in range(self.smoothingIterations):
            values = self.step @ values
        return values

    def offsets(self, vertices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(anchors [Vc, 3] on the epicardium, cavity vertex - anchor [Vc, 3])."""
        anchors = self.template.cavityAnchors(vertices)
        return anchors, vertices[self.cavity] - anchors

    def wallThickness(self, vertices: np.ndarray) -> float:
        """Mean anchor distance (mm) over the thickness band."""
        _, offsets = self.offsets(vertices)
        return float(np.linalg.norm(offsets[self.band], axis=1).mean())

    def withOffsetScale(self, vertices: np.ndarray, scale: float) -> np.ndarray:
        """Vertices with the LV cavity moved by (scale - 1) x its smoothed offset from the epicardium (scale > 1:
        thicker wall, the cavity shrinks; smoothing keeps neighbouring moves alike, so the cavity does not fold)."""
        moved = vertices.copy()
        moved[self.cavity] += (scale - 1.0) * self.cavityMove(vertices)
        return moved

    def cavityMove(self, vertices: np.ndarray) -> np.ndarray:
        """The smoothed offsets [Vc, 3] (mm) that :meth:`withOffsetScale` adds (scale - 1) times."""
        return self.smooth(self.offsets(vertices)[1])

    def withWallThickness(self, vertices: np.ndarray, thicknessMm: float) -> np.ndarray:
        """Vertices with the LV cavity moved so the mean band wall thickness is ``thicknessMm``."""
        current = self.wallThickness(vertices)
        scale = thicknessMm / current
        for _ in range(3):  # the smoothed move is not exactly proportional: a few secant steps
            reached = self.wallThickness(self.withOffsetScale(vertices, scale))
            if abs(reached - thicknessMm) < 0.01 or abs(reached - current) < 1e-9:
                break
            scale = 1.0 + (scale - 1.0) * (thicknessMm - current) / (reached - current)
        return self.withOffsetScale(vertices, scale)

    def cavityMl(self, vertices: np.ndarray) -> float:
        return enclosedVolume(vertices, self.cavityTriangles) / 1000.0

    def epicardiumMl(self, vertices: np.ndarray) -> float:
        return enclosedVolume(vertices, self.epicardiumTriangles) / 1000.0


def heartFrame(vertices: np.ndarray, template: HeartTemplate) -> np.ndarray:
    """4x4 rigid transform from the coordinates of ``vertices`` to their heart frame (mitral annulus centre,
    long axis, RV direction; see :mod:`EchoReconLib.template`)."""
    landmarks = template.landmarks(vertices)
    origin = landmarks["mitralAnnulus"]
    axisZ = landmarks["lvApex"] - origin
    axisZ /= np.linalg.norm(axisZ)
    rv = vertices[template.structureVertexIndices("RV")].mean(axis=0) - origin
    axisX = rv - (rv @ axisZ) * axisZ
    axisX /= np.linalg.norm(axisX)
    rotation = np.stack([axisX, np.cross(axisZ, axisX), axisZ])
    transform = np.eye(4)
    transform[:3, :3] = rotation
    transform[:3, 3] = -rotation @ origin
    return transform


def applyTransform(transform: np.ndarray, points: np.ndarray) -> np.ndarray:
    return points @ transform[:3, :3].T + transform[:3, 3]


def measureHeart(vertices: np.ndarray, template: HeartTemplate | None = None) -> dict[str, float]:
    """Volumes (mL) of every structure (``<name>Ml``, spaces as underscores; the LV myocardium's is the wall's
    volume, epicardial volume minus cavity), LV myocardial volume (mL) and mass (g), LV length (mm, apex to mitral
    annulus centre), volume-equivalent sphericity index (diameter of the prolate ellipsoid of the same volume
    and length / length) and mean wall thickness (mm) of one shape."""
    template = template or HeartTemplate.load()
    geometry = _lvGeometry(template)
    volumes = template.structureVolumesMl(vertices)
    landmarks = template.landmarks(vertices)
    cavity = volumes["LV cavity"]
    myocardium = volumes["LV myocardium"] - cavity
    length = float(np.linalg.norm(landmarks["lvApex"] - landmarks["mitralAnnulus"]))
    diameter = np.sqrt(6.0 * cavity * 1000.0 / (np.pi * length))
    volumes["LV myocardium"] = myocardium
    result = {f"{name.replace(' ', '_')}Ml": value for name, value in volumes.items()}
    result.update({"lvCavityMl": cavity, "lvMyocardialVolumeMl": myocardium,
                   "lvMassG": myocardium * MYOCARDIAL_DENSITY_G_PER_ML, "lvLengthMm": length,
                   "sphericityIndex": float(diameter / length), "wallThicknessMm": geometry.wallThickness(vertices)})
    return result


def _lvGeometry(template: HeartTemplate) -> _LvGeometry:
    """The template's :class:`_LvGeometry`, built once and kept on the template object."""
    geometry = getattr(template, "_lvGeometryCache", None)
    if geometry is None:
        geometry = _LvGeometry(template)
        template._lvGeometryCache = geometry
    return geometry


def _solve(function, low: float, high: float) -> float:
    """Root of a monotonic function in [low, high] (Brent); the nearer end when there is none inside."""
    valueLow, valueHigh = function(low), function(high)
    if valueLow * valueHigh > 0:
        return low if abs(valueLow) < abs(valueHigh) else high
    return optimize.brentq(function, low, high, xtol=1e-6)


# -- sampling -------------------------------------------------------------------------------------------------


def sampleParameters(seed: int, phenotype: str | None = None, **overrides) -> dict:
    """The sampled parameters of case ``seed`` (deterministic); ``overrides`` replace any of them."""
    rng = np.random.default_rng([int(seed), 1])
    names = list(PHENOTYPES)
    weights = np.array([PHENOTYPES[name]["weight"] for name in names])
    drawn = names[rng.choice(len(names), p=weights / weights.sum())]
    phenotype = phenotype or drawn
    if phenotype not in PHENOTYPES:
        raise ValueError(f"unknown phenotype {phenotype!r}; one of {names}")
    ranges = PHENOTYPES[phenotype]
    parameters = {"phenotype": phenotype}
    for key in ("edvMl", "efPercent", "wallThicknessMm", "sphericity", "rvScale", "laScale", "raScale",
                "aorticScale"):
        parameters[key] = float(rng.uniform(*ranges[key]))
    efFraction = parameters["efPercent"] / 100.0
    parameters.update({
        "globalScale": float(rng.uniform(0.9, 1.1)),
        "longitudinalShortening": float(efFraction * rng.uniform(0.17, 0.25)),
        "twistDeg": float(rng.uniform(6.0, 14.0) * min(1.0, efFraction / 0.6)),
        "rvEsScale": float(1.0 - rng.uniform(0.06, 0.12) * min(1.0, efFraction / 0.5 + 0.3)),
        "atrialEsScale": float(rng.uniform(1.0, 1.08)),
        "fieldSeed": int(rng.integers(2 ** 31)),
    })
    unknown = set(overrides) - set(parameters)
    if unknown:
        raise ValueError(f"unknown parameters {sorted(unknown)}")
    parameters.update(overrides)
    return parameters


def sampleHeart(seed: int, phenotype: str | None = None, template: HeartTemplate | None = None,
                **overrides) -> HeartShape:
    """One case: end-diastolic and end-systolic vertices [V, 3] (mm, heart frame of the ED shape) with known
    correspondence, the sampled parameters and the measured (true) volumes; deterministic by seed.

    ``phenotype`` (one of :data:`PHENOTYPES`) and ``overrides`` (e.g. ``edvMl=120, efPercent=60``) pin the draw.
    """
    template = template or HeartTemplate.load()
    geometry = _lvGeometry(template)
    parameters = sampleParameters(seed, phenotype, **overrides)

    # 1-3: size, chamber ratios, random field
    points = template.vertices * parameters["globalScale"]
    for structure, key in _CHAMBER_SCALES.items():
        indices = template.structureVertexIndices(structure)
        centre = points[indices].mean(axis=0)
        radius = np.sqrt(np.mean(np.sum((points[indices] - centre) ** 2, axis=1)))
        points = chamberScale(points, centre, parameters[key], radius)
    points = RandomField(np.random.default_rng(parameters["fieldSeed"]))(points)

    # 4-5: LV dilation / sphericity solved for the EDV at the sampled wall thickness
    radiusLimit = 45.0 * parameters["globalScale"]
    sphericity = parameters["sphericity"]

    def diastolic(logScale: float) -> np.ndarray:
        scale = np.exp(logScale)
        dilated = lvRadialLongitudinal(points, scale * sphericity ** (1 / 3), scale * sphericity ** (-2 / 3),
                                       radiusLimit)
        return geometry.withWallThickness(dilated, parameters["wallThicknessMm"])

    logScale = _solve(lambda value: geometry.cavityMl(diastolic(value)) - parameters["edvMl"],
                      np.log(0.5), np.log(2.0))
    ed = diastolic(logScale)
    ed = applyTransform(heartFrame(ed, template), ed)

    # end-systole: solve the epicardial radial scale for the ESV, myocardial volume conserved
    myocardiumMl = geometry.epicardiumMl(ed) - geometry.cavityMl(ed)
    esvMl = parameters["edvMl"] * (1.0 - parameters["efPercent"] / 100.0)
    apexZ = float(template.landmarks(ed)["lvApex"][2])
    moved = baseDescent(ed, parameters["longitudinalShortening"] * apexZ, apexZ)
    moved = twist(moved, parameters["twistDeg"], apexZ)
    for structure, key in (("RV", "rvEsScale"), ("LA", "atrialEsScale"), ("RA", "atrialEsScale")):
        indices = template.structureVertexIndices(structure)
        centre = moved[indices].mean(axis=0)
        radius = np.sqrt(np.mean(np.sum((moved[indices] - centre) ** 2, axis=1)))
        moved = chamberScale(moved, centre, parameters[key], radius)
    esRadiusLimit = 45.0 * parameters["globalScale"]

    def systolic(radialScale: float) -> np.ndarray:
        contracted = lvRadialLongitudinal(moved, radialScale, 1.0, esRadiusLimit)
        cavityTarget = geometry.epicardiumMl(contracted) - myocardiumMl
        amount = _solve(lambda value: geometry.cavityMl(
            endocardialContraction(contracted, geometry.cavity, value, apexZ)) - cavityTarget, -0.3, 0.9)
        return endocardialContraction(contracted, geometry.cavity, amount, apexZ)

    radialScale = _solve(lambda value: geometry.cavityMl(systolic(value)) - esvMl, 0.6, 1.15)
    es = systolic(radialScale)
    parameters.update({"edLvScale": float(np.exp(logScale)), "esRadialScale": float(radialScale)})

    measuredEd, measuredEs = measureHeart(ed, template), measureHeart(es, template)
    edv, esv = measuredEd["lvCavityMl"], measuredEs["lvCavityMl"]
    measurements = {
        "edvMl": edv, "esvMl": esv, "strokeVolumeMl": edv - esv, "efPercent": 100.0 * (edv - esv) / edv,
        "lvMyocardialVolumeMl": measuredEd["lvMyocardialVolumeMl"], "lvMassG": measuredEd["lvMassG"],
        "wallThicknessEdMm": measuredEd["wallThicknessMm"], "wallThicknessEsMm": measuredEs["wallThicknessMm"],
        "lvLengthEdMm": measuredEd["lvLengthMm"], "lvLengthEsMm": measuredEs["lvLengthMm"],
        "sphericityIndexEd": measuredEd["sphericityIndex"],
        "mitralAnnularExcursionMm": float(np.linalg.norm(template.landmarks(es)["mitralAnnulus"]
                                                         - template.landmarks(ed)["mitralAnnulus"])),
        "volumesEdMl": {name: measuredEd[f"{name.replace(' ', '_')}Ml"] for name in STRUCTURES},
        "volumesEsMl": {name: measuredEs[f"{name.replace(' ', '_')}Ml"] for name in STRUCTURES},
    }
    return HeartShape(seed=int(seed), phenotype=parameters["phenotype"], verticesEd=ed, verticesEs=es,
                      parameters=parameters, measurements=measurements)


def triangleNormals(vertices: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """Unit normals [F, 3] of triangles (right-hand rule)."""
    normals = np.cross(vertices[triangles[:, 1]] - vertices[triangles[:, 0]],
                       vertices[triangles[:, 2]] - vertices[triangles[:, 0]])
    return normals / np.maximum(np.linalg.norm(normals, axis=1, keepdims=True), 1e-12)


def flippedTriangles(vertices: np.ndarray, reference: np.ndarray, triangles: np.ndarray) -> int:
    """Number of triangles whose normal turned by more than 90 degrees from ``reference`` (a fold indicator)."""
    return int(np.sum(np.einsum("ij,ij->i", triangleNormals(vertices, triangles),
                                triangleNormals(reference, triangles)) < 0.0))


__all__ = ["HeartShape", "PHENOTYPES", "sampleHeart", "sampleParameters", "measureHeart", "heartFrame",
           "flippedTriangles"]
