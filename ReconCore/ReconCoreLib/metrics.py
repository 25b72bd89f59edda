"""Segmentation metrics in mm: Dice and Jaccard (IoU) by counting voxels, HD95 and ASSD from MONAI.

All functions take binary arrays indexed [k, j, i] and the voxel spacing in the same axis order
(``spacingKji``, mm); :func:`spacingKjiFromIjkToRas` reads it from a volume's 4x4 IJK -> RAS matrix.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np


def spacingKjiFromIjkToRas(ijkToRas: np.ndarray) -> tuple[float, float, float]:
    """Voxel spacing (k, j, i) in mm from a 4x4 IJK -> RAS (or LPS) matrix."""
    spacingIjk = np.linalg.norm(np.asarray(ijkToRas, dtype=float)[:3, :3], axis=0)
    return tuple(float(value) for value in spacingIjk[::-1])


def _oneHot(mask: np.ndarray):
    import torch

    foreground = torch.as_tensor(np.asarray(mask, dtype=bool))
    return torch.stack([~foreground, foreground])[None].float()  # [1, 2, D, H, W]


def _check(prediction: np.ndarray, reference: np.ndarray) -> None:
    if np.shape(prediction) != np.shape(reference):
        raise ValueError(f"prediction {np.shape(prediction)} and reference {np.shape(reference)} differ in shape: "
                         "resample both onto one grid first")


def overlapMetrics(prediction: np.ndarray, reference: np.ndarray) -> dict[str, float]:
    """Dice and Jaccard of two binary masks on one grid (ratios, 0..1; 1 when both are empty, as MONAI's
    ``ignore_empty=False``).

    Counted with numpy rather than MONAI's ``compute_dice``: the two are the same sums, and importing MONAI costs
    1.2-2 s of every run's start-up (the runs check each view's reprojection Dice); MONAI stays for the surface
    distances, which only scoring against a reference needs."""
    _check(prediction, reference)
    predicted, target = np.asarray(prediction, dtype=bool), np.asarray(reference, dtype=bool)
    intersection = float(np.count_nonzero(predicted & target))
    total = float(np.count_nonzero(predicted) + np.count_nonzero(target))
    if total == 0:
        return {"dice": 1.0, "jaccard": 1.0}
    return {"dice": 2 * intersection / total, "jaccard": intersection / (total - intersection)}


def surfaceMetrics(prediction: np.ndarray, reference: np.ndarray, spacingKji: Sequence[float]) -> dict[str, float]:
    """95th-percentile Hausdorff distance and average symmetric surface distance (mm)."""
    from monai.metrics import compute_average_surface_distance, compute_hausdorff_distance

    _check(prediction, reference)
    if not np.any(prediction) or not np.any(reference):
        raise ValueError("surface distances need a non-empty prediction and reference")
    predicted, target = _oneHot(prediction), _oneHot(reference)
    spacing = [float(value) for value in spacingKji]
    hd95 = compute_hausdorff_distance(predicted, target, include_background=False, percentile=95, spacing=spacing)
    assd = compute_average_surface_distance(predicted, target, include_background=False, symmetric=True,
                                            spacing=spacing)
    return {"hd95_mm": float(hd95[0, 0]), "assd_mm": float(assd[0, 0])}


def segmentationMetrics(prediction: np.ndarray, reference: np.ndarray,
                        spacingKji: Sequence[float]) -> dict[str, float]:
    """Dice, Jaccard, HD95 (mm) and ASSD (mm) together, keyed as in readouts.json."""
    return {**overlapMetrics(prediction, reference), **surfaceMetrics(prediction, reference, spacingKji)}
