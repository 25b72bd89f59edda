"""Random femur shapes from the statistical shape model of the right femur, and the build of its resource.

Source data
-----------
The surface model is derived from the lower-limb-and-pelvis principal component model ``LLP26_rigid`` of the
``musculoskeletal-models`` package 0.2.4 (Auckland Bioengineering Institute, Mozilla Public License 2.0,
https://github.com/musculoskeletal/models; 26 subjects, pelvis + left femur + patella + tibia/fibula, mm,
rigidly aligned) and its Lagrange-quartic femur mesh, evaluated once with ``gias3.fieldwork`` 3.0.1
(MPL-2.0) by :mod:`shapemodelbuilder`. Only that build step needs gias3; the bundled resource
``Resources/ShapeModel/FemurShapeModel.npz`` holds plain arrays (see its README.md for provenance and licence).

The source frame is DICOM LPS: x towards the patient's left (the left ASIS lies at +x, the right ASIS at -x),
y posterior (ASIS at -y, PSIS at +y, the patella anterior of the femoral condyles) and z superior (femoral
head above the condyles). The model is of a LEFT femur; it is mirrored through the sagittal plane (x -> -x)
into a RIGHT femur, as the paper (Van Houtte et al. 2022) flips left femurs to resemble right ones.

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

The canonical frame and the measurement definitions are those of :mod:`FemurRegistrationLib.hipmeasures`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from FemurRegistrationLib.hipmeasures import (CANONICAL_HEAD_CENTRE_LPS, FemurShapeModel, hipMeasurements,
                                              transformPoints, unitVector)


#: Principal component weights are N(0, 1) in SD units, redrawn outside +- this.
PCA_TRUNCATION_SD = 3.0
#: Uniform ranges of the extra variation targets (see the module docstring for sources).
NECK_SHAFT_ANGLE_RANGE_DEG = (115.0, 140.0)
ANTEVERSION_RANGE_DEG = (-5.0, 30.0)
HEAD_DIAMETER_RANGE_MM = (40.0, 56.0)


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



def _smoothstep(x: np.ndarray, edge0: float, edge1: float) -> np.ndarray:
    """0 below edge0, 1 above edge1, C1-smooth (cubic) in between."""
    t = np.clip((np.asarray(x, dtype=float) - edge0) / (edge1 - edge0), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def _rotationMatrix(axis: np.ndarray, angleRad: np.ndarray) -> np.ndarray:
    """Rotation matrices (..., 3, 3) about a unit axis by angle(s) (right hand, radians)."""
    axis = unitVector(axis)
    angleRad = np.asarray(angleRad, dtype=float)
    k = np.array([[0.0, -axis[2], axis[1]], [axis[2], 0.0, -axis[0]], [-axis[1], axis[0], 0.0]])
    s, c = np.sin(angleRad)[..., None, None], np.cos(angleRad)[..., None, None]
    return np.eye(3) + s * k + (1.0 - c) * (k @ k)


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


def sampleFemur(model: FemurShapeModel, rng: np.random.Generator, extraVariation: bool = True) -> FemurShape:
    """A random femur, aligned to the canonical frame by its own axes.

    Draws PCA weights (N(0, 1), redrawn beyond :data:`PCA_TRUNCATION_SD`); with ``extraVariation`` also target
    neck-shaft angle, anteversion and head diameter (uniform in the module's ranges, within the largest
    allowed change of the PCA shape's own values) and deforms the shape to them (:func:`applyHipGeometry`).

    :return: shape whose ``parameters`` hold ``pca_weights_sd``, ``target_<name>``, ``pca_<name>`` (value
        before the deformation) and the re-measured ``<name>`` (the truth) for ``neck_shaft_angle_deg``,
        ``anteversion_deg``, ``head_diameter_mm``, plus ``femoral_offset_mm``.
    """
    weights = rng.standard_normal(model.numberOfModes)
    while np.any(np.abs(weights) > PCA_TRUNCATION_SD):
        outside = np.abs(weights) > PCA_TRUNCATION_SD
        weights[outside] = rng.standard_normal(int(outside.sum()))
    vertices = model.vertices(weights)
    parameters: dict = {"pca_weights_sd": weights}
    if extraVariation:
        before = hipMeasurements(vertices, model)
        nsa, anteversion, diameter = (before[name] for name in ("neck_shaft_angle_deg", "anteversion_deg",
                                                                "head_diameter_mm"))
        targets = {
            "neck_shaft_angle_deg": _uniformNear(rng, NECK_SHAFT_ANGLE_RANGE_DEG, nsa,
                                                 MAX_NECK_SHAFT_ANGLE_CHANGE_DEG),
            "anteversion_deg": _uniformNear(rng, ANTEVERSION_RANGE_DEG, anteversion, MAX_ANTEVERSION_CHANGE_DEG),
            "head_diameter_mm": _uniformNear(rng, HEAD_DIAMETER_RANGE_MM, diameter,
                                             MAX_HEAD_DIAMETER_CHANGE * diameter),
        }
        vertices = applyHipGeometry(vertices, model, neckShaftAngleDeg=targets["neck_shaft_angle_deg"],
                                    anteversionDeg=targets["anteversion_deg"],
                                    headDiameterMm=targets["head_diameter_mm"])
        parameters.update({f"target_{name}": value for name, value in targets.items()})
        parameters.update({f"pca_{name}": float(before[name]) for name in targets})
    vertices = transformPoints(canonicalTransform(vertices, model), vertices)
    after = hipMeasurements(vertices, model)
    for name in ("neck_shaft_angle_deg", "anteversion_deg", "head_diameter_mm", "femoral_offset_mm"):
        parameters[name] = float(after[name])
    return FemurShape(vertices, model.triangles.copy(), parameters)




def _uniformNear(rng: np.random.Generator, bounds: tuple[float, float], value: float, maxChange: float) -> float:
    """Uniform draw from ``bounds`` intersected with ``value +- maxChange`` (the nearer bound if they miss)."""
    low, high = max(bounds[0], value - maxChange), min(bounds[1], value + maxChange)
    if low > high:
        return float(bounds[0] if value < bounds[0] else bounds[1])
    return float(rng.uniform(low, high))


def canonicalTransform(verticesLps: np.ndarray, model: FemurShapeModel,
                       measurements: dict | None = None) -> np.ndarray:
    """4x4 rigid transform from the shape's frame to the canonical frame (by its own measurements).

    Shaft axis -> +z, projected posterior condylar axis -> +x, head centre -> :data:`CANONICAL_HEAD_CENTRE_LPS`.
    """
    if measurements is None:
        measurements = hipMeasurements(verticesLps, model)
    zAxis = measurements["shaft_axis_direction"]
    xAxis = measurements["posterior_condylar_axis_direction"]
    xAxis = unitVector(xAxis - (xAxis @ zAxis) * zAxis)
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
