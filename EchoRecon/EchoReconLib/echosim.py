"""Six standard echo views of a heart mesh: view planes, label slices and ultrasound-like images.

Views (:data:`VIEWS`, after Table 1 of Gong et al., S2MNet, arXiv:2505.06105): apical four-chamber (A4C), two-chamber
(A2C) and three-chamber (A3C, apical long axis), and short-axis basal, mid-ventricular and apical (SAXB, SAXM,
SAXA). The paper reached the echo domain with a CycleGAN trained on real echocardiograms; there are none here, so
the images come from a physically motivated simulator instead (:func:`simulateEcho`).

Planes (heart frame of :mod:`EchoReconLib.hearttemplate`, mm) are built from the mesh's landmarks:

- apical views: the transducer sits on the extension of the LV long axis beyond the epicardial apex (chest wall
  :data:`CHEST_WALL_MM` in front of it); depth ``v`` runs along the long axis from apex to base. A4C contains the
  long axis and the tricuspid valve centre, ``u`` (image right) points away from the RV (RV on the image left,
  LV lateral wall on the right); A2C contains the long axis with its normal toward the RV, ``u`` anterior
  (anterior wall on the right); A3C contains the long axis and the aortic valve centre, ``u`` toward the aortic
  valve (outflow tract on the right). These follow the usual adult display (Lang et al., JASE 2015).
- short-axis views: perpendicular to the long axis at :data:`SHORT_AXIS_LEVELS` of the way from the mitral
  annulus centre to the apex; the transducer is anterior (parasternal window), ``v`` (depth) runs posterior,
  ``u`` is chosen so the RV is on the image left.

Jitter (when an ``rng`` is given): the plane turns about the LV axis point at the middle of the view (tilt about
``u`` up to +-:data:`TILT_DEG`, probe rotation about ``v`` up to +-TILT_DEG, in-plane rotation up to +-5 deg) and
shifts by up to +-:data:`OFFSET_MM` along each axis: an apical plane then misses the true apex by up to ~12 mm,
the foreshortening seen in practice.

Images are [H, W] arrays indexed [row, column]; pixel (column c, row r) is the plane point
``origin + (c - (W - 1) / 2) * pixelMm * u + r * pixelMm * v`` (pixel centres at integers, the sector's apex at
row 0, the middle column). Label images: 0 background, 1..6 = :data:`~EchoReconLib.hearttemplate.STRUCTURES`
(LV cavity, LV myocardium, RV, LA, RA, aortic root), cavities drawn over the myocardium.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field

import numpy as np

from .hearttemplate import STRUCTURES, HeartTemplate

VIEWS = ("A4C", "A2C", "A3C", "SAXB", "SAXM", "SAXA")
APICAL_VIEWS = ("A4C", "A2C", "A3C")
PHASES = ("ED", "ES")
#: Fraction of the way from the mitral annulus centre to the LV apex of the short-axis planes.
SHORT_AXIS_LEVELS = {"SAXB": 0.25, "SAXM": 0.5, "SAXA": 0.8}
#: Depth of the field of view (mm) = image height; pixel spacing = depth / (size - 1).
FIELD_DEPTH_MM = {"A4C": 180.0, "A2C": 180.0, "A3C": 180.0, "SAXB": 140.0, "SAXM": 140.0, "SAXA": 140.0}
#: Depth of the LV long axis in the short-axis views, as a fraction of the field depth.
SHORT_AXIS_CENTRE_DEPTH = 0.55
CHEST_WALL_MM = 15.0
SECTOR_HALF_ANGLE_DEG = 40.0
TILT_DEG = 10.0
OFFSET_MM = 5.0
IMAGE_SIZE = 128
#: Label drawing order: later labels win (cavities over the myocardium).
_DRAW_ORDER = (2, 3, 4, 5, 6, 1)


@dataclass
class ViewPlane:
    """One view's imaging plane in the heart frame (mm): ``origin`` is the sector's apex (transducer), ``u`` the
    lateral image direction (columns, left to right), ``v`` the depth direction (rows, top to bottom), ``normal``
    = u x v; ``pixelMm`` the pixel spacing of its images, ``jitter`` the applied probe jitter (deg, mm)."""

    view: str
    origin: np.ndarray
    u: np.ndarray
    v: np.ndarray
    pixelMm: float
    size: int = IMAGE_SIZE
    halfAngleDeg: float = SECTOR_HALF_ANGLE_DEG
    jitter: dict = field(default_factory=dict)

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


def _rotation(axis: np.ndarray, angleDeg: float) -> np.ndarray:
    """Rotation matrix about a unit axis (Rodrigues)."""
    angle = math.radians(angleDeg)
    k = np.array([[0.0, -axis[2], axis[1]], [axis[2], 0.0, -axis[0]], [-axis[1], axis[0], 0.0]])
    return np.eye(3) + math.sin(angle) * k + (1.0 - math.cos(angle)) * (k @ k)


def viewPlanes(vertices: np.ndarray, template: HeartTemplate, rng: np.random.Generator | None = None,
               size: int = IMAGE_SIZE) -> dict[str, ViewPlane]:
    """The six view planes of a heart (vertices [V, 3], heart frame mm) from its landmarks; jittered with ``rng``.

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
        plane = ViewPlane(view, origin, _unit(u), _unit(v), pixelMm, size)
        planes[view] = _jitter(plane, pivot, rng) if rng is not None else plane
    return planes


def _jitter(plane: ViewPlane, pivot: np.ndarray, rng: np.random.Generator) -> ViewPlane:
    """The plane turned about ``pivot`` (tilt about u, rotation about v, in-plane about the normal) and shifted."""
    tilt, rotation = rng.uniform(-TILT_DEG, TILT_DEG, size=2)
    inPlane = rng.uniform(-5.0, 5.0)
    offset = rng.uniform(-OFFSET_MM, OFFSET_MM, size=3)
    matrix = _rotation(plane.normal, inPlane) @ _rotation(plane.v, rotation) @ _rotation(plane.u, tilt)
    shift = offset[0] * plane.u + offset[1] * plane.v + offset[2] * plane.normal
    origin = pivot + matrix @ (plane.origin - pivot) + shift
    jitter = {"tiltDeg": float(tilt), "rotationDeg": float(rotation), "inPlaneDeg": float(inPlane),
              "offsetMm": [float(value) for value in offset]}
    return ViewPlane(plane.view, origin, matrix @ plane.u, matrix @ plane.v, plane.pixelMm, plane.size,
                     plane.halfAngleDeg, jitter)


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


def _fillEvenOdd(segments: np.ndarray, height: int, width: int) -> np.ndarray:
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
        masks[index] = _fillEvenOdd(segments, size, size)
    return masks


def sliceLabels(vertices: np.ndarray, template: HeartTemplate, plane: ViewPlane, size: int | None = None,
                pixelMm: float | None = None) -> np.ndarray:
    """Label image (uint8 [H, W]: 0 background, 1..6 structure) of the mesh cut by the plane (see
    :func:`sliceStructures` for ``size`` and ``pixelMm``)."""
    masks = sliceStructures(vertices, template, plane, size, pixelMm)
    labels = np.zeros(masks.shape[1:], np.uint8)
    for label in _DRAW_ORDER:
        labels[masks[label - 1]] = label
    return labels


def planeCutDice(vertices: np.ndarray, template: HeartTemplate, plane: ViewPlane, regionMask: np.ndarray,
                 labels: tuple[int, ...] = (1, 2, 3, 4, 5, 6)) -> float:
    """Dice between the mesh's cut by ``plane`` (the union of ``labels``) and a 2D region mask [H, W] of the same
    field of view (e.g. the heart region segmented in the input view); 1.0 when both are empty."""
    regionMask = np.asarray(regionMask, bool)
    cut = np.isin(sliceLabels(vertices, template, plane, size=regionMask.shape[0]), labels)
    return maskDice(cut, regionMask)


def maskDice(first: np.ndarray, second: np.ndarray) -> float:
    """Dice of two boolean masks of one shape (1.0 when both are empty)."""
    first, second = np.asarray(first, bool), np.asarray(second, bool)
    total = first.sum() + second.sum()
    return 1.0 if total == 0 else float(2.0 * np.logical_and(first, second).sum() / total)


# -- ultrasound-like images -----------------------------------------------------------------------------------


@dataclass
class EchoSettings:
    """Acquisition and tissue settings of one simulated view (drawn by :meth:`draw`); backscatter levels in dB
    relative to the myocardium."""

    frequencyMhz: float = 2.5
    dynamicRangeDb: float = 50.0
    gainDb: float = 0.0
    gamma: float = 1.3  # display map
    tgcFraction: float = 0.85  # share of the tissue attenuation the time-gain compensation undoes
    bloodDb: float = -32.0
    wallDb: float = -2.0
    pericardiumDb: float = 9.0
    extracardiacDb: float = -9.0
    valveDb: float = -4.0
    clutter: float = 0.1  # near-field haze, relative to the mean intensity
    hazeDb: float = -27.0  # reverberation / side-lobe floor, relative to the mean intensity
    specular: float = 1.5  # boost of interfaces facing the beam
    dropouts: int = 1
    axialSigmaMm: float = 0.45
    lateralSigmaDeg: float = 0.7

    @classmethod
    def draw(cls, rng: np.random.Generator) -> "EchoSettings":
        return cls(frequencyMhz=rng.uniform(1.8, 3.2), dynamicRangeDb=rng.uniform(40.0, 55.0),
                   gainDb=rng.uniform(-4.0, 3.0), gamma=rng.uniform(1.0, 1.6), tgcFraction=rng.uniform(0.7, 1.0),
                   bloodDb=rng.uniform(-40.0, -28.0), wallDb=rng.uniform(-4.0, 0.0),
                   pericardiumDb=rng.uniform(5.0, 12.0), extracardiacDb=rng.uniform(-15.0, -4.0),
                   valveDb=rng.uniform(-8.0, 0.0), clutter=rng.uniform(0.0, 0.4), hazeDb=rng.uniform(-32.0, -22.0),
                   specular=rng.uniform(0.8, 2.5), dropouts=int(rng.integers(0, 3)),
                   axialSigmaMm=rng.uniform(0.35, 0.6), lateralSigmaDeg=rng.uniform(0.5, 1.0))


@functools.lru_cache(maxsize=16)
def _sectorGeometry(size: int, halfAngleDeg: float):
    """Polar sampling grid of the sector and the scan conversion back: (radius [Nr] px, angle [Na] rad,
    polar->cartesian coordinates [2, Nr, Na] (row, column), cartesian->polar coordinates [2, H, W], sector mask)."""
    halfAngle = math.radians(halfAngleDeg)
    radius = np.linspace(0.0, size - 1.0, 2 * size)
    angle = np.linspace(-halfAngle, halfAngle, int(size * 1.25))
    r, a = np.meshgrid(radius, angle, indexing="ij")
    toCartesian = np.stack([r * np.cos(a), (size - 1) / 2.0 + r * np.sin(a)])
    rows, columns = np.mgrid[0:size, 0:size].astype(float)
    x = columns - (size - 1) / 2.0
    pixelRadius, pixelAngle = np.hypot(x, rows), np.arctan2(x, rows)
    mask = (pixelRadius <= size - 1.0) & (np.abs(pixelAngle) <= halfAngle)
    toPolar = np.stack([pixelRadius / (radius[1] - radius[0]),
                        (pixelAngle + halfAngle) / (angle[1] - angle[0])])
    return radius, angle, toCartesian, toPolar, mask


def sectorMask(size: int = IMAGE_SIZE, halfAngleDeg: float = SECTOR_HALF_ANGLE_DEG) -> np.ndarray:
    """Pixels (bool [size, size]) inside the imaging sector (apex at row 0, middle column; radius size - 1)."""
    return _sectorGeometry(size, float(halfAngleDeg))[4].copy()


def echogenicity(labels: np.ndarray, settings: EchoSettings, rng: np.random.Generator, pixelMm: float) -> np.ndarray:
    """Mean backscatter (float [H, W]) of each pixel from its label: blood pools dark, myocardium and chamber
    walls (a band around RV, atria and aorta) bright, a bright pericardial line around the heart, textured
    extracardiac tissue, valve lines where the LV meets the LA and aorta and the RV meets the RA."""
    from scipy import ndimage

    labels = np.asarray(labels)
    blood = np.isin(labels, (1, 3, 4, 5, 6))
    heartRegion = labels > 0
    distanceToBlood = ndimage.distance_transform_edt(~np.isin(labels, (3, 4, 5, 6))) * pixelMm
    wall = ~heartRegion & (distanceToBlood <= rng.uniform(2.5, 4.5))
    heart = heartRegion | wall
    distanceToHeart = ndimage.distance_transform_edt(~heart) * pixelMm
    pericardium = ~heart & (distanceToHeart <= rng.uniform(1.5, 3.0))
    texture = ndimage.gaussian_filter(rng.normal(size=labels.shape), 6.0 / pixelMm)
    texture = np.exp(0.8 * texture / max(texture.std(), 1e-6))

    def level(decibels: float) -> float:
        return 10.0 ** (decibels / 10.0)

    image = level(settings.extracardiacDb) * texture * np.clip(1.0 - distanceToHeart / 80.0, 0.3, 1.0)
    myocardiumTexture = ndimage.gaussian_filter(rng.normal(size=labels.shape), 3.0 / pixelMm)
    myocardiumTexture = np.exp(0.25 * myocardiumTexture / max(myocardiumTexture.std(), 1e-6))
    image[pericardium] = level(settings.pericardiumDb)
    image[wall] = level(settings.wallDb) * myocardiumTexture[wall]
    image[labels == 2] = myocardiumTexture[labels == 2]
    image[blood] = level(settings.bloodDb)
    # valve leaflets: the border between the ventricular and the atrial/arterial blood pools
    for ventricle, others in ((1, (4, 6)), (3, (5,))):
        near = ndimage.binary_dilation(labels == ventricle, iterations=1) & np.isin(labels, others)
        image[near] = level(settings.valveDb)
    return image.astype(np.float32)


def simulateEcho(labels: np.ndarray, rng: np.random.Generator, pixelMm: float = 1.0,
                 settings: EchoSettings | None = None, halfAngleDeg: float = SECTOR_HALF_ANGLE_DEG) -> np.ndarray:
    """An ultrasound-like B-mode image (float32 [H, W] in [0, 1], zero outside the sector) of a label image.

    Physics, in the beam (polar) coordinates of a phased array at the top middle: echogenicity per tissue
    (:func:`echogenicity`) plus a specular term for interfaces facing the beam; complex Gaussian scatterers
    weighted by it and convolved with a Gaussian point spread function (axial ``axialSigmaMm``, lateral
    ``lateralSigmaDeg``: speckle grows with depth); round-trip attenuation accumulated along each beam
    (0.5 dB/cm/MHz in tissue, 0.15 in blood) with time-gain compensation of a share of the tissue loss (blood
    pools enhance what lies behind them); near-field clutter, a faint haze, acoustic dropouts (shadowed beam
    sectors); envelope, log compression to the dynamic range, scan conversion back to the square image.
    """
    from scipy import ndimage

    labels = np.asarray(labels)
    size = labels.shape[0]
    if labels.shape != (size, size):
        raise ValueError(f"labels must be square, got {labels.shape}")
    settings = settings or EchoSettings.draw(rng)
    radius, angle, toCartesian, toPolar, mask = _sectorGeometry(size, float(halfAngleDeg))
    sampleMm = (radius[1] - radius[0]) * pixelMm
    lineRad = angle[1] - angle[0]

    reflectivity = echogenicity(labels, settings, rng, pixelMm)
    polar = ndimage.map_coordinates(reflectivity, toCartesian, order=1, mode="nearest")
    polarLabels = ndimage.map_coordinates(labels, toCartesian, order=0, mode="nearest")
    # specular reflection at interfaces facing the beam
    edge = np.abs(np.diff(ndimage.gaussian_filter1d(polar, 1.0, axis=0), axis=0, prepend=polar[:1]))
    polar = polar + settings.specular * edge / max(float(edge.max()), 1e-6)
    # dropouts: shadowed sectors (ribs, lung) beyond a random depth
    for _ in range(settings.dropouts):
        centre, width = rng.uniform(angle[0], angle[-1]), math.radians(rng.uniform(4.0, 14.0))
        start = rng.uniform(0.05, 0.6) * radius[-1]
        shadow = (np.abs(angle[None, :] - centre) < width / 2) & (radius[:, None] > start)
        polar = np.where(shadow, polar * rng.uniform(0.05, 0.4), polar)
    # scatterers * PSF -> RF envelope
    scatterers = (rng.normal(size=polar.shape) + 1j * rng.normal(size=polar.shape)) * np.sqrt(polar)
    axialSigma = settings.axialSigmaMm / sampleMm
    lateralSigma = math.radians(settings.lateralSigmaDeg) / lineRad
    field = (ndimage.gaussian_filter(scatterers.real, (axialSigma, lateralSigma))
             + 1j * ndimage.gaussian_filter(scatterers.imag, (axialSigma, lateralSigma)))
    envelope = np.abs(field) ** 2  # intensity
    # attenuation (dB, round trip) accumulated along each beam, partly undone by TGC
    alpha = np.where(np.isin(polarLabels, (1, 3, 4, 5, 6)), 0.15, 0.5) * settings.frequencyMhz  # dB/cm one way
    lossDb = 2.0 * np.cumsum(alpha, axis=0) * sampleMm / 10.0
    tgcDb = settings.tgcFraction * 2.0 * 0.5 * settings.frequencyMhz * (radius[:, None] * pixelMm / 10.0)
    envelope *= 10.0 ** ((tgcDb - lossDb) / 10.0)
    # near-field clutter and a faint haze (reverberation, side lobes)
    depthMm = radius[:, None] * pixelMm
    haze = (settings.clutter * np.exp(-depthMm / 25.0) + 10.0 ** (settings.hazeDb / 10.0)) * float(np.mean(envelope))
    envelope += haze * np.abs(rng.normal(size=envelope.shape) + 1j * rng.normal(size=envelope.shape)) ** 2
    # log compression
    reference = np.percentile(envelope, 99.0)
    decibels = 10.0 * np.log10(envelope / reference + 1e-12) + settings.gainDb
    polarImage = np.clip(1.0 + decibels / settings.dynamicRangeDb, 0.0, 1.0) ** settings.gamma
    image = ndimage.map_coordinates(polarImage, toPolar, order=1, mode="constant", cval=0.0)
    image = ndimage.gaussian_filter(image, 0.5)
    image[~mask] = 0.0
    return np.clip(image, 0.0, 1.0).astype(np.float32)


# -- one training case ----------------------------------------------------------------------------------------


def makeCase(seed: int, size: int = IMAGE_SIZE, template: HeartTemplate | None = None, phenotype: str | None = None,
             jitter: bool = True, **overrides) -> dict:
    """One synthetic case, deterministic by seed: a heart (:func:`~EchoReconLib.heartshapes.sampleHeart`), its six
    jittered view planes (shared by both phases: the probe stays put) and label and echo images of both phases.

    Returns a dict: ``images`` float32 [2, 6, H, W] in [0, 1] (phases :data:`PHASES`, views :data:`VIEWS`),
    ``labels`` uint8 [2, 6, H, W], ``planes`` float32 [6, 4, 3] (origin, u, v, normal; heart frame of the ED
    shape, mm), ``pixelSpacingMm`` float32 [6], ``verticesEd`` / ``verticesEs`` float32 [V, 3] (mm),
    ``edvMl``, ``esvMl``, ``efPercent``, ``lvMassG``, ``volumesEdMl`` / ``volumesEsMl`` {structure: mL},
    ``parameters`` (sampled), ``measurements`` (all measured values), ``views``, ``phases``, ``seed``,
    ``phenotype``, ``planeJitter`` [{...}] per view.
    """
    from .heartshapes import sampleHeart

    template = template or HeartTemplate.load()
    shape = sampleHeart(seed, phenotype, template, **overrides)
    planes = viewPlanes(shape.verticesEd, template, np.random.default_rng([int(seed), 2]) if jitter else None, size)
    labels = np.zeros((len(PHASES), len(VIEWS), size, size), np.uint8)
    images = np.zeros((len(PHASES), len(VIEWS), size, size), np.float32)
    for viewIndex, view in enumerate(VIEWS):
        settings = EchoSettings.draw(np.random.default_rng([int(seed), 3, viewIndex]))
        for phaseIndex, vertices in enumerate((shape.verticesEd, shape.verticesEs)):
            labels[phaseIndex, viewIndex] = sliceLabels(vertices, template, planes[view])
            images[phaseIndex, viewIndex] = simulateEcho(
                labels[phaseIndex, viewIndex], np.random.default_rng([int(seed), 4, phaseIndex, viewIndex]),
                planes[view].pixelMm, settings)
    measurements = shape.measurements
    return {
        "seed": int(seed), "phenotype": shape.phenotype, "views": VIEWS, "phases": PHASES,
        "images": images, "labels": labels,
        "planes": np.stack([planes[view].asArray() for view in VIEWS]).astype(np.float32),
        "pixelSpacingMm": np.array([planes[view].pixelMm for view in VIEWS], np.float32),
        "planeJitter": [planes[view].jitter for view in VIEWS],
        "verticesEd": shape.verticesEd.astype(np.float32), "verticesEs": shape.verticesEs.astype(np.float32),
        "edvMl": measurements["edvMl"], "esvMl": measurements["esvMl"], "efPercent": measurements["efPercent"],
        "lvMassG": measurements["lvMassG"], "volumesEdMl": measurements["volumesEdMl"],
        "volumesEsMl": measurements["volumesEsMl"], "parameters": shape.parameters, "measurements": measurements,
    }
