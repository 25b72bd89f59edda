"""Ultrasound-like images of the six standard views of a heart mesh (training data for EchoRecon).

The paper (Gong et al., S2MNet) reached the echo domain with a CycleGAN trained on real echocardiograms; there are
none here, so the images come from a physically motivated simulator instead (:func:`~.ultrasound.simulateEcho`). The planes and
label slices are the runtime's (:mod:`EchoReconLib.viewplanes`); here the probe is jittered about each plane's
pivot (tilt about ``u`` up to +-:data:`TILT_DEG`, probe rotation about ``v`` up to +-TILT_DEG, in-plane rotation up
to +-5 deg) and shifted by up to +-:data:`OFFSET_MM` along each axis: an apical plane then misses the true apex by
up to ~12 mm, the foreshortening seen in practice.
"""

from __future__ import annotations

import math

import numpy as np

from EchoReconLib.conventions import IMAGE_SIZE, PHASES, VIEWS
from EchoReconLib.template import HeartTemplate
from EchoReconLib.viewplanes import ViewPlane, sliceLabels, viewPlanes

from .ultrasound import EchoSettings, simulateEcho

TILT_DEG = 10.0
OFFSET_MM = 5.0


def _rotation(axis: np.ndarray, angleDeg: float) -> np.ndarray:
    """Rotation matrix about a unit axis (Rodrigues)."""
    angle = math.radians(angleDeg)
    k = np.array([[0.0, -axis[2], axis[1]], [axis[2], 0.0, -axis[0]], [-axis[1], axis[0], 0.0]])
    return np.eye(3) + math.sin(angle) * k + (1.0 - math.cos(angle)) * (k @ k)


def jitteredViewPlanes(vertices: np.ndarray, template: HeartTemplate, rng: np.random.Generator,
                       size: int = IMAGE_SIZE, tiltDeg: float = TILT_DEG,
                       offsetMm: float = OFFSET_MM) -> dict[str, ViewPlane]:
    """The six view planes of a heart, each jittered about its pivot (module docstring), in :data:`VIEWS` order."""
    return {view: _jitter(plane, plane.pivot, rng, tiltDeg, offsetMm)
            for view, plane in viewPlanes(vertices, template, size).items()}


def _jitter(plane: ViewPlane, pivot: np.ndarray, rng: np.random.Generator, tiltDeg: float,
            offsetMm: float) -> ViewPlane:
    """The plane turned about ``pivot`` (tilt about u, rotation about v, in-plane about the normal) and shifted."""
    tilt, rotation = rng.uniform(-tiltDeg, tiltDeg, size=2)
    inPlane = rng.uniform(-5.0, 5.0)
    offset = rng.uniform(-offsetMm, offsetMm, size=3)
    matrix = _rotation(plane.normal, inPlane) @ _rotation(plane.v, rotation) @ _rotation(plane.u, tilt)
    shift = offset[0] * plane.u + offset[1] * plane.v + offset[2] * plane.normal
    origin = pivot + matrix @ (plane.origin - pivot) + shift
    jitter = {"tiltDeg": float(tilt), "rotationDeg": float(rotation), "inPlaneDeg": float(inPlane),
              "offsetMm": [float(value) for value in offset]}
    return ViewPlane(plane.view, origin, matrix @ plane.u, matrix @ plane.v, plane.pixelMm, plane.size,
                     plane.halfAngleDeg, jitter, pivot)


def caseHeart(seed: int, template: HeartTemplate, phenotype: str | None = None, size: int = IMAGE_SIZE,
              jitter: bool = True, acquisition: str = "standard", **overrides) -> tuple:
    """(shape, {view: :class:`ViewPlane`}): the heart of case ``seed``
    (:func:`~EchoReconDev.heartshapes.sampleHeart`) and its six view planes with the probe jitter of
    ``acquisition``, as :func:`makeCase` draws them; every phase and frame of a view shares its plane (the probe
    stays put)."""
    from .acquisition import OOD_OFFSET_MM, OOD_TILT_DEG
    from .heartshapes import sampleHeart

    shape = sampleHeart(seed, phenotype, template, **overrides)
    jitterRange = (OOD_TILT_DEG, OOD_OFFSET_MM) if acquisition == "ood" else (TILT_DEG, OFFSET_MM)
    planes = (jitteredViewPlanes(shape.verticesEd, template, np.random.default_rng([int(seed), 2]), size,
                                 *jitterRange) if jitter else viewPlanes(shape.verticesEd, template, size))
    return shape, planes


def standardSettings(seed: int, viewIndex: int) -> EchoSettings:
    """The renderer settings of view ``viewIndex`` of case ``seed`` in the standard acquisition: one draw per view,
    shared by its phases (and by every frame of the sample cine)."""
    return EchoSettings.draw(np.random.default_rng([int(seed), 3, viewIndex]))


def standardNoise(seed: int, viewIndex: int, phaseIndex: int) -> np.random.Generator:
    """The draws of the renderer (speckle, noise, dropouts) for one image of the standard acquisition: phase
    ``phaseIndex`` (0 ED, 1 ES) of view ``viewIndex`` of case ``seed``."""
    return np.random.default_rng([int(seed), 4, phaseIndex, viewIndex])


# -- one training case ----------------------------------------------------------------------------------------


def makeCase(seed: int, size: int = IMAGE_SIZE, template: HeartTemplate | None = None, phenotype: str | None = None,
             jitter: bool = True, acquisition: str = "standard", **overrides) -> dict:
    """One synthetic case, deterministic by seed: a heart (:func:`~EchoReconDev.heartshapes.sampleHeart`), its six
    jittered view planes (shared by both phases: the probe stays put) and label and echo images of both phases.

    Returns a dict: ``images`` float32 [2, 6, H, W] in [0, 1] (phases :data:`PHASES`, views :data:`VIEWS`),
    ``labels`` uint8 [2, 6, H, W], ``planes`` float32 [6, 4, 3] (origin, u, v, normal; heart frame of the ED
    shape, mm), ``pixelSpacingMm`` float32 [6], ``verticesEd`` / ``verticesEs`` float32 [V, 3] (mm),
    ``edvMl``, ``esvMl``, ``efPercent``, ``lvMassG``, ``volumesEdMl`` / ``volumesEsMl`` {structure: mL},
    ``parameters`` (sampled), ``measurements`` (all measured values), ``views``, ``phases``, ``seed``,
    ``phenotype``, ``planeJitter`` [{...}] per view.

    ``acquisition``: "standard" (the first model's training images: the standard depths, sector and size, one
    renderer), "varied" (each view acquired at a drawn sector, depth, size and probe position with annotations and
    wider renderer settings, read through the runtime's resampling: :data:`~.acquisition.VARIED`) or "ood" (the
    out-of-distribution split: :data:`~.acquisition.OUT_OF_DISTRIBUTION`, another renderer, larger probe jitter).
    Images and labels are always on the network's grid; ``planeJitter`` then holds the acquisition too.
    """
    from .acquisition import OUT_OF_DISTRIBUTION, VARIED, acquireView, acquisitionPlane, drawSettings

    if acquisition not in ("standard", "varied", "ood"):
        raise ValueError(f"unknown acquisition {acquisition!r}")
    template = template or HeartTemplate.load()
    shape, planes = caseHeart(seed, template, phenotype, size, jitter, acquisition, **overrides)
    labels = np.zeros((len(PHASES), len(VIEWS), size, size), np.uint8)
    images = np.zeros((len(PHASES), len(VIEWS), size, size), np.float32)
    for viewIndex, view in enumerate(VIEWS):
        if acquisition == "standard":
            settings = standardSettings(seed, viewIndex)
            for phaseIndex, vertices in enumerate((shape.verticesEd, shape.verticesEs)):
                labels[phaseIndex, viewIndex] = sliceLabels(vertices, template, planes[view])
                images[phaseIndex, viewIndex] = simulateEcho(labels[phaseIndex, viewIndex],
                                                             standardNoise(seed, viewIndex, phaseIndex),
                                                             planes[view].pixelMm, settings)
            continue
        settingsRng = np.random.default_rng([int(seed), 3, viewIndex])
        ranges = OUT_OF_DISTRIBUTION if acquisition == "ood" else VARIED
        settings = drawSettings(settingsRng)
        acquired = acquisitionPlane(planes[view], settingsRng, ranges)  # one probe position per cine
        for phaseIndex, vertices in enumerate((shape.verticesEd, shape.verticesEs)):
            _, images[phaseIndex, viewIndex], labels[phaseIndex, viewIndex], networkPlane = acquireView(
                vertices, template, planes[view], np.random.default_rng([int(seed), 5, phaseIndex, viewIndex]),
                ranges, settings, acquired)
        planes[view] = networkPlane
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
