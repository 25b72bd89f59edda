"""End-diastole and end-systole of each view's cine, from the LV cavity area the network segments in every frame.

Given one cine per view (``recon2d3d echo --cine VIEW=FILE ...``), every frame is resampled to the network's input
(:func:`~.inputs.networkInput`) and segmented by the network's 2D branch (each view alone: the branch sees one image
at a time). The LV cavity area per frame (cm2) is the view's area curve; end-diastole is its largest frame, or,
when the DICOM file marks the ECG's R waves (R Wave Pointer, or an ECG lead in its Waveform Sequence:
:func:`ReconCoreLib.cineframes.rWaveFrames`), the R-wave frame of largest area; end-systole is its smallest frame
(the LV is largest at end-diastole and smallest at end-systole: ASE/EACVI, Lang et al. 2015). A curve that changes
by less than :data:`MIN_AREA_CHANGE` of its largest value has no identifiable cycle (a still image saved as a cine,
or a view without the LV), and the run stops naming the view.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping

import numpy as np

from .conventions import STRUCTURES, VIEWS
from .inputs import networkInput, trainingPixelMm

#: Smallest fractional change of the LV cavity area over a cine (largest - smallest) / largest that counts as a
#: cardiac cycle. Normal LV fractional area change is 35-65 %; even severe dysfunction (EF 15-20 %) keeps 10-15 % in
#: the apical views; the network's segmentation of a still image varies by 1-3 % between frames.
MIN_AREA_CHANGE = 0.08
#: Fewer LV cavity pixels than this in every frame: the view shows no LV.
MIN_LV_PIXELS = 50


@dataclass
class CinePhases:
    """The frames chosen in each view's cine (zero-based) and the curves they come from."""

    endDiastole: dict  #: view -> frame
    endSystole: dict  #: view -> frame
    areasCm2: dict = field(default_factory=dict)  #: view -> LV cavity area per frame (cm2)
    endDiastoleChoice: dict = field(default_factory=dict)  #: view -> how end-diastole was chosen (readout text)

    def areaChange(self, view: str) -> float:
        areas = self.areasCm2[view]
        return float((areas.max() - areas.min()) / areas.max())


def lvAreaCurves(cines: Mapping[str, list], segmentViews: Callable[[dict], dict]) -> dict:
    """LV cavity area (cm2) of each frame of each view's cine ({view: [:class:`~.echoio.EchoImage`, ...]}):
    ``segmentViews`` maps {view: network inputs float32 [N, 128, 128]} to {view: labels [N, 128, 128]} (1..6 =
    STRUCTURES)."""
    inputs = {view: np.stack([networkInput(frame, view) for frame in frames]) for view, frames in cines.items()}
    labels = segmentViews(inputs)
    cavity = STRUCTURES.index("LV cavity") + 1
    return {view: np.count_nonzero(labels[view] == cavity, axis=(1, 2)) * trainingPixelMm(view) ** 2 / 100.0
            for view in cines}


#: How end-diastole was chosen without an ECG (readout ``ed_choice_<view>``).
LARGEST_AREA = "largest LV cavity area"


def choosePhases(curves: Mapping[str, np.ndarray], names: Mapping[str, str],
                 rWaves: Mapping[str, tuple] | None = None) -> CinePhases:
    """End-diastole (largest area; with ``rWaves`` {view: (R-wave frames, where they were read)} for a view, the
    R-wave frame of largest area) and end-systole (smallest) of each view's curve; ``ValueError`` naming the view (and
    its file, ``names``) when the curve shows no LV or no cycle."""
    endDiastole, endSystole, choices = {}, {}, {}
    for view, areas in curves.items():
        areas = np.asarray(areas, float)
        smallest = MIN_LV_PIXELS * trainingPixelMm(view) ** 2 / 100.0
        if len(areas) < 2:
            raise ValueError(f"{view}: {names[view]} has one frame: a cine is needed to find end-diastole and "
                             "end-systole (or give the frames with --ed/--es VIEW=FILE@FRAME)")
        if areas.max() < smallest:
            raise ValueError(f"{view}: {names[view]}: no frame shows the LV cavity (largest segmented area "
                             f"{areas.max():.1f} cm2); is it a {view} view?")
        change = (areas.max() - areas.min()) / areas.max()
        if change < MIN_AREA_CHANGE:
            raise ValueError(f"{view}: {names[view]}: no identifiable cardiac cycle, the LV cavity area changes by "
                             f"{100 * change:.1f} % over {len(areas)} frames (at least {100 * MIN_AREA_CHANGE:g} %); "
                             "give the frames with --ed/--es VIEW=FILE@FRAME")
        waves, origin = (rWaves or {}).get(view) or ([], "")
        endDiastole[view] = max(waves, key=lambda frame: areas[frame]) if waves else int(np.argmax(areas))
        choices[view] = f"R wave ({origin}), largest LV area of {len(waves)}" if waves else LARGEST_AREA
        endSystole[view] = int(np.argmin(areas))
    return CinePhases(endDiastole, endSystole, {view: np.asarray(areas, float) for view, areas in curves.items()},
                      choices)


def networkSegmenter(model, device: str = "cpu", batchSize: int = 8) -> Callable[[dict], dict]:
    """``segmentViews`` for :func:`lvAreaCurves` from the EchoRecon model: its 2D branch segments each view alone, so
    frame n of every view's cine goes into one six-view input (a view's last frame repeated where its cine is
    shorter, zeros for a view not given) and the model runs on batches of such inputs."""
    import torch

    def segmentViews(inputs: dict) -> dict:
        count = max(len(frames) for frames in inputs.values())
        empty = np.zeros_like(next(iter(inputs.values()))[0])
        labels = {view: [] for view in inputs}
        with torch.no_grad():
            for start in range(0, count, batchSize):
                batch = np.stack([np.stack([inputs[view][min(index, len(inputs[view]) - 1)] if view in inputs
                                            else empty for view in VIEWS])
                                  for index in range(start, min(start + batchSize, count))])
                _, logits = model(torch.as_tensor(batch, device=device))
                segmented = logits.argmax(dim=2).to(torch.uint8).cpu().numpy()
                for view in inputs:
                    labels[view].append(segmented[:, VIEWS.index(view)])
        return {view: np.concatenate(parts)[:len(inputs[view])] for view, parts in labels.items()}
    return segmentViews


def findNodeCinePhases(nodes: Mapping[str, object], segmentViews: Callable[[dict], dict]) -> CinePhases:
    """The same for Slicer volume nodes ({view: node}; a cine is a node of several slices or the proxy of a
    sequence, :func:`~ReconCoreLib.nodefiles.frameCount`): the views whose node is a cine; ``ValueError`` when
    none is."""
    from ReconCoreLib.cineframes import rWaveFramesOfFile
    from ReconCoreLib.nodefiles import frameCount, sourceFileForVolume

    from .echoio import echoFramesFromVolumeNode

    cines = {view: node for view, node in nodes.items() if node is not None and frameCount(node) > 1}
    if not cines:
        raise ValueError("none of the end-diastolic views is a cine: choose the cines as the end-diastolic images")
    frames = {view: echoFramesFromVolumeNode(node) for view, node in cines.items()}
    rWaves = {view: rWaveFramesOfFile(sourceFileForVolume(node), len(frames[view])) for view, node in cines.items()}
    return choosePhases(lvAreaCurves(frames, segmentViews), {view: node.GetName() for view, node in cines.items()},
                        rWaves)


def findCinePhases(cines: Mapping[str, str | Path], segmentViews: Callable[[dict], dict],
                   progress=None) -> CinePhases:
    """Read every frame of each view's cine ({view: file}), build the LV area curves and choose end-diastole and
    end-systole (module docstring)."""
    from ReconCoreLib.progress import Progress

    from .echoio import readEchoFrames

    progress = Progress.of(progress)
    frames = {}
    views = [view for view in VIEWS if view in cines]
    for index, view in enumerate(views):
        progress(0.2 * index / len(views), f"reading the {view} cine")
        frames[view] = readEchoFrames(cines[view])
    from ReconCoreLib.cineframes import rWaveFramesOfFile

    rWaves = {view: rWaveFramesOfFile(cines[view], len(frames[view])) for view in views}
    progress(0.2, "end-diastole and end-systole from the LV area curves")
    return choosePhases(lvAreaCurves(frames, segmentViews), {view: str(cines[view]) for view in views}, rWaves)


def recordCinePhases(readouts, phases: CinePhases) -> None:
    """The frames chosen as readouts: ``ed_frame_<view>``, ``es_frame_<view>`` (zero-based), how end-diastole was
    chosen ``ed_choice_<view>`` and the LV cavity's fractional area change ``lv_area_change_<view>`` over the cine."""
    for view in phases.endDiastole:
        readouts.set(f"ed_frame_{view.lower()}", phases.endDiastole[view])
        readouts.set(f"ed_choice_{view.lower()}", phases.endDiastoleChoice.get(view, LARGEST_AREA))
        readouts.set(f"es_frame_{view.lower()}", phases.endSystole[view])
        readouts.set(f"lv_area_change_{view.lower()}", phases.areaChange(view))


def framesFromReadouts(values: Mapping, phase: str) -> dict:
    """{view: frame} of ``phase`` ("ED", "ES") recorded by :func:`recordCinePhases`."""
    return {view: int(values[f"{phase.lower()}_frame_{view.lower()}"]) for view in VIEWS
            if f"{phase.lower()}_frame_{view.lower()}" in values}
