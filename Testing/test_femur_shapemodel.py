"""FemurRegistration shape model: resource, mean shape, frame, measurements, extra variation, sampling.

Reference values come from the bundled resource (built from musculoskeletal-models 0.2.4 by
``python -m FemurRegistrationDev.shapemodelbuilder build``): mean head diameter 45.9 mm, neck-shaft angle 126.9 deg,
femoral offset 41.6 mm, anteversion 19.7 deg.
"""

import io
import os
import pickle
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from FemurRegistrationDev import shapemodel, shapemodelbuilder
from FemurRegistrationDev.shapemodel import applyHipGeometry, canonicalTransform, sampleFemur
from FemurRegistrationLib import hipmeasures
from FemurRegistrationLib.hipmeasures import (CANONICAL_HEAD_CENTRE_LPS, FemurShapeModel, hipMeasurements,
                                              transformPoints)


@pytest.fixture(scope="module")
def model():
    return FemurShapeModel.load()


@pytest.fixture(scope="module")
def meanMeasurements(model):
    return hipMeasurements(model.meanVerticesLps, model)


def _signedVolume(vertices, triangles):
    a, b, c = (vertices[triangles[:, i]] for i in range(3))
    return np.einsum("ij,ij->i", a, np.cross(b, c)).sum() / 6.0


def _normals(vertices, triangles):
    a, b, c = (vertices[triangles[:, i]] for i in range(3))
    normals = np.cross(b - a, c - a)
    return normals / np.linalg.norm(normals, axis=1, keepdims=True)


def _rotation(axis, angleDeg):
    axis = np.asarray(axis, float) / np.linalg.norm(axis)
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    angle = np.radians(angleDeg)
    return np.eye(3) + np.sin(angle) * k + (1 - np.cos(angle)) * k @ k


def test_resource_file_and_arrays(model):
    path = hipmeasures.defaultShapeModelPath()
    assert path.is_file() and path.parent.name == "ShapeModel"
    assert 0.5e6 < path.stat().st_size < 2e6
    with np.load(path, allow_pickle=False) as data:
        assert data["mean_vertices_lps"].dtype == np.float32 and data["modes_lps"].dtype == np.float32
        assert data["triangles"].dtype == np.int32
        provenance = str(data["provenance"])
    assert "musculoskeletal-models 0.2.4" in provenance and "MPL-2.0" in provenance
    readme = (path.parent / "README.md").read_text(encoding="utf-8")
    assert "Mozilla Public License" in readme and "https://mozilla.org/MPL/2.0/" in readme

    assert model.meanVerticesLps.shape == (3323, 3)
    assert model.modesLps.shape == (26, 3323, 3)
    assert model.triangles.shape == (6642, 3)
    assert model.numberOfModes == 26
    # mode 1 is the largest (mostly size); mode 26 has zero variance in the source
    rms = np.sqrt((model.modesLps ** 2).sum(2).mean(1))
    assert rms[0] == rms.max() and 4.0 < rms[0] < 8.0 and rms[-1] < 1e-6
    assert set(model.groups) == set(hipmeasures.GROUP_NAMES)
    for name, indices in model.groups.items():
        assert len(indices) >= 1 and indices.min() >= 0 and indices.max() < 3323, name
    assert FemurShapeModel.load() is model  # cached, arrays read-only
    assert not model.meanVerticesLps.flags.writeable


def test_mean_surface_is_closed_manifold_and_outward(model):
    vertices, triangles = model.meanVerticesLps, model.triangles
    directed = Counter(map(tuple, np.concatenate([triangles[:, [0, 1]], triangles[:, [1, 2]],
                                                  triangles[:, [2, 0]]])))
    assert max(directed.values()) == 1  # consistent orientation: each directed edge once
    assert all((b, a) in directed for a, b in directed)  # closed: every edge has its twin
    edges = len(directed) // 2
    assert len(vertices) - edges + len(triangles) == 2  # Euler characteristic of a sphere
    assert 420e3 < _signedVolume(vertices, triangles) < 560e3  # ~485 cm^3, positive: normals outward
    head = model.groups["head"]
    centre = hipMeasurements(vertices, model)["head_centre_lps"]
    vertexNormals = np.zeros_like(vertices)
    np.add.at(vertexNormals, triangles.ravel(), np.repeat(_normals(vertices, triangles), 3, axis=0))
    assert np.all(np.einsum("ij,ij->i", vertexNormals[head], vertices[head] - centre) > 0)


def test_mean_measurements_are_plausible_and_canonical(meanMeasurements):
    m = meanMeasurements
    np.testing.assert_allclose(m["head_centre_lps"], CANONICAL_HEAD_CENTRE_LPS, atol=1e-3)
    np.testing.assert_allclose(m["shaft_axis_direction"], [0, 0, 1], atol=1e-4)
    np.testing.assert_allclose(m["posterior_condylar_axis_direction"], [1, 0, 0], atol=1e-4)
    assert 43.0 < m["head_diameter_mm"] < 49.0
    assert 124.0 < m["neck_shaft_angle_deg"] < 132.0
    assert 36.0 < m["femoral_offset_mm"] < 46.0
    assert 10.0 < m["anteversion_deg"] < 25.0
    # the shaft sections lie inside the 160 mm crop box (z > -80) with room for pose and bigger femurs
    assert m["shaft_section_centroids_lps"][:, 2].min() > -65.0
    assert m["lesser_trochanter_lps"][2] - m["shaft_section_centroids_lps"][:, 2].max() == pytest.approx(20.0, 0.5)


def test_right_femur_orientation(model, meanMeasurements):
    """Mirrored into a right femur: medial +x, anterior -y, superior +z."""
    m = meanMeasurements
    shaftX, shaftY = m["shaft_axis_point_lps"][:2]
    head, greater, lesser = m["head_centre_lps"], m["greater_trochanter_lps"], m["lesser_trochanter_lps"]
    assert head[0] > shaftX + 30.0  # head medial of the shaft
    assert greater[0] < shaftX - 5.0 and abs(greater[2] - head[2]) < 15.0  # trochanter lateral, at head level
    assert lesser[0] > shaftX and lesser[1] > shaftY + 5.0 and lesser[2] < head[2] - 40.0  # posteromedial, low
    assert head[1] < shaftY  # anteverted neck: the head lies anterior of the shaft
    assert m["neck_axis_direction"][0] > 0.5 and m["neck_axis_direction"][1] < 0.0 and m["neck_axis_direction"][2] > 0
    medialCondyle, lateralCondyle = m["medial_posterior_condyle_lps"], m["lateral_posterior_condyle_lps"]
    assert medialCondyle[0] > lateralCondyle[0] and medialCondyle[2] < -250.0  # distal
    assert m["medial_epicondyle_lps"][0] > m["lateral_epicondyle_lps"][0]
    assert medialCondyle[1] > m["medial_epicondyle_lps"][1] + 10.0  # posterior
    # the extreme vertices: the head is the most medial and the most superior part of the proximal femur
    proximal = model.meanVerticesLps[model.meanVerticesLps[:, 2] > -80.0]
    assert np.linalg.norm(proximal[np.argmax(proximal[:, 0])] - head) < 0.6 * m["head_diameter_mm"]
    assert np.linalg.norm(proximal[np.argmax(proximal[:, 2])] - head) < 0.6 * m["head_diameter_mm"]


def test_measurements_follow_rigid_motion(model, meanMeasurements):
    rotation = _rotation([0.3, -0.5, 0.8], 23.0)
    matrix = np.eye(4)
    matrix[:3, :3], matrix[:3, 3] = rotation, [5.0, -12.0, 30.0]
    moved = hipMeasurements(transformPoints(matrix, model.meanVerticesLps), model)
    for key in ("head_diameter_mm", "neck_shaft_angle_deg", "femoral_offset_mm", "anteversion_deg"):
        assert moved[key] == pytest.approx(meanMeasurements[key], abs=1e-6), key
    np.testing.assert_allclose(moved["head_centre_lps"], transformPoints(matrix, meanMeasurements["head_centre_lps"]
                                                                         [None])[0], atol=1e-6)
    # canonicalTransform undoes the motion
    back = canonicalTransform(transformPoints(matrix, model.meanVerticesLps), model) @ matrix
    np.testing.assert_allclose(back, np.eye(4), atol=1e-4)


@pytest.mark.parametrize("nsa,anteversion,diameter", [(118.0, 2.0, 42.0), (138.0, 29.0, 53.0), (127.0, -4.0, 48.0)])
def test_hip_geometry_changes_reach_their_targets(model, nsa, anteversion, diameter):
    mean = model.meanVerticesLps
    deformed = applyHipGeometry(mean, model, neckShaftAngleDeg=nsa, anteversionDeg=anteversion,
                                headDiameterMm=diameter)
    m = hipMeasurements(deformed, model)
    assert m["neck_shaft_angle_deg"] == pytest.approx(nsa, abs=0.5)
    assert m["anteversion_deg"] == pytest.approx(anteversion, abs=0.5)
    assert m["head_diameter_mm"] == pytest.approx(diameter, abs=0.2)
    # shaft, trochanters and the proximal box below the neck do not move; the condyles only turn about the shaft
    fixed = np.concatenate([model.groups[name] for name in ("shaft", "greater_trochanter", "lesser_trochanter")])
    np.testing.assert_allclose(deformed[fixed], mean[fixed], atol=1e-9)
    belowNeck = (mean[:, 2] < 0.0) & (mean[:, 2] > -80.0)
    np.testing.assert_allclose(deformed[belowNeck], mean[belowNeck], atol=1e-9)
    # a smooth deformation: no triangle flips over
    assert np.all(np.einsum("ij,ij->i", _normals(deformed, model.triangles), _normals(mean, model.triangles)) > 0)


def test_one_change_at_a_time_keeps_the_others(model, meanMeasurements):
    deformed = applyHipGeometry(model.meanVerticesLps, model, headDiameterMm=52.0)
    m = hipMeasurements(deformed, model)
    assert m["head_diameter_mm"] == pytest.approx(52.0, abs=0.05)
    # the neck ring lies in the blend of the scaling, so holding the angles moves the head a little
    np.testing.assert_allclose(m["head_centre_lps"], meanMeasurements["head_centre_lps"], atol=0.5)
    assert m["neck_shaft_angle_deg"] == pytest.approx(meanMeasurements["neck_shaft_angle_deg"], abs=0.1)
    assert m["anteversion_deg"] == pytest.approx(meanMeasurements["anteversion_deg"], abs=0.1)


def test_sampling_is_deterministic_canonical_and_in_range(model):
    shapes = [sampleFemur(model, np.random.default_rng([seed, 7])) for seed in range(4)]
    again = sampleFemur(model, np.random.default_rng([0, 7]))
    np.testing.assert_array_equal(again.verticesLps, shapes[0].verticesLps)
    assert not np.allclose(shapes[0].verticesLps, shapes[1].verticesLps)
    for shape in shapes:
        p = shape.parameters
        assert shape.verticesLps.shape == (3323, 3) and shape.triangles.shape == (6642, 3)
        assert np.all(np.abs(p["pca_weights_sd"]) <= shapemodel.PCA_TRUNCATION_SD)
        m = hipMeasurements(shape.verticesLps, model)
        np.testing.assert_allclose(m["head_centre_lps"], CANONICAL_HEAD_CENTRE_LPS, atol=1e-6)
        np.testing.assert_allclose(m["shaft_axis_direction"], [0, 0, 1], atol=1e-6)
        for key, bounds in (("neck_shaft_angle_deg", shapemodel.NECK_SHAFT_ANGLE_RANGE_DEG),
                            ("anteversion_deg", shapemodel.ANTEVERSION_RANGE_DEG),
                            ("head_diameter_mm", shapemodel.HEAD_DIAMETER_RANGE_MM)):
            assert p[key] == pytest.approx(m[key], abs=1e-9)  # re-measured values are the truth
            assert p[key] == pytest.approx(p[f"target_{key}"], abs=0.5)
            assert bounds[0] <= p[f"target_{key}"] <= bounds[1]
        assert 25.0 < p["femoral_offset_mm"] < 55.0
        assert _signedVolume(shape.verticesLps, shape.triangles) > 250e3


def test_vertices_of_weights(model):
    np.testing.assert_array_equal(model.vertices(), model.meanVerticesLps)
    np.testing.assert_allclose(model.vertices([0.0, 2.0]), model.meanVerticesLps + 2.0 * model.modesLps[1])
    small, large = (hipMeasurements(model.vertices([w]), model) for w in (2.0, -2.0))
    assert small["head_diameter_mm"] < large["head_diameter_mm"]  # mode 1 is size


def test_unpickler_builds_numpy_only():
    safe = shapemodelbuilder._NumpyOnlyUnpickler(io.BytesIO(pickle.dumps({"a": np.arange(3)}))).load()
    np.testing.assert_array_equal(safe["a"], np.arange(3))
    with pytest.raises(pickle.UnpicklingError):
        shapemodelbuilder._NumpyOnlyUnpickler(io.BytesIO(pickle.dumps(Path("x")))).load()


@pytest.mark.skipif(not os.environ.get("FEMUR_SHAPE_MODEL_SOURCE"),
                    reason="set FEMUR_SHAPE_MODEL_SOURCE to the unzipped source wheels to rebuild the resource")
def test_build_reproduces_the_resource(tmp_path):
    summary = shapemodelbuilder.buildShapeModel(os.environ["FEMUR_SHAPE_MODEL_SOURCE"], tmp_path / "model.npz")
    assert summary["node_mismatch_mm"] < 1e-9
    with np.load(tmp_path / "model.npz") as built, np.load(hipmeasures.defaultShapeModelPath()) as bundled:
        assert sorted(built.files) == sorted(bundled.files)
        for key in built.files:
            np.testing.assert_array_equal(built[key], bundled[key], err_msg=key)
