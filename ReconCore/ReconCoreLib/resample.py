"""Resampling a 2D image to another pixel count over the same field: area averaging where it shrinks (anti-aliased:
each output pixel the mean of the input it covers, pixels cut by its edges by the share inside), linear interpolation
of pixel centres where it grows. float32 in, float32 out; numpy only.

Written here because exact area averaging by a non-integer factor is in neither SimpleITK (BinShrink takes whole
factors) nor scipy.ndimage (zoom interpolates, aliasing fine vessels and thin cortices); torch's
``interpolate(mode="area")`` would make image reading need torch, which Slicer installs only on demand. AngioRecon's
vessel maps and FemurRegistration's radiograph working copies both use it.
"""

from __future__ import annotations

import numpy as np


def _areaAverageAxis(array: np.ndarray, size: int, axis: int) -> np.ndarray:
    """Area average of a 2D array along ``axis`` to ``size`` (<= its length) over the same extent."""
    count = array.shape[axis]
    edges = np.arange(size + 1) * (count / size)  # output pixel edges, in input pixels
    edges[-1] = count
    whole = np.floor(edges).astype(int)
    share = np.expand_dims(edges - whole, 1 - axis)  # of the input pixel cut by the edge, the part before it
    cut = np.take(array, np.minimum(whole, count - 1), axis=axis)
    inside = np.add.reduceat(array, whole[:-1], axis=axis)  # whole pixels from each edge's pixel to the next edge's
    before, after = (slice(None, -1), slice(1, None)) if axis == 0 else (np.s_[:, :-1], np.s_[:, 1:])
    return ((inside + share[after] * cut[after] - share[before] * cut[before]) * (size / count)).astype(np.float32)


def _linearAxis(array: np.ndarray, size: int, axis: int) -> np.ndarray:
    """Linear interpolation of pixel centres along ``axis`` to ``size`` (> its length) over the same extent."""
    count = array.shape[axis]
    if count == 1:
        return np.repeat(array, size, axis=axis).astype(np.float32)
    centres = np.clip((np.arange(size) + 0.5) * (count / size) - 0.5, 0, count - 1)
    low = np.minimum(np.floor(centres).astype(int), count - 2)
    fraction = np.expand_dims((centres - low).astype(np.float32), 1 - axis)
    return (np.take(array, low, axis=axis) * (1 - fraction)
            + np.take(array, low + 1, axis=axis) * fraction).astype(np.float32)


def _resizeAxis(array: np.ndarray, size: int, axis: int) -> np.ndarray:
    if size == array.shape[axis]:
        return array
    return (_areaAverageAxis if size < array.shape[axis] else _linearAxis)(array, size, axis)


def resizeImage(image: np.ndarray, rows: int, columns: int) -> np.ndarray:
    """``image`` (rows, columns) resampled to ``rows`` x ``columns`` over the same field: area averaging along an axis
    that shrinks, linear interpolation along one that grows. float32; a copy when the size is its own."""
    array = np.asarray(image, np.float32)
    if array.shape == (rows, columns):
        return array.copy()
    return _resizeAxis(_resizeAxis(array, columns, 1), rows, 0)  # along the rows first: contiguous


def areaAverage(image: np.ndarray, rows: int, columns: int) -> np.ndarray:
    """:func:`resizeImage` that only shrinks (``ValueError`` for a larger size); the same pixels (float32) when the
    size is its own."""
    array = np.asarray(image, np.float32)
    if rows > array.shape[0] or columns > array.shape[1]:
        raise ValueError(f"area averaging shrinks: {array.shape[0]} x {array.shape[1]} -> {rows} x {columns}")
    return _resizeAxis(_resizeAxis(array, columns, 1), rows, 0)


def finerFieldSize(geometry, pixelMm: float, minimum: int = 1) -> tuple[int, int]:
    """(rows, columns) of an X-ray image's field (a :class:`~.xraygeometry.CArmGeometry`) at about ``pixelMm`` per
    pixel at the isocenter along an axis whose pixels are finer, its own count along the others; at least
    ``minimum``."""
    return tuple(min(count, max(minimum, int(round(count * spacing / geometry.magnification / pixelMm))))
                 for count, spacing in zip((geometry.rows, geometry.columns), geometry.pixelSpacingMm))
