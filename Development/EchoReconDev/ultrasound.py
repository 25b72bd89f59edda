"""The ultrasound-like renderer of EchoRecon's training data: B-mode images of label images (:func:`simulateEcho`).

The paper (Gong et al., S2MNet) reached the echo domain with a CycleGAN trained on real echocardiograms; there are
none here, so the images come from this physically motivated simulator. :mod:`~.echosim` images the standard views
with it, :mod:`~.acquisition` the views as scanners vary them.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

from EchoReconLib.conventions import IMAGE_SIZE
from EchoReconLib.viewplanes import SECTOR_HALF_ANGLE_DEG


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
