"""Each view moved so the heart sits where the network learned to find it, before the network's second pass.

Where the heart lies in a view's sector depends on the patient's chest wall and window and on the sonographer, not
on the heart. The network was trained with the probe moved -8 to +20 mm in depth and -12 to +12 mm sideways from
the standard plane (the model card's varied acquisitions); a heart imaged deeper than that left the network's
result far off (the model card, "Each view placed on the heart"). The network's output, the heart in its own
frame, does not depend on where the probe was. So the run places each view by the anatomy it shows
(:func:`placedForward`):

1. the network's first pass segments every view;
2. the heart's centre in each view (the centroid of all segmented structures at end-diastole, mm below and right
   of the sector apex) is compared with where the training generator puts it, :data:`HEART_CENTRE_MM` (measured on
   the true label images of training patients by ``python -m EchoReconDev.placement``);
3. a view whose heart lies more than :data:`TOLERANCE_MM` from there is moved so that it sits there: its input
   (both phases, the probe stays put during a cine) is shifted on the network's grid and cut to a sector as in
   training (apex at row 0, the image's own sector angle up to the widest trained one, :data:`MAX_HALF_ANGLE_DEG`),
   and the network runs again on all views. Without the cut the moved sector's edges would reach row 0 wide open,
   which training never showed: in a trial on 40 out-of-distribution patients (every view moved, the sector angle
   known) the EF MAE fell from 7.92 to 5.99 points without the cut, to 4.61 with it.

A moved view is read as if its sector apex lay that shift deeper and further right in the image: the mesh cuts
drawn on the images and the summary's outlines of the network's field use that apex
(:func:`~.viewplanes.imageMapping` with :func:`shiftOf`).

Readouts: ``heart_offset_depth_<view>_mm`` / ``heart_offset_lateral_<view>_mm`` (first pass: how much deeper / further
right the heart lay than where training put it) for every view segmented, and ``recentred_views`` ("A4C SAXM", or
"none").

Why hand-written: a shift of a 128 x 128 image and a centroid are one call each in SciPy; what is particular here is
where to move (the training generator's place of the heart), which no library knows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

import numpy as np

from .conventions import IMAGE_SIZE, VIEWS
from .inputs import trainingPixelMm

#: Where the training generator puts the heart's centre in each view: (mm below the sector apex, mm right of it),
#: the median over 200 training patients (seeds 0-199, varied acquisitions, end-diastole, true label images, where
#: the sector shows them), printed by ``python -m EchoReconDev.placement --cases 200``.
HEART_CENTRE_MM = {"A4C": (93.9, -16.1), "A2C": (84.5, 3.0), "A3C": (90.1, 12.0),
                   "SAXB": (73.0, -2.2), "SAXM": (73.5, -4.0), "SAXA": (75.5, -2.6)}
#: A view's heart within this distance (mm) of :data:`HEART_CENTRE_MM` is left where it is. Over the training
#: patients the centre's depth varies by 7-10 mm (SD; probe depth moves and heart sizes) and its lateral place by
#: 6-7 mm, so a view within 10 mm is one like those the network was trained on. Moving such views too changes
#: little. In a trial on held-out patients (35 in distribution, 28 out of it) the EF MAE was 1.81 / 3.59 points with
#: every view moved, 1.90 / 3.32 with this tolerance, 1.99 / 4.44 with 15 mm and 1.94 / 6.01 with none moved.
TOLERANCE_MM = 10.0
#: The widest sector the network was trained with (half-angle, deg: a 90 deg sector).
MAX_HALF_ANGLE_DEG = 45.0
#: Fewest pixels of segmented heart for a view's centre to be measured (else the view is left where it is).
MIN_HEART_PIXELS = 50
#: A bin of the sector-angle estimate belongs to the sector when at least this share of its pixels shows signal.
LIT_SHARE = 0.3


def heartCentreMm(labels: np.ndarray, view: str):
    """(mm below, mm right of the sector apex) of the centroid of the segmented heart (labels > 0) in a network
    input's segmentation (uint8 [128, 128]), or None when fewer than :data:`MIN_HEART_PIXELS` pixels are heart."""
    rows, columns = np.nonzero(np.asarray(labels) > 0)
    if rows.size < MIN_HEART_PIXELS:
        return None
    pixelMm = trainingPixelMm(view)
    return float(rows.mean() * pixelMm), float((columns.mean() - (IMAGE_SIZE - 1) / 2.0) * pixelMm)


def _polar() -> tuple[np.ndarray, np.ndarray]:
    """(radius in pixels, angle from the beam axis in deg, + to the right) of every network-grid pixel."""
    rows, columns = np.mgrid[0:IMAGE_SIZE, 0:IMAGE_SIZE].astype(float)
    lateral = columns - (IMAGE_SIZE - 1) / 2.0
    return np.hypot(rows, lateral), np.degrees(np.arctan2(lateral, rows))


def sectorHalfAngleDeg(image: np.ndarray) -> float:
    """Half the sector angle (deg) of a network input (float [128, 128], apex at row 0, middle column): from the
    beam axis outward on each side, the first 1 deg bin (pixels 15-95 % of the field deep) in which fewer than
    :data:`LIT_SHARE` of the pixels show signal ends the sector; the narrower side is the half-angle. Burned-in text
    beside the sector lies beyond that gap and does not count."""
    radius, angle = _polar()
    ring = (radius > 0.15 * (IMAGE_SIZE - 1)) & (radius < 0.95 * (IMAGE_SIZE - 1))
    lit = np.asarray(image) > 0.0
    edges = []
    for side in (1.0, -1.0):
        edge = 0.0
        for degree in range(90):
            inBin = ring & (side * angle >= degree) & (side * angle < degree + 1)
            if not inBin.any() or lit[inBin].mean() < LIT_SHARE:
                break
            edge = degree + 1.0
        edges.append(edge)
    return float(min(edges))


def sectorMask(halfAngleDeg: float) -> np.ndarray:
    """float32 [128, 128]: 1 inside a sector of that half-angle with its apex at row 0 and the middle column, radius
    the field depth (127 pixels), else 0."""
    radius, angle = _polar()
    return ((radius <= IMAGE_SIZE - 1) & (np.abs(angle) <= halfAngleDeg)).astype(np.float32)


def shiftedImage(image: np.ndarray, view: str, shiftMm: tuple, halfAngleDeg: float, order: int = 1) -> np.ndarray:
    """A network-grid image [128, 128] (an input, or with ``order`` 0 a label image) with its content moved up by
    ``shiftMm[0]`` and left by ``shiftMm[1]`` mm (what lay at (depth, lateral) + shift now lies at (depth,
    lateral)), cut to the sector of ``halfAngleDeg`` (at most :data:`MAX_HALF_ANGLE_DEG`)."""
    from scipy import ndimage

    pixelMm = trainingPixelMm(view)
    image = np.asarray(image)
    moved = ndimage.shift(image.astype(np.float32), (-shiftMm[0] / pixelMm, -shiftMm[1] / pixelMm), order=order,
                          mode="constant", cval=0.0)
    if order:
        moved = np.clip(moved, 0.0, 1.0)
    return (moved * sectorMask(min(halfAngleDeg, MAX_HALF_ANGLE_DEG))).astype(image.dtype)


@dataclass
class Placement:
    """Where the heart lay in each view and how the run moved the views (module docstring)."""

    offsets: dict = field(default_factory=dict)  #: view -> (depth, lateral) mm from :data:`HEART_CENTRE_MM`
    shifts: dict = field(default_factory=dict)  #: view -> (depth, lateral) mm it was moved by (views moved only)
    halfAngles: dict = field(default_factory=dict)  #: view -> sector half-angle (deg) of a moved view

    @classmethod
    def measure(cls, segmentation: np.ndarray, inputs: np.ndarray, views,
                toleranceMm: float | None = None) -> "Placement":
        """From the first pass's end-diastolic segmentation and inputs (uint8 / float [6, 128, 128], :data:`VIEWS`
        order): each given view's offset, and a shift for those beyond ``toleranceMm`` (None: :data:`TOLERANCE_MM`)."""
        tolerance = TOLERANCE_MM if toleranceMm is None else toleranceMm
        placement = cls()
        for index, view in enumerate(VIEWS):
            centre = heartCentreMm(segmentation[index], view) if view in views else None
            if centre is None:
                continue
            offset = (centre[0] - HEART_CENTRE_MM[view][0], centre[1] - HEART_CENTRE_MM[view][1])
            placement.offsets[view] = offset
            if float(np.hypot(*offset)) > tolerance:
                placement.shifts[view] = offset
                placement.halfAngles[view] = sectorHalfAngleDeg(inputs[index])
        return placement

    def apply(self, images: np.ndarray, order: int = 1) -> np.ndarray:
        """``images`` [phases, 6, 128, 128] (inputs, or label images with ``order`` 0) with the moved views moved."""
        moved = np.array(images, copy=True)
        for view, shift in self.shifts.items():
            index = VIEWS.index(view)
            for phase in range(moved.shape[0]):
                moved[phase, index] = shiftedImage(images[phase, index], view, shift, self.halfAngles[view], order)
        return moved


def placedForward(model, inputs: np.ndarray, views, device: str = "cpu", toleranceMm: float | None = None) -> tuple:
    """The network's result on one study's inputs (float32 [phases, 6, 128, 128], end-diastole first) with every
    view placed on the heart (module docstring): (displacement float64 [phases, V, 3], 2D labels uint8 [phases, 6,
    128, 128], the inputs the result came from, :class:`Placement`). ``model``: the TorchScript network on
    ``device``; the run, the evaluation and the interval calibration all call this (``toleranceMm`` infinite: the
    network alone, for comparison)."""
    import torch

    def network(batch: np.ndarray) -> tuple:
        with torch.no_grad():
            displacement, logits = model(torch.as_tensor(np.asarray(batch, np.float32), device=device))
            labels = logits.argmax(dim=2).to(torch.uint8)
        return displacement.double().cpu().numpy(), labels.cpu().numpy()

    displacement, labels = network(inputs)
    placement = Placement.measure(labels[0], inputs[0], views, toleranceMm)
    if not placement.shifts:
        return displacement, labels, inputs, placement
    placed = placement.apply(inputs)
    displacement, labels = network(placed)
    return displacement, labels, placed, placement


def recordPlacement(readouts, placement: Placement) -> None:
    """The readouts of the module docstring."""
    for view, (depth, lateral) in placement.offsets.items():
        readouts.set(f"heart_offset_depth_{view.lower()}_mm", depth)
        readouts.set(f"heart_offset_lateral_{view.lower()}_mm", lateral)
    readouts.set("recentred_views", " ".join(view for view in VIEWS if view in placement.shifts) or "none")


def shiftOf(values: Mapping, view: str) -> tuple[float, float]:
    """(depth, lateral) mm by which the run moved ``view``'s input (readouts ``values``; (0, 0) when not moved)."""
    if view not in str(values.get("recentred_views", "")).split():
        return 0.0, 0.0
    return (float(values[f"heart_offset_depth_{view.lower()}_mm"]),
            float(values[f"heart_offset_lateral_{view.lower()}_mm"]))
