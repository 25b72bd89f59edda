"""Summary pictures of finished cases (``summary.png``): the drawing every module's ``<Module>Lib/summary.py`` shares.

A summary is one RGB PNG of :data:`SIZE_PX`: a title with the input files, a banner when plausibility checks failed,
the input images with the result drawn over them, a small 3D rendering of the result, the key readouts at their
clinical precision (:func:`~ReconCoreLib.readouts.displayValue`) and a research-use line.

Everything here runs without a display or OpenGL: images are composed with Pillow, the 3D view is rasterised with
numpy (orthographic projection of the result's triangles with a z-buffer, Gouraud-shaded by a headlight), the
projection of a surface through an X-ray view is the union of its projected triangles. VTK is used only to read
``.vtk`` models (no rendering), SimpleITK to read ``.nrrd`` volumes.

Frames: surfaces are :class:`Mesh` in patient RAS (mm). Slicer writes ``.vtk`` models in LPS with ``SPACE=LPS`` in
the header and reads a file without the tag as LPS (:func:`readModelRas`). Image pixels are (column, row), row 0 at the
top, pixel centres at integers; a panel is the image resized to fit a square, its pixel (column', row') the image
point ``((column' + 0.5) * columns / width - 0.5, (row' + 0.5) * rows / height - 0.5)``, which is also the pixel frame
of ``geometry.withImageSize(height, width)`` for an X-ray view.

Console example::

    from ReconCoreLib import summaryimage
    mesh = summaryimage.readModelRas("out/hip1/model.vtk")
    rgb = summaryimage.renderMeshes([(mesh, (0.95, 0.88, 0.72), 1.0)], (300, 400), *summaryimage.ANTERIOR_VIEW)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

#: Width and height of every summary picture (pixels).
SIZE_PX = (1200, 630)
MARGIN_PX = 10
#: Where the panels (inputs and 3D rendering) lie: from BODY_TOP_PX, BODY_HEIGHT_PX high; a title above each.
BODY_TOP_PX = 100
BODY_HEIGHT_PX = 400
PANEL_TITLE_PX = 18
FOOTER_TOP_PX = BODY_TOP_PX + BODY_HEIGHT_PX + 8
BACKGROUND = (18, 18, 23)
TEXT = (232, 232, 232)
GREY_TEXT = (150, 150, 150)
BANNER = (190, 30, 30)
#: Grey levels of the image panels: the noise looks the same and the PNG stays small.
GREY_LEVELS = 64
RESEARCH_NOTE = ("Research prototype: networks trained on synthetic data, not validated on patient images; "
                 "not for diagnosis or treatment.")
#: (direction from the camera toward the patient, screen up), RAS: the anterior view, patient right on the image left.
ANTERIOR_VIEW = ((0.0, -1.0, 0.0), (0.0, 0.0, 1.0))
LPS_TO_RAS_3 = np.diag([-1.0, -1.0, 1.0])
#: Fragments (pixel candidates) rasterised at a time: bounds the memory of :func:`rasterize`.
_FRAGMENTS_PER_CHUNK = 2_000_000


@dataclass
class Mesh:
    """A triangle surface: ``pointsRas`` (N, 3) mm in patient RAS, ``triangles`` (F, 3) point indices."""

    pointsRas: np.ndarray
    triangles: np.ndarray


# -- reading results ----------------------------------------------------------------------------------------------


def readModelRas(path: str | Path) -> Mesh:
    """A legacy ``.vtk`` model as a :class:`Mesh` in RAS (mm), its points in the file's order. Slicer writes LPS
    (``SPACE=LPS``) and reads a file without the tag as LPS, so everything but ``SPACE=RAS`` is flipped.

    :raises ValueError: the file cannot be read or holds no triangles.
    """
    from vtkmodules.util.numpy_support import vtk_to_numpy
    from vtkmodules.vtkFiltersCore import vtkTriangleFilter
    from vtkmodules.vtkIOLegacy import vtkPolyDataReader

    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: no such model file")
    reader = vtkPolyDataReader()
    reader.SetFileName(str(path))
    reader.Update()
    triangulate = vtkTriangleFilter()  # strips and polygons to triangles; the points stay as they are
    triangulate.SetInputData(reader.GetOutput())
    triangulate.PassVertsOff()
    triangulate.PassLinesOff()
    triangulate.Update()
    polyData = triangulate.GetOutput()
    if polyData.GetPoints() is None or polyData.GetNumberOfPolys() == 0:
        raise ValueError(f"{path}: no surface in the model file")
    points = vtk_to_numpy(polyData.GetPoints().GetData()).astype(float)
    if "SPACE=RAS" not in (reader.GetHeader() or ""):
        points = points @ LPS_TO_RAS_3
    triangles = vtk_to_numpy(polyData.GetPolys().GetConnectivityArray()).astype(np.int64).reshape(-1, 3)
    return Mesh(points, triangles)


def readVolumeRas(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """(array [k, j, i] float32, ijkToRas 4x4) of a scalar volume file (``.nrrd`` ...), read with SimpleITK."""
    import SimpleITK as sitk

    image = sitk.ReadImage(str(path))
    array = sitk.GetArrayFromImage(image).astype(np.float32)
    if array.ndim != 3:
        raise ValueError(f"{path}: expected a 3D scalar volume, got an array of shape {array.shape}")
    ijkToLps = np.eye(4)
    ijkToLps[:3, :3] = np.asarray(image.GetDirection(), float).reshape(3, 3) @ np.diag(image.GetSpacing())
    ijkToLps[:3, 3] = image.GetOrigin()
    ijkToRas = np.diag([-1.0, -1.0, 1.0, 1.0]) @ ijkToLps
    return array, ijkToRas


def voxelSurface(label: np.ndarray, ijkToRas: np.ndarray) -> Mesh:
    """The boundary of a label volume [k, j, i] (set voxels) as voxel faces: every face of a set voxel whose
    neighbour is not set, two triangles each (outward), placed by ``ijkToRas`` (the labelmap exactly, as blocks)."""
    label = np.asarray(label, bool)
    padded = np.pad(label, 1)
    points, triangles, count = [], [], 0
    for axis in range(3):  # i, j, k
        for sign in (-1, 1):
            start = [1, 1, 1]
            start[2 - axis] += sign  # array axes are k, j, i
            neighbour = padded[start[0]:start[0] + label.shape[0], start[1]:start[1] + label.shape[1],
                               start[2]:start[2] + label.shape[2]]
            k, j, i = np.nonzero(label & ~neighbour)
            centre = np.stack([i, j, k], 1).astype(float)
            centre[:, axis] += 0.5 * sign
            first, second = [other for other in range(3) if other != axis]
            corners = np.repeat(centre[:, None], 4, axis=1)
            corners[:, :, first] += [-0.5, 0.5, 0.5, -0.5]
            corners[:, :, second] += [-0.5, -0.5, 0.5, 0.5]
            points.append(corners.reshape(-1, 3))
            base = count + 4 * np.arange(len(centre))[:, None]
            outward = (1, -1, 1)[axis] * sign * np.sign(np.linalg.det(np.asarray(ijkToRas, float)[:3, :3])) > 0
            triangles.append(np.concatenate([base + [0, 1, 2], base + [0, 2, 3]] if outward else
                                            [base + [0, 2, 1], base + [0, 3, 2]]))
            count += 4 * len(centre)
    if not count:
        return Mesh(np.zeros((0, 3)), np.zeros((0, 3), np.int64))
    # weld the corners that faces share: the points' normals then round the blocks' edges in the shading
    corners, inverse = np.unique(np.round(2.0 * np.concatenate(points)).astype(np.int64), axis=0, return_inverse=True)
    ijkToRas = np.asarray(ijkToRas, float)
    return Mesh(corners / 2.0 @ ijkToRas[:3, :3].T + ijkToRas[:3, 3],
                inverse.reshape(-1)[np.concatenate(triangles)].astype(np.int64))


# -- rasterising triangles ----------------------------------------------------------------------------------------


def _fragments(pixels: np.ndarray, triangles: np.ndarray, shape: tuple[int, int]):
    """Yield (triangle index, flat pixel index, barycentric [n, 3]) of every pixel centre inside a triangle; pixels
    (N, 2) are (column, row), ``shape`` (rows, columns)."""
    height, width = shape
    triangles = np.asarray(triangles, np.int64).reshape(-1, 3)
    if len(triangles) == 0:
        return
    corners = np.asarray(pixels, float)[triangles]  # [F, 3 corners, (column, row)]
    low = np.maximum(np.ceil(corners.min(axis=1)), 0).astype(np.int64)
    high = np.minimum(np.floor(corners.max(axis=1)), [width - 1, height - 1]).astype(np.int64)
    span = high - low + 1
    edgeB, edgeC = corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0]
    area = edgeB[:, 0] * edgeC[:, 1] - edgeB[:, 1] * edgeC[:, 0]
    finite = np.all(np.isfinite(corners.reshape(len(corners), -1)), axis=1)
    keep = np.flatnonzero(finite & np.all(span > 0, axis=1) & (np.abs(area) > 1e-12))
    counts = span[keep, 0] * span[keep, 1]
    start = 0
    while start < len(keep):
        stop = start + max(1, int(np.searchsorted(np.cumsum(counts[start:]), _FRAGMENTS_PER_CHUNK, side="right")))
        ids, number = keep[start:stop], counts[start:stop]
        triangle = np.repeat(ids, number)
        offset = np.arange(number.sum()) - np.repeat(np.cumsum(number) - number, number)
        column = low[triangle, 0] + offset % span[triangle, 0]
        row = low[triangle, 1] + offset // span[triangle, 0]
        a, b, c = corners[triangle, 0], corners[triangle, 1], corners[triangle, 2]
        pa, pb, pc = a - np.stack([column, row], 1), b - np.stack([column, row], 1), c - np.stack([column, row], 1)
        weightA = (pb[:, 0] * pc[:, 1] - pb[:, 1] * pc[:, 0]) / area[triangle]
        weightB = (pc[:, 0] * pa[:, 1] - pc[:, 1] * pa[:, 0]) / area[triangle]
        weightC = 1.0 - weightA - weightB
        inside = (weightA >= -1e-9) & (weightB >= -1e-9) & (weightC >= -1e-9)
        yield (triangle[inside], row[inside] * width + column[inside],
               np.stack([weightA[inside], weightB[inside], weightC[inside]], 1))
        start = stop


def coverage(pixels: np.ndarray, triangles: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """bool [rows, columns]: the pixel centres that a triangle covers (pixels (N, 2) column, row)."""
    covered = np.zeros(shape[0] * shape[1], bool)
    for _, index, _ in _fragments(pixels, triangles, shape):
        covered[index] = True
    return covered.reshape(shape)


def rasterize(pixels: np.ndarray, depth: np.ndarray, values: np.ndarray, triangles: np.ndarray,
              shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """z-buffer: (depth [rows, columns], inf where empty; per-point ``values`` (N, C) interpolated at the nearest
    surface [rows, columns, C]). ``pixels`` (N, 2) column, row; ``depth`` (N,) smaller is nearer the camera."""
    depth, values = np.asarray(depth, float), np.asarray(values, float)
    triangles = np.asarray(triangles, np.int64).reshape(-1, 3)
    bestDepth = np.full(shape[0] * shape[1], np.inf)
    bestValues = np.zeros((shape[0] * shape[1], values.shape[1]))
    for triangle, index, weights in _fragments(pixels, triangles, shape):
        corners = triangles[triangle]
        fragmentDepth = np.einsum("ij,ij->i", weights, depth[corners])
        order = np.lexsort((fragmentDepth, index))
        _, first = np.unique(index[order], return_index=True)
        winner = order[first]  # the nearest fragment of each pixel in this chunk
        nearer = fragmentDepth[winner] < bestDepth[index[winner]]
        winner = winner[nearer]
        bestDepth[index[winner]] = fragmentDepth[winner]
        bestValues[index[winner]] = np.einsum("ij,ijk->ik", weights[winner], values[corners[winner]])
    return bestDepth.reshape(shape), bestValues.reshape(*shape, values.shape[1])


def projectedSilhouette(mesh: Mesh, geometry) -> np.ndarray:
    """bool [rows, columns] of an X-ray view (:class:`~ReconCoreLib.xraygeometry.CArmGeometry`): the pixels that the
    mesh's triangles cover when projected through the view's cone beam (RAS -> pixel)."""
    shape = (geometry.rows, geometry.columns)
    if len(mesh.triangles) == 0:
        return np.zeros(shape, bool)
    return coverage(geometry.projectRas(mesh.pointsRas), mesh.triangles, shape)


def outline(mask: np.ndarray, width: int = 1) -> np.ndarray:
    """bool: the ``width`` pixel thick inner border of a mask."""
    from scipy import ndimage

    mask = np.asarray(mask, bool)
    return mask & ~ndimage.binary_erosion(mask, iterations=width, border_value=0)


def vertexNormals(mesh: Mesh) -> np.ndarray:
    """Unit normals (N, 3) of the points, area-weighted from their triangles (zero for unused points)."""
    points, triangles = mesh.pointsRas, mesh.triangles
    corners = points[triangles]
    faces = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
    normals = np.zeros_like(points)
    for corner in range(3):
        np.add.at(normals, triangles[:, corner], faces)
    length = np.linalg.norm(normals, axis=1, keepdims=True)
    return np.divide(normals, length, out=np.zeros_like(normals), where=length > 0)


def renderMeshes(meshes: Sequence[tuple[Mesh, tuple, float]], size: tuple[int, int], direction: Sequence[float],
                 viewUp: Sequence[float], background=BACKGROUND, padding: int = 12, depthCue: float = 0.3,
                 edgeMm: float = 3.0) -> np.ndarray:
    """RGB uint8 [height, width, 3] of ``meshes`` [(Mesh RAS, rgb 0..1, opacity)] in orthographic projection along
    ``direction`` (RAS, from the camera toward the meshes) with ``viewUp`` up, fitted in ``size`` (width, height).

    Shading: two-sided headlight (ambient + diffuse + a little specular) interpolated from the points' normals, a
    darkening with depth (``depthCue``: the farthest point is that much darker) and dark edges where the depth jumps
    by more than ``edgeMm`` (outlines). See-through meshes (opacity < 1) are blended over the opaque ones where they
    lie in front (their nearest surface only).
    """
    width, height = int(size[0]), int(size[1])
    direction = np.asarray(direction, float) / np.linalg.norm(direction)
    up = np.asarray(viewUp, float) - np.dot(viewUp, direction) * direction
    up /= np.linalg.norm(up)
    right = np.cross(direction, up)
    rgb = np.empty((height, width, 3))
    rgb[:] = np.asarray(background, float) / 255.0
    meshes = [item for item in meshes if len(item[0].triangles)]
    if not meshes:
        return (rgb * 255).astype(np.uint8)
    allPoints = np.vstack([mesh.pointsRas[np.unique(mesh.triangles)] for mesh, _, _ in meshes])
    across, along, deep = allPoints @ right, allPoints @ up, allPoints @ direction
    scale = min((width - 2 * padding) / max(np.ptp(across), 1e-6), (height - 2 * padding) / max(np.ptp(along), 1e-6))
    centre = np.array([(across.max() + across.min()) / 2, (along.max() + along.min()) / 2])
    nearest, farthest = deep.min(), max(deep.max(), deep.min() + 1e-6)

    def draw(mesh: Mesh, color) -> tuple[np.ndarray, np.ndarray]:
        points = mesh.pointsRas
        pixels = np.stack([(points @ right - centre[0]) * scale + (width - 1) / 2.0,
                           (centre[1] - points @ up) * scale + (height - 1) / 2.0], 1)
        cosine = np.abs(vertexNormals(mesh) @ direction)
        depth = points @ direction
        shade = (0.3 + 0.7 * cosine) * (1.0 - depthCue * (depth - nearest) / (farthest - nearest))
        values = np.concatenate([shade[:, None] * np.asarray(color, float)[None] + 0.15 * cosine[:, None] ** 24,
                                 np.ones((len(points), 1))], 1)
        return rasterize(pixels, depth, values, mesh.triangles, (height, width))

    opaqueDepth = np.full((height, width), np.inf)
    for mesh, color, opacity in meshes:
        if opacity >= 1.0:
            depth, values = draw(mesh, color)
            nearer = depth < opaqueDepth
            rgb[nearer] = values[nearer, :3]
            opaqueDepth[nearer] = depth[nearer]
    covered = np.isfinite(opaqueDepth)
    filled = np.where(covered, opaqueDepth, farthest + 10.0 * edgeMm)
    jump = np.zeros_like(covered)
    for axis in (0, 1):
        step = np.abs(np.diff(filled, axis=axis)) > edgeMm  # depth in mm
        lower, upper = [slice(None)] * 2, [slice(None)] * 2
        lower[axis], upper[axis] = slice(0, -1), slice(1, None)
        jump[tuple(lower)] |= step
        jump[tuple(upper)] |= step
    rgb[jump & covered] *= 0.55
    for mesh, color, opacity in meshes:
        if opacity < 1.0:
            depth, values = draw(mesh, color)
            inFront = depth < opaqueDepth
            rgb[inFront] = opacity * values[inFront, :3] + (1.0 - opacity) * rgb[inFront]
    return (np.clip(rgb, 0.0, 1.0) * 255).round().astype(np.uint8)


# -- image panels -------------------------------------------------------------------------------------------------


def fitSize(rows: int, columns: int, side: int) -> tuple[int, int]:
    """(width, height) of an image of ``rows`` x ``columns`` fitted into a square of ``side`` pixels."""
    scale = side / max(rows, columns)
    return max(1, int(round(columns * scale))), max(1, int(round(rows * scale)))


def greyPanel(pixels: np.ndarray, size: tuple[int, int], low: float = 1.0, high: float = 99.5) -> np.ndarray:
    """RGB uint8 [height, width, 3] of a grey image resized to ``size`` (width, height), windowed between the
    percentiles ``low`` and ``high``, in :data:`GREY_LEVELS` levels."""
    from PIL import Image

    pixels = np.asarray(pixels, float)
    bottom, top = np.percentile(pixels, [low, high])
    scaled = np.clip((pixels - bottom) / max(top - bottom, 1e-12), 0.0, 1.0)
    image = Image.fromarray((scaled * 255).round().astype(np.uint8)).resize(tuple(size), Image.Resampling.BILINEAR)
    steps = GREY_LEVELS - 1
    grey = (np.round(np.asarray(image, float) / 255.0 * steps) * 255.0 / steps).round().astype(np.uint8)
    return np.repeat(grey[..., None], 3, axis=2)


def resizeMask(mask: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """A bool mask resized (nearest) to ``size`` (width, height)."""
    from PIL import Image

    image = Image.fromarray(np.asarray(mask, np.uint8) * 255)
    return np.asarray(image.resize(tuple(size), Image.Resampling.NEAREST)) > 0


def color255(color) -> tuple[int, int, int]:
    """(r, g, b) 0..255 of a colour given in 0..1 (Slicer's) or 0..255."""
    values = np.asarray(color, float)
    if values.max() <= 1.0:
        values = values * 255.0
    return tuple(int(round(value)) for value in values[:3])


def paint(rgb: np.ndarray, mask: np.ndarray, color, alpha: float = 1.0) -> np.ndarray:
    """``rgb`` with ``color`` blended (``alpha``) where ``mask`` is set (in place; returned)."""
    mask = np.asarray(mask, bool)
    rgb[mask] = (alpha * np.asarray(color255(color), float) + (1.0 - alpha) * rgb[mask]).round().astype(np.uint8)
    return rgb


# -- text ---------------------------------------------------------------------------------------------------------


def font(size: int):
    """Pillow's default font at ``size`` pixels (its bitmap font where FreeType is missing)."""
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError, ImportError):  # Pillow < 10.1, or built without FreeType
        return ImageFont.load_default()


def readoutText(readouts, key: str, label: str, unit: Optional[str] = None) -> Optional[str]:
    """"label value unit" of one readout at its clinical precision, or None when the run has no such readout."""
    from .readouts import displayValue, unitOf

    if key not in readouts.values:
        return None
    unit = {"ml": "mL", "percent": "%"}.get(unitOf(key), unitOf(key)) \
        if unit is None else unit
    return f"{label} {displayValue(key, readouts.values[key])}{' ' + unit if unit else ''}"


def joinPresent(parts, separator: str = "  \u00b7  ") -> str:
    """The parts that are not None, joined."""
    return separator.join(part for part in parts if part)


def asReadouts(readouts):
    """A :class:`~ReconCoreLib.readouts.Readouts` of a Readouts, a ``readouts.json`` dict or a path to one."""
    from .readouts import Readouts

    if isinstance(readouts, Readouts):
        return readouts
    if isinstance(readouts, dict):
        return Readouts.fromDict(readouts)
    return Readouts.readJson(readouts)


class SummaryFigure:
    """The canvas of one summary picture (:data:`SIZE_PX`): title, inputs line, failed-checks banner, panels,
    footer lines, legend and :data:`RESEARCH_NOTE`."""

    def __init__(self, title: str, inputs: str, readouts):
        from PIL import Image, ImageDraw

        self.readouts = asReadouts(readouts)
        self.image = Image.new("RGB", SIZE_PX, BACKGROUND)
        self.draw = ImageDraw.Draw(self.image)
        self.fonts = {size: font(size) for size in (12, 13, 18)}
        self.text((MARGIN_PX, 8), title, 18, (255, 255, 255))
        self.text((MARGIN_PX, 32), inputs, 12, GREY_TEXT)
        failed = self.readouts.failedChecks
        if failed:
            self.draw.rectangle((0, 52, SIZE_PX[0], 74), fill=BANNER)
            self.text((MARGIN_PX, 56), "FAILED CHECKS: not measurements. " + "; ".join(failed), 13, (255, 255, 255))
        else:
            self.text((MARGIN_PX, 57), "All plausibility checks passed.", 12, GREY_TEXT)
        self.footerLines = 0

    def text(self, xy, text: str, size: int = 13, fill=TEXT, width: Optional[int] = None, anchor: str = "la") -> None:
        """Draw one line, cut with an ellipsis to ``width`` (default: to the canvas's right margin)."""
        typeface = self.fonts.get(size) or self.fonts.setdefault(size, font(size))
        width = width if width is not None else SIZE_PX[0] - MARGIN_PX - xy[0]
        if self.draw.textlength(text, font=typeface) > width:
            while text and self.draw.textlength(text + "\u2026", font=typeface) > width:
                text = text[:-1]
            text += "\u2026"
        self.draw.text(xy, text, font=typeface, fill=fill, anchor=anchor)

    def panel(self, rectangle: tuple[int, int, int, int], rgb: np.ndarray, title: str = "",
              sideLabels: tuple[str, str] = ("", "")) -> tuple[int, int]:
        """Paste ``rgb`` centred in ``rectangle`` (x, y, width, height), ``title`` above it; returns the (x, y) of
        the pasted image's top left corner."""
        from PIL import Image

        x, y, width, height = rectangle
        rgb = np.asarray(rgb, np.uint8)
        left, top = x + (width - rgb.shape[1]) // 2, y + (height - rgb.shape[0]) // 2
        self.image.paste(Image.fromarray(rgb), (left, top))
        if title:
            self.text((x, y - PANEL_TITLE_PX), title, 13, TEXT, width)
        for labelX, label in zip((x + 8, x + width - 8), sideLabels):
            if label:
                self.text((labelX, y + height // 2), label, 13, GREY_TEXT, anchor="mm")
        return left, top

    def footer(self, line: str, fill=TEXT) -> None:
        """The next readouts line under the panels (up to three)."""
        if self.footerLines < 3:
            self.text((MARGIN_PX, FOOTER_TOP_PX + 18 * self.footerLines), line, 13, fill)
            self.footerLines += 1

    def legend(self, items: Sequence[tuple[str, tuple]], y: Optional[int] = None) -> None:
        """Coloured swatches with labels [(label, colour)] in one row (default: above the research note)."""
        x, y = MARGIN_PX, FOOTER_TOP_PX + 56 if y is None else y
        for label, color in items:
            self.draw.rectangle((x, y + 3, x + 14, y + 11), fill=color255(color))
            self.text((x + 20, y), label, 12, TEXT)
            x += 20 + int(self.draw.textlength(label, font=self.fonts[12])) + 18

    def save(self, path: str | Path) -> Path:
        """Write the PNG (with warnings of the run and the research note at the bottom)."""
        warnings = self.readouts.warnings
        if warnings:
            more = f" (+{len(warnings) - 1} more in readouts.json)" if len(warnings) > 1 else ""
            self.text((MARGIN_PX, SIZE_PX[1] - 44), f"Warning: {warnings[0]}{more}", 12, (240, 190, 90))
        self.text((MARGIN_PX, SIZE_PX[1] - 24), RESEARCH_NOTE, 12, GREY_TEXT)
        path = Path(path)
        self.image.save(path, compress_level=6)  # optimize: 8 % smaller, ten times slower
        return path


def xrayLayout(count: int = 2) -> tuple[list[tuple[int, int, int, int]], tuple[int, int, int, int]]:
    """Rectangles (x, y, width, height) of ``count`` square X-ray panels in a row and of the 3D panel beside them."""
    side = BODY_HEIGHT_PX
    views = [(MARGIN_PX + index * (side + MARGIN_PX), BODY_TOP_PX, side, side) for index in range(count)]
    left = MARGIN_PX + count * (side + MARGIN_PX)
    return views, (left, BODY_TOP_PX, SIZE_PX[0] - MARGIN_PX - left, BODY_HEIGHT_PX)


def xrayPanel(image, meshes, mask=None, maskColor=(0.21, 0.82, 0.88), side: int = BODY_HEIGHT_PX):
    """(RGB panel, {name: overlay mask at panel size}) of one X-ray view (:class:`~ReconCoreLib.xrayio.XrayImage`):
    the image fitted to ``side``, each of ``meshes`` [(name, Mesh RAS, colour, "fill" or "outline")] projected
    through the view's geometry (fills at half opacity, outlines 2 px), an input ``mask`` [rows, columns] outlined."""
    size = fitSize(image.pixels.shape[0], image.pixels.shape[1], side)
    rgb = greyPanel(image.pixels, size)
    geometry = image.geometry.withImageSize(size[1], size[0])
    overlays = {}
    if mask is not None:
        overlays["mask"] = outline(resizeMask(mask, size), 2)
        paint(rgb, overlays["mask"], maskColor)
    for name, mesh, color, style in meshes:
        silhouette = projectedSilhouette(mesh, geometry)
        overlays[name] = silhouette if style == "fill" else outline(silhouette, 2)
        paint(rgb, overlays[name], color, 0.5 if style == "fill" else 1.0)
    return rgb, overlays
