"""Metrics against shapes with known overlap and surface distance; the counted Dice/Jaccard against MONAI's."""

import math

import numpy as np
import pytest

pytest.importorskip("torch", reason="MONAI's metrics need torch: the pass with Slicer's packages runs without it")

from ReconCoreLib.metrics import overlapMetrics, segmentationMetrics, spacingKjiFromIjkToRas, surfaceMetrics

SPACING_KJI = (0.6, 0.5, 0.4)  # anisotropic on purpose: a swapped axis order would show


def sphere(centreMm, radiusMm, shapeKji=(90, 100, 120)):
    """Binary ball on a grid with SPACING_KJI, voxel centres at index * spacing (mm)."""
    k, j, i = np.meshgrid(*(np.arange(n) * s for n, s in zip(shapeKji, SPACING_KJI)), indexing="ij")
    centre = np.asarray(centreMm)  # (i, j, k) in mm
    return (i - centre[0]) ** 2 + (j - centre[1]) ** 2 + (k - centre[2]) ** 2 <= radiusMm ** 2


def test_offset_spheres_overlap_matches_lens_volume():
    radius, offset = 15.0, 10.0
    first = sphere((22.0, 25.0, 27.0), radius)
    second = sphere((22.0 + offset, 25.0, 27.0), radius)
    lens = math.pi * (4 * radius + offset) * (2 * radius - offset) ** 2 / 12  # intersection volume
    ball = 4 / 3 * math.pi * radius ** 3
    expectedDice = lens / ball
    expectedJaccard = lens / (2 * ball - lens)
    metrics = overlapMetrics(first, second)
    assert metrics["dice"] == pytest.approx(expectedDice, rel=0.01)
    assert metrics["jaccard"] == pytest.approx(expectedJaccard, rel=0.01)
    assert overlapMetrics(first, first) == {"dice": 1.0, "jaccard": 1.0}


def test_counted_dice_and_jaccard_equal_monais_including_empty_masks():
    from monai.metrics import compute_dice, compute_iou
    import torch

    def monai(prediction, reference):
        def oneHot(mask):
            foreground = torch.as_tensor(mask)
            return torch.stack([~foreground, foreground])[None].float()
        arguments = dict(include_background=False, ignore_empty=False)
        return (float(compute_dice(oneHot(prediction), oneHot(reference), **arguments)[0, 0]),
                float(compute_iou(oneHot(prediction), oneHot(reference), **arguments)[0, 0]))

    random = np.random.default_rng(3)
    first, second = random.random((12, 14, 16)) > 0.6, random.random((12, 14, 16)) > 0.4
    empty = np.zeros_like(first)
    for prediction, reference in [(first, second), (first, empty), (empty, second), (empty, empty)]:
        metrics = overlapMetrics(prediction, reference)
        assert (metrics["dice"], metrics["jaccard"]) == pytest.approx(monai(prediction, reference), abs=1e-6)


def test_concentric_spheres_surface_distance_is_the_radius_gap():
    inner, outer = sphere((24.0, 25.0, 27.0), 12.0), sphere((24.0, 25.0, 27.0), 16.0)
    metrics = surfaceMetrics(inner, outer, SPACING_KJI)
    assert metrics["assd_mm"] == pytest.approx(4.0, abs=0.3)
    assert metrics["hd95_mm"] == pytest.approx(4.0, abs=0.6)  # within one voxel
    shifted = sphere((24.0 + 3.0, 25.0, 27.0), 12.0)
    assert surfaceMetrics(inner, shifted, SPACING_KJI)["hd95_mm"] == pytest.approx(3.0, abs=0.6)


def test_combined_keys_and_spacing_from_matrix():
    ball = sphere((24.0, 25.0, 27.0), 10.0)
    metrics = segmentationMetrics(ball, ball, SPACING_KJI)
    assert metrics == {"dice": 1.0, "jaccard": 1.0, "hd95_mm": 0.0, "assd_mm": 0.0}
    ijkToRas = np.array([[-0.4, 0, 0, 10], [0, 0, -0.5, 3], [0, 0.6, 0, 1], [0, 0, 0, 1.0]])
    assert spacingKjiFromIjkToRas(ijkToRas) == pytest.approx((0.5, 0.6, 0.4))


def test_bad_inputs():
    with pytest.raises(ValueError, match="shape"):
        overlapMetrics(np.zeros((4, 4, 4)), np.zeros((4, 4, 5)))
    with pytest.raises(ValueError, match="non-empty"):
        surfaceMetrics(np.zeros((4, 4, 4), bool), np.ones((4, 4, 4), bool), (1, 1, 1))
