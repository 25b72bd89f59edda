"""Build FemurRegistration's shape model resource from the ``musculoskeletal-models`` source (run once; gias3).

``python -m FemurRegistrationDev.shapemodelbuilder --source DIR`` evaluates the source model's femur mesh and
writes ``FemurRegistration/Resources/ShapeModel/FemurShapeModel.npz`` (plain arrays; provenance in its README.md).
The source data and frames are described in :mod:`shapemodel`.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from FemurRegistrationLib.hipmeasures import (CANONICAL_HEAD_CENTRE_LPS, GROUP_NAMES,
                                              SHAFT_RANGE_BELOW_LESSER_TROCHANTER_MM, FemurShapeModel,
                                              defaultShapeModelPath, hipMeasurements, loadShapeModelFile,
                                              transformPoints, unitVector, vertexAreas)

from .shapemodel import NECK_RING_DEPTH_RADII, canonicalTransform

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
        weights = vertexAreas(vertices, model.triangles)[ring]
        neckDirection = unitVector(headCentre - (vertices[ring] * weights[:, None]).sum(0) / weights.sum())
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
        "Right femur surface PCA model derived by FemurRegistrationDev.shapemodelbuilder.buildShapeModel from "
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
    loadShapeModelFile.cache_clear()
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

    parser = argparse.ArgumentParser(prog="python -m FemurRegistrationDev.shapemodelbuilder",
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
