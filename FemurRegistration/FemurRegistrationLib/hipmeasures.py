"""Hip measurements of a right femur surface with the shape model's vertex numbering, and the model resource.

The resource ``FemurRegistration/Resources/ShapeModel/FemurShapeModel.npz`` (plain arrays; its README.md gives the
provenance and licence) holds the mean right femur, its principal modes, the triangles and the vertex groups the
measurements use. The runtime needs it to measure the registered atlas surface (and the atlas's femoral head,
the centre of the refinement's similarity); drawing random femurs and building the resource are development code
(``FemurRegistrationDev.shapemodel``).

Canonical femur frame
---------------------
All model coordinates are LPS millimetres of a right femur in the canonical frame:

- the proximal shaft axis (:data:`SHAFT_RANGE_BELOW_LESSER_TROCHANTER_MM`) points along +z (superior);
- the posterior condylar axis (lateral to medial posterior condyle), projected onto the plane perpendicular to
  the shaft axis, is +x; so medial = +x, anterior = -y and the anteversion is measured from x;
- the origin is the centre of the phantom crop box (:mod:`FemurRegistrationLib.grid`) and the femoral head
  centre of the mean shape lies at :data:`CANONICAL_HEAD_CENTRE_LPS` = (+24, 0, +50) mm.

``FemurRegistrationDev.shapemodel.sampleFemur`` re-aligns every sampled shape to the same frame with its own axes
(head centre
at :data:`CANONICAL_HEAD_CENTRE_LPS`), as the paper rotates each CT femur to a reference frame defined by its
own anatomy before adding pose variation.

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
from pathlib import Path

import numpy as np

#: Femoral head centre of the mean shape in the canonical frame (LPS mm): 24 mm medial of the box centre,
#: 55 mm above it (the crop box of :mod:`FemurRegistrationLib.grid` is 128 x 112 x 160 mm around the origin).
CANONICAL_HEAD_CENTRE_LPS = (24.0, 0.0, 50.0)

#: Proximal shaft axis: cross-sections this far below the lesser trochanter tip (mm, along the axis).
SHAFT_RANGE_BELOW_LESSER_TROCHANTER_MM = (20.0, 60.0)
SHAFT_SECTION_COUNT = 5
#: Section-centroid line fits of the shaft axis (the last two differ by less than 1e-5 mm on shape-model femurs).
SHAFT_AXIS_ITERATIONS = 6

#: Vertex groups stored in the resource (``group_<name>`` arrays of vertex indices).
GROUP_NAMES = ("head", "neck", "shaft", "greater_trochanter", "lesser_trochanter", "medial_posterior_condyle",
               "lateral_posterior_condyle", "medial_epicondyle", "lateral_epicondyle")


def defaultShapeModelPath() -> Path:
    """``Resources/ShapeModel/FemurShapeModel.npz`` of the module (next to ``FemurRegistrationLib``)."""
    return Path(__file__).resolve().parents[1] / "Resources" / "ShapeModel" / "FemurShapeModel.npz"


def unitVector(vector: np.ndarray) -> np.ndarray:
    vector = np.asarray(vector, dtype=float)
    return vector / np.linalg.norm(vector)


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
        return loadShapeModelFile(str(Path(path).resolve() if path is not None else defaultShapeModelPath()))

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


@functools.lru_cache(maxsize=4)
def loadShapeModelFile(path: str) -> FemurShapeModel:
    with np.load(path, allow_pickle=False) as data:
        groups = {name: data[f"group_{name}"] for name in GROUP_NAMES}
        return FemurShapeModel(data["mean_vertices_lps"], data["modes_lps"], data["triangles"], groups,
                               str(data["provenance"]))


# ------------------------------------------------------------------------------------------------------
# Measurements


def _shaftAxis(vertices: np.ndarray, model: FemurShapeModel, headCentre: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(point, unit direction towards the head, section centroids) of the proximal shaft axis."""
    # The shaft group is a short section of the shaft: on a stocky femur its own principal axis can run across the
    # shaft. The whole femur's principal axis (its length) gives the first direction; the section centroids refine it.
    point, direction = vertices[model.groups["shaft"]].mean(0), _fitLine(vertices)[1]
    lesser = vertices[model.groups["lesser_trochanter"]].mean(0)
    below = np.linspace(*SHAFT_RANGE_BELOW_LESSER_TROCHANTER_MM, SHAFT_SECTION_COUNT)
    centroids = None
    for _ in range(SHAFT_AXIS_ITERATIONS):
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


def vertexAreas(vertices: np.ndarray, triangles: np.ndarray) -> np.ndarray:
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
    weights = vertexAreas(vertices, model.triangles)[ring]
    centre = (vertices[ring] * weights[:, None]).sum(0) / weights.sum()
    return centre, unitVector(headCentre - centre)


def _posteriorCondyles(vertices: np.ndarray, model: FemurShapeModel, shaftDirection: np.ndarray
                       ) -> tuple[np.ndarray, np.ndarray]:
    """(medial, lateral) posterior condyle points: the bitangent of both condyles seen along the shaft axis."""
    medial, lateral = vertices[model.groups["medial_posterior_condyle"]], vertices[
        model.groups["lateral_posterior_condyle"]]
    axis = vertices[model.groups["medial_epicondyle"]].mean(0) - vertices[model.groups["lateral_epicondyle"]].mean(0)
    chosen = None
    for _ in range(10):
        axis = axis - (axis @ shaftDirection) * shaftDirection
        posterior = unitVector(np.cross(shaftDirection, axis))  # right femur: superior x medial = posterior
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
        return unitVector(vector - (vector @ shaftDirection) * shaftDirection)

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
