"""Echo views as scanners record them: varied acquisition geometry, burned-in annotations, a second renderer style.

The training images of the first model came at one geometry (apical views 180 mm deep, short-axis 140 mm, an
80 deg sector, 128 px, the heart where the standard plane puts it) from one renderer (:func:`~.ultrasound.simulateEcho`).
Here each view is *acquired* as a scanner would (:func:`acquireView`): the sector, depth and image size drawn per
view, the probe shifted so the heart sits at another depth and lateral position, the renderer's settings drawn
wider, burned-in annotations (vendor text, depth-scale dots, an ECG trace across the bottom), then read exactly as
a user's file is read, through the runtime's :func:`~EchoReconLib.inputs.networkInput` (resampled to the network's
grid with the sector apex at the top middle). The 2D label target is the mesh cut on that grid, cleared where the
acquired sector shows nothing.

Ranges (:data:`VARIED`, training; :data:`OUT_OF_DISTRIBUTION`, the held-out split outside them). Sources: adult
transthoracic presets image 120-240 mm deep with 60-90 deg sectors (Lang et al., JASE 2015; vendor presets);
chest wall and window differ between patients by 10-30 mm (our estimate); the probe's angulation is the
simulator's +-10 deg (:mod:`~.echosim`). The out-of-distribution split lies beyond the training ranges in the
sector (90-100 deg), the depth (240-280 mm apical, 200-240 mm short axis), the image size (500-700 px), how deep
the heart sits (probe 20-26 mm further back) and the renderer (:func:`renderStyleB`, never trained on:
pixel-level multiplicative speckle, sharp tissue borders, no attenuation model, reverberation bands, another grey
map); its lateral shift (+-16 mm) and probe jitter (+-15 deg, +-10 mm) contain the training ranges and reach
beyond them. A heart 20-26 mm deeper may reach below the network's field (180 mm apical, 140 mm short axis): its
atria are then cut off, as they would be for a user.

Known simplifications, kept because the bundled model was trained on them: annotations are drawn per frame (the
ED and ES frames of one cine may differ in their text), the focus marker sits just inside the sector's right
edge (over tissue, at ``sin`` of the edge angle), and each view's depth is drawn alone, so about 8 % of varied
studies have a deepest/shallowest ratio above the runtime's ``MAX_DEPTH_RATIO`` (training data reaches the
network without the runtime's checks).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from EchoReconLib.conventions import APICAL_VIEWS, IMAGE_SIZE
from EchoReconLib.echoio import EchoImage
from EchoReconLib.inputs import networkInput, trainingPixelMm
from EchoReconLib.viewplanes import ViewPlane, sliceLabels

from .ultrasound import EchoSettings, sectorMask, simulateEcho


@dataclass(frozen=True)
class AcquisitionRanges:
    """Ranges drawn per view (uniform)."""

    halfAngleDeg: tuple  #: half the sector angle
    apicalDepthMm: tuple
    shortAxisDepthMm: tuple
    rows: tuple  #: image height in pixels (the field depth is rows - 1 pixels)
    lateralShiftMm: tuple  #: probe (sector apex) moved along -u: positive puts the heart right of the image centre
    depthShiftMm: tuple  #: probe moved back along the depth axis: positive puts the heart deeper
    annotations: float  #: probability of burned-in text, depth scale and ECG trace
    style: str  #: "physical" (:func:`~.ultrasound.simulateEcho` with wider settings) or "B" (:func:`renderStyleB`)


VARIED = AcquisitionRanges(halfAngleDeg=(30.0, 45.0), apicalDepthMm=(140.0, 240.0), shortAxisDepthMm=(110.0, 200.0),
                           rows=(128, 320), lateralShiftMm=(-12.0, 12.0), depthShiftMm=(-8.0, 20.0),
                           annotations=0.7, style="physical")
OUT_OF_DISTRIBUTION = AcquisitionRanges(halfAngleDeg=(45.0, 50.0), apicalDepthMm=(240.0, 280.0),
                                        shortAxisDepthMm=(200.0, 240.0), rows=(500, 700),
                                        lateralShiftMm=(-16.0, 16.0), depthShiftMm=(20.0, 26.0), annotations=1.0,
                                        style="B")
#: Probe jitter of the out-of-distribution split (training: +-10 deg, +-5 mm; :mod:`~.echosim`).
OOD_TILT_DEG, OOD_OFFSET_MM = 15.0, 10.0


def drawSettings(rng: np.random.Generator) -> EchoSettings:
    """:class:`~.ultrasound.EchoSettings` drawn wider than :meth:`~.ultrasound.EchoSettings.draw` (training's first model): gain,
    dynamic range, display map, TGC, tissue contrast, clutter, dropouts and the point-spread function (speckle
    size x0.6-2)."""
    return EchoSettings(
        frequencyMhz=rng.uniform(1.5, 3.6), dynamicRangeDb=rng.uniform(35.0, 65.0), gainDb=rng.uniform(-8.0, 6.0),
        gamma=rng.uniform(0.7, 2.0), tgcFraction=rng.uniform(0.5, 1.1), bloodDb=rng.uniform(-45.0, -22.0),
        wallDb=rng.uniform(-6.0, 2.0), pericardiumDb=rng.uniform(2.0, 14.0), extracardiacDb=rng.uniform(-18.0, -2.0),
        valveDb=rng.uniform(-10.0, 2.0), clutter=rng.uniform(0.0, 0.8), hazeDb=rng.uniform(-36.0, -18.0),
        specular=rng.uniform(0.3, 3.5), dropouts=int(rng.integers(0, 4)),
        axialSigmaMm=rng.uniform(0.25, 1.0), lateralSigmaDeg=rng.uniform(0.35, 1.6))


def acquisitionPlane(plane: ViewPlane, rng: np.random.Generator, ranges: AcquisitionRanges) -> ViewPlane:
    """The plane as this acquisition images it: the probe moved within the plane (lateral, depth), the sector,
    depth and image size drawn; ``jitter`` records the draw."""
    halfAngle = rng.uniform(*ranges.halfAngleDeg)
    depth = rng.uniform(*(ranges.apicalDepthMm if plane.view in APICAL_VIEWS else ranges.shortAxisDepthMm))
    rows = int(rng.integers(ranges.rows[0], ranges.rows[1] + 1))
    lateral, deeper = rng.uniform(*ranges.lateralShiftMm), rng.uniform(*ranges.depthShiftMm)
    origin = plane.origin - lateral * plane.u - deeper * plane.v
    jitter = dict(plane.jitter, halfAngleDeg=float(halfAngle), depthMm=float(depth), rows=rows,
                  lateralShiftMm=float(lateral), depthShiftMm=float(deeper),
                  styleSeed=int(rng.integers(2 ** 31)))  # drawn last: earlier draws as the model's training data
    return ViewPlane(plane.view, origin, plane.u, plane.v, depth / (rows - 1), rows, halfAngle, jitter, plane.pivot)


def burnInAnnotations(image: np.ndarray, rng: np.random.Generator, halfAngleDeg: float) -> np.ndarray:
    """Vendor-style overlays drawn into the pixels (in place, returned): blocks of text in the top corners, a
    depth scale of dots beside the sector's right edge, a focus marker, an ECG trace across the bottom rows."""
    rows, columns = image.shape
    unit = max(1, rows // 128)

    def text(row0: int, column0: int, lines: int) -> None:
        for line in range(lines):
            row = row0 + line * 5 * unit
            column = column0
            for _ in range(int(rng.integers(3, 9))):
                width = int(rng.integers(2, 5)) * unit
                block = image[row:row + 3 * unit, column:column + width]
                block[...] = rng.uniform(0.6, 1.0) * (rng.random(block.shape) > 0.35)
                column += width + unit
    text(unit, unit, int(rng.integers(1, 5)))
    text(unit, columns - 28 * unit, int(rng.integers(1, 4)))
    edge = math.radians(halfAngleDeg)
    for depth in np.arange(10, rows, rows / 12.0):
        row = int(depth * math.cos(edge)) + 2 * unit
        column = int((columns - 1) / 2 + depth * math.sin(edge)) + 3 * unit
        if row < rows - unit and column < columns - unit:
            image[row:row + unit, column:column + unit] = 0.9
    focus = int(rng.uniform(0.3, 0.7) * rows)
    marker = int((columns - 1) / 2 + focus * math.sin(edge)) + 6 * unit
    if marker < columns - 2 * unit:
        image[focus:focus + 2 * unit, marker:marker + unit] = 0.8
    if rng.random() < 0.8:  # ECG trace: a baseline with QRS complexes, one pixel thick per unit
        baseline = rows - int(rng.uniform(0.04, 0.12) * rows)
        x = np.arange(columns)
        period = rng.uniform(0.35, 0.7) * columns
        phase = (x / period + rng.random()) % 1.0
        trace = (-8.0 * np.exp(-((phase - 0.5) / 0.012) ** 2) + 2.0 * np.exp(-((phase - 0.47) / 0.01) ** 2)
                 - 1.5 * np.exp(-((phase - 0.75) / 0.04) ** 2)) * unit
        traceRows = np.clip(np.round(baseline + trace).astype(int), 0, rows - 1)
        level = rng.uniform(0.5, 1.0)
        for offset in range(unit):
            image[np.clip(traceRows + offset, 0, rows - 1), x] = level
    return image


def renderStyleB(labels: np.ndarray, rng: np.random.Generator, pixelMm: float, halfAngleDeg: float,
                 styleSeed: int = 0) -> np.ndarray:
    """A second, simpler ultrasound look (never used for training): each tissue a grey level (blood dark, walls and
    pericardium bright, textured surroundings), sharp borders, multiplicative speckle made in image (not beam)
    coordinates, a linear depth gain ramp instead of attenuation and TGC, two or three horizontal reverberation
    bands near the top, a power-law grey map; zero outside the sector. The look (levels, speckle size, gain, bands,
    grey map) is drawn from ``styleSeed`` (one per cine), the texture and speckle from ``rng`` (one per frame)."""
    from scipy import ndimage

    look = np.random.default_rng(styleSeed)
    labels = np.asarray(labels)
    size = labels.shape[0]
    blood = np.isin(labels, (1, 3, 4, 5, 6))
    myocardium = labels == 2
    distanceToBlood = ndimage.distance_transform_edt(~blood) * pixelMm
    wall = (labels == 0) & (distanceToBlood <= look.uniform(2.0, 5.0))
    texture = ndimage.gaussian_filter(rng.normal(size=labels.shape), 4.0 / pixelMm)
    image = look.uniform(0.25, 0.45) * (1.0 + 0.6 * texture / max(float(texture.std()), 1e-6))
    image[myocardium | wall] = look.uniform(0.55, 0.8)
    image[blood] = look.uniform(0.02, 0.1)
    speckleSigma = look.uniform(0.4, 1.2) / pixelMm
    speckle = ndimage.gaussian_filter(rng.exponential(size=labels.shape), (0.5 * speckleSigma, speckleSigma))
    image = image * speckle / max(float(speckle.mean()), 1e-6)
    depth = np.arange(size)[:, None] / (size - 1.0)
    image = image * (look.uniform(0.6, 1.0) + look.uniform(-0.3, 0.3) * depth)
    for _ in range(int(look.integers(2, 4))):
        row = int(look.uniform(0.02, 0.15) * size)
        image[row:row + max(1, int(2 / pixelMm))] += look.uniform(0.1, 0.3)
    image = np.clip(image, 0.0, None) ** look.uniform(0.6, 1.2)
    image = np.clip(image / max(float(np.percentile(image, 99.5)), 1e-6), 0.0, 1.0)
    image[~sectorMask(size, halfAngleDeg)] = 0.0
    return image.astype(np.float32)


def acquireView(vertices: np.ndarray, template, plane: ViewPlane, rng: np.random.Generator,
                ranges: AcquisitionRanges = VARIED, settings: EchoSettings | None = None,
                acquired: ViewPlane | None = None) -> tuple:
    """One view as a scanner records it and as the network reads it (module docstring).

    ``plane`` is the (jittered) standard plane; ``acquired`` its acquisition (:func:`acquisitionPlane`; drawn from
    ``rng`` when None: give the same one for the frames of one cine); ``settings`` the renderer's (drawn when None;
    physical style). Returns ``(EchoImage, networkImage float32 [128, 128], labels uint8 [128, 128], network
    plane)``: the acquired image with its pixel spacing and apex, what :func:`~EchoReconLib.inputs.networkInput`
    makes of it, the mesh's cut on the network's grid, zero where the acquired sector shows nothing, and the plane
    of that grid (the acquisition's sector apex, the network's pixel spacing; ``jitter`` holds the draw).
    """
    acquired = acquired or acquisitionPlane(plane, rng, ranges)
    labels = sliceLabels(vertices, template, acquired)
    if ranges.style == "B":
        pixels = renderStyleB(labels, rng, acquired.pixelMm, acquired.halfAngleDeg,
                              acquired.jitter.get("styleSeed", 0))
    else:
        pixels = simulateEcho(labels, rng, acquired.pixelMm, settings or drawSettings(rng), acquired.halfAngleDeg)
    if rng.random() < ranges.annotations:
        pixels = burnInAnnotations(pixels, rng, acquired.halfAngleDeg)
    apex = (0.0, (acquired.size - 1) / 2.0)
    image = EchoImage(pixels, (acquired.pixelMm, acquired.pixelMm), viewLabel=plane.view, apexPixel=apex)
    networkImage = networkInput(image, plane.view)
    sector = EchoImage(sectorMask(acquired.size, acquired.halfAngleDeg).astype(np.float32),
                       (acquired.pixelMm, acquired.pixelMm), apexPixel=apex)
    visible = networkInput(sector, plane.view) > 0.5
    networkPlane = ViewPlane(plane.view, acquired.origin, plane.u, plane.v, trainingPixelMm(plane.view), IMAGE_SIZE,
                             acquired.halfAngleDeg, acquired.jitter, plane.pivot)
    networkLabels = sliceLabels(vertices, template, networkPlane) * visible
    return image, networkImage, networkLabels.astype(np.uint8), networkPlane
