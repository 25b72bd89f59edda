"""A view's image on a virtual detector about a point: the C-arm with the view's source whose central ray goes
through the point, at the view's magnification there, so a network that knows its object centred in its field sees
it so wherever it lies in the patient.

:func:`virtualDetector` makes that C-arm (its isocenter is the point: its coordinates are the point's frame, LPS
axes kept); :func:`resampleToDetector` places every virtual pixel on its detector plane and projects it through the
view onto the image (bilinear), after a Gaussian filter that gives every source resolution the same point spread in
mm. FemurRegistration puts its crop box on the femur so, AngioRecon its cube on the coronary tree.

Why written here: plane-to-plane resampling through a cone beam is two matrix products and scipy's interpolation.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from .xraygeometry import CArmGeometry


def virtualDetector(geometry: CArmGeometry, centreLps: Sequence[float], pixelMm: float, size: int) -> CArmGeometry:
    """The detector of ``size`` x ``size`` pixels of ``pixelMm`` (mm on the detector) of a C-arm whose isocenter is
    ``centreLps`` (LPS mm, ``geometry``'s frame), its source ``geometry``'s, its central ray through the centre (angles
    to match), ``geometry``'s magnification at the centre (SID / SOD kept). Its coordinates are those of the centre's
    frame (the centre at the origin); with the centre on the isocenter it is ``geometry``'s C-arm."""
    direction = np.asarray(centreLps, dtype=float) - geometry.sourcePositionLps
    distance = float(np.linalg.norm(direction))
    direction /= distance
    primary = math.degrees(math.atan2(direction[0], -direction[1]))  # detectorDirectionLps, solved for the angles
    secondary = math.degrees(math.asin(float(np.clip(direction[2], -1.0, 1.0))))
    return CArmGeometry(primary, secondary, distance * geometry.magnification, distance, (pixelMm, pixelMm), size,
                        size)


def antiAliasingSigmaPixels(sourceSpacingMm: float, targetSpacingMm: float, pointSpreadPixels: float) -> float:
    """Gaussian sigma (source pixels) that gives a resampled image the point spread ``pointSpreadPixels`` (sigma,
    target pixels), whatever the source's pixel size (both sizes in the same detector mm).

    The source pixel's aperture (variance s^2/12) and the bilinear interpolation (s^2/6) already blur by s^2/4;
    the filter adds the rest (none when the source pixels are that coarse).
    """
    variance = (pointSpreadPixels * targetSpacingMm) ** 2 - sourceSpacingMm ** 2 / 4.0
    return math.sqrt(variance) / sourceSpacingMm if variance > 0 else 0.0


def resampleToDetector(pixels: np.ndarray, geometry: CArmGeometry, target: CArmGeometry,
                       targetOriginLps: Sequence[float], pointSpreadPixels: float) -> np.ndarray:
    """Resample an image of ``geometry`` onto the detector of ``target`` (float32, target rows x columns), whose
    frame's origin lies at ``targetOriginLps`` in ``geometry``'s frame (:func:`virtualDetector`'s centre).

    Each target pixel is placed on its detector plane (LPS) and projected through ``geometry`` onto the source
    image (bilinear; 0 outside it). A Gaussian filter first (:func:`antiAliasingSigmaPixels`, point spread
    ``pointSpreadPixels`` target pixels) makes the result independent of the source's pixel count.
    """
    from scipy.ndimage import gaussian_filter, map_coordinates

    image = np.asarray(pixels, np.float32)
    magnification = geometry.sourceToDetectorMm / target.sourceToDetectorMm  # target mm -> source detector mm
    sigma = [antiAliasingSigmaPixels(geometry.pixelSpacingMm[axis], target.pixelSpacingMm[axis] * magnification,
                                     pointSpreadPixels) for axis in (0, 1)]
    if max(sigma) > 0:
        image = gaussian_filter(image, sigma, mode="nearest", truncate=3.0)
    columns, rows = np.meshgrid(np.arange(target.columns, dtype=float), np.arange(target.rows, dtype=float))
    detector = target.pixelToDetectorLps(np.stack([columns.ravel(), rows.ravel()], axis=1)) + np.asarray(
        targetOriginLps, dtype=float)
    source = geometry.projectLps(detector)
    values = map_coordinates(image, [source[:, 1], source[:, 0]], order=1, mode="constant", cval=0.0)
    return values.reshape(target.rows, target.columns).astype(np.float32)
