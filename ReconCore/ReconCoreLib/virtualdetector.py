"""A view's image on a virtual detector about a point: the C-arm with the view's source whose central ray goes
through the point, at the view's magnification there, so a network that knows its object centred in its field sees
it so wherever it lies in the patient.

:func:`virtualDetector` makes that C-arm (its isocenter is the point: its coordinates are the point's frame, LPS
axes kept); :func:`resampleToDetector` follows every virtual pixel's ray to the plane through that point and projects
it through the view onto the image (bilinear), after a Gaussian filter that gives every source resolution the same
point spread in mm. FemurRegistration puts its crop box on the femur so, AngioRecon its cube on the coronary tree.
:func:`oppositeDetector` is the same detector seen from the other side of the point, for a network trained on views
from one side only.

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


def oppositeDetector(target: CArmGeometry) -> CArmGeometry:
    """``target`` (a C-arm about its isocenter, as :func:`virtualDetector` makes it) turned half a circle: the same
    central ray through the isocenter run the other way (primary angle + 180 deg, secondary negated), the same
    distances, pixels and size. An X-ray's line integral is the same both ways along a ray, so the view's image
    resampled onto it (:func:`resampleToDetector`) is what a view from the other side would show, exactly on the
    plane through the isocenter and approximately off it (see there)."""
    primary = target.primaryAngleDeg + 180.0
    return CArmGeometry(primary - 360.0 if primary > 180.0 else primary, -target.secondaryAngleDeg,
                        target.sourceToDetectorMm, target.sourceToPatientMm, target.pixelSpacingMm, target.rows,
                        target.columns)


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

    Each target pixel's ray is followed to the plane through the target's isocenter (perpendicular to its central
    ray) and that point is projected through ``geometry`` onto the source image (bilinear; 0 outside it). Where the
    two share the source (:func:`virtualDetector`) that is the pixel's own ray, exact at every depth; for the
    target seen from the other side (:func:`oppositeDetector`) a point ``d`` mm off that plane, ``u`` mm from the
    central ray, lands about ``2 u d / SOD`` mm off (3 mm for 50 mm and 30 mm at an SOD of 1000 mm). A Gaussian
    filter first (:func:`antiAliasingSigmaPixels`, point spread ``pointSpreadPixels`` target pixels) makes the
    result independent of the source's pixel count.
    """
    from scipy.ndimage import gaussian_filter, map_coordinates

    image = np.asarray(pixels, np.float32)
    magnification = geometry.sourceToDetectorMm / target.sourceToDetectorMm  # target mm -> source detector mm
    sigma = [antiAliasingSigmaPixels(geometry.pixelSpacingMm[axis], target.pixelSpacingMm[axis] * magnification,
                                     pointSpreadPixels) for axis in (0, 1)]
    if max(sigma) > 0:
        image = gaussian_filter(image, sigma, mode="nearest", truncate=3.0)
    columns, rows = np.meshgrid(np.arange(target.columns, dtype=float), np.arange(target.rows, dtype=float))
    detector = target.pixelToDetectorLps(np.stack([columns.ravel(), rows.ravel()], axis=1))
    focus = target.sourcePositionLps
    plane = focus + (detector - focus) * (target.sourceToPatientMm / target.sourceToDetectorMm)
    source = geometry.projectLps(plane + np.asarray(targetOriginLps, dtype=float))
    values = map_coordinates(image, [source[:, 1], source[:, 0]], order=1, mode="constant", cval=0.0)
    return values.reshape(target.rows, target.columns).astype(np.float32)
