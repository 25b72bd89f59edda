"""EchoRecon pipeline: 2D echo views per cardiac phase (A4C, A2C and any of A3C, SAXB, SAXM, SAXA) -> labelled
3D heart, LV volumes and EF, with checks.

Steps: read each view (:mod:`echoio`: DICOM US, a chosen frame of a cine; or ``.nrrd``/``.png``/... with an optional
JSON sidecar), check the set of views and their physical size (field depth, square pixels: a spacing in the wrong
unit is refused before the network runs) and resample every image to the network's 128 x 128 input at the training
pixel spacing of its view (:mod:`inputs`), run the network (S2MNet: template vertex displacements + a 2D
segmentation of every view, end-diastole and end-systole in one batch), then measure (:mod:`measure`: LV volumes, EF,
LV mass, biplane Simpson's on the 2D segmentation, overlap of the mesh's standard view planes with each image's
segmented heart; plausibility gates on the LV size the network segments, the A4C / A2C content and every readout)
and build the outputs (:mod:`outputs`: one model per structure, a segmentation made from the
closed surfaces, a readouts table), and in Slicer (:func:`run`) the heart cut by each view's plane over that input
image (:func:`addViewCuts`: what summary.png draws, as a segmentation on the image's own pixel grid).

Coordinates. The network predicts the template's vertices in its heart frame (:mod:`template`: origin at the mitral
annulus centre, +z from the base to the LV apex, +x toward the RV). 2D echo does not say where the heart is in the
patient, so the outputs put the heart frame's origin (the mitral annulus centre) at the RAS origin, turned into the
anatomical orientation the template heart had in its CT (:func:`heartToRas`: apex to the left, anterior and
inferior). That placement is the template's, not the patient's: volumes, EF and mass do not depend on it.

Console example (Slicer Python console or any Python with the environment)::

    from EchoReconLib import pipeline
    from EchoReconLib.echoio import readEchoImage
    from EchoReconLib.samples import sampleFiles
    files = sampleFiles("EchoNormal")
    ed = {view: readEchoImage(path) for view, path in files["ED"].items()}
    es = {view: readEchoImage(path) for view, path in files["ES"].items()}
    result = pipeline.reconstruct(ed, es, device="cpu")
    print(result.readouts.summary())
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Optional

import numpy as np

from ReconCoreLib.progress import Progress
from ReconCoreLib.readouts import Readouts

from .conventions import IMAGE_SIZE, PHASE_NAMES, PHASES, STRUCTURES, VIEWS
from .echoio import EchoImage, echoImageFromVolumeNode, readEchoImage
from .inputs import checkPhase, checkPhasePair, checkPhysicalSize, givenViews, networkInput
from .measure import measure
from .outputs import addToScene, writeOutputs
from .placement import placedForward, recordPlacement, shiftOf
from .template import HeartTemplate
from .viewcheck import checkViewLabels
from .viewsets import recordViewSet

MODULE = "EchoRecon"
#: Opacity of the fill of each structure's cut over an echo image in the slice views (its outline is opaque).
CUT_FILL_OPACITY = 0.15


def heartToRas(template: Optional[HeartTemplate] = None) -> np.ndarray:
    """4x4 heart frame -> RAS: the template's CT orientation (rotation only), mitral annulus centre at the origin."""
    template = template or HeartTemplate.load()
    matrix = np.eye(4)
    matrix[:3, :3] = np.diag([-1.0, -1.0, 1.0]) @ template.frameToSource[:3, :3]  # source LPS -> RAS
    return matrix



@dataclass
class Reconstruction:
    """Everything one run produces. Vertices are in the heart frame (mm); :attr:`heartToRas` places them."""

    vertices: dict  #: phase ("ED", "ES") -> [V, 3] predicted template vertices (mm, heart frame)
    segmentations: dict  #: phase -> uint8 [6, 128, 128] 2D labels of every view (0 background, 1..6 STRUCTURES)
    inputs: dict  #: phase -> float32 [6, 128, 128] network inputs
    readouts: Readouts
    template: HeartTemplate
    heartToRas: np.ndarray = field(default_factory=lambda: np.eye(4))
    viewFit: object = None  #: :class:`~.viewfit.ViewFit` (planes as imaged, per-view residuals); None when not fitted
    views: tuple = VIEWS  #: the views given (the others were black images to the network), in VIEWS order

    @property
    def phases(self) -> tuple:
        return tuple(phase for phase in PHASES if phase in self.vertices)

    def verticesRas(self, phase: str) -> np.ndarray:
        return self.vertices[phase] @ self.heartToRas[:3, :3].T + self.heartToRas[:3, 3]


def reconstruct(endDiastole: Mapping[str, EchoImage], endSystole: Optional[Mapping[str, EchoImage]] = None,
                device: str = "auto", modelPath: Optional[str] = None,
                progress: Optional[Progress] = None, fitShape: bool = False) -> Reconstruction:
    """Run the method on one or two phases ({view: :class:`EchoImage`}: A4C, A2C and any other views of
    :data:`VIEWS`, the same in both phases; a view not given is a black image to the network, as in training).
    With fewer than six views the readouts say which were used and give the LV volumes and EF with their interval
    (:mod:`~.viewsets`).

    The network runs twice when a view's heart lies far from where training put it: the second time with that
    view moved onto the heart (:mod:`~.placement`).

    After the network, each view's plane pose is fitted to the network's 2D segmentation of that image
    (:func:`~.viewfit.fitToViews`): the residuals are the per-view quality readouts. ``fitShape`` also deforms the
    heart to those borders (off by default: it helps only where the 2D segmentation is accurate; see the model card).

    Raises ``ValueError`` on bad input (the message names the problem), ``InterruptedError`` on cancel.
    """
    from .viewfit import fitToViews

    from ReconCoreLib.models import requireModel, resolveDevice

    progress = Progress.of(progress)
    progress(0.02, "checking the views")
    phases = {"ED": endDiastole} if endSystole is None else {"ED": endDiastole, "ES": endSystole}
    for phase, images in phases.items():
        if not isinstance(images, Mapping):
            raise ValueError(f"the {PHASE_NAMES[phase]} views must be given as {{view: image}}")
        checkPhase(images, phase)
    if endSystole is not None:
        checkPhasePair(endDiastole, endSystole)
    checkPhysicalSize(phases)
    device = resolveDevice(device)
    modelFile = requireModel(MODULE, modelPath)
    template = HeartTemplate.load()
    readouts = Readouts(MODULE, modelSha256=modelFile.sha256, device=device)
    views = givenViews(endDiastole)
    unknownSpacing = sorted({view for images in phases.values() for view in views
                             if images[view].pixelSpacingMm is None}, key=VIEWS.index)
    if unknownSpacing:
        readouts.warn(f"no pixel spacing for {', '.join(unknownSpacing)}: the image height was taken as the "
                      "training field depth (180 mm apical, 140 mm short axis); volumes scale with the cube of it")

    blank = np.zeros((IMAGE_SIZE, IMAGE_SIZE), np.float32)
    inputs = np.stack([np.stack([networkInput(images[view], view) if view in views else blank for view in VIEWS])
                       for images in phases.values()])
    progress(0.2, "network")
    model = modelFile.load(device)
    started = time.perf_counter()
    displacement, labels, inputs, placement = placedForward(model, inputs, views, device)
    inferenceSeconds = time.perf_counter() - started
    if displacement.shape[1:] != template.vertices.shape or labels.shape[1:] != inputs.shape[1:]:
        raise ValueError(f"{modelFile.path.name} does not match the heart template: it returned displacements "
                         f"{displacement.shape} and labels {labels.shape} for {template.numberOfVertices} vertices")
    if not np.all(np.isfinite(displacement)):
        raise ValueError("the network returned non-finite vertex positions")
    vertices = {phase: template.vertices + displacement[index] for index, phase in enumerate(phases)}
    segmentations = {phase: labels[index] for index, phase in enumerate(phases)}
    inputsByPhase = {phase: inputs[index] for index, phase in enumerate(phases)}
    progress(0.35, "fitting the heart to the views" if fitShape else "fitting the view planes")
    try:
        fit = fitToViews(vertices, segmentations, inputsByPhase, template, deform=fitShape)
    except ValueError as error:  # nothing segmented to fit to: the LV area gate of measure() says why
        fit = None
        readouts.warn(f"the views were not fitted: {error}")
    if fit is not None and fitShape:
        vertices = fit.vertices
    progress(0.5, "measurements")
    result = Reconstruction(vertices=vertices, segmentations=segmentations, inputs=inputsByPhase,
                            readouts=readouts, template=template, heartToRas=heartToRas(template), viewFit=fit,
                            views=views)
    measure(result)
    checkViewLabels(result, modelFile.sha256)
    recordViewSet(result, modelFile.sha256)
    recordPlacement(readouts, placement)
    if fit is not None:
        readouts.set("view_fit", "pose and shape" if fitShape else "pose")
    readouts.set("inference_s", inferenceSeconds)
    return result


def imageCutLabels(vertices: np.ndarray, template: HeartTemplate, plane, image: EchoImage,
                   view: str, shiftMm=(0.0, 0.0)) -> np.ndarray:
    """uint8 [rows, columns] on ``image``'s pixel grid (row 0 at the top): the mesh (``vertices`` [V, 3], heart frame
    mm) cut by ``plane`` (:class:`~.viewplanes.ViewPlane`), each structure's closed cut contour filled (even-odd) with
    its label (index in :data:`STRUCTURES` + 1; cavities over the myocardium, so the LV myocardium is the wall).

    The cut and its placement are summary.png's (:func:`~.viewplanes.planeCut`, :func:`~.viewplanes.imageMapping`: a
    plane point ``lateral`` mm right of and ``depth`` mm below the sector apex is where the network read it in the
    image).
    """
    from .viewplanes import DRAW_ORDER, fillEvenOdd, imageMapping, planeCut

    rows, columns = image.pixels.shape
    apex, spacing = imageMapping(image, view, shiftMm)  # (row, column) of the sector apex, (row, column) mm / pixel
    labels = np.zeros((rows, columns), np.uint8)
    for structure in DRAW_ORDER:
        segmentsMm = planeCut(vertices, template.structureTriangles(structure), plane.origin, plane.u, plane.v)
        segmentsPixels = np.stack([apex[1] + segmentsMm[..., 0] / spacing[1],
                                   apex[0] + segmentsMm[..., 1] / spacing[0]], -1)  # (column, row)
        labels[fillEvenOdd(segmentsPixels, rows, columns)] = STRUCTURES.index(structure) + 1
    return labels


def addViewCuts(result: Reconstruction, scene, nodes: Mapping, images: Mapping) -> dict:
    """{(phase, view): segmentation node} "<view> <phase> mesh cut": for each given view node (``nodes``: phase ->
    {view: volume node}; ``images``: the :class:`EchoImage` read from each, its frame) the result of that phase cut by
    the view's plane (:func:`~.viewplanes.viewPlanes` of the predicted vertices, as the measurements and summary.png),
    on the image's pixel grid at the frame used (:func:`~ReconCoreLib.nodefiles.frameIjkToRas`), one segment per
    structure the cut crosses in the colours of the models, shown as outlines with a light fill."""
    from ReconCoreLib import runtime
    from ReconCoreLib.nodefiles import frameIjkToRas

    from .outputs import STRUCTURE_COLORS
    from .viewplanes import viewPlanes

    cuts = {}
    for phase in result.phases:
        planes = viewPlanes(result.vertices[phase], result.template)
        for view, node in nodes[phase].items():
            if node is None:
                continue
            image = images[phase][view]
            labels = imageCutLabels(result.vertices[phase], result.template, planes[view], image, view,
                                    shiftOf(result.readouts.values, view))
            segments = {index + 1: (structure, STRUCTURE_COLORS[structure])
                        for index, structure in enumerate(STRUCTURES) if np.any(labels == index + 1)}
            cut = runtime.segmentationNodeFromLabelmap(scene, labels[None], frameIjkToRas(node, image.frameIndex),
                                                       segments, f"{view} {phase} mesh cut", closedSurface=False)
            display = cut.GetDisplayNode()
            display.SetVisibility2DOutline(True)
            display.SetVisibility2DFill(True)
            display.SetOpacity2DFill(CUT_FILL_OPACITY)  # the echo stays visible under the fill
            cuts[(phase, view)] = cut
    return cuts


def run(scene, endDiastole, endSystole=None, device="auto", modelPath=None, endDiastoleFrames=None,
        endSystoleFrames=None, progress=None, **outputs) -> dict:
    """Slicer entry point (EchoReconLogic.process): {view: volume node} per phase (+ {view: frame} for cines) ->
    filled output nodes (see :func:`~.outputs.addToScene`), and under "viewCuts" {(phase, view): segmentation} the
    heart cut by each view's plane over that image's frame used (:func:`addViewCuts`)."""
    progress = Progress.of(progress)
    phases = {"ED": (endDiastole, endDiastoleFrames)}
    if endSystole is not None:
        phases["ES"] = (endSystole, endSystoleFrames)
    images = {}
    for phase, (nodes, frames) in phases.items():
        if not isinstance(nodes, Mapping):
            raise ValueError(f"the {PHASE_NAMES[phase]} views must be given as {{view: volume node}}")
        images[phase] = {view: None if node is None else echoImageFromVolumeNode(node, (frames or {}).get(view))
                         for view, node in nodes.items()}
    result = reconstruct(images["ED"], images.get("ES"), device, modelPath, progress)
    progress(0.7, "surfaces and segmentation")
    nodes = addToScene(result, scene, **outputs)
    progress(0.9, "view plane cuts")
    nodes["viewCuts"] = addViewCuts(result, scene, {phase: given for phase, (given, _) in phases.items()}, images)
    progress(1.0, "done")
    return nodes


def readPhase(paths: Mapping[str, str | Path], frames: Optional[Mapping[str, int]] = None) -> dict:
    """{view: :class:`EchoImage`} read from {view: file}."""
    return {view: readEchoImage(path, (frames or {}).get(view)) for view, path in paths.items()}


def runCase(case, directory: Path, device: str = "auto", progress: Optional[Progress] = None) -> Readouts:
    """Read the files of an :class:`~.entry.EchoCase` (each once), reconstruct, write every output into
    ``directory`` (headless)."""
    from ReconCoreLib.storage import writeResultHeadless

    progress = Progress.of(progress)
    phases = None
    if case.autoFrames:  # one cine per view: its end-diastolic and end-systolic frames from the LV area curve
        from ReconCoreLib.models import requireModel, resolveDevice

        from .cinephases import findCinePhases, networkSegmenter

        device = resolveDevice(device)
        model = requireModel(MODULE).load(device)
        phases = findCinePhases(case.endDiastole, networkSegmenter(model, device), progress)
        ed, es = readPhase(case.endDiastole, phases.endDiastole), readPhase(case.endSystole, phases.endSystole)
    else:
        ed = readPhase(case.endDiastole, case.endDiastoleFrames)
        es = readPhase(case.endSystole, case.endSystoleFrames) if case.endSystole else None
    result = reconstruct(ed, es, device, progress=progress)
    if phases is not None:
        from .cinephases import recordCinePhases

        recordCinePhases(result.readouts, phases)
    progress(0.7, "surfaces and segmentation")
    writeResultHeadless(result, addToScene, writeOutputs, directory, progress)
    return result.readouts
