"""The six standard echo views of a heart mesh: their planes and the mesh's cut by each (label slices).

Views (:data:`~.conventions.VIEWS`, after Table 1 of Gong et al., S2MNet, arXiv:2505.06105): apical four-chamber
(A4C), two-chamber (A2C) and three-chamber (A3C, apical long axis), and short-axis basal, mid-ventricular and apical
(SAXB, SAXM, SAXA). The pipeline cuts the reconstructed mesh by these planes to compare it with each image; the
development package's simulator (``EchoReconDev.echosim``) images the same planes, probe jitter added.

Planes (heart frame of :mod:`EchoReconLib.template`, mm) are built from the mesh's landmarks:

- apical views: the transducer sits on the extension of the LV long axis beyond the epicardial apex (chest wall
  :data:`CHEST_WALL_MM` in front of it); depth ``v`` runs along the long axis from apex to base. A4C contains the
  long axis and the tricuspid valve centre, ``u`` (image right) points away from the RV (RV on the image left,
  LV lateral wall on the right); A2C contains the long axis with its normal toward the RV, ``u`` anterior
  (anterior wall on the right); A3C contains the long axis and the aortic valve centre, ``u`` toward the aortic
  valve (outflow tract on the right). These follow the usual adult display (Lang et al., JASE 2015).
- short-axis views: perpendicular to the long axis at :data:`SHORT_AXIS_LEVELS` of the way from the mitral
  annulus centre to the apex; the transducer is anterior (parasternal window), ``v`` (depth) runs posterior,
  ``u`` is chosen so the RV is on the image left.

Each plane keeps its ``pivot``, the LV axis point at the middle of the view, about which a probe would turn.

Images are [H, W] arrays indexed [row, column]; pixel (column c, row r) is the plane point
``origin + (c - (W - 1) / 2) * pixelMm * u + r * pixelMm * v`` (pixel centres at integers, the sector's apex at
row 0, the middle column). Label images: 0 background, 1..6 = :data:`~.conventions.STRUCTURES`
(LV cavity, LV myocardium, RV, LA, RA, aortic root), cavities drawn over the myocardium.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from .conventions import APICAL_VIEWS, FIELD_DEPTH_MM, IMAGE_SIZE, STRUCTURES, VIEWS
from .template import HeartTemplate

#: Fraction of the way from the mitral annulus centre to the LV apex of the short-axis planes.
SHORT_AXIS_LEVELS = {"SAXB": 0.25, "SAXM": 0.5, "SAXA": 0.8}
#: Depth of the LV long axis in the short-axis views, as a fraction of the field depth.
SHORT_AXIS_CENTRE_DEPTH = 0.55
CHEST_WALL_MM = 15.0
SECTOR_HALF_ANGLE_DEG = 40.0


@dataclass
class ViewPlane:
    """One view's imaging plane in the heart frame (mm): ``origin`` is the sector's apex (transducer), ``u`` the
    lateral image direction (columns, left to right), ``v`` the depth direction (rows, top to bottom), ``normal``
    = u x v; ``pixelMm`` the pixel spacing of its images, ``jitter`` the applied probe jitter (deg, mm; a
    simulator's), ``pivot`` the LV axis point at the middle of the view (heart frame, mm)."""

    view: str
    origin: np.ndarray
    u: np.ndarray
    v: np.ndarray
    pixelMm: float
    size: int = IMAGE_SIZE
    halfAngleDeg: float = SECTOR_HALF_ANGLE_DEG
    jitter: dict = field(default_factory=dict)
    pivot: Optional[np.ndarray] = None

    @property
    def normal(self) -> np.ndarray:
        return np.cross(self.u, self.v)

    def asArray(self) -> np.ndarray:
        """[4, 3]: origin, u, v, normal."""
        return np.stack([self.origin, self.u, self.v, self.normal])

    def pixelToFrame(self, columns, rows) -> np.ndarray:
        """Heart-frame points [..., 3] (mm) of pixel coordinates (column, row)."""
        columns, rows = np.asarray(columns, float), np.asarray(rows, float)
        lateral = (columns - (self.size - 1) / 2.0) * self.pixelMm
        return self.origin + lateral[..., None] * self.u + (rows * self.pixelMm)[..., None] * self.v

    def frameToPixel(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(columns, rows, signed distance to the plane in mm) of heart-frame points [..., 3]."""
        relative = np.asarray(points, float) - self.origin
        columns = relative @ self.u / self.pixelMm + (self.size - 1) / 2.0
        return columns, relative @ self.v / self.pixelMm, relative @ self.normal


def _unit(vector: np.ndarray) -> np.ndarray:
    return vector / np.linalg.norm(vector)


def _perpendicular(vector: np.ndarray, axis: np.ndarray) -> np.ndarray:
    return _unit(vector - (vector @ axis) * axis)


def viewPlanes(vertices: np.ndarray, template: HeartTemplate, size: int = IMAGE_SIZE) -> dict[str, ViewPlane]:
    """The six standard view planes of a heart (vertices [V, 3], heart frame mm) from its landmarks.

    Returns {view: :class:`ViewPlane`} in :data:`VIEWS` order.
    """
    vertices = np.asarray(vertices, dtype=float)
    landmarks = template.landmarks(vertices)
    apex, mitral = landmarks["lvApex"], landmarks["mitralAnnulus"]
    axis = _unit(mitral - apex)  # depth direction of the apical views (apex -> base)
    epicardialApexDepth = (landmarks["lvEpicardialApex"] - apex) @ -axis
    transducer = apex - axis * (max(epicardialApexDepth, 0.0) + CHEST_WALL_MM)
    rvCentre = vertices[template.structureVertexIndices("RV")].mean(axis=0)
    anterior = template.anterior
    lateral = {
        "A4C": -_perpendicular(landmarks["tricuspidValve"] - apex, axis),
        "A3C": _perpendicular(landmarks["aorticValve"] - apex, axis),
    }
    a2c = np.cross(_perpendicular(rvCentre - apex, axis), axis)
    lateral["A2C"] = a2c if a2c @ anterior >= 0 else -a2c
    planes = {}
    for view in VIEWS:
        pixelMm = FIELD_DEPTH_MM[view] / (size - 1)
        if view in APICAL_VIEWS:
            origin, u, v = transducer, lateral[view], axis
            pivot = (apex + mitral) / 2.0
        else:
            pivot = mitral + SHORT_AXIS_LEVELS[view] * (apex - mitral)
            v = _perpendicular(-anterior, axis)  # depth: anterior chest wall -> posterior
            u = np.cross(axis, v)
            if u @ (rvCentre - pivot) > 0:
                u = -u
            origin = pivot - v * SHORT_AXIS_CENTRE_DEPTH * FIELD_DEPTH_MM[view]
        planes[view] = ViewPlane(view, origin, _unit(u), _unit(v), pixelMm, size, pivot=pivot)
    return planes


# -- label slices ---------------------------------------------------------------------------------------------


def _cutSegments(columns: np.ndarray, rows: np.ndarray, distance: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """Segments [N, 2, 2] ((column, row) of both ends) where a closed surface crosses the plane."""
    side = distance[triangles] >= 0.0  # [F, 3]
    count = side.sum(axis=1)
    crossing = triangles[(count == 1) | (count == 2)]
    if len(crossing) == 0:
        return np.zeros((0, 2, 2))
    side = distance[crossing] >= 0.0
    ends = []
    for a, b in ((0, 1), (1, 2), (2, 0)):
        edgeCrosses = side[:, a] != side[:, b]
        ia, ib = crossing[:, a], crossing[:, b]
        da, db = distance[ia], distance[ib]
        t = np.where(edgeCrosses, da / np.where(edgeCrosses, da - db, 1.0), 0.0)
        point = np.stack([columns[ia] + t * (columns[ib] - columns[ia]), rows[ia] + t * (rows[ib] - rows[ia])], 1)
        ends.append((edgeCrosses, point))
    # each crossing triangle has exactly two crossing edges: the first and the second of them
    flags = np.stack([flag for flag, _ in ends], axis=1)  # [N, 3]
    points = np.stack([point for _, point in ends], axis=1)  # [N, 3, 2]
    order = np.argsort(~flags, axis=1, kind="stable")[:, :2]
    return np.take_along_axis(points, order[:, :, None], axis=1)


def fillEvenOdd(segments: np.ndarray, height: int, width: int) -> np.ndarray:
    """Pixels (bool [H, W]) inside the closed polygons made of ``segments`` (even-odd rule on pixel centres)."""
    inside = np.zeros((height, width + 1), np.int32)
    if len(segments) == 0:
        return inside[:, :width].astype(bool)
    (x0, y0), (x1, y1) = segments[:, 0].T, segments[:, 1].T
    low, high = np.minimum(y0, y1), np.maximum(y0, y1)
    first = np.maximum(np.ceil(low), 0).astype(np.int64)
    last = np.minimum(np.ceil(high) - 1, height - 1).astype(np.int64)  # rows with low <= row < high
    counts = np.maximum(last - first + 1, 0)
    if counts.sum() == 0:
        return inside[:, :width].astype(bool)
    index = np.repeat(np.arange(len(segments)), counts)
    rows = first[index] + (np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts))
    xs = x0[index] + (rows - y0[index]) * (x1[index] - x0[index]) / (y1[index] - y0[index])
    columns = np.clip(np.ceil(xs), 0, width).astype(np.int64)
    np.add.at(inside, (rows, columns), 1)
    return (np.cumsum(inside, axis=1)[:, :width] % 2).astype(bool)


def sliceStructures(vertices: np.ndarray, template: HeartTemplate, plane: ViewPlane, size: int | None = None,
                    pixelMm: float | None = None) -> np.ndarray:
    """Inside masks (bool [6, H, W]) of each structure's cut by the plane (structures in :data:`STRUCTURES`
    order; the LV myocardium mask is the whole epicardial cut, the cavity included). A ``size`` other than the
    plane's keeps its field of view unless ``pixelMm`` is given."""
    size = size or plane.size
    pixelMm = pixelMm or plane.pixelMm * (plane.size - 1) / (size - 1)
    relative = np.asarray(vertices, float) - plane.origin
    columns = relative @ plane.u / pixelMm + (size - 1) / 2.0
    rows = relative @ plane.v / pixelMm
    distance = relative @ plane.normal
    masks = np.zeros((len(STRUCTURES), size, size), bool)
    for index in range(len(STRUCTURES)):
        segments = _cutSegments(columns, rows, distance, template.structureTriangles(index))
        masks[index] = fillEvenOdd(segments, size, size)
    return masks


def sliceLabels(vertices: np.ndarray, template: HeartTemplate, plane: ViewPlane, size: int | None = None,
                pixelMm: float | None = None) -> np.ndarray:
    """Label image (uint8 [H, W]: 0 background, 1..6 structure) of the mesh cut by the plane (see
    :func:`sliceStructures` for ``size`` and ``pixelMm``)."""
    masks = sliceStructures(vertices, template, plane, size, pixelMm)
    labels = np.zeros(masks.shape[1:], np.uint8)
    for label in (STRUCTURES.index(name) + 1 for name in DRAW_ORDER):
        labels[masks[label - 1]] = label
    return labels


def planeCutDice(vertices: np.ndarray, template: HeartTemplate, plane: ViewPlane, regionMask: np.ndarray,
                 labels: tuple[int, ...] = (1, 2, 3, 4, 5, 6)) -> float:
    """Dice between the mesh's cut by ``plane`` (the union of ``labels``) and a 2D region mask [H, W] of the same
    field of view (e.g. the heart region segmented in the input view); 1.0 when both are empty."""
    regionMask = np.asarray(regionMask, bool)
    cut = np.isin(sliceLabels(vertices, template, plane, size=regionMask.shape[0]), labels)
    from ReconCoreLib.metrics import overlapMetrics

    return overlapMetrics(cut, regionMask)["dice"]


#: Drawing order of a view's cut (summary.png, the slice-view overlays): the cavities over the myocardium.
DRAW_ORDER = ("LV myocardium", "RV", "LA", "RA", "aortic root", "LV cavity")


def planeCut(points: np.ndarray, triangles: np.ndarray, origin, u, v) -> np.ndarray:
    """Segments [N, 2 ends, 2] where a triangle surface crosses the plane through ``origin`` spanned by the unit
    vectors ``u`` and ``v`` (same frame as ``points``, mm): each end as (mm along ``u``, mm along ``v``)."""
    relative = np.asarray(points, float) - np.asarray(origin, float)
    return _cutSegments(relative @ np.asarray(u, float), relative @ np.asarray(v, float), relative @ np.cross(u, v),
                        np.asarray(triangles, np.int64).reshape(-1, 3))


def imageMapping(image, view: str, shiftMm=(0.0, 0.0)) -> tuple[np.ndarray, np.ndarray]:
    """((row, column) of the sector apex, (row, column) pixel spacing in mm) of an echo image as the network read it
    (:func:`~.inputs.networkInput`); a view the run moved onto the heart (:mod:`~.placement`, ``shiftMm`` (depth,
    lateral) from :func:`~.placement.shiftOf`) was read from an apex that much deeper and further right."""
    rows, columns = image.pixels.shape
    apex = np.asarray(image.apexPixel if image.apexPixel is not None else (0.0, (columns - 1) / 2.0), float)
    if image.pixelSpacingMm is None:
        spacing = np.full(2, FIELD_DEPTH_MM[view] / (rows - 1))
    else:
        spacing = np.asarray(image.pixelSpacingMm, float)
    return apex + np.asarray(shiftMm, float) / spacing, spacing
