"""Statistical shape model of the right femur, its hip measurements and random femur shapes.

Source data
-----------
The surface model is derived from the lower-limb-and-pelvis principal component model ``LLP26_rigid`` of the
``musculoskeletal-models`` package 0.2.4 (Auckland Bioengineering Institute, Mozilla Public License 2.0,
https://github.com/musculoskeletal/models; 26 subjects, pelvis + left femur + patella + tibia/fibula, mm,
rigidly aligned) and its Lagrange-quartic femur mesh, evaluated once with ``gias3.fieldwork`` 3.0.1
(MPL-2.0) by :func:`buildShapeModel`. Only that build step needs gias3; the bundled resource
``Resources/ShapeModel/FemurShapeModel.npz`` holds plain arrays (see its README.md for provenance and licence).

The source frame is DICOM LPS: x towards the patient's left (the left ASIS lies at +x, the right ASIS at -x),
y posterior (ASIS at -y, PSIS at +y, the patella anterior of the femoral condyles) and z superior (femoral
head above the condyles). The model is of a LEFT femur; it is mirrored through the sagittal plane (x -> -x)
into a RIGHT femur, as the paper (Van Houtte et al. 2022) flips left femurs to resemble right ones.

Canonical femur frame
---------------------
All model coordinates are LPS millimetres of a right femur in the canonical frame:

- the proximal shaft axis (:data:`SHAFT_RANGE_BELOW_LESSER_TROCHANTER_MM`) points along +z (superior);
- the posterior condylar axis (lateral to medial posterior condyle), projected onto the plane perpendicular to
  the shaft axis, is +x; so medial = +x, anterior = -y and the anteversion is measured from x;
- the origin is the centre of the phantom crop box (:mod:`FemurRegistrationLib.phantom`) and the femoral head
  centre of the mean shape lies at :data:`CANONICAL_HEAD_CENTRE_LPS` = (+24, 0, +50) mm.

:meth:`FemurShapeModel.sample` re-aligns every sampled shape to the same frame with its own axes (head centre
at :data:`CANONICAL_HEAD_CENTRE_LPS`), as the paper rotates each CT femur to a reference frame defined by its
own anatomy before adding pose variation.

Extra variation
---------------
26 subjects span the population thinly, so each sample adds smooth local deformations with target values drawn
uniformly from :data:`NECK_SHAFT_ANGLE_RANGE_DEG` (115-140 deg), :data:`ANTEVERSION_RANGE_DEG` (-5 to 30 deg)
and :data:`HEAD_DIAMETER_RANGE_MM` (40-56 mm), each range intersected with the PCA shape's own value
+- :data:`MAX_NECK_SHAFT_ANGLE_CHANGE_DEG`, :data:`MAX_ANTEVERSION_CHANGE_DEG` or
:data:`MAX_HEAD_DIAMETER_CHANGE` (relative), so that no femur gets a local deformation larger than that (a
56 mm head on the smallest femur, say). The deformations (:func:`applyHipGeometry`): the head is scaled about
its centre, blended to zero along the neck; head and neck are bent (neck-shaft angle) and turned (anteversion)
about the neck base, blended to zero before the neck base and the trochanters; half of an anteversion change
is a torsion of the diaphysis instead (distal femur turned about the shaft axis, blended in 120-260 mm below
the lesser trochanter, outside the crop box). The amounts are solved so that the re-measured values hit the
targets; the re-measured values, not the targets, are the truth.

Sources for the ranges (which cover the normal adult population with margin): Toogood, Skalak, Cooperman,
"Proximal femoral anatomy in the normal human population", Clin Orthop Relat Res 2009;467(4):876-885
(375 cadaveric femurs; mean neck-shaft angle about 129 deg, mean anteversion about 10 deg, both with SDs of
7-9 deg); Boese et al., "The femoral neck-shaft angle on plain radiographs: a systematic review", Skeletal
Radiol 2016;45(1):19-28 (pooled mean about 129 deg). The head diameter range spans adult women to large men;
it is a design choice, not taken from one study.

Measurement definitions (:func:`hipMeasurements`)
------------------------------------------------
- head centre and diameter: least-squares sphere through the head vertices;
- shaft axis: line through the centroids of cross-section contours perpendicular to the axis, 20 to 60 mm
  below the lesser trochanter tip (iterated from a line fit of the shaft vertices; 60 rather than 80 mm keeps
  the sections inside the crop box for large femurs in any pose); direction superior;
- neck axis: line through the head centre and the neck centre (area-weighted centroid of a ring of vertices
  around the narrowest part of the neck, 0.7 to 1.2 head radii from the head centre in the mean shape);
  direction towards the head;
- neck-shaft angle: 3D angle between the neck axis (towards the head) and the shaft axis (distal direction);
- femoral offset: perpendicular 3D distance from the head centre to the shaft axis;
- anteversion: angle from the posterior condylar axis to the neck axis, both projected onto the plane
  perpendicular to the shaft axis; positive when the neck points anteriorly. The posterior condylar axis is the
  line touching the back of both condyles (bitangent in that plane), found from the condyle vertex groups.

Everything uses only vertex indices and geometry, so the same function measures a warped atlas mesh. The
condyles lie some 330 mm below the crop box, outside it: the anteversion of a mesh registered inside the box
depends on how its deformation carries the distal femur along.
"""

from __future__ import annotations

import functools
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = [
    "ANTEVERSION_RANGE_DEG",
    "CANONICAL_HEAD_CENTRE_LPS",
    "HEAD_DIAMETER_RANGE_MM",
    "NECK_SHAFT_ANGLE_RANGE_DEG",
    "PCA_TRUNCATION_SD",
    "FemurShape",
    "FemurShapeModel",
    "applyHipGeometry",
    "buildShapeModel",
    "canonicalTransform",
    "defaultShapeModelPath",
    "hipMeasurements",
    "transformPoints",
]

#: Femoral head centre of the mean shape in the canonical frame (LPS mm): 24 mm medial of the box centre,
#: 55 mm above it (the crop box of :mod:`FemurRegistrationLib.phantom` is 128 x 112 x 160 mm around the origin).
CANONICAL_HEAD_CENTRE_LPS = (24.0, 0.0, 50.0)

#: Principal component weights are N(0, 1) in SD units, redrawn outside +- this.
PCA_TRUNCATION_SD = 3.0
#: Uniform ranges of the extra variation targets (see the module docstring for sources).
NECK_SHAFT_ANGLE_RANGE_DEG = (115.0, 140.0)
ANTEVERSION_RANGE_DEG = (-5.0, 30.0)
HEAD_DIAMETER_RANGE_MM = (40.0, 56.0)

#: Proximal shaft axis: cross-sections this far below the lesser trochanter tip (mm, along the axis).
SHAFT_RANGE_BELOW_LESSER_TROCHANTER_MM = (20.0, 60.0)
SHAFT_SECTION_COUNT = 5

#: Largest change of the local deformations from the PCA shape's own value: targets are drawn uniformly from
#: the range above intersected with value +- this (head diameter: relative change).
MAX_NECK_SHAFT_ANGLE_CHANGE_DEG = 15.0
MAX_ANTEVERSION_CHANGE_DEG = 30.0
MAX_HEAD_DIAMETER_CHANGE = 0.15
#: Share of an anteversion change made by turning head and neck about the neck base; the rest is a torsion of
#: the diaphysis blended in between these distances below the lesser trochanter (mm, outside the crop box).
LOCAL_TWIST_FRACTION = 0.5
DISTAL_TORSION_RANGE_BELOW_LESSER_TROCHANTER_MM = (120.0, 260.0)
#: Neck ring of the mean shape: distance from the head centre along the neck axis, in head radii.
NECK_RING_DEPTH_RADII = (0.7, 1.2)

#: Vertex groups stored in the resource (``group_<name>`` arrays of vertex indices).
GROUP_NAMES = ("head", "neck", "shaft", "greater_trochanter", "lesser_trochanter", "medial_posterior_condyle",
               "lateral_posterior_condyle", "medial_epicondyle", "lateral_epicondyle")

# Source model layout (LLP26_rigid.pc, gias3 femur mesh).
_SOURCE_FEMUR_NODES = slice(1946, 2580)
_SOURCE_LANDMARK_NODES = {"greater_trochanter": 172, "lesser_trochanter": 276, "medial_epicondyle": 630,
                          "lateral_epicondyle": 550}
_SOURCE_HEAD_ELEMENTS = (0, 1, 2, 3, 4, 5, 6, 7)
_SOURCE_NECK_ELEMENTS = (13, 14, 15, 16)
_SOURCE_LATERAL_CONDYLE_ELEMENTS = (43, 44, 45, 46, 47)
_SOURCE_MEDIAL_CONDYLE_ELEMENTS = (48, 49, 50, 51, 52, 53)
_SOURCE_DISCRETISATION = (10, 10)
_SOURCE_FILES = {
    "pca": "musculoskeletal/models/shape_models/LLP26_rigid.pc",
    "geof": "musculoskeletal/models/atlas_meshes/femur_left_mean_rigid_LLP26.geof",
    "ens": "musculoskeletal/models/atlas_meshes/femur_left_quartic_flat.ens",
    "mesh": "musculoskeletal/models/atlas_meshes/femur_left_quartic_flat.mesh",
}


def defaultShapeModelPath() -> Path:
    """``Resources/ShapeModel/FemurShapeModel.npz`` of the module (next to ``FemurRegistrationLib``)."""
    return Path(__file__).resolve().parents[1] / "Resources" / "ShapeModel" / "FemurShapeModel.npz"


# ------------------------------------------------------------------------------------------------------
# Small geometry helpers


def _unit(vector: np.ndarray) -> np.ndarray:
    vector = np.asarray(vector, dtype=float)
    return vector / np.linalg.norm(vector)


def _smoothstep(x: np.ndarray, edge0: float, edge1: float) -> np.ndarray:
    """0 below edge0, 1 above edge1, C1-smooth (cubic) in between."""
    t = np.clip((np.asarray(x, dtype=float) - edge0) / (edge1 - edge0), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def _rotationMatrix(axis: np.ndarray, angleRad: np.ndarray) -> np.ndarray:
    """Rotation matrices (..., 3, 3) about a unit axis by angle(s) (right hand, radians)."""
    axis = _unit(axis)
    angleRad = np.asarray(angleRad, dtype=float)
    k = np.array([[0.0, -axis[2], axis[1]], [axis[2], 0.0, -axis[0]], [-axis[1], axis[0], 0.0]])
    s, c = np.sin(angleRad)[..., None, None], np.cos(angleRad)[..., None, None]
    return np.eye(3) + s * k + (1.0 - c) * (k @ k)


def transformPoints(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Apply a 4x4 homogeneous transform to (N, 3) points."""
    matrix = np.asarray(matrix, dtype=float)
    return np.asarray(points, dtype=float) @ matrix[:3, :3].T + matrix[:3, 3]


def _fitSphere(points: np.ndarray) -> tuple[np.ndarray, float]:
    """Algebraic least-squares sphere: (centre, radius)."""
    points = np.asarray(points, dtype=float)
    shift = points.mean(0)
    p = points - shift
    a = np.c_[2.0 * p, np.ones(len(p))]
    solution = np.linalg.lstsq(a, (p * p).sum(1), rcond=None)[0]
    centre = solution[:3]
    return centre + shift, float(np.sqrt(solution[3] + centre @ centre))


def _fitLine(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Total least-squares line: (centroid, unit direction)."""
    points = np.asarray(points, dtype=float)
    centroid = points.mean(0)
    return centroid, np.linalg.svd(points - centroid, full_matrices=False)[2][0]


def _sectionCentroid(vertices: np.ndarray, triangles: np.ndarray, origin: np.ndarray, normal: np.ndarray,
                     maxRadiusMm: float) -> np.ndarray | None:
    """Length-weighted centroid of the mesh's cut contour in a plane, keeping segments near ``origin``.

    :param origin: point of the plane (LPS mm); segments whose midpoint is more than ``maxRadiusMm`` from it are
        ignored (other parts of the bone the plane cuts).
    :param normal: unit normal of the plane.
    :return: centroid (LPS mm), or None where the plane misses the mesh near ``origin``.
    """
    height = (vertices - origin) @ normal
    heightTri = height[triangles]
    above = heightTri > 0.0
    crossing = above.any(1) & ~above.all(1)
    if not crossing.any():
        return None
    tri, heightTri, above = triangles[crossing], heightTri[crossing], above[crossing]
    points, crosses = [], []
    for a, b in ((0, 1), (1, 2), (2, 0)):
        crosses.append(above[:, a] != above[:, b])
        denominator = heightTri[:, a] - heightTri[:, b]
        t = np.divide(heightTri[:, a], denominator, out=np.zeros_like(denominator), where=denominator != 0.0)
        pa, pb = vertices[tri[:, a]], vertices[tri[:, b]]
        points.append(pa + t[:, None] * (pb - pa))
    points, crosses = np.stack(points, 1), np.stack(crosses, 1)  # (F, 3, 3), (F, 3): two edges cross per face
    order = np.argsort(~crosses, axis=1, kind="stable")[:, :2]
    rows = np.arange(len(points))[:, None]
    ends = points[rows, order]  # (F, 2, 3)
    midpoints = ends.mean(1)
    lengths = np.linalg.norm(ends[:, 1] - ends[:, 0], axis=1)
    keep = np.linalg.norm(midpoints - origin, axis=1) <= maxRadiusMm
    if lengths[keep].sum() <= 0.0:
        return None
    return (midpoints[keep] * lengths[keep, None]).sum(0) / lengths[keep].sum()


def _closestPointOnFirstLine(point1: np.ndarray, direction1: np.ndarray, point2: np.ndarray,
                             direction2: np.ndarray) -> np.ndarray:
    """Point of line 1 closest to line 2 (unit directions, not parallel)."""
    w = point1 - point2
    b = direction1 @ direction2
    d, e = direction1 @ w, direction2 @ w
    denominator = 1.0 - b * b
    s = (b * e - d) / denominator if denominator > 1e-12 else 0.0
    return point1 + s * direction1


# ------------------------------------------------------------------------------------------------------
# Model


@dataclass
class FemurShape:
    """One femur surface.

    :ivar verticesLps: (V, 3) float64 vertices, LPS mm (canonical frame unless said otherwise).
    :ivar triangles: (F, 3) int64 vertex indices, outward normals (counter-clockwise seen from outside).
    :ivar parameters: how it was made: ``pca_weights_sd`` (M,), target and measured values, etc.
    """

    verticesLps: np.ndarray
    triangles: np.ndarray
    parameters: dict = field(default_factory=dict)


class FemurShapeModel:
    """Right femur PCA surface model in the canonical frame (LPS mm); see the module docstring.

    :ivar meanVerticesLps: (V, 3) float64 mean surface.
    :ivar modesLps: (M, V, 3) float64 displacement of each mode for +1 SD (mm).
    :ivar triangles: (F, 3) int64, closed, outward oriented.
    :ivar groups: vertex index arrays keyed by :data:`GROUP_NAMES`.
    :ivar provenance: text on where the arrays come from.
    """

    def __init__(self, meanVerticesLps: np.ndarray, modesLps: np.ndarray, triangles: np.ndarray,
                 groups: dict[str, np.ndarray], provenance: str = ""):
        self.meanVerticesLps = np.asarray(meanVerticesLps, dtype=float)
        self.modesLps = np.asarray(modesLps, dtype=float)
        self.triangles = np.asarray(triangles, dtype=np.int64)
        self.groups = {name: np.asarray(indices, dtype=np.int64) for name, indices in groups.items()}
        self.provenance = provenance
        for array in (self.meanVerticesLps, self.modesLps, self.triangles, *self.groups.values()):
            array.flags.writeable = False

    @classmethod
    def load(cls, path: str | os.PathLike | None = None) -> FemurShapeModel:
        """Read the resource (default :func:`defaultShapeModelPath`); cached, the arrays are read-only."""
        return _loadShapeModel(str(Path(path).resolve() if path is not None else defaultShapeModelPath()))

    @property
    def numberOfModes(self) -> int:
        return len(self.modesLps)

    def vertices(self, weightsSd: np.ndarray | None = None) -> np.ndarray:
        """Surface for PCA weights in SD units (first ``len(weightsSd)`` modes), canonical frame of the mean.

        The shape is not re-aligned: the source PCA also carries some rigid motion of the femur.
        """
        if weightsSd is None or len(weightsSd) == 0:
            return self.meanVerticesLps.copy()
        weightsSd = np.asarray(weightsSd, dtype=float)
        return self.meanVerticesLps + np.tensordot(weightsSd, self.modesLps[:len(weightsSd)], axes=1)

    def sample(self, rng: np.random.Generator, extraVariation: bool = True) -> FemurShape:
        """A random femur, aligned to the canonical frame by its own axes.

        Draws PCA weights (N(0, 1), redrawn beyond :data:`PCA_TRUNCATION_SD`); with ``extraVariation`` also target
        neck-shaft angle, anteversion and head diameter (uniform in the module's ranges, within the largest
        allowed change of the PCA shape's own values) and deforms the shape to them (:func:`applyHipGeometry`).

        :return: shape whose ``parameters`` hold ``pca_weights_sd``, ``target_<name>``, ``pca_<name>`` (value
            before the deformation) and the re-measured ``<name>`` (the truth) for ``neck_shaft_angle_deg``,
            ``anteversion_deg``, ``head_diameter_mm``, plus ``femoral_offset_mm``.
        """
        weights = rng.standard_normal(self.numberOfModes)
        while np.any(np.abs(weights) > PCA_TRUNCATION_SD):
            outside = np.abs(weights) > PCA_TRUNCATION_SD
            weights[outside] = rng.standard_normal(int(outside.sum()))
        vertices = self.vertices(weights)
        parameters: dict = {"pca_weights_sd": weights}
        if extraVariation:
            before = hipMeasurements(vertices, self)
            nsa, anteversion, diameter = (before[name] for name in ("neck_shaft_angle_deg", "anteversion_deg",
                                                                    "head_diameter_mm"))
            targets = {
                "neck_shaft_angle_deg": _uniformNear(rng, NECK_SHAFT_ANGLE_RANGE_DEG, nsa,
                                                     MAX_NECK_SHAFT_ANGLE_CHANGE_DEG),
                "anteversion_deg": _uniformNear(rng, ANTEVERSION_RANGE_DEG, anteversion, MAX_ANTEVERSION_CHANGE_DEG),
                "head_diameter_mm": _uniformNear(rng, HEAD_DIAMETER_RANGE_MM, diameter,
                                                 MAX_HEAD_DIAMETER_CHANGE * diameter),
            }
            vertices = applyHipGeometry(vertices, self, neckShaftAngleDeg=targets["neck_shaft_angle_deg"],
                                        anteversionDeg=targets["anteversion_deg"],
                                        headDiameterMm=targets["head_diameter_mm"])
            parameters.update({f"target_{name}": value for name, value in targets.items()})
            parameters.update({f"pca_{name}": float(before[name]) for name in targets})
        vertices = transformPoints(canonicalTransform(vertices, self), vertices)
        after = hipMeasurements(vertices, self)
        for name in ("neck_shaft_angle_deg", "anteversion_deg", "head_diameter_mm", "femoral_offset_mm"):
            parameters[name] = float(after[name])
        return FemurShape(vertices, self.triangles.copy(), parameters)


def _uniformNear(rng: np.random.Generator, bounds: tuple[float, float], value: float, maxChange: float) -> float:
    """Uniform draw from ``bounds`` intersected with ``value +- maxChange`` (the nearer bound if they miss)."""
    low, high = max(bounds[0], value - maxChange), min(bounds[1], value + maxChange)
    if low > high:
        return float(bounds[0] if value < bounds[0] else bounds[1])
    return float(rng.uniform(low, high))


@functools.lru_cache(maxsize=4)
def _loadShapeModel(path: str) -> FemurShapeModel:
    with np.load(path, allow_pickle=False) as data:
        groups = {name: data[f"group_{name}"] for name in GROUP_NAMES}
        return FemurShapeModel(data["mean_vertices_lps"], data["modes_lps"], data["triangles"], groups,
                               str(data["provenance"]))


# ------------------------------------------------------------------------------------------------------
# Measurements


def _shaftAxis(vertices: np.ndarray, model: FemurShapeModel, headCentre: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(point, unit direction towards the head, section centroids) of the proximal shaft axis."""
    point, direction = _fitLine(vertices[model.groups["shaft"]])
    lesser = vertices[model.groups["lesser_trochanter"]].mean(0)
    below = np.linspace(*SHAFT_RANGE_BELOW_LESSER_TROCHANTER_MM, SHAFT_SECTION_COUNT)
    centroids = None
    for _ in range(3):
        if (headCentre - point) @ direction < 0.0:
            direction = -direction
        levels = (lesser - point) @ direction - below
        found = [_sectionCentroid(vertices, model.triangles, point + level * direction, direction, 35.0)
                 for level in levels]
        found = [centroid for centroid in found if centroid is not None]
        if len(found) < 3:
            raise ValueError("the shaft cross-sections below the lesser trochanter were not found")
        centroids = np.array(found)
        point, direction = _fitLine(centroids)
    if (headCentre - point) @ direction < 0.0:
        direction = -direction
    return point, direction, centroids


def _vertexAreas(vertices: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """A third of the area of the triangles around each vertex (mm^2)."""
    a, b, c = (vertices[triangles[:, i]] for i in range(3))
    area = 0.5 * np.linalg.norm(np.cross(b - a, c - a), axis=1)
    areas = np.zeros(len(vertices))
    np.add.at(areas, triangles.ravel(), np.repeat(area / 3.0, 3))
    return areas


def _neckAxis(vertices: np.ndarray, model: FemurShapeModel, headCentre: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(neck centre, unit direction towards the head) of the neck axis through the head centre.

    The neck centre is the area-weighted centroid of the neck group, a ring around the narrowest part of the
    neck; it moves smoothly with the surface (plane sections would jump where the cut reaches the trochanters).
    """
    ring = model.groups["neck"]
    weights = _vertexAreas(vertices, model.triangles)[ring]
    centre = (vertices[ring] * weights[:, None]).sum(0) / weights.sum()
    return centre, _unit(headCentre - centre)


def _posteriorCondyles(vertices: np.ndarray, model: FemurShapeModel, shaftDirection: np.ndarray
                       ) -> tuple[np.ndarray, np.ndarray]:
    """(medial, lateral) posterior condyle points: the bitangent of both condyles seen along the shaft axis."""
    medial, lateral = vertices[model.groups["medial_posterior_condyle"]], vertices[
        model.groups["lateral_posterior_condyle"]]
    axis = vertices[model.groups["medial_epicondyle"]].mean(0) - vertices[model.groups["lateral_epicondyle"]].mean(0)
    chosen = None
    for _ in range(10):
        axis = axis - (axis @ shaftDirection) * shaftDirection
        posterior = _unit(np.cross(shaftDirection, axis))  # right femur: superior x medial = posterior
        indices = (int(np.argmax(medial @ posterior)), int(np.argmax(lateral @ posterior)))
        if indices == chosen:
            break
        chosen = indices
        axis = medial[indices[0]] - lateral[indices[1]]
    return medial[chosen[0]], lateral[chosen[1]]


def hipMeasurements(verticesLps: np.ndarray, model: FemurShapeModel) -> dict:
    """Hip geometry of a right femur surface with the model's vertex numbering (any pose, LPS mm).

    :return: dict with ``head_centre_lps`` (3,), ``head_diameter_mm``, ``neck_axis_direction`` (unit, towards
        the head; the axis passes through the head centre and ``neck_centre_lps``), ``shaft_axis_point_lps`` (3,) and
        ``shaft_axis_direction`` (unit, superior), ``shaft_section_centroids_lps`` (N, 3), ``neck_base_lps``
        (point of the neck axis closest to the shaft axis), ``neck_shaft_angle_deg``, ``femoral_offset_mm``,
        ``anteversion_deg`` (positive: neck points anteriorly), ``posterior_condylar_axis_direction`` (unit,
        lateral to medial) and the landmarks ``greater_trochanter_lps``, ``lesser_trochanter_lps``,
        ``medial_posterior_condyle_lps``, ``lateral_posterior_condyle_lps``, ``medial_epicondyle_lps``,
        ``lateral_epicondyle_lps``. Definitions in the module docstring.
    """
    vertices = np.asarray(verticesLps, dtype=float)
    headCentre, headRadius = _fitSphere(vertices[model.groups["head"]])
    shaftPoint, shaftDirection, centroids = _shaftAxis(vertices, model, headCentre)
    neckCentre, neckDirection = _neckAxis(vertices, model, headCentre)
    medialCondyle, lateralCondyle = _posteriorCondyles(vertices, model, shaftDirection)

    neckShaftAngle = math.degrees(math.acos(np.clip(neckDirection @ -shaftDirection, -1.0, 1.0)))
    relative = headCentre - shaftPoint
    offset = float(np.linalg.norm(relative - (relative @ shaftDirection) * shaftDirection))

    def projected(vector):
        return _unit(vector - (vector @ shaftDirection) * shaftDirection)

    condylarAxis = projected(medialCondyle - lateralCondyle)
    anterior = np.cross(condylarAxis, shaftDirection)  # right femur: medial x superior = anterior
    neckProjected = projected(neckDirection)
    anteversion = math.degrees(math.atan2(neckProjected @ anterior, neckProjected @ condylarAxis))
    return {
        "head_centre_lps": headCentre,
        "head_diameter_mm": 2.0 * headRadius,
        "neck_axis_direction": neckDirection,
        "neck_centre_lps": neckCentre,
        "shaft_axis_point_lps": shaftPoint,
        "shaft_axis_direction": shaftDirection,
        "shaft_section_centroids_lps": centroids,
        "neck_base_lps": _closestPointOnFirstLine(headCentre, neckDirection, shaftPoint, shaftDirection),
        "neck_shaft_angle_deg": neckShaftAngle,
        "femoral_offset_mm": offset,
        "anteversion_deg": anteversion,
        "posterior_condylar_axis_direction": condylarAxis,
        "greater_trochanter_lps": vertices[model.groups["greater_trochanter"]].mean(0),
        "lesser_trochanter_lps": vertices[model.groups["lesser_trochanter"]].mean(0),
        "medial_posterior_condyle_lps": medialCondyle,
        "lateral_posterior_condyle_lps": lateralCondyle,
        "medial_epicondyle_lps": vertices[model.groups["medial_epicondyle"]].mean(0),
        "lateral_epicondyle_lps": vertices[model.groups["lateral_epicondyle"]].mean(0),
    }


def canonicalTransform(verticesLps: np.ndarray, model: FemurShapeModel,
                       measurements: dict | None = None) -> np.ndarray:
    """4x4 rigid transform from the shape's frame to the canonical frame (by its own measurements).

    Shaft axis -> +z, projected posterior condylar axis -> +x, head centre -> :data:`CANONICAL_HEAD_CENTRE_LPS`.
    """
    if measurements is None:
        measurements = hipMeasurements(verticesLps, model)
    zAxis = measurements["shaft_axis_direction"]
    xAxis = measurements["posterior_condylar_axis_direction"]
    xAxis = _unit(xAxis - (xAxis @ zAxis) * zAxis)
    rotation = np.array([xAxis, np.cross(zAxis, xAxis), zAxis])
    matrix = np.eye(4)
    matrix[:3, :3] = rotation
    matrix[:3, 3] = np.asarray(CANONICAL_HEAD_CENTRE_LPS) - rotation @ measurements["head_centre_lps"]
    return matrix


# ------------------------------------------------------------------------------------------------------
# Local deformations


def _neckWeights(vertices: np.ndarray, measurements: dict) -> tuple[np.ndarray, np.ndarray]:
    """(weight of the head-neck rotation, weight of the head scaling) per vertex.

    Both are smooth functions of the distance from the head centre: 1 over the head, falling to 0 along the
    neck; the rotation weight reaches 0 before the neck base and the trochanters, the scaling weight within
    0.6 head radii of the head surface.
    """
    headCentre = measurements["head_centre_lps"]
    radius = 0.5 * measurements["head_diameter_mm"]
    distance = np.linalg.norm(vertices - headCentre, axis=1)
    fixedDistance = min(float(np.linalg.norm(measurements[name] - headCentre))
                        for name in ("neck_base_lps", "greater_trochanter_lps", "lesser_trochanter_lps"))
    rotationEnd = max(fixedDistance - 3.0, 1.05 * radius + 10.0)
    rotationWeight = 1.0 - _smoothstep(distance, 1.05 * radius, rotationEnd)
    scalingWeight = 1.0 - _smoothstep(distance, radius + 1.5, 1.6 * radius + 1.5)
    return rotationWeight, scalingWeight


def _deformOnce(vertices: np.ndarray, measurements: dict, scale: float, bendDeg: float, twistDeg: float
                ) -> np.ndarray:
    """Head scaling, neck bend and anteversion twist of ``vertices`` measured by ``measurements``.

    The twist is shared: :data:`LOCAL_TWIST_FRACTION` turns the head and neck about the neck base, the rest is a
    torsion of the diaphysis (rotation of the distal femur about the shaft axis, blended in between
    :data:`DISTAL_TORSION_RANGE_BELOW_LESSER_TROCHANTER_MM`, outside the crop box).
    """
    rotationWeight, scalingWeight = _neckWeights(vertices, measurements)
    headCentre = measurements["head_centre_lps"]
    base = measurements["neck_base_lps"]
    shaft = measurements["shaft_axis_direction"]
    neck = measurements["neck_axis_direction"]
    below = (measurements["lesser_trochanter_lps"] - vertices) @ shaft
    torsionWeight = _smoothstep(below, *DISTAL_TORSION_RANGE_BELOW_LESSER_TROCHANTER_MM)
    # head scaling about the head centre
    factor = 1.0 + (scale - 1.0) * scalingWeight
    vertices = headCentre + factor[:, None] * (vertices - headCentre)
    # neck-shaft angle: rotation in the plane of the neck and shaft axes, about the neck base
    bendAxis = np.cross(-shaft, neck)
    if np.linalg.norm(bendAxis) > 1e-9 and bendDeg != 0.0:
        rotations = _rotationMatrix(bendAxis, np.radians(bendDeg) * rotationWeight)
        vertices = base + np.einsum("nij,nj->ni", rotations, vertices - base)
    # anteversion: for a right femur a rotation about -superior turns the neck from medial towards anterior;
    # the distal femur turns the other way about the shaft axis
    if twistDeg != 0.0:
        angles = np.radians(twistDeg) * (LOCAL_TWIST_FRACTION * rotationWeight
                                         - (1.0 - LOCAL_TWIST_FRACTION) * torsionWeight)
        rotations = _rotationMatrix(-shaft, angles)
        pivot = np.where(torsionWeight[:, None] > 0.0, measurements["shaft_axis_point_lps"], base)
        vertices = pivot + np.einsum("nij,nj->ni", rotations, vertices - pivot)
    return vertices


def applyHipGeometry(verticesLps: np.ndarray, model: FemurShapeModel, neckShaftAngleDeg: float | None = None,
                     anteversionDeg: float | None = None, headDiameterMm: float | None = None,
                     iterations: int = 8, tolerance: float = 0.05) -> np.ndarray:
    """Deform a right femur to target neck-shaft angle, anteversion and head diameter (None: keep as is).

    One smooth local deformation of the input (head scaled about its centre; head and neck rotated about the
    neck base, blended to zero before the base and the trochanters) whose three amounts are found by secant
    iteration on the re-measured values, until within ``tolerance`` (deg, mm). Shaft, trochanters and condyles
    do not move.

    :return: deformed (V, 3) vertices, LPS mm, same frame as the input.
    """
    original = np.asarray(verticesLps, dtype=float)
    start = hipMeasurements(original, model)
    names = ("head_diameter_mm", "neck_shaft_angle_deg", "anteversion_deg")
    targets = np.array([start[name] if target is None else float(target)
                        for name, target in zip(names, (headDiameterMm, neckShaftAngleDeg, anteversionDeg))])
    values = np.array([start[name] for name in names])
    # unknowns: head scale factor, bend (deg) and twist (deg); gains: d(measured) / d(unknown)
    amounts = np.array([1.0, 0.0, 0.0])
    gains = np.array([values[0], 1.0, 1.0])
    vertices = original
    for _ in range(iterations):
        residual = targets - values
        if np.all(np.abs(residual) < tolerance):
            break
        step = residual / gains
        amounts = amounts + step
        vertices = _deformOnce(original, start, *amounts)
        measured = hipMeasurements(vertices, model)
        newValues = np.array([measured[name] for name in names])
        moved = np.abs(step) > 1e-6
        gains[moved] = np.clip((newValues - values)[moved] / step[moved], 0.3 * np.abs(gains[moved]) + 1e-9,
                               3.0 * np.abs(gains[moved]) + 1e-9)
        values = newValues
    return vertices


# ------------------------------------------------------------------------------------------------------
# Building the resource from the source packages (the only place that uses gias3)


class _NumpyOnlyUnpickler:
    """Unpickler that only builds numpy objects (the .pc file is a pickled dict of arrays)."""

    def __new__(cls, file):
        import pickle

        class Unpickler(pickle.Unpickler):
            def find_class(self, module, name):
                if not module.startswith("numpy"):
                    raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
                return super().find_class(module.replace("numpy.core", "numpy._core", 1), name)

        return Unpickler(file)


def _evaluateSourceMesh(sourceDirectory: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[int, set[int]]]:
    """Linear map from the 634 femur mesh nodes to the triangulated surface, with gias3.fieldwork.

    :return: (B (V, 634) with vertices = B @ nodes, triangles (F, 3) as gias3 orients them, node positions of the
        mean (634, 3), element index -> node set).
    """
    import sys

    import scipy

    # gias3.fieldwork 3.0.1 uses numpy functions through old scipy aliases that scipy removed.
    aliases = [name for name in ("sin", "cos", "linspace", "pi", "mod", "array", "hstack", "newaxis", "add", "sum",
                                 "sqrt", "multiply", "dot") if not hasattr(scipy, name)]
    for name in aliases:
        setattr(scipy, name, getattr(np, name))
    sys.path.insert(0, str(sourceDirectory))
    try:
        from gias3.fieldwork.field import geometric_field

        gf = geometric_field.load_geometric_field(*(str(sourceDirectory / _SOURCE_FILES[key])
                                                    for key in ("geof", "ens", "mesh")))
        vertices, triangles, uniqueIndices, _ = gf.triangulate(list(_SOURCE_DISCRETISATION), ret_vert_map=True)
        nodes = gf.get_field_parameters()[:, :, 0].T
        nodeCount = len(nodes)
        elementMap = gf.ensemble_field_function.mapper._element_to_ensemble_map
        elementNodes = {int(e): {int(g) for point in elementMap[e] for g in elementMap[e][point][0]}
                        for e in elementMap}
        gf.flatten_ensemble_field_function()
        ensemble = gf.ensemble_field_function
        for key in list(ensemble.evaluators):  # evaluate the basis functions themselves (identity parameters)
            ensemble.evaluators[key] = lambda basis, parameters: (np.asarray(basis).T @ np.asarray(parameters)).T
        basisAll = ensemble.evaluate_field_in_mesh(list(_SOURCE_DISCRETISATION), np.eye(nodeCount))
        gf.ensemble_field_function = gf.ensemble_field_function_old
    finally:
        sys.path.remove(str(sourceDirectory))
        for name in aliases:
            delattr(scipy, name)
    basis = np.asarray(basisAll)[:, uniqueIndices].T
    error = np.abs(basis @ nodes - vertices).max()
    if error > 1e-6:
        raise RuntimeError(f"surface basis does not reproduce the gias3 triangulation (max error {error} mm)")
    return basis, np.asarray(triangles, dtype=np.int64), nodes, elementNodes


def _signedVolume(vertices: np.ndarray, triangles: np.ndarray) -> float:
    a, b, c = (vertices[triangles[:, i]] for i in range(3))
    return float(np.einsum("ij,ij->i", a, np.cross(b, c)).sum() / 6.0)


def _defineGroups(vertices: np.ndarray, model: FemurShapeModel, elementVertices: dict[str, np.ndarray],
                  landmarkVertices: dict[str, int]) -> dict[str, np.ndarray]:
    """Vertex groups on the mean shape; ``model`` holds the provisional groups for the current measurements."""
    measured = hipMeasurements(vertices, model)
    headCentre, radius = measured["head_centre_lps"], 0.5 * measured["head_diameter_mm"]
    shaftPoint, shaftDirection = measured["shaft_axis_point_lps"], measured["shaft_axis_direction"]
    neckDirection = measured["neck_axis_direction"]
    groups = {name: np.array([index]) for name, index in landmarkVertices.items()}

    # head: vertices of the head elements that lie on the sphere and on the cap away from the neck
    candidates = elementVertices["head"]
    relative = vertices[candidates] - headCentre
    distance = np.linalg.norm(relative, axis=1)
    onSphere = np.abs(distance - radius) < 1.0
    onCap = (relative @ neckDirection) > -0.3 * radius
    groups["head"] = candidates[onSphere & onCap]

    # neck: ring around the narrowest part of the neck (found iteratively: the ring defines the axis)
    ring = elementVertices["neck"]
    for _ in range(5):
        weights = _vertexAreas(vertices, model.triangles)[ring]
        neckDirection = _unit(headCentre - (vertices[ring] * weights[:, None]).sum(0) / weights.sum())
        relative = vertices - headCentre
        depth = -(relative @ neckDirection)
        radial = np.linalg.norm(relative + np.outer(depth, neckDirection), axis=1)
        ring = np.nonzero((depth > NECK_RING_DEPTH_RADII[0] * radius) & (depth < NECK_RING_DEPTH_RADII[1] * radius)
                          & (radial < 1.1 * radius))[0]
    groups["neck"] = ring

    # shaft: the measured range below the lesser trochanter +- 5 mm, within 30 mm of the axis
    along = (vertices - vertices[landmarkVertices["lesser_trochanter"]]) @ shaftDirection
    relative = vertices - shaftPoint
    radial = np.linalg.norm(relative - np.outer(relative @ shaftDirection, shaftDirection), axis=1)
    top, bottom = SHAFT_RANGE_BELOW_LESSER_TROCHANTER_MM
    groups["shaft"] = np.nonzero((along < 5.0 - top) & (along > -5.0 - bottom) & (radial < 30.0))[0]

    # posterior condyles: the posterior half of each condyle's elements, seen along the shaft axis
    condylarAxis = measured["posterior_condylar_axis_direction"]
    posterior = np.cross(shaftDirection, condylarAxis)
    for side in ("medial", "lateral"):
        indices = elementVertices[f"{side}_condyle"]
        depth = vertices[indices] @ posterior
        groups[f"{side}_posterior_condyle"] = indices[depth > np.percentile(depth, 50)]
    return {name: np.sort(np.asarray(groups[name], dtype=np.int64)) for name in GROUP_NAMES}


def buildShapeModel(sourceDirectory: str | os.PathLike, outputPath: str | os.PathLike) -> dict:
    """Derive ``FemurShapeModel.npz`` from the unpacked source wheels.

    :param sourceDirectory: folder where these wheels were unzipped together::

            pip download --no-deps musculoskeletal-models==0.2.4 gias3.fieldwork==3.0.1 gias3.common==3.0.0
            for w in *.whl; do unzip -o "$w" -d DIR; done

    :param outputPath: the .npz to write (float32 vertices and modes, int32 triangles and groups).
    :return: summary (vertex and triangle counts, volume, mean measurements, file size).
    """
    source = Path(sourceDirectory)
    with open(source / _SOURCE_FILES["pca"], "rb") as file:
        pca = _NumpyOnlyUnpickler(file).load()
    mean, modes, variances = (np.asarray(pca[key], dtype=float) for key in ("mean", "modes", "weights"))
    nodeTotal = mean.size // 3
    meanNodes = mean.reshape(3, nodeTotal).T[_SOURCE_FEMUR_NODES]  # coordinate-major: x0.., y0.., z0..
    standardDeviations = np.sqrt(np.clip(variances, 0.0, None))
    modeNodes = (modes * standardDeviations).T.reshape(len(variances), 3, nodeTotal).transpose(0, 2, 1)
    modeNodes = modeNodes[:, _SOURCE_FEMUR_NODES]

    basis, triangles, geofNodes, elementNodes = _evaluateSourceMesh(source)
    nodeError = float(np.abs(geofNodes - meanNodes).max())

    # surface of the LEFT femur, mirrored into a right femur (x -> -x)
    mirror = np.array([-1.0, 1.0, 1.0])
    vertices = (basis @ meanNodes) * mirror
    modeVertices = np.einsum("vn,mnc->mvc", basis, modeNodes) * mirror
    triangles = triangles[:, ::-1]
    if _signedVolume(vertices, triangles) < 0.0:
        triangles = triangles[:, ::-1]

    # element membership of each vertex (its basis support lies inside the element's nodes)
    support = [set(np.nonzero(np.abs(row) > 1e-9)[0].tolist()) for row in basis]

    def verticesOf(elements):
        nodeSets = [elementNodes[e] for e in elements]
        return np.array([v for v, nodes in enumerate(support) if any(nodes <= s for s in nodeSets)], dtype=np.int64)

    elementVertices = {"head": verticesOf(_SOURCE_HEAD_ELEMENTS), "neck": verticesOf(_SOURCE_NECK_ELEMENTS),
                       "medial_condyle": verticesOf(_SOURCE_MEDIAL_CONDYLE_ELEMENTS),
                       "lateral_condyle": verticesOf(_SOURCE_LATERAL_CONDYLE_ELEMENTS)}
    landmarkVertices = {name: int(np.argmin(np.linalg.norm(vertices - meanNodes[node] * mirror, axis=1)))
                        for name, node in _SOURCE_LANDMARK_NODES.items()}

    # provisional groups in the source frame (z superior, condyles distal, medial = +x after mirroring)
    lesser = vertices[landmarkVertices["lesser_trochanter"]]
    provisional = {name: np.array([index]) for name, index in landmarkVertices.items()}
    provisional["head"] = elementVertices["head"]
    provisional["neck"] = elementVertices["neck"]
    top, bottom = SHAFT_RANGE_BELOW_LESSER_TROCHANTER_MM
    provisional["shaft"] = np.nonzero((vertices[:, 2] < lesser[2] + 5.0 - top)
                                      & (vertices[:, 2] > lesser[2] - 5.0 - bottom))[0]
    for side in ("medial", "lateral"):
        indices = elementVertices[f"{side}_condyle"]
        provisional[f"{side}_posterior_condyle"] = indices[vertices[indices, 1] > np.median(vertices[indices, 1])]
    model = FemurShapeModel(vertices, modeVertices, triangles, provisional)
    for _ in range(3):  # align, redefine groups in the new frame, repeat until stable
        matrix = canonicalTransform(vertices, model)
        vertices = transformPoints(matrix, vertices)
        modeVertices = modeVertices @ matrix[:3, :3].T
        groups = _defineGroups(vertices, model, elementVertices, landmarkVertices)
        model = FemurShapeModel(vertices, modeVertices, triangles, groups)
    matrix = canonicalTransform(vertices, model)
    vertices = transformPoints(matrix, vertices)
    modeVertices = modeVertices @ matrix[:3, :3].T

    provenance = (
        "Right femur surface PCA model derived by FemurRegistrationLib.shapemodel.buildShapeModel from "
        "musculoskeletal-models 0.2.4 (Auckland Bioengineering Institute, MPL-2.0, "
        "https://github.com/musculoskeletal/models): shape_models/LLP26_rigid.pc (26-subject PCA of pelvis, "
        "left femur, patella, tibia/fibula; femur nodes 1946-2579) and atlas_meshes/femur_left_quartic_flat "
        "(Lagrange quartic mesh, triangulated at 10x10 per element with gias3.fieldwork 3.0.1, MPL-2.0). "
        "Left femur mirrored x -> -x; rigidly moved to the canonical frame (LPS mm: shaft axis +z, posterior "
        f"condylar axis +x (medial), anterior -y, mean head centre at {CANONICAL_HEAD_CENTRE_LPS}). "
        "modes_lps: displacement per +1 SD of each principal component (mode 26 has zero variance).")
    output = Path(outputPath)
    output.parent.mkdir(parents=True, exist_ok=True)
    arrays = {
        "mean_vertices_lps": vertices.astype(np.float32),
        "modes_lps": modeVertices.astype(np.float32),
        "triangles": triangles.astype(np.int32),
        "mode_standard_deviations": standardDeviations.astype(np.float32),
        "provenance": np.array(provenance),
        **{f"group_{name}": indices.astype(np.int32) for name, indices in model.groups.items()},
    }
    np.savez_compressed(output, **arrays)
    _loadShapeModel.cache_clear()
    measured = hipMeasurements(vertices, model)
    return {
        "vertices": len(vertices), "triangles": len(triangles), "modes": len(modeVertices),
        "volume_mm3": _signedVolume(vertices, triangles), "node_mismatch_mm": nodeError,
        "file_bytes": output.stat().st_size,
        **{key: value for key, value in measured.items() if key.endswith(("_deg", "_mm"))},
        "head_centre_lps": measured["head_centre_lps"].round(3).tolist(),
        "group_sizes": {name: len(indices) for name, indices in model.groups.items()},
    }


def _main(argv: list[str] | None = None) -> int:
    import argparse
    import json

    parser = argparse.ArgumentParser(prog="python -m FemurRegistrationLib.shapemodel",
                                     description="Femur shape model resource tools.")
    commands = parser.add_subparsers(dest="command", required=True)
    build = commands.add_parser("build", help="derive FemurShapeModel.npz from the unpacked source wheels")
    build.add_argument("--source", required=True, help="folder with the unzipped wheels")
    build.add_argument("--out", default=str(defaultShapeModelPath()), help="output .npz")
    arguments = parser.parse_args(argv)
    summary = buildShapeModel(arguments.source, arguments.out)
    print(json.dumps(summary, indent=1, default=float))
    return 0


if __name__ == "__main__":
    raise SystemExit(_main())
