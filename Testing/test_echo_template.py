"""EchoRecon's heart template: six closed outward surfaces, volumes, landmarks and the heart frame."""

import numpy as np
import pytest

from EchoReconDev.templatebuilder import surfaceDefects
from EchoReconLib.conventions import STRUCTURES
from EchoReconLib.template import DEFAULT_PATH, LANDMARKS, HeartTemplate, enclosedVolume


@pytest.fixture(scope="module")
def template():
    return HeartTemplate.load()


def _massPropertiesVolumeMl(polyData) -> float:
    import vtk

    properties = vtk.vtkMassProperties()
    properties.SetInputData(polyData)
    properties.Update()
    return properties.GetVolume() / 1000.0


def test_template_file_and_counts(template):
    assert DEFAULT_PATH.is_file() and DEFAULT_PATH.stat().st_size < 1_000_000
    assert 3000 <= template.numberOfVertices <= 5000
    assert template.vertices.shape == (template.numberOfVertices, 3)
    assert set(np.unique(template.structureOfVertex)) == set(range(len(STRUCTURES)))
    assert template.triangles.min() >= 0 and template.triangles.max() < template.numberOfVertices
    for index in range(len(STRUCTURES)):  # triangles only join vertices of their own structure
        assert np.all(template.structureOfVertex[template.structureTriangles(index)] == index)
    assert set(template.landmarkIndices) == set(LANDMARKS)
    assert "CC-BY-4.0" in template.metadata["license"] and "1008851" in template.metadata["source"]


@pytest.mark.parametrize("structure", STRUCTURES)
def test_surfaces_closed_outward_and_volume_matches_vtk(template, structure):
    triangles = template.structureTriangles(structure)
    defects = surfaceDefects(template.vertices, triangles)
    assert defects == {"boundaryEdges": 0, "nonManifoldEdges": 0, "inconsistentEdges": 0, "components": 1}
    volumeMl = enclosedVolume(template.vertices, triangles) / 1000.0
    assert volumeMl > 0  # outward
    assert volumeMl == pytest.approx(_massPropertiesVolumeMl(template.polyData(structure=structure)), rel=1e-3)


def test_volumes_match_the_source(template):
    volumes = template.structureVolumesMl()
    assert volumes["LV cavity"] == pytest.approx(120.4, abs=2.0)  # Rodero case 01: 120.4 mL
    assert volumes["RV"] == pytest.approx(185.6, abs=3.0)
    assert volumes["LA"] == pytest.approx(68.0, abs=2.0)
    assert volumes["RA"] == pytest.approx(110.9, abs=2.0)
    wallMl = volumes["LV myocardium"] - volumes["LV cavity"]
    assert 150.0 < wallMl < 175.0  # LV + septum elements of the source: 164 mL
    assert 15.0 < volumes["aortic root"] < 40.0


def test_landmarks_and_heart_frame(template):
    import vtk

    landmarks = template.landmarks()
    np.testing.assert_allclose(landmarks["mitralAnnulus"], 0.0, atol=1e-4)
    apex = landmarks["lvApex"]
    np.testing.assert_allclose(apex[:2], 0.0, atol=1e-4)
    assert 70.0 < apex[2] < 100.0  # +z: base -> apex
    assert landmarks["lvEpicardialApex"][2] > apex[2]
    rvCentre = template.vertices[template.structureOfVertex == 2].mean(axis=0)
    assert rvCentre[0] > 20.0 and abs(rvCentre[1]) < 1e-3  # +x toward the RV
    assert template.vertices[template.structureOfVertex == 3, 2].mean() < -15.0  # atria above the base
    assert abs(landmarks["aorticValve"][2]) < 20.0 and landmarks["tricuspidValve"][0] > 20.0
    assert len(template.landmarkIndices["mitralAnnulus"]) >= 10
    ring = template.vertices[template.landmarkIndices["mitralAnnulus"]]
    assert 10.0 < np.linalg.norm(ring - landmarks["mitralAnnulus"], axis=1).mean() < 25.0  # annulus radius
    rotation = template.frameToSource[:3, :3]
    np.testing.assert_allclose(rotation @ rotation.T, np.eye(3), atol=1e-9)
    assert np.linalg.det(rotation) == pytest.approx(1.0)
    assert np.linalg.norm(template.anterior) == pytest.approx(1.0)
    # the LV cavity lies inside the LV myocardium's (epicardial) surface
    distance = vtk.vtkImplicitPolyDataDistance()
    distance.SetInput(template.polyData(structure="LV myocardium"))
    signed = [distance.EvaluateFunction(point) for point in template.vertices[template.structureOfVertex == 0]]
    assert max(signed) < 1.0


def test_cavity_anchors_on_the_epicardium(template):
    anchors = template.cavityAnchors()
    cavity = template.vertices[template.structureOfVertex == 0]
    thickness = np.linalg.norm(cavity - anchors, axis=1)
    assert np.all(template.cavityAnchorBarycentric >= 0) and np.allclose(template.cavityAnchorBarycentric.sum(1), 1)
    assert np.all(template.structureOfTriangle[template.cavityAnchorTriangle] == 1)
    middle = (cavity[:, 2] > 0.2 * cavity[:, 2].max()) & (cavity[:, 2] < 0.8 * cavity[:, 2].max())
    assert 7.0 < thickness[middle].mean() < 14.0  # LV wall thickness of the source heart, mm
