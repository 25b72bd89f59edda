"""Biplane method of disks (modified Simpson's rule): LV volume from the LV cavity in the A4C and A2C views.

The clinical reference method (R. M. Lang et al., "Recommendations for cardiac chamber quantification by
echocardiography in adults", J Am Soc Echocardiogr 28(1):1-39, 2015): the cavity of each apical view is cut into
``disks`` slices of equal height perpendicular to its long axis (apex to mitral annulus midpoint); the volume is
``pi / 4 * sum(a_i * b_i) * L / disks`` with ``a_i``, ``b_i`` the diameters of slice i in the two views and ``L`` the
longer of the two lengths.

Masks are 2D arrays indexed [row, column]; points are (row, column) pixel coordinates (pixel centres at
integers); spacings are isotropic, in mm per pixel.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class LongAxis:
    """Long axis of one apical LV cavity mask: ``apex``, ``annulus`` (the mitral annulus midpoint) and the two
    annulus hinge points, (row, column) pixels; ``lengthMm``."""

    apex: np.ndarray
    annulus: np.ndarray
    hinges: np.ndarray
    lengthMm: float


def _boundaryPixels(mask: np.ndarray) -> np.ndarray:
    from scipy import ndimage

    return np.argwhere(mask & ~ndimage.binary_erosion(mask)).astype(float)


def lvLongAxis(mask: np.ndarray, pixelSpacingMm: float, annulus: np.ndarray | None = None,
               apexUp: bool = True) -> LongAxis:
    """Apex and mitral annulus midpoint of an apical LV cavity mask.

    Without ``annulus`` (row, column), the annulus hinges are the two corners of the basal end: the boundary
    points of the basal half reaching farthest in the directions 45 degrees either side of the base direction.
    The base direction is the mask's principal axis, oriented toward the bottom of the image (``apexUp``: the
    transducer and the apex at the top, as echo images are displayed) or toward the mask's wider end; when the
    principal axis is more than 45 degrees from vertical (a round, dilated cavity) and ``apexUp``, straight down.
    The apex is the mask point farthest from the annulus midpoint.
    """
    mask = np.asarray(mask, bool)
    points = np.argwhere(mask).astype(float)
    if len(points) < 10:
        raise ValueError("the LV cavity mask is (nearly) empty")
    if annulus is None:
        centre = points.mean(axis=0)
        _, _, axes = np.linalg.svd(points - centre, full_matrices=False)
        axis = axes[0]
        if apexUp:
            axis = axis if axis[0] >= 0 else -axis
            if axis[0] < np.sqrt(0.5):
                axis = np.array([1.0, 0.0])
        else:
            along = (points - centre) @ axis
            span = along.max() - along.min()
            widthHigh = np.ptp((points - centre)[along > along.max() - 0.15 * span] @ axes[1])
            widthLow = np.ptp((points - centre)[along < along.min() + 0.15 * span] @ axes[1])
            if widthLow > widthHigh:
                axis = -axis
        boundary = _boundaryPixels(mask)
        basal = boundary[(boundary - centre) @ axis > 0]
        relativeBasal = basal - centre
        across = np.array([-axis[1], axis[0]])
        hinges = np.stack([basal[np.argmax(relativeBasal @ (axis + across))],
                           basal[np.argmax(relativeBasal @ (axis - across))]])
        annulus = hinges.mean(axis=0)
    else:
        annulus = np.asarray(annulus, float)
        hinges = np.stack([annulus, annulus])
    distances = np.linalg.norm(points - annulus, axis=1)
    apex = points[np.argmax(distances)]
    return LongAxis(apex, annulus, hinges, float(distances.max() * pixelSpacingMm))


def diskDiameters(mask: np.ndarray, axis: LongAxis, pixelSpacingMm: float, disks: int = 20,
                  stepPixels: float = 0.25) -> np.ndarray:
    """Diameters (mm) [disks] of the mask across its long axis at the middle of each of ``disks`` equal slices,
    from the annulus to the apex (total inside length along the perpendicular line, bilinear mask, so holes and
    concavities are handled)."""
    from scipy import ndimage

    direction = axis.apex - axis.annulus
    length = np.linalg.norm(direction)
    direction /= length
    across = np.array([-direction[1], direction[0]])
    reach = float(np.hypot(*mask.shape))
    offsets = np.arange(-reach, reach + stepPixels, stepPixels)
    centres = axis.annulus + ((np.arange(disks) + 0.5) / disks * length)[:, None] * direction
    samples = centres[:, None, :] + offsets[None, :, None] * across  # [disks, n, 2]
    values = ndimage.map_coordinates(np.asarray(mask, np.float32), samples.reshape(-1, 2).T, order=1,
                                     mode="constant", cval=0.0).reshape(disks, -1)
    return (values >= 0.5).sum(axis=1) * stepPixels * pixelSpacingMm


def biplaneSimpsonVolume(a4cMask: np.ndarray, a2cMask: np.ndarray, pixelSpacingMm: float | tuple[float, float],
                         disks: int = 20, a4cAnnulus: np.ndarray | None = None,
                         a2cAnnulus: np.ndarray | None = None, apexUp: bool = True) -> float:
    """LV volume (mL) by the biplane method of disks from the LV cavity masks of the A4C and A2C views.

    ``pixelSpacingMm``: one isotropic spacing for both views, or (A4C spacing, A2C spacing). The annulus midpoints
    ((row, column)) are found from the masks unless given (see :func:`lvLongAxis` for ``apexUp``).
    """
    spacing4, spacing2 = (pixelSpacingMm, pixelSpacingMm) if np.isscalar(pixelSpacingMm) else pixelSpacingMm
    axis4 = lvLongAxis(a4cMask, spacing4, a4cAnnulus, apexUp)
    axis2 = lvLongAxis(a2cMask, spacing2, a2cAnnulus, apexUp)
    diameters4 = diskDiameters(a4cMask, axis4, spacing4, disks)
    diameters2 = diskDiameters(a2cMask, axis2, spacing2, disks)
    length = max(axis4.lengthMm, axis2.lengthMm)
    return float(np.pi / 4.0 * np.sum(diameters4 * diameters2) * length / disks / 1000.0)


def ejectionFractionPercent(edvMl: float, esvMl: float) -> float:
    """EF (%) = (EDV - ESV) / EDV."""
    return 100.0 * (edvMl - esvMl) / edvMl
