"""FemurRegistration pipeline: AP + lateral radiographs -> femur atlas registered in patient space, with checks.

Steps
-----
1-3. Side, the radiographs' working copies (area-averaged once to about 0.25 mm at the isocenter when their pixels
   are finer), femur masks (given or proposed), the crop box placed on the femur both views show (:mod:`placement`)
   and the virtual detectors about it: :mod:`radiographs`. A left femur is registered as the mirrored right femur
   ("working frame"); every output is mirrored back.
4. Network (TorchScript, :mod:`inference`) in the box frame: similarity + diffeomorphic displacement (patient ->
   atlas) and its inverse. Where its similarity puts the femoral head more than 2 mm from where the box expects it,
   the box is moved there and the network runs again; where it turns the atlas more than 4 deg, it runs once more
   in the box turned to that pose (:func:`_registerPlaced`). Optionally a short test-time refinement (:mod:`refine`).
   Readouts ``box_offset_mm`` (box centre from the isocenter), ``placement_disagreement_ap_mm`` / ``_lat_mm`` (each
   view's own best femur match from the place both share), ``box_turn_deg`` (how far the box was turned),
   ``femur_turn_deg`` (the femur's pose against the atlas's; a warning beyond the training poses) and
   ``views_from_opposite_side`` (views from the side the network was not trained on, given to it turned around:
   :mod:`radiographs`).
5. Outputs in patient RAS (:mod:`outputs`): the warped atlas CT (1 mm crop box), the warped femur label, the atlas
   -> patient grid transform, the warped landmarks, the femur outline projected on each radiograph, readouts
   (:mod:`checks`: NCC of each radiograph with the DRR of the warped femur inside its mask, minimum Jacobian
   determinant; hip measurements of the warped atlas surface (:mod:`hipmeasures`), timings; Dice / Jaccard / ASSD
   / HD95 against a reference).

Transform convention (``transform.h5``, the grid transform node): its 'to parent' direction maps atlas points
(RAS mm; for a left femur the mirrored, i.e. left, atlas) to patient points, so the atlas placed under it
appears on the patient; its inverse ('from parent') maps patient points to the atlas, which is how the atlas
was resampled into ``volume.nrrd``. The displacement lives on the 4 mm grid of the atlas crop box.

Console example (Slicer Python console or any Python with the environment)::

    from FemurRegistrationLib import outputs, pipeline
    from ReconCoreLib import runtime
    from ReconCoreLib.xrayio import readXrayImage
    result = pipeline.registerFemur(readXrayImage("hip_ap.dcm"), readXrayImage("hip_lat.dcm"), side="right")
    print(result.readouts.summary())
    nodes = outputs.addToScene(result, runtime.getScene())
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from ReconCoreLib.progress import Progress
from ReconCoreLib.readouts import Readouts
from ReconCoreLib.xraygeometry import LPS_TO_RAS, viewSeparationDeg
from ReconCoreLib.xrayio import XrayImage, checkImage

from . import inference, mirroring
from .atlasfile import atlasPathFor, loadAtlas
from .checks import femurDrrs, gateResult, maskedNcc, projectedOutline, referenceMetrics
from .conventions import ATLAS_SPACING_MM, BOX_SIZE_MM, VIEW_NAMES
from .grid import boxGrid
from .hipmeasures import FemurShapeModel, hipMeasurements
from .outputs import addToScene, maskFromNode, readReference, referenceFromNode, writeOutputs
from .radiographs import prepareInputs, readRadiograph, resolveSideAndSource
from . import refine as refinement
from .transforms import viewParameters

MODULE = "FemurRegistration"
#: Readout ``side_source`` of a side read from the images (:func:`~.placement.locateFemur`).
IMAGE_SIDE_SOURCE = "radiographs: the femur's shape in the AP view"
#: Landmark label -> key of :func:`~.hipmeasures.hipMeasurements`.
LANDMARKS = {
    "head centre": "head_centre_lps",
    "greater trochanter": "greater_trochanter_lps",
    "lesser trochanter": "lesser_trochanter_lps",
    "medial posterior condyle": "medial_posterior_condyle_lps",
    "lateral posterior condyle": "lateral_posterior_condyle_lps",
    "medial epicondyle": "medial_epicondyle_lps",
    "lateral epicondyle": "lateral_epicondyle_lps",
}
#: Landmarks below the crop box (outside the radiographs' field): moved by the registration's border values.
DISTAL_LANDMARKS = ("medial posterior condyle", "lateral posterior condyle", "medial epicondyle", "lateral epicondyle")
#: The network's own estimate of where the femur is moves the crop box again when it is this far off (mm), at most
#: this many times (:func:`_registerPlaced`).
RECENTRE_TOLERANCE_MM, RECENTRE_PASSES = 2.0, 3
#: When the femur is found this close to where the training phantoms had it (box centre within this many mm of the
#: isocenter), the box on the isocenter, the network's training frame, is one more candidate.
ISOCENTER_REACH_MM = 10.0
#: The network was trained on femurs turned at most 10 deg about each axis: when its similarity turns the atlas more
#: than this (deg), the box frame is turned by that rotation about the femoral head and the network runs again (the
#: femur then lies near the atlas's pose in the frame it sees), at most this many times (:func:`_registerPlaced`).
ROTATE_TOLERANCE_DEG, ROTATE_PASSES = 4.0, 1
#: The largest turn (deg) of the training poses (flexion, abduction and rotation each within +-10 deg: 10 x sqrt(3)):
#: a registration that turns the atlas further gets a warning (readout ``femur_turn_deg``).
TRAINED_TURN_DEG = 17.3
HIP_READOUTS = ("head_diameter_mm", "neck_shaft_angle_deg", "femoral_offset_mm", "anteversion_deg")
#: Anteversion is measured from the posterior condylar axis: reported only when both posterior condyles lie in the
#: registered box (a box holding the proximal femur leaves them to the atlas: a number that follows the atlas).
CONDYLE_KEYS = ("medial_posterior_condyle_lps", "lateral_posterior_condyle_lps")
ANTEVERSION_NOT_REPORTED = ("anteversion not reported: the posterior condyles lie outside the registered box (the "
                            "network sees the proximal femur), so it would follow the atlas, not the patient")


@dataclass
class FemurResult:
    """Everything one registration produces; volumes [k, j, i] placed by ``ijkToRas`` (patient RAS)."""

    side: str
    registration: inference.Registration  # working (right-femur) frame, LPS
    hu: np.ndarray  # int16, the warped atlas CT on the 1 mm crop box
    label: np.ndarray  # uint8, the warped atlas femur label
    ijkToRas: np.ndarray
    landmarkNames: list
    landmarksRas: np.ndarray  # (N, 3)
    landmarkDescriptions: list
    transformDisplacementRas: np.ndarray  # [k, j, i, 3] mm: atlas point -> patient point - atlas point
    transformIjkToRas: np.ndarray
    views: tuple  # the radiographs' working copies (XrayImage, :func:`~.radiographs.toWorkingSpacing`)
    masks: tuple  # femur masks used (uint8, working copy size)
    masksProposed: tuple
    outlines: tuple  # silhouettes of the registered femur on the two working copies (uint8)
    networkViews: tuple  # the two NetworkView
    measurements: dict  # hip measurements (working frame, LPS)
    readouts: Readouts


def insideBox(pointLps, boxCentreLps) -> bool:
    """True when a point (working frame, LPS mm) lies in the crop box centred at ``boxCentreLps``."""
    offset = np.abs(np.asarray(pointLps, dtype=float) - np.asarray(boxCentreLps, dtype=float))
    return bool(np.all(offset <= 0.5 * np.asarray(BOX_SIZE_MM)))


def registerFemur(apView: XrayImage, latView: XrayImage, apMask=None, latMask=None, side: Optional[str] = None,
                  device: str = "auto", refine: bool = False, reference=None, modelPath=None, atlasPath=None,
                  progress: Optional[Progress] = None, sideSource: str = "given") -> FemurResult:
    """Register the femur atlas to an AP and a lateral radiograph.

    :param apView, latView: the radiographs, at any pixel count (each is area-averaged to its working copy).
    :param apMask, latMask: femur masks (radiograph size, non-zero = femur); None: a proposal is used (warning).
    :param side: 'left' or 'right' (:func:`resolveSideAndSource` reads it from the files), checked against the
        images; None: the side the images show (:func:`~.placement.locateFemur`; not clear: ValueError asking for it).
    :param sideSource: where a given side came from (readout ``side_source``): "given", or the files' attributes.
    :param reference: optional (label array [k, j, i], ijkToRas) for Dice / Jaccard / ASSD / HD95.
    :raises ValueError: bad input (the message names it); ``InterruptedError`` when the abort flag says stop.
    """
    from ReconCoreLib.models import requireModel, resolveDevice

    progress = Progress.of(progress)
    inputChecks = Readouts(MODULE)  # input gates the user chose to keep (--keep-implausible), before the model loads
    modelFile = requireModel(MODULE, modelPath)
    atlas = loadAtlas(atlasPath or atlasPathFor(modelFile.path))
    views, warnings, placement = prepareInputs(apView, latView, apMask, latMask, side, progress, inputChecks, atlas)
    if side is None:
        side, sideSource = placement.side, IMAGE_SIDE_SOURCE
    device = resolveDevice(device)
    readouts = Readouts(MODULE, modelSha256=modelFile.sha256, device=device)
    for message in inputChecks.failedChecks:
        readouts.failCheck(message)
    readouts.set("side", side)
    readouts.set("side_source", sideSource)
    readouts.set("side_shape_margin", placement.sideMargin)
    readouts.set("view_separation_deg", viewSeparationDeg(apView.geometry, latView.geometry))
    readouts.set("placement_disagreement_ap_mm", placement.disagreementMm[0])
    readouts.set("placement_disagreement_lat_mm", placement.disagreementMm[1])
    readouts.set("views_from_opposite_side", sum(view.fromOppositeSide for view in views))
    for message in warnings:
        readouts.warn(message)

    progress(0.2, "registration network")
    model = modelFile.load(device)
    started = time.perf_counter()
    head = refinement.atlasHeadCentre(atlas)  # the centre of the network's similarity and of the box's turn
    registration, views, turnDeg = _registerPlaced(model, views, side, atlas, head, device)
    readouts.set("inference_s", time.perf_counter() - started)
    readouts.set("box_turn_deg", turnDeg)
    boxCentre = views[0].boxCentreLps  # working frame
    readouts.set("box_offset_mm", float(np.linalg.norm(boxCentre)))
    if refine:
        progress(0.3, "refinement")
        started = time.perf_counter()
        registration = refinement.refineRegistration(registration, atlas, views, device=device,
                                                     progress=progress.part(0.3, 0.6))
        readouts.set("refine_s", time.perf_counter() - started)
        readouts.set("refine_steps", refinement.REFINE_STEPS)
    turn = inference.rotationAbout(registration.affine, head)[1]
    readouts.set("femur_turn_deg", turn)
    if turn > TRAINED_TURN_DEG:
        readouts.warn(f"the femur is turned {turn:.0f} deg from the atlas's pose, beyond the poses the network was "
                      f"trained on (at most {TRAINED_TURN_DEG:.0f} deg): the result is less accurate there (model card)")
    foldedMinimum = inference.minimumJacobian(registration)
    registration, unfoldedMm = inference.unfold(registration)
    if unfoldedMm:
        readouts.warn(f"the deformation folded (minimum Jacobian determinant {foldedMinimum:.3f}); it was unfolded, "
                      f"moving the displacement by at most {unfoldedMm:.1f} mm")

    progress(0.62, "warping the atlas")
    hu, label = inference.warpAtlas(atlas, registration, device)
    if not label.any():
        raise ValueError("the registered femur is empty (the atlas left the field of view); check the masks and "
                         "the geometry")
    boxIjkToLps, _ = boxGrid(ATLAS_SPACING_MM)
    boxIjkToLps[:3, 3] += boxCentre  # the box frame (network, DRRs) -> the working frame
    for name, view, drr in zip(("ncc_ap", "ncc_lat"), views, femurDrrs(hu, label, [v.geometry for v in views])):
        readouts.set(name, maskedNcc(view.image, drr, view.mask))
    minimumJacobian = inference.minimumJacobian(registration) if unfoldedMm else foldedMinimum
    readouts.set("min_jacobian", minimumJacobian)
    if minimumJacobian <= 0:
        readouts.warn(f"the deformation folds (minimum Jacobian determinant {minimumJacobian:.3f} <= 0)")
    readouts.set("femur_volume_mm3", float(label.sum()) * ATLAS_SPACING_MM ** 3)

    progress(0.7, "landmarks and hip measurements")
    measurements = {}
    try:
        measurements = hipMeasurements(inference.warpPoints(atlas["verticesLps"], registration),
                                       FemurShapeModel.load())
    except ValueError as error:
        readouts.warn(f"hip measurements failed on the registered surface ({error})")
    measurements = {key: np.asarray(value) + boxCentre if key.endswith("_lps") else value
                    for key, value in measurements.items()}  # points in the working frame
    if measurements and not all(insideBox(measurements[key], boxCentre) for key in CONDYLE_KEYS):
        measurements.pop("anteversion_deg")
        readouts.warn(ANTEVERSION_NOT_REPORTED)
    for key in HIP_READOUTS:
        if key in measurements:
            readouts.set(key, float(measurements[key]))
    if measurements:
        # Their accuracy is the model's (held-out errors in the model card; for the bundled model several mm and
        # degrees, close to the atlas's own values): say so with every result rather than assume it.
        readouts.warn("hip measurements come from the registered atlas surface; their held-out errors are in the "
                      "model card (FemurRegistration.md): not for surgical planning")
    gateResult(readouts)
    names = [name for name, key in LANDMARKS.items() if key in measurements]
    landmarksRas = mirroring.toPatient(np.array([measurements[LANDMARKS[name]] for name in names]).reshape(-1, 3),
                              side) * [-1.0, -1.0, 1.0]
    descriptions = [f"{side} femur; " + ("below the radiographs' field of view: follows the registration's border "
                                         "values" if name in DISTAL_LANDMARKS else "registered atlas landmark")
                    for name in names]

    # Patient frame (mirror back a left femur), RAS for Slicer.
    hu, patientIjkToLps = mirroring.volumeToPatient(hu, boxIjkToLps, side)
    label, _ = mirroring.volumeToPatient(label, boxIjkToLps, side)
    displacementRas, fieldIjkToLps = inference.atlasToPatientField(registration, side, boxCentre)
    progress(0.78, "outlines on the radiographs")
    workingViews = tuple(view.working for view in views)
    outlines = tuple(projectedOutline(label, patientIjkToLps, view.geometry) for view in workingViews)
    result = FemurResult(side, registration, hu, label, LPS_TO_RAS @ patientIjkToLps, names, landmarksRas,
                         descriptions, displacementRas, LPS_TO_RAS @ fieldIjkToLps, workingViews,
                         tuple(view.workingMask for view in views), tuple(view.maskProposed for view in views),
                         outlines, tuple(views), measurements, readouts)
    if reference is not None:
        progress(0.84, "comparison with the reference")
        referenceArray, referenceIjkToRas = reference
        for key, value in referenceMetrics(label, result.ijkToRas, referenceArray, referenceIjkToRas).items():
            readouts.set(key, value)
    progress(0.88, "registration done")
    return result


def _registerPlaced(model, views, side: str, atlas: dict, head: np.ndarray, device: str):
    """(registration, views, box turn in deg) of the network (``head``: the atlas's femoral head centre, about which
    its similarity and the box's turn are taken), the crop box moved onto the femur the network finds:
    when its similarity puts the atlas's femoral head more than :data:`RECENTRE_TOLERANCE_MM` from where the box
    expects it, the views are placed again about the head's place, rounded to whole mm (at most
    :data:`RECENTRE_PASSES` times). The network was trained on femurs within 5 mm of that place; the masks' placement
    (:mod:`.placement`) is coarser (median 4-6 mm off), and the network's own estimate falls short of large offsets,
    so it is repeated. Then, when the best similarity so far turns the atlas more than :data:`ROTATE_TOLERANCE_DEG`,
    the network runs once more in the box frame turned by that rotation about the femoral head
    (:func:`~.inference.registerInFrame`): it was trained on poses within +-10 deg and falls short of larger ones.
    Its result varies by several Dice points with mm shifts of the box, so of the registrations made on the way
    (and on the isocenter's box, where the network was trained, when the femur is within
    :data:`ISOCENTER_REACH_MM` of it) the one whose femur silhouettes agree best with the masks
    (:func:`silhouetteAgreement`) is kept."""
    from .radiographs import placeView

    candidates = []

    def register(views, frame=None, turnDeg=0.0):
        images = np.stack([view.networkImage for view in views])  # each view as the network knows it
        masks = np.stack([view.networkMask for view in views])
        geometries = [view.networkGeometry for view in views]
        if frame is None:
            registration = inference.register(model, images, masks, viewParameters(geometries), device, side == "left")
        else:
            registration = inference.registerInFrame(model, images, masks, geometries, frame, device, side == "left")
        candidates.append((silhouetteAgreement(atlas, registration, views, device), len(candidates), registration,
                           views, turnDeg))
        return np.linalg.solve(registration.affine, np.append(head, 1.0))[:3] - head  # where T puts the head

    def best():
        return max(candidates, key=lambda candidate: candidate[:2])

    for attempt in range(RECENTRE_PASSES + 1):
        shift = register(views)
        found = views[0].boxCentreLps + shift  # the box centre that puts the head where the network expects it
        if attempt == RECENTRE_PASSES or np.linalg.norm(shift) <= RECENTRE_TOLERANCE_MM:
            break
        views = [placeView(view, side, np.round(found), name) for view, name in zip(views, VIEW_NAMES)]
    tried = [candidate[3][0].boxCentreLps for candidate in candidates]
    if np.linalg.norm(found) <= ISOCENTER_REACH_MM and all(centre.any() for centre in tried):
        register([placeView(view, side, np.zeros(3), name) for view, name in zip(views, VIEW_NAMES)])
    turnedFrom = set()
    for _ in range(ROTATE_PASSES):
        _, index, registration, views, _ = best()
        frame, angle = inference.rotationAbout(registration.affine, head)
        if angle <= ROTATE_TOLERANCE_DEG or index in turnedFrom:
            break
        turnedFrom.add(index)
        register(views, frame, angle)
    _, _, registration, views, turnDeg = best()
    return registration, views, turnDeg


def silhouetteAgreement(atlas: dict, registration, views, device: str = "cpu") -> float:
    """Mean Dice, over the two views, of the registered femur's silhouette (label warped on the 2 mm box, projected
    on the network's detector) with the femur mask the network was given."""
    from .conventions import NETWORK_SPACING_MM
    from .drr import projectVolume

    _, label = inference.warpAtlas(atlas, registration, device, labelOnly=True, spacingMm=NETWORK_SPACING_MM)
    outlines = projectVolume(label.astype(np.float32), boxGrid(NETWORK_SPACING_MM)[0],
                             [view.geometry for view in views], "max") >= 0.5
    masks = [view.mask > 0 for view in views]
    return float(np.mean([2.0 * (outline & mask).sum() / max(outline.sum() + mask.sum(), 1)
                          for outline, mask in zip(outlines, masks)]))


def run(scene, apRadiograph, latRadiograph, apGeometry, latGeometry, apMask=None, latMask=None, reference=None,
        refine=False, side=None, device="auto", modelPath=None, progress=None, sideSource="given", **outputs) -> dict:
    """Slicer entry point (FemurRegistrationLogic.process): volume nodes + geometries -> filled output nodes."""
    from ReconCoreLib.nodefiles import framesOfVolumeNode

    progress = Progress.of(progress)
    views = []
    for node, geometry in ((apRadiograph, apGeometry), (latRadiograph, latGeometry)):
        pixels = framesOfVolumeNode(node)  # grey levels of a colour radiograph; a sequence proxy's frames
        if pixels.shape[0] > 1:
            raise ValueError(f"{node.GetName()}: expected one radiograph, got {pixels.shape[0]} frames")
        pixels = checkImage(pixels, node.GetName())
        if (geometry.rows, geometry.columns) != pixels.shape:
            raise ValueError(f"{node.GetName()}: geometry says {geometry.rows} x {geometry.columns} pixels, the image "
                             f"is {pixels.shape[0]} x {pixels.shape[1]}")
        views.append(XrayImage(pixels, geometry, node.GetName()))
    masks = [maskFromNode(mask, radiograph) for mask, radiograph in ((apMask, apRadiograph), (latMask, latRadiograph))]
    result = registerFemur(views[0], views[1], masks[0], masks[1], side, device, refine,
                           referenceFromNode(reference), modelPath, progress=progress, sideSource=sideSource)
    nodes = addToScene(result, scene, radiographNodes=(apRadiograph, latRadiograph), **outputs)
    progress(1.0, "done")
    return nodes


def runCase(case, directory: Path, device: str = "auto", progress: Optional[Progress] = None,
            modelPath=None) -> Readouts:
    """Read the files of a :class:`~.entry.FemurCase` (each once, each radiograph straight to its working copy:
    :func:`~.radiographs.readRadiograph`), register, write every output into ``directory`` (headless)."""
    from ReconCoreLib import runtime
    from ReconCoreLib.xrayio import readMaskImage

    progress = Progress.of(progress)
    side, sideSource = resolveSideAndSource(case.side, (case.ap, case.lat))
    apView, latView = (readRadiograph(path) for path in (case.ap, case.lat))
    masks = [readMaskImage(path) if path else None for path in (case.apMask, case.latMask)]
    scene = runtime.newHeadlessScene()
    try:
        referenceLabel = readReference(scene, case.reference) if case.reference else None
        result = registerFemur(apView, latView, masks[0], masks[1], side, device, case.refine, referenceLabel,
                               modelPath, progress=progress, sideSource=sideSource)
        nodes = addToScene(result, scene)
        progress(0.92, "writing")
        writeOutputs(result, nodes, scene, Path(directory))
    finally:
        runtime.releaseScene(scene)
    progress(1.0, "written")
    return result.readouts
