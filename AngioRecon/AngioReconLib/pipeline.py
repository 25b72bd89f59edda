"""AngioRecon pipeline: two angiograms + geometry -> 3D coronary occupancy in patient space, with checks.

Steps: vessel map per view (given mask, or SimpleITK's Hessian objectness on the raw angiogram and a
triangle threshold), resampling to the network's 128x128 input with the geometry scaled to match, the generator
(TorchScript, geometry as input), then outputs in patient RAS: probability volume, segmentation
"coronary tree" with closed surface, surface model, readouts table. Readouts include the re-projection
Dice of the result against each input vessel map and the same figures for the visual hull baseline
(voxels whose projections fall inside both silhouettes, computed with the same projector).

Console example (Slicer Python console or any Python with the environment)::

    from AngioReconLib import pipeline
    from ReconCoreLib import runtime
    from ReconCoreLib.xrayio import readXrayImage
    result = pipeline.reconstruct(readXrayImage("rao30cau25.dcm"), readXrayImage("lao45cra25.dcm"), tree="left")
    print(result.readouts.summary())
    nodes = pipeline.addToScene(result, runtime.getScene())
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

from .conventions import CUBE_SIDE_MM, GRID_SIZE, TREES
from .reprojection import cubeIjkToLps, reprojectionDice, visualHull
from .vessels import prepareView, vesselContrastScore

MODULE = "AngioRecon"
MIN_SEPARATION_DEG = 10.0
WARN_SEPARATION_DEG = 30.0
SEGMENT_COLOR = (0.85, 0.2, 0.2)


@dataclass
class Reconstruction:
    """Everything one run produces (arrays in the cube: [k, j, i], placed by ``ijkToRas``)."""

    probability: np.ndarray
    ijkToRas: np.ndarray
    vesselMaps: np.ndarray  # [2, 128, 128] network inputs
    geometries: tuple  # the two CArmGeometry at 128x128
    readouts: Readouts
    tree: str


def reconstruct(view1: XrayImage, view2: XrayImage, tree: str = "left", device: str = "auto",
                mask1: Optional[np.ndarray] = None, mask2: Optional[np.ndarray] = None,
                modelPath: Optional[str] = None, progress: Optional[Progress] = None) -> Reconstruction:
    """Run the whole method on two views. Raises ``ValueError`` on bad input, ``InterruptedError`` on cancel."""
    import torch

    from ReconCoreLib.models import requireModel, resolveDevice

    progress = Progress.of(progress)
    if tree not in TREES:
        raise ValueError(f"tree must be 'left' or 'right', got {tree!r}")
    separation = viewSeparationDeg(view1.geometry, view2.geometry)
    if separation < MIN_SEPARATION_DEG:
        raise ValueError(f"the two views are only {separation:.1f} deg apart; at least {MIN_SEPARATION_DEG:.0f} deg "
                         "is needed to reconstruct depth")
    device = resolveDevice(device)
    model = requireModel(MODULE, modelPath)
    readouts = Readouts(MODULE, modelSha256=model.sha256, device=device)
    if separation < WARN_SEPARATION_DEG:
        readouts.warn(f"the views are {separation:.1f} deg apart (< {WARN_SEPARATION_DEG:.0f} deg): depth is poorly "
                      "determined, check the result against both views")

    progress(0.05, "vessel maps")
    map1, geometry1 = prepareView(view1, mask1)
    progress(0.25, "vessel maps")
    map2, geometry2 = prepareView(view2, mask2)
    progress(0.45, "generator")
    generator = model.load(device)
    started = time.perf_counter()
    maps = torch.as_tensor(np.stack([map1, map2]), device=device)[None]
    projections = torch.as_tensor(np.stack([geometry1.projectionMatrixLps(), geometry2.projectionMatrixLps()]),
                                  dtype=torch.float32, device=device)[None]
    with torch.no_grad():
        probability = generator(maps, projections, torch.tensor([float(tree == "right")], device=device))
    inferenceSeconds = time.perf_counter() - started
    probability = probability[0, 0].cpu().numpy().astype(np.float32)
    progress(0.7, "checks")

    hull = visualHull(np.stack([map1, map2]), (geometry1, geometry2))
    voxelVolume = (CUBE_SIDE_MM / GRID_SIZE) ** 3
    readouts.set("view_separation_deg", separation)
    readouts.set("vessel_volume_mm3", float((probability >= 0.5).sum() * voxelVolume))
    for index, (dice, hullDice) in enumerate(zip(reprojectionDice(probability, (map1, map2), (geometry1, geometry2)),
                                                 reprojectionDice(hull, (map1, map2), (geometry1, geometry2))), 1):
        readouts.set(f"reprojection_dice_view{index}", dice)
        readouts.set(f"visual_hull_reprojection_dice_view{index}", hullDice)
    readouts.set("visual_hull_volume_mm3", float(hull.sum() * voxelVolume))
    readouts.set("inference_s", inferenceSeconds)
    progress(0.8, "checks done")
    return Reconstruction(probability, LPS_TO_RAS @ cubeIjkToLps(), np.stack([map1, map2]),
                          (geometry1, geometry2), readouts, tree)


def addToScene(result: Reconstruction, scene, outputProbability=None, outputSegmentation=None, outputModel=None,
               outputTable=None) -> dict:
    """Put a reconstruction into ``scene`` (filling the given nodes or new ones); returns the nodes by name."""
    from ReconCoreLib import runtime

    probability = runtime.volumeNodeFromArray(scene, result.probability, result.ijkToRas, "coronary probability",
                                              node=outputProbability)
    label = (result.probability >= 0.5).astype(np.int16)
    if not label.any():
        raise ValueError("the reconstruction is empty (no voxel reaches probability 0.5); check the vessel maps")
    segmentation = runtime.segmentationNodeFromLabelmap(
        scene, label, result.ijkToRas, {1: (f"{result.tree} coronary tree", SEGMENT_COLOR)}, "coronary tree",
        node=outputSegmentation)
    model = runtime.modelNodeFromSegment(scene, segmentation, f"{result.tree} coronary tree", "coronary tree model",
                                         node=outputModel)
    table = result.readouts.toTableNode(scene, "coronary readouts", node=outputTable)
    return {"outputProbability": probability, "outputSegmentation": segmentation, "outputModel": model,
            "outputTable": table}


def writeOutputs(result: Reconstruction, nodes: dict, scene, directory: Path) -> None:
    """volume.nrrd, segmentation.seg.nrrd, model.vtk, readouts.json and scene.mrb into ``directory``."""
    from ReconCoreLib import storage

    storage.saveNode(nodes["outputProbability"], directory / "volume.nrrd")
    storage.saveNode(nodes["outputSegmentation"], directory / "segmentation.seg.nrrd")
    storage.saveNode(nodes["outputModel"], directory / "model.vtk")
    result.readouts.writeJson(directory / "readouts.json")
    storage.saveScene(scene, directory / "scene.mrb")


def run(scene, view1, view2, geometry1, geometry2, tree="left", device="auto", modelPath=None, progress=None,
        **outputs) -> dict:
    """Slicer entry point (AngioReconLogic.process): volume nodes + geometries -> filled output nodes. A cine is a
    volume with one slice per frame or the proxy of a sequence (Slicer's DICOM module): its frame with the strongest
    vessel contrast is used."""
    from ReconCoreLib.nodefiles import framesOfVolumeNode

    progress = Progress.of(progress)
    views = []
    for node, geometry in ((view1, geometry1), (view2, geometry2)):
        frames = framesOfVolumeNode(node)
        best = int(np.argmax([vesselContrastScore(frame) for frame in frames])) if len(frames) > 1 else 0
        views.append(XrayImage(checkImage(frames[best], node.GetName()), geometry, node.GetName(), frameIndex=best,
                               numberOfFrames=len(frames)))
    result = reconstruct(views[0], views[1], tree, device, modelPath=modelPath, progress=progress)
    nodes = addToScene(result, scene, **outputs)
    progress(1.0, "done")
    return nodes


def runCase(case, directory: Path, device: str = "auto", progress: Optional[Progress] = None) -> Readouts:
    """Read the files of an :class:`~.entry.AngioCase` (each once), reconstruct, write every output into
    ``directory`` (headless)."""
    from ReconCoreLib.storage import writeResultHeadless
    from ReconCoreLib.xrayio import readMaskImage, readXrayImage

    progress = Progress.of(progress)
    view1 = readXrayImage(case.view1, case.frame1, vesselContrastScore)
    view2 = readXrayImage(case.view2, case.frame2, vesselContrastScore)
    masks = [readMaskImage(path) if path else None for path in (case.mask1, case.mask2)]
    result = reconstruct(view1, view2, case.tree, device, masks[0], masks[1], progress=progress)
    writeResultHeadless(result, addToScene, writeOutputs, directory, progress)
    return result.readouts
