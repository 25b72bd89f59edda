"""Find the femur in both radiographs before registering: where the crop box goes (LPS mm, working frame).

The network was trained with the femoral head near one place in its crop box (the atlas's head, within a few mm),
so the box must be put on the anatomy, not on the isocenter: radiographs are centred on the hip, the mid-femur or
the knee, by protocol and by chance.

Method: each view's femur mask (given or proposed) is matched with the atlas femur's silhouette in that view
(normalized cross-correlation of the two, both smoothed by :data:`SMOOTHING_MM`, on pixels of
:data:`SEARCH_PIXEL_MM` at the isocenter; the silhouette is the atlas projected with the view's own geometry, so
oblique views and magnification are accounted for). A box translation ``t`` moves the silhouette's centre to the
projection of ``t`` in each view; the two views' scores are added over a 3D grid of translations
(:data:`SEARCH_HALF_RANGE_MM` in steps of :data:`COARSE_STEP_MM`). About the best one, the silhouette is projected
again with the box there on the view's own detector (perspective and the field's edges as the view sees them) and
searched in steps of :data:`FINE_STEP_MM` (whole mm, so the box's 1 mm grid stays on the isocenter's lattice); the
best place puts the box. Each view's own best match is compared with the projection of the joint one: their
distance (mm at the isocenter) is the views' disagreement. Masks that look like no femur stop the run; views that
do not agree (:func:`checkAgreement`) are an implausible input, which stops the run unless implausible results are
kept.

Side: the search is run twice, for a right femur and for a left one (masks and geometry mirrored, as the network sees
a left femur). In a view that looks along the patient's front-back axis the two differ plainly (the head lies medial
to the greater trochanter and the shaft); a view along the left-right axis sees both alike. Each view's score
difference is weighted by how far its central ray lies from the left-right axis (:func:`sideWeights`): the weighted
difference is the side's margin. With the side unknown (no DICOM laterality), the images decide when the margin and
the better fit are clear (:data:`SIDE_MIN_MARGIN`, :data:`SIDE_MIN_SCORE`), and the view that shows the side best
does not show both hips: there, every bright bone region (:func:`~.proposal.proposeBoneMap`, not only the femur mask)
is matched with a right and with a left femur's silhouette, and two femur-like matches far apart
(:func:`checkOneHip`) stop the run, as does an unclear margin, asking for the side. A side that was given but that the
images contradict as clearly is an implausible input.

Why written here: a search over the epipolar-coupled translations of two views is specific to this geometry;
the correlation itself is FFT convolution (scipy.fft).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Sequence

import numpy as np

from ReconCoreLib.resample import areaAverage, finerFieldSize
from ReconCoreLib.xraygeometry import CArmGeometry

from .conventions import SIDES, VIEW_NAMES
from .mirroring import mirrorGeometry

#: Pixel size (mm at the isocenter) of the masks and silhouettes compared.
SEARCH_PIXEL_MM = 1.5
#: Gaussian smoothing (sigma, mm) of both before the correlation: tolerates a femur that differs from the atlas.
SMOOTHING_MM = 3.0
#: Only the atlas femur above this height (mm, box frame; the atlas head centre is at +50) is matched: head, neck,
#: greater trochanter and the shaft's top, which every hip radiograph shows, whatever the femur's length, rotation
#: and the field's cut. Measured on the first 12 cases of ``FemurRegistrationDev.positions`` (box centre error from
#: the true head's place, median / 90th percentile, true masks; proposed masks): +10: 4.1 / 8.6 mm; 6.9 / 11.9 mm.
#: With an earlier, torch-projected silhouette: +10: 4.1 / 8.7; 5.9 / 11.7. -20: 6.1 / 12.3; 7.7 / 13.5. +30:
#: 3.4 / 6.7; 9.6 / 13.3 (the head alone is lost in a proposal merged with the pelvis).
TEMPLATE_BOTTOM_MM = 10.0
#: Band (mm) around the silhouette that counts in the correlation (the femur must be bright and its surround not).
TEMPLATE_MARGIN_MM = 15.0
#: Box translations searched (mm, LPS x, y, z from the isocenter): the head anywhere within +-80 mm of the central
#: ray and +-40 mm in depth, with margin.
SEARCH_HALF_RANGE_MM = (120.0, 120.0, 140.0)
COARSE_STEP_MM, FINE_STEP_MM = 4.0, 1.0
#: The two views' best matches may lie this far (mm at the isocenter) from the projection of the joint one.
MAX_DISAGREEMENT_MM = 20.0
#: Summed correlation (two views) below which the masks do not look like a femur anywhere in the field. Measured:
#: femurs 1.5-1.9 (true and proposed masks), a 60-90 mm disk 1.3-1.4, scattered pixels 0.2; shapes in between are
#: left to the mask gates (:func:`~.checks.checkMasks`) and the views' agreement (:func:`checkAgreement`).
MIN_SCORE = 1.0
#: The side is read from the images when its margin (weighted score difference of the two sides, per view at most 1)
#: reaches this and the better side's weighted score reaches :data:`SIDE_MIN_SCORE`; a given side is refused when the
#: other side wins by as much. Measured on 41 moved cases of ``FemurRegistrationDev.positions`` (AP view's scores): the
#: true side 0.78-0.99 vs the other 0.35-0.58 with true masks (margin >= 0.27); with proposed masks 0.69-0.92 vs
#: 0.39-0.62, except two proposals that missed the head (0.51 vs 0.52, 0.55 vs 0.59): refused, not guessed.
#: ``FemurRegistrationDev.laterality`` prints the held-out figures (model card).
SIDE_MIN_MARGIN, SIDE_MIN_SCORE = 0.15, 0.65
#: Both hips in view (:func:`checkOneHip`): a right and a left femur silhouette each match the bone map at least this
#: well, this far apart (mm at the isocenter; hip centres lie 160-210 mm apart). Measured on 6 + 6 cases of
#: ``FemurRegistrationDev.laterality``: both hips in the AP view 0.65-0.77 for the weaker side; one femur (with its
#: acetabulum) 0.51-0.59 for the other side.
BOTH_HIPS_MIN_SCORE, BOTH_HIPS_APART_MM = 0.62, 80.0
_OTHER_SIDE = {"left": "right", "right": "left"}


@dataclass
class Placement:
    """Where the crop box goes (working frame, LPS mm) and how well the two views agree on it."""

    boxCentreLps: np.ndarray  # (3,) box centre: the atlas femur fits best with the box here
    score: float  # summed correlation of the two views (at most 2)
    disagreementMm: tuple  # per view: its own best match vs the projection of the joint one (mm at the isocenter)
    viewScores: tuple = ()  # per view: its correlation at the joint place (each at most 1)
    side: str = "right"  # the femur's side (the working frame mirrors a left one)
    sideMargin: float = float("nan")  # weighted score of this side minus the other's (:func:`sideWeights`)


def silhouettes(atlas: dict, detector: CArmGeometry, boxCentreLps) -> tuple[np.ndarray, np.ndarray]:
    """(matched part, part below :data:`TEMPLATE_BOTTOM_MM`): the atlas femur's silhouettes (float 0/1) on
    ``detector`` with the crop box centred at ``boxCentreLps``.

    Every 1 mm voxel centre of the atlas label is projected onto the detector's pixels (closed by one pixel): numpy
    only, so the femur is found before torch is imported (the network's projector is torch's); the detector's
    pixels (:data:`SEARCH_PIXEL_MM`) are coarser than the voxels, so the silhouette has no holes.
    """
    from scipy.ndimage import binary_closing

    ijkToLps = np.asarray(atlas["ijkToLps"], dtype=float)
    points = np.argwhere(np.asarray(atlas["label"]) > 0)[:, ::-1] @ ijkToLps[:3, :3].T + ijkToLps[:3, 3]
    below = points[:, 2] < TEMPLATE_BOTTOM_MM
    pixels = np.rint(detector.projectLps(points + np.asarray(boxCentreLps, dtype=float))).astype(int)
    inside = ((pixels[:, 0] >= 0) & (pixels[:, 0] < detector.columns) & (pixels[:, 1] >= 0)
              & (pixels[:, 1] < detector.rows))
    parts = []
    for part in (~below & inside, below & inside):
        image = np.zeros((detector.rows, detector.columns), bool)
        image[pixels[part, 1], pixels[part, 0]] = True
        parts.append(binary_closing(image, iterations=1, border_value=0).astype(np.float32))
    return parts[0], parts[1]


def convolveSame(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """``scipy.signal.fftconvolve(image, kernel, mode="same")`` of 2D arrays, through ``scipy.fft``.

    Why not scipy.signal itself: importing it (it imports scipy.stats) takes 0.95 s on a 2-core machine, a fifth of a
    whole femur run's cold start.
    """
    from scipy import fft

    full = [first + second - 1 for first, second in zip(image.shape, kernel.shape)]
    shape = [fft.next_fast_len(size, real=True) for size in full]
    result = fft.irfftn(fft.rfftn(image, shape) * fft.rfftn(kernel, shape), shape)
    start = [(size - 1) // 2 for size in kernel.shape]  # the centre of the full convolution, as fftconvolve's "same"
    return result[start[0]:start[0] + image.shape[0], start[1]:start[1] + image.shape[1]]


def normalizedCorrelation(image: np.ndarray, template: np.ndarray, support: np.ndarray) -> np.ndarray:
    """Normalized cross-correlation of ``template`` (inside ``support``) with ``image`` at every placement of the
    template's centre on ``image`` (same shape as ``image``; -1 where the image is flat under the template)."""
    count = float(support.sum())
    centred = np.where(support, template - template[support].mean(), 0.0)
    centred /= max(float(np.sqrt((centred ** 2).sum())), 1e-12)
    numerator = convolveSame(image, centred[::-1, ::-1])
    window = support.astype(np.float64)[::-1, ::-1]
    sums = convolveSame(image, window)
    variance = convolveSame(image * image, window) - sums ** 2 / count
    floor = 0.05 * max(float(np.percentile(variance, 90)), 1e-12)
    return np.where(variance > floor, numerator / np.sqrt(np.maximum(variance, floor)), -1.0)


@dataclass
class _ScoreMap:
    """One view's correlation map: ``score[row, column]`` for the template's anchor on a map pixel; the box centre
    ``boxCentreLps`` lies ``offset`` (column, row) map pixels from the anchor; ``scale`` input pixels per map pixel."""

    score: np.ndarray
    scale: np.ndarray
    offset: np.ndarray
    geometry: CArmGeometry

    def anchor(self, translations: np.ndarray) -> np.ndarray:
        """Map pixels (column, row) of the anchor for box centres ``translations`` [N, 3] near the template's."""
        return (self.geometry.projectLps(translations) + 0.5) / self.scale - 0.5 - self.offset

    def sample(self, translations: np.ndarray) -> np.ndarray:
        from scipy.ndimage import map_coordinates

        pixels = self.anchor(translations)
        return map_coordinates(self.score, [pixels[:, 1], pixels[:, 0]], order=1, mode="constant", cval=-1.0)


def _scoreMap(mask: np.ndarray, geometry: CArmGeometry, atlas: dict, boxCentreLps=None) -> _ScoreMap:
    """The correlation map of a view's mask with the atlas silhouette: with the box on the isocenter on a detector of
    the view's angles and distances covering the whole box (``boxCentreLps`` None: the coarse search), or with the box
    at ``boxCentreLps`` on the view's own detector (the fine search: the silhouette as the view sees the femur there,
    perspective and the field's edges included)."""
    from scipy.ndimage import binary_dilation, gaussian_filter

    shape = finerFieldSize(geometry, SEARCH_PIXEL_MM, 16)
    scale = np.array([mask.shape[1] / shape[1], mask.shape[0] / shape[0]])  # input pixels per map pixel (col, row)
    small = gaussian_filter(areaAverage(np.asarray(mask, np.float32), *shape), SMOOTHING_MM / SEARCH_PIXEL_MM)
    mapGeometry = geometry.withImageSize(*shape)
    if boxCentreLps is None:  # a detector of the map's pixels covering the whole box
        size = int(np.ceil(260.0 / SEARCH_PIXEL_MM))
        detector = CArmGeometry(geometry.primaryAngleDeg, geometry.secondaryAngleDeg, geometry.sourceToDetectorMm,
                                geometry.sourceToPatientMm, mapGeometry.pixelSpacingMm, size, size)
        centre, centrePixel = np.zeros(3), detector.principalPoint
    else:
        detector = mapGeometry
        centre = np.asarray(boxCentreLps, dtype=float)
        centrePixel = detector.projectLps(centre[None])[0]
    template, below = silhouettes(atlas, detector, centre)
    band = int(round(TEMPLATE_MARGIN_MM / SEARCH_PIXEL_MM))
    # The band around the matched part, less the shaft below it (the mask goes on there, the template does not).
    support = binary_dilation(template > 0, iterations=band) & ~binary_dilation(below > 0, iterations=band // 2)
    support |= template > 0
    rows, columns = np.flatnonzero(support.any(1)), np.flatnonzero(support.any(0))
    if rows.size == 0:
        raise ValueError("the atlas femur lies outside the radiograph's field at the place searched")
    crop = (slice(rows[0], rows[-1] + 1), slice(columns[0], columns[-1] + 1))
    smooth = gaussian_filter(template, SMOOTHING_MM / SEARCH_PIXEL_MM)[crop]
    # fftconvolve "same" puts the template's anchor pixel (height // 2, width // 2) on each image pixel; the box centre
    # projects ``offset`` pixels from the anchor.
    offset = centrePixel - np.array([columns[0] + (crop[1].stop - crop[1].start) // 2,
                                     rows[0] + (crop[0].stop - crop[0].start) // 2])
    return _ScoreMap(normalizedCorrelation(small, smooth, support[crop]), scale, offset, geometry)


def _best(maps: Sequence[_ScoreMap], grid: np.ndarray) -> tuple[np.ndarray, float]:
    scores = sum(entry.sample(grid) for entry in maps)
    return grid[int(np.argmax(scores))], float(scores.max())


def _fit(masks: Sequence[np.ndarray], geometries: Sequence[CArmGeometry], atlas: dict) -> Placement:
    """The best box place for masks and geometries in the working frame (a left femur's mirrored)."""
    maps = [_scoreMap(mask, geometry, atlas) for mask, geometry in zip(masks, geometries)]
    axes = [np.arange(-half, half + 1e-6, COARSE_STEP_MM) for half in SEARCH_HALF_RANGE_MM]
    coarse, _ = _best(maps, np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, 3))
    maps = [_scoreMap(mask, geometry, atlas, coarse) for mask, geometry in zip(masks, geometries)]
    fine = np.arange(-2 * COARSE_STEP_MM, 2 * COARSE_STEP_MM + 1e-6, FINE_STEP_MM)
    centre, score = _best(maps, coarse + np.stack(np.meshgrid(fine, fine, fine, indexing="ij"), -1).reshape(-1, 3))
    disagreements = []
    for entry in maps:
        own = np.array(np.unravel_index(np.argmax(entry.score), entry.score.shape)[::-1], float)  # (column, row)
        joint = entry.anchor(centre[None])[0]
        disagreements.append(float(np.linalg.norm((own - joint) * entry.scale * entry.geometry.pixelSpacingMm[::-1]))
                             / entry.geometry.magnification)
    viewScores = tuple(float(entry.sample(centre[None])[0]) for entry in maps)
    return Placement(centre, score, tuple(disagreements), viewScores)


def sideWeights(geometries: Sequence[CArmGeometry]) -> np.ndarray:
    """How much each view shows which side a femur is (0-1): 1 - (left-right component of its central ray)^2, so
    1 for an AP or PA view, 0 for a true lateral one, 0.5 at 45 deg."""
    return np.array([1.0 - float(geometry.detectorDirectionLps[0]) ** 2 for geometry in geometries])


def locateFemur(images: Sequence[np.ndarray], masks: Sequence[np.ndarray], geometries: Sequence[CArmGeometry],
                atlas: dict, side=None, readouts=None) -> Placement:
    """The crop box's place (working frame of the femur's side) and the side, from the two views' radiographs, femur
    masks and geometries (patient frame) and the atlas that will be registered.

    :param side: 'left' or 'right' as given (checked against the images: :data:`SIDE_MIN_MARGIN`); None: from the
        images (:func:`checkOneHip` first).
    :param readouts: where a given side the images contradict is recorded when keeping implausible results (else the
        run stops).
    :raises ValueError: no femur-like mask in the field (:data:`MIN_SCORE`); side None and the images do not tell it
        (both hips in view, or no clear margin). Views that disagree on where the femur is are the caller's to judge
        (:func:`checkAgreement`).
    """
    from ReconCoreLib.plausibility import gate

    mirrored = ([mask[:, ::-1] for mask in masks], [mirrorGeometry(geometry) for geometry in geometries])
    fits = {"right": _fit(masks, geometries, atlas), "left": _fit(*mirrored, atlas)}
    best = max(fits.values(), key=lambda fit: fit.score)
    if best.score < MIN_SCORE:
        raise ValueError(f"the femur masks do not match a femur anywhere in the field (shape agreement "
                         f"{best.score:.2f} of 2, at least {MIN_SCORE:.1f} expected): check the masks and that both "
                         "views show the proximal femur")
    weights = sideWeights(geometries)
    weighted = {name: float(np.dot(weights, fit.viewScores) / weights.sum()) for name, fit in fits.items()}
    margins = {name: weighted[name] - weighted[_OTHER_SIDE[name]] for name in SIDES}
    if side is None:
        checkOneHip(images, geometries, atlas)
        side = _sideFromImages(weighted)
    elif side in SIDES:
        other = _OTHER_SIDE[side]
        if weighted[other] >= SIDE_MIN_SCORE:
            gate(readouts, "side_shape_margin", margins[side], -SIDE_MIN_MARGIN, None, "",
                 f"fit of the femur in the radiographs as the {side} femur given, less its fit as a {other} one",
                 "the radiographs look like the other side (check the side, and the views' geometry: a flipped "
                 "image mirrors the femur)")
    else:
        raise ValueError(f"side must be 'left', 'right' or None (from the images), got {side!r}")
    return replace(fits[side], side=side, sideMargin=margins[side])


def _sideFromImages(weighted: dict) -> str:
    """The side the femur's shape shows (:func:`locateFemur`), else ValueError asking for it."""
    side = "left" if weighted["left"] > weighted["right"] else "right"
    margin = weighted[side] - weighted[_OTHER_SIDE[side]]
    if margin < SIDE_MIN_MARGIN or weighted[side] < SIDE_MIN_SCORE:
        raise ValueError(f"which femur is it? The radiographs say no side (no DICOM laterality) and the femur's shape "
                         f"does not tell it clearly (fit {weighted[side]:.2f} as {side}, margin {margin:.2f} over "
                         f"the other side; at least {SIDE_MIN_SCORE} and {SIDE_MIN_MARGIN} needed): give --side left "
                         "or right (in Slicer: Side), or check the femur masks")
    return side


def femursInView(image: np.ndarray, geometry: CArmGeometry, atlas: dict) -> dict:
    """{side: (score, (column, row))}: the best match of a right and of a left femur's silhouette with every bright
    bone region of one radiograph (:func:`~.proposal.proposeBoneMap`), and the pixel where its box centre projects."""
    from .proposal import proposeBoneMap

    bone = proposeBoneMap(image, geometry.pixelSpacingMm)
    found = {}
    for side in SIDES:
        mirrored = side == "left"
        entry = _scoreMap(bone[:, ::-1] if mirrored else bone, mirrorGeometry(geometry) if mirrored else geometry,
                          atlas)
        anchor = np.array(np.unravel_index(np.argmax(entry.score), entry.score.shape)[::-1], float)
        pixel = (anchor + entry.offset + 0.5) * entry.scale - 0.5  # the box centre's pixel (column, row)
        if mirrored:
            pixel[0] = geometry.columns - 1 - pixel[0]
        found[side] = (float(entry.score.max()), pixel)
    return found


def checkOneHip(images: Sequence[np.ndarray], geometries: Sequence[CArmGeometry], atlas: dict) -> None:
    """ValueError asking for the side when the view that shows it best (:func:`sideWeights`) shows both hips: a right
    and a left femur each matching its bone regions (:data:`BOTH_HIPS_MIN_SCORE`), far apart
    (:data:`BOTH_HIPS_APART_MM`)."""
    index = int(np.argmax(sideWeights(geometries)))
    geometry = geometries[index]
    found = femursInView(images[index], geometry, atlas)
    apartMm = float(np.linalg.norm((found["right"][1] - found["left"][1]) * geometry.pixelSpacingMm[::-1])
                    / geometry.magnification)
    if min(score for score, _ in found.values()) >= BOTH_HIPS_MIN_SCORE and apartMm >= BOTH_HIPS_APART_MM:
        raise ValueError(f"which femur is it? The {VIEW_NAMES[index]} radiograph shows both hips (a right and a left "
                         f"femur {apartMm:.0f} mm apart) and the files say no side (no DICOM laterality): give --side "
                         "left or right (in Slicer: Side)")


def checkAgreement(placement: Placement, readouts=None) -> None:
    """The input gate of the two views' disagreement (:data:`MAX_DISAGREEMENT_MM`; different patients, a wrong geometry
    or a mask of something else): stops the run, or is recorded on ``readouts`` when keeping implausible results."""
    from ReconCoreLib.plausibility import gate

    for name, disagreement in zip(VIEW_NAMES, placement.disagreementMm):
        gate(readouts, "placement_disagreement_mm", disagreement, None, MAX_DISAGREEMENT_MM, "mm",
             f"distance of the {name} view's best femur match from the place both views share (do both radiographs "
             "show the same femur? is their geometry right?)", "AP and lateral views: the views do not agree on where "
             "the femur is")
