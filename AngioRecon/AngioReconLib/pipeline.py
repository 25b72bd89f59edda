"""AngioRecon pipeline: two angiograms + geometry -> 3D coronary tree in patient space: occupancy, centerlines, lumen,
lesions, with checks.

Steps: vessel map per view (given mask, or SimpleITK's Hessian objectness on the raw angiogram at a fixed spacing in
mm and a hysteresis threshold, :func:`~.vessels.vesselMapFromAngiogram`) checked for plausibility
(:func:`~.vessels.checkVesselMap`), the tree located in both views (:func:`~.placement.locateTree`) and the
network's cube centred on it, each map resampled onto the network's 128x128 detector about the cube's centre
(:func:`~.vessels.networkMap`), the generator (TorchScript, geometry as input, in the cube's frame; the cube moved
once more to the result's own extent when that is off). Then the lumen scale (:mod:`.matching`): 2D centerlines and
edge widths per view at its own resolution, matched between the views under the epipolar constraint (the generator's
occupancy resolving ambiguous matches) into 3D centerlines with a radius per point, and QCA on them (:mod:`.qca`:
lesions against an interpolated reference diameter).
Outputs in patient RAS: the generator's probability volume, the lumen as a segmentation at 0.5 mm and a tube surface
model, the centerline model, the lesion table, the readouts table, and in Slicer (:func:`run`) the generator's tree
re-projected onto each input angiogram (:func:`treeSilhouette`, a segmentation on the angiogram's own pixel grid,
:func:`~ReconCoreLib.nodefiles.frameIjkToRas`).
Readouts include the re-projection Dice of the result against each input vessel map and the same figures for the
visual hull baseline (voxels whose projections fall inside both silhouettes, computed with the same projector), how
much of each view the 3D centerlines explain, and the worst lesion; a result whose volume, re-projection Dice or
matched share is implausible stops the run (:func:`checkResult`, :func:`checkCenterlines`) unless implausible
results are kept.

Console example (Slicer Python console or any Python with the environment)::

    from AngioReconLib import pipeline
    from ReconCoreLib import runtime
    from AngioReconLib.vessels import readAngiogram
    result = pipeline.reconstruct(readAngiogram("rao30cau25.dcm"), readAngiogram("lao45cra25.dcm"), tree="left")
    print(result.readouts.summary())
    nodes = pipeline.addToScene(result, runtime.getScene())
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np

from ReconCoreLib.plausibility import gate
from ReconCoreLib.progress import Progress
from ReconCoreLib.readouts import Readouts
from ReconCoreLib.xraygeometry import LPS_TO_RAS, viewSeparationDeg
from ReconCoreLib.xrayio import XrayImage, checkImage

from .branchnames import nameBranches, namedFraction
from .conventions import CUBE_SIDE_MM, GRID_SIZE, SEGMENT_COLOR, TREES
from .matching import treeCenterlines
from .placement import PLACEMENT_STEP_MM, cubeIjkToLps, extentCentre, locateTree
from .qca import LESION_COLUMNS, findLesions, lesionRows, treeReadouts
from .reprojection import reprojectionDices, visualHull
from .vessels import VESSEL_FRAME_CHOOSER, isVesselMap, networkMap, readAngiogram, workingMap

MODULE = "AngioRecon"
MIN_SEPARATION_DEG = 10.0
WARN_SEPARATION_DEG = 30.0
#: Plausible volume of the reconstructed tree (probability >= 0.5, mm3). Lumen volume of a whole coronary tree on
#: CT angiography is about 2,000-5,000 mm3 (left tree about two thirds); the 2 mm voxels of the cube widen thin
#: vessels, the samples give 3,688 (left) and 4,248 (right). Below 300 mm3 (a 3 mm vessel 40 mm long) nothing of a
#: tree was found; above 25,000 mm3 (a 30 mm cube) the result is a filled region, not vessels.
VESSEL_VOLUME_RANGE_MM3 = (300.0, 25000.0)
#: Lowest plausible re-projection Dice of the result in each view: the samples give 0.67-0.78 and their visual hull
#: 0.75-0.81; a result below 0.3 does not explain that view. (The samples at 1024 px, filtered in pixels as before
#: the filter worked in mm, gave 0.12-0.24; the wrong --tree still gives 0.58-0.72, so this is no tree check.)
MIN_REPROJECTION_DICE = 0.3
#: The cube moves again to the reconstruction's own extent (in placement steps) when that lies this far (mm, any axis)
#: from its centre, at most this many times. Measured (AngioReconDev.positions, 48 trees moved within +-40 mm, 2 mm
#: steps): mean Dice 0.542 with one pass, 0.535 without, 0.543 with two.
RECENTRE_MIN_MM, RECENTRE_PASSES = 6.0, 1
#: Share of each view's 2D centerline that the 3D centerlines must explain (matching.matchedFraction): below it the
#: views do not show one tree, or their vessels could not be matched (run stopped); below the warning part of the
#: tree is missing. Measured (AngioReconDev.qcacheck, 512 px, 200 held-out trees): true masks 0 below 0.25, 9 below
#: 0.4; rendered angiograms 6 below 0.25, each with recall <= 0.19 of the true centerline (a result not worth a
#: lesion table), 51 below 0.4; view 1 of one tree with view 2 of another (55 pairs, true masks, recall <= 0.04
#: each) 26 below 0.25, 44 below 0.4: a weak mismatch check, it stops half. The bundled samples 0.44-0.73 (256 px).
MIN_MATCHED_FRACTION = 0.25
WARN_MATCHED_FRACTION = 0.4
#: Voxel size of the lumen segmentation (mm): a 1.5 mm lumen is 3 voxels wide.
SEGMENTATION_VOXEL_MM = 0.5
#: Opacity of the fill of the tree's re-projection over an angiogram in the slice views (its outline is opaque).
OVERLAY_FILL_OPACITY = 0.35


@dataclass
class Reconstruction:
    """Everything one run produces (arrays in the cube: [k, j, i], placed by ``ijkToRas``)."""

    probability: np.ndarray
    ijkToRas: np.ndarray  # the cube, centred on the tree
    cubeCentreLps: np.ndarray  # where the cube was put (LPS mm; the isocenter is the origin)
    vesselMaps: np.ndarray  # [2, 128, 128] network inputs
    geometries: tuple  # the two CArmGeometry of the network's detectors (128x128, the cube's frame)
    readouts: Readouts
    tree: str
    branches: list = field(default_factory=list)  # the centerline tree (centerlines.Branch, LPS mm)
    lesions: list = field(default_factory=list)  # qca.Lesion, worst first
    lumenLabels: Optional[np.ndarray] = None  # the lumen on a SEGMENTATION_VOXEL_MM grid [k, j, i] (branch ids)
    lumenIjkToLps: Optional[np.ndarray] = None


def reconstruct(view1: XrayImage, view2: XrayImage, tree: str, device: str = "auto",
                mask1: Optional[np.ndarray] = None, mask2: Optional[np.ndarray] = None,
                modelPath: Optional[str] = None, progress: Optional[Progress] = None,
                maskSources: tuple = ("", "")) -> Reconstruction:
    """Run the whole method on two views of the injected ``tree`` ("left" or "right", no default: it decides
    the result). Raises ``ValueError`` on bad input (``ImplausibleResult`` for an implausible vessel map or result,
    unless implausible results are kept), ``InterruptedError`` on cancel."""
    import torch

    from ReconCoreLib.models import requireModel, resolveDevice

    progress = Progress.of(progress)
    if tree not in TREES:
        raise ValueError(f"tree must be 'left' or 'right' (which coronary was injected), got {tree!r}")
    separation = viewSeparationDeg(view1.geometry, view2.geometry)
    if separation < MIN_SEPARATION_DEG:
        raise ValueError(f"the two views are only {separation:.1f} deg apart; at least {MIN_SEPARATION_DEG:.0f} deg "
                         "is needed to reconstruct depth")
    progress(0.05, "vessel maps")
    working = [workingMap(view1, mask1, maskSources[0])]
    progress(0.25, "vessel maps")
    working.append(workingMap(view2, mask2, maskSources[1]))
    centre, disagreement = locateTree(*zip(*working))
    device = resolveDevice(device)
    model = requireModel(MODULE, modelPath)
    readouts = Readouts(MODULE, modelSha256=model.sha256, device=device)
    if separation < WARN_SEPARATION_DEG:
        readouts.warn(f"the views are {separation:.1f} deg apart (< {WARN_SEPARATION_DEG:.0f} deg): depth is poorly "
                      "determined, check the result against both views")
    progress(0.45, "generator")
    generator = model.load(device)
    started = time.perf_counter()
    for passes in range(RECENTRE_PASSES + 1):
        (map1, geometry1), (map2, geometry2) = (networkMap(vesselMap, geometry, centre)
                                                for vesselMap, geometry in working)
        maps = torch.as_tensor(np.stack([map1, map2]), device=device)[None]
        projections = torch.as_tensor(np.stack([geometry1.projectionMatrixLps(), geometry2.projectionMatrixLps()]),
                                      dtype=torch.float32, device=device)[None]
        with torch.no_grad():
            probability = generator(maps, projections, torch.tensor([float(tree == "right")], device=device))
        probability = probability[0, 0].cpu().numpy().astype(np.float32)
        shift = extentCentre(probability)
        if passes == RECENTRE_PASSES or shift is None or np.abs(shift).max() < RECENTRE_MIN_MM:
            break
        centre = centre + np.round(shift / PLACEMENT_STEP_MM) * PLACEMENT_STEP_MM
    inferenceSeconds = time.perf_counter() - started
    progress(0.7, "checks")

    hull = visualHull(np.stack([map1, map2]), (geometry1, geometry2))
    voxelVolume = (CUBE_SIDE_MM / GRID_SIZE) ** 3
    readouts.set("view_separation_deg", separation)
    for index, view in enumerate((view1, view2), 1):  # zero-based frame of each view used (summary.png shows it)
        readouts.set(f"frame_view{index}", int(view.frameIndex))
        if view.frameChoice:
            readouts.set(f"frame_choice_view{index}", view.frameChoice)
    if len({"R-wave" in view.frameChoice for view in (view1, view2) if view.frameChoice not in ("", "given")}) > 1:
        readouts.warn("one view's frame is at an ECG R wave (end-diastole), the other's only the strongest vessels: "
                      "the two may show the heart at different phases; give --frame1/--frame2 at the same phase")
    readouts.set("tree", tree)
    readouts.set("cube_offset_mm", float(np.linalg.norm(centre)))
    readouts.set("tree_location_disagreement_mm", disagreement)
    volume = float((probability >= 0.5).sum() * voxelVolume)
    readouts.set("vessel_volume_mm3", volume)
    dices, hullDices = reprojectionDices([probability, hull], (map1, map2), (geometry1, geometry2))
    for index, (dice, hullDice) in enumerate(zip(dices, hullDices), 1):
        readouts.set(f"reprojection_dice_view{index}", dice)
        readouts.set(f"visual_hull_reprojection_dice_view{index}", hullDice)
    readouts.set("visual_hull_volume_mm3", float(hull.sum() * voxelVolume))
    readouts.set("inference_s", inferenceSeconds)
    checkResult(readouts, volume, dices, tree)
    progress(0.8, "centerlines")
    givenMaps = [mask is not None or isVesselMap(view.pixels) for mask, view in ((mask1, view1), (mask2, view2))]
    branches, matched, measured = treeCenterlines((view1, view2), working, givenMaps, probability,
                                                  cubeIjkToLps(centreLps=centre))
    for index, fraction in enumerate(matched, 1):
        readouts.set(f"centerline_matched_fraction_view{index}", fraction)
    recordEdgeBlur(readouts, measured, givenMaps)
    _, sideWarning = nameBranches(branches, tree)
    if sideWarning:
        readouts.warn(sideWarning)
    readouts.set("anatomical_names_fraction", namedFraction(branches))
    lesions = sorted((lesion for branch in branches for lesion in findLesions(branch, branches)),
                     key=lambda lesion: -lesion.diameterStenosisPercent)
    for key, value in treeReadouts(branches, lesions).items():
        readouts.set(key, value)
    checkCenterlines(readouts, matched, tree)
    from .centerlineoutputs import fineLabelmap

    labels, labelsIjkToLps = fineLabelmap(branches, SEGMENTATION_VOXEL_MM) if branches else (None, None)
    if labels is not None:
        readouts.set("lumen_volume_mm3", float((labels > 0).sum() * SEGMENTATION_VOXEL_MM ** 3))
    progress(0.9, "checks done")
    return Reconstruction(probability, LPS_TO_RAS @ cubeIjkToLps(centreLps=centre), centre, np.stack([map1, map2]),
                          (geometry1, geometry2), readouts, tree, branches, lesions, labels, labelsIjkToLps)


def recordEdgeBlur(readouts: Readouts, measured, givenMaps) -> None:
    """``edge_blur_view<N>_mm``: the blur (Gaussian sigma, mm at the isocenter) of each raw angiogram's vessel edges,
    for which its lumen widths were corrected (:mod:`.lumenblur`); a warning where it could not be found (too few
    vessel profiles): that view's widths are then as measured, the steepest slope's."""
    for index, (view, given) in enumerate(zip(measured, givenMaps), 1):
        if given:
            continue  # a vessel mask's edges are where it crosses 0.5: nothing to correct
        if np.isfinite(view.blurPx):
            readouts.set(f"edge_blur_view{index}_mm", view.blurPx * view.spacingMm)
        else:
            readouts.warn(f"view {index}: the blur of the vessel edges could not be found (too few vessel profiles, "
                          "or none fits); its lumen widths are not corrected for it and may be off by a pixel")


def checkResult(readouts: Readouts, volumeMm3: float, dices, tree: str) -> None:
    """Plausibility gates of a reconstruction (stop, or failed checks on ``readouts`` when keeping): the tree's
    volume in :data:`VESSEL_VOLUME_RANGE_MM3` and its re-projection Dice in each view >= :data:`MIN_REPROJECTION_DICE`.
    """
    gate(readouts, "vessel_volume_mm3", volumeMm3, *VESSEL_VOLUME_RANGE_MM3, "mm3", f"{tree} coronary tree volume")
    for index, dice in enumerate(dices, 1):
        gate(readouts, f"reprojection_dice_view{index}", dice, MIN_REPROJECTION_DICE, 1.0, "",
             f"re-projection Dice of the {tree} tree in view {index} (the result does not explain that view)")


def checkCenterlines(readouts: Readouts, matched, tree: str) -> None:
    """The views must show one tree: the 3D centerlines explain at least :data:`MIN_MATCHED_FRACTION` of each view's
    2D centerline (two different trees or patients match little), and a warning below
    :data:`WARN_MATCHED_FRACTION`."""
    for index, fraction in enumerate(matched, 1):
        gate(readouts, f"centerline_matched_fraction_view{index}", fraction, MIN_MATCHED_FRACTION, 1.0, "",
             f"share of view {index}'s centerlines matched in 3D (do both runs show the same {tree} tree of the same "
             "patient? else its vessels could not be matched)")
    low = [index for index, fraction in enumerate(matched, 1) if MIN_MATCHED_FRACTION <= fraction
           < WARN_MATCHED_FRACTION]
    if low:
        readouts.warn(f"only part of view {' and '.join(map(str, low))}'s vessels could be matched in 3D "
                      f"(< {WARN_MATCHED_FRACTION:.0%}): vessels may be missing from the centerlines and lesion table")


def treeSilhouette(result: Reconstruction, geometry, mesh=None) -> np.ndarray:
    """bool [rows, columns]: the reconstructed tree (the voxels at probability >= 0.5, as 2 mm blocks; ``mesh``: their
    surface when already made) projected through ``geometry`` (``CArmGeometry``, pixels (column, row), row 0 at the
    top), filled: the pixels it covers.

    The numpy projector of summary.png (``ReconCoreLib.summaryimage``: the voxels' faces rasterised through the view's
    cone beam), so the overlay in Slicer and the picture agree.
    """
    from ReconCoreLib import summaryimage

    mesh = summaryimage.voxelSurface(result.probability >= 0.5, result.ijkToRas) if mesh is None else mesh
    return summaryimage.projectedSilhouette(mesh, geometry)


def addToScene(result: Reconstruction, scene, outputProbability=None, outputSegmentation=None, outputModel=None,
               outputTable=None, outputView1Overlay=None, outputView2Overlay=None, outputCenterlines=None,
               outputLesions=None, overlayViews=None) -> dict:
    """Put a reconstruction into ``scene`` (filling the given nodes or new ones); returns the nodes by name.

    ``overlayViews``: per input view, (``CArmGeometry`` at the image's own size, 4x4 IJK -> RAS of the image's slice)
    on which the tree's re-projection (:func:`treeSilhouette`) is laid as a segmentation ("outputView1Overlay",
    "outputView2Overlay": outline and a semi-transparent fill in the tree's colour, on the angiogram's pixel grid).
    None (the command line, whose summary.png shows the same): no overlays.
    """
    from ReconCoreLib import runtime

    from . import centerlineoutputs as outputs

    probability = runtime.volumeNodeFromArray(scene, result.probability, result.ijkToRas, "coronary probability",
                                              node=outputProbability)
    if not result.branches:
        raise ValueError("no coronary centerline could be matched between the two views; check the vessel maps")
    segmentation = runtime.segmentationNodeFromLabelmap(
        scene, (result.lumenLabels > 0).astype(np.int16), LPS_TO_RAS @ result.lumenIjkToLps,
        {1: (f"{result.tree} coronary tree", SEGMENT_COLOR)}, "coronary tree", node=outputSegmentation)
    model = outputs.lumenModelNode(scene, result.branches, "coronary lumen model", node=outputModel)
    table = result.readouts.toTableNode(scene, "coronary readouts", node=outputTable)
    centerlines = outputs.centerlineModelNode(scene, result.branches, node=outputCenterlines)
    lesions = outputs.lesionTableNode(scene, lesionRows(result.lesions), node=outputLesions, columns=LESION_COLUMNS)
    nodes = {"outputProbability": probability, "outputSegmentation": segmentation, "outputModel": model,
             "outputTable": table, "outputCenterlines": centerlines, "outputLesions": lesions}
    mesh = None  # the overlays show the generator's voxels, as summary.png does
    for index, (geometry, imageIjkToRas), node in zip((1, 2), overlayViews or (),
                                                        (outputView1Overlay, outputView2Overlay)):
        if mesh is None:  # one surface for both views
            from ReconCoreLib.summaryimage import voxelSurface

            mesh = voxelSurface(result.probability >= 0.5, result.ijkToRas)
        silhouette = treeSilhouette(result, geometry, mesh)
        overlay = runtime.segmentationNodeFromLabelmap(
            scene, silhouette[None].astype(np.int16), imageIjkToRas,
            {1: (f"{result.tree} coronary tree re-projection", SEGMENT_COLOR)}, f"view {index} tree re-projection",
            closedSurface=False, node=node)
        display = overlay.GetDisplayNode()
        display.SetVisibility2DFill(True)
        display.SetOpacity2DFill(OVERLAY_FILL_OPACITY)  # the vessels stay visible under the fill
        display.SetVisibility2DOutline(True)
        nodes[f"outputView{index}Overlay"] = overlay
    return nodes


def writeOutputs(result: Reconstruction, nodes: dict, scene, directory: Path) -> None:
    """volume.nrrd (the generator's occupancy), segmentation.seg.nrrd and model.vtk (the lumen), centerlines.vtk,
    centerlines.mrk.json, stenoses.tsv, readouts.json and scene.mrb into ``directory``."""
    from ReconCoreLib import storage

    from .centerlineoutputs import writeMarkupsJson, writeTsv

    storage.saveNode(nodes["outputProbability"], directory / "volume.nrrd")
    storage.saveNode(nodes["outputSegmentation"], directory / "segmentation.seg.nrrd")
    storage.saveNode(nodes["outputModel"], directory / "model.vtk")
    storage.saveNode(nodes["outputCenterlines"], directory / "centerlines.vtk")
    writeMarkupsJson(result.branches, directory / "centerlines.mrk.json")
    writeTsv(lesionRows(result.lesions), directory / "stenoses.tsv", LESION_COLUMNS)
    result.readouts.writeJson(directory / "readouts.json")
    storage.saveScene(scene, directory / "scene.mrb")


def run(scene, view1, view2, geometry1, geometry2, tree: str, device="auto", modelPath=None, progress=None,
        **outputs) -> dict:
    """Slicer entry point (AngioReconLogic.process): volume nodes + geometries -> filled output nodes. A cine is a
    volume with one slice per frame or the proxy of a sequence (Slicer's DICOM module): of its frames at the ECG's R
    waves when the DICOM file it came from marks them, else of all, the one with the strongest vessel contrast is used.
    The tree's re-projection onto each view lies on the frame used (:func:`~ReconCoreLib.nodefiles.frameIjkToRas`), at
    the image's own pixel size."""
    from ReconCoreLib.cineframes import chooseFrame, frameChoice, rWaveFramesOfFile
    from ReconCoreLib.nodefiles import frameIjkToRas, framesOfVolumeNode, sourceFileForVolume

    progress = Progress.of(progress)
    views = []
    for node, geometry in ((view1, geometry1), (view2, geometry2)):
        frames = framesOfVolumeNode(node)
        rWaves, origin = rWaveFramesOfFile(sourceFileForVolume(node), len(frames))
        candidates = rWaves or list(range(len(frames)))
        best = candidates[chooseFrame(frames[candidates], geometry, VESSEL_FRAME_CHOOSER,
                                      source=node.GetName()).index]
        views.append(XrayImage(checkImage(frames[best], node.GetName()), geometry, node.GetName(), frameIndex=best,
                               numberOfFrames=len(frames),
                               frameChoice=frameChoice(rWaves, len(frames), origin) if len(frames) > 1 else ""))
    result = reconstruct(views[0], views[1], tree, device, modelPath=modelPath, progress=progress)
    overlayViews = [(view.geometry.withImageSize(*view.pixels.shape), frameIjkToRas(node, view.frameIndex))
                    for view, node in zip(views, (view1, view2))]
    nodes = addToScene(result, scene, overlayViews=overlayViews, **outputs)
    progress(1.0, "done")
    return nodes


def runCase(case, directory: Path, device: str = "auto", progress: Optional[Progress] = None) -> Readouts:
    """Read the files of an :class:`~.entry.AngioCase` (each once), reconstruct, write every output into
    ``directory`` (headless)."""
    from ReconCoreLib.storage import writeResultHeadless
    from ReconCoreLib.xrayio import readMaskImage

    progress = Progress.of(progress)
    view1 = readAngiogram(case.view1, case.frame1)
    view2 = readAngiogram(case.view2, case.frame2)
    masks = [readMaskImage(path) if path else None for path in (case.mask1, case.mask2)]
    result = reconstruct(view1, view2, case.tree, device, masks[0], masks[1], progress=progress,
                         maskSources=tuple(str(path or "") for path in (case.mask1, case.mask2)))
    writeResultHeadless(result, addToScene, writeOutputs, directory, progress)
    return result.readouts
