"""Which femur is it, from the images: the side FemurRegistration reads when the files do not say it.

    python -m FemurRegistrationDev.laterality --cases 200 --both-hips 40
    python -m FemurRegistrationDev.laterality --cases 200 --both-hips 0 --far-lateral --pa  # views from the other sides

Single femurs: the held-out phantoms of :mod:`.positions` (seeds from
:data:`~.positions.POSITION_SEED_OFFSET`, half of them left femurs, the head anywhere within +-80 mm of the isocenter
in-plane and +-40 mm in depth), AP and lateral views, with the true femur masks and with proposed ones. Each goes
through :func:`FemurRegistrationLib.placement.locateFemur` (the step that decides the side in a run) three ways: no
side (the images decide: correct, refused or wrong), the true side given (wrongly refused?) and the wrong side given
(refused as the images contradict it?). ``--far-lateral`` and ``--pa`` take the single femurs' views from the other
sides (:func:`.positions.viewPair`).

Both hips (``--both-hips``; seeds from :data:`BOTH_HIPS_SEED_OFFSET`): an AP view of the pelvis region with both
femurs in one body (the other femur another phantom, mirrored, its head 160-210 mm away across the midline; the
midpoint within +-40 mm of the isocenter in-plane, +-20 mm in depth) and the lateral view of one hip, which the other
femur crosses. With no side the run must stop (both hips in view), whatever the masks: the true ones of one femur,
or proposals (the largest bright region: one femur). A side it names must be that of the femur its masks cover.
Prints one line per case and the counts.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from FemurRegistrationLib.atlasfile import loadAtlas
from FemurRegistrationLib.placement import locateFemur
from FemurRegistrationLib.radiographs import workingView
from ReconCoreLib.plausibility import ImplausibleResult
from ReconCoreLib.xrayio import XrayImage

from .dataset import simulateRadiographs
from .positions import POSITION_SEED_OFFSET, movedCase, placedPhantom, viewPair

BOTH_HIPS_SEED_OFFSET = 3_500_000
#: The other hip's phantom is that of the seed plus this (never a case of its own).
OTHER_HIP_SEED = 250_000
#: Distance between the two femoral heads (mm) and the reach of their midpoint from the isocenter.
HIP_DISTANCE_MM, MIDPOINT_MM = (160.0, 210.0), 40.0
OTHER = {"left": "right", "right": "left"}
#: The body around both hips (:func:`bodyBetween`): its width beyond the boxes, voxel size, width of each piece (mm).
BODY_MARGIN_MM, BODY_VOXEL_MM, BODY_PIECE_MM = 40.0, 2.0, 200.0


def bothHipsCase(seed: int) -> dict:
    """An AP view of both hips and a lateral view of one (the femur of ``seed``; the other hip is the phantom of
    ``seed`` + :data:`OTHER_HIP_SEED` mirrored), with the masks of the first femur."""
    rng = np.random.default_rng([seed, 13])
    side = "left" if seed % 2 else "right"
    distance = rng.uniform(*HIP_DISTANCE_MM)
    midpoint = rng.uniform([-MIDPOINT_MM, -MIDPOINT_MM / 2, -MIDPOINT_MM], [MIDPOINT_MM, MIDPOINT_MM / 2, MIDPOINT_MM])
    towardsLeft = np.array([distance / 2, 0.0, 0.0])  # LPS x grows towards the patient's left
    heads = {"left": midpoint + towardsLeft, "right": midpoint - towardsLeft}
    hu, label, ijkToLps, _ = placedPhantom(seed, side, heads[side])
    otherHu, _, otherIjkToLps, _ = placedPhantom(seed + OTHER_HIP_SEED, OTHER[side], heads[OTHER[side]])
    geometries = viewPair(side)
    others = [(otherHu, otherIjkToLps)] + bodyBetween(hu, [(hu.shape, ijkToLps), (otherHu.shape, otherIjkToLps)])
    images, masks = simulateRadiographs(hu, label, ijkToLps, geometries, rng, others=others)
    return {"side": side, "views": [XrayImage(image, geometry, f"case {seed} {name}")
                                    for image, geometry, name in zip(images, geometries, ("AP", "lateral"))],
            "masks": list(masks)}


def bodyBetween(hu: np.ndarray, boxes) -> list:
    """Soft tissue between and beside the two phantoms' boxes, so both hips lie in one body of the boxes' depth: a
    slab over the boxes' y and z ranges, :data:`BODY_MARGIN_MM` wider than both along x, empty inside the boxes (they
    hold their own), of the first phantom's median soft tissue (``hu`` below 100 HU). Cut into volumes no wider
    than the projector's ray reach. ``boxes``: (shape [k, j, i], ijkToLps) of each phantom."""
    ranges = []
    for shape, ijkToLps in boxes:
        corners = np.array([[i, j, k, 1.0] for i in (-0.5, shape[2] - 0.5) for j in (-0.5, shape[1] - 0.5)
                            for k in (-0.5, shape[0] - 0.5)]) @ np.asarray(ijkToLps).T
        ranges.append((corners[:, :3].min(0), corners[:, :3].max(0)))
    low = np.min([box[0] for box in ranges], axis=0) - [BODY_MARGIN_MM, 0.0, 0.0]
    high = np.max([box[1] for box in ranges], axis=0) + [BODY_MARGIN_MM, 0.0, 0.0]
    tissue = float(np.median(hu[hu < 100]))
    pieces = []
    for start in np.arange(low[0], high[0], BODY_PIECE_MM):
        axes = [np.arange(a, b - 1e-6, BODY_VOXEL_MM) + BODY_VOXEL_MM / 2
                for a, b in zip((start, low[1], low[2]), (min(start + BODY_PIECE_MM, high[0]), high[1], high[2]))]
        z, y, x = np.meshgrid(axes[2], axes[1], axes[0], indexing="ij")
        inside = np.ones(x.shape, bool)
        for boxLow, boxHigh in ranges:
            inside &= ~((x > boxLow[0]) & (x < boxHigh[0]) & (y > boxLow[1]) & (y < boxHigh[1])
                        & (z > boxLow[2]) & (z < boxHigh[2]))
        ijkToLps = np.diag([BODY_VOXEL_MM, BODY_VOXEL_MM, BODY_VOXEL_MM, 1.0])
        ijkToLps[:3, 3] = [axes[0][0], axes[1][0], axes[2][0]]
        pieces.append((np.where(inside, tissue, -1000.0).astype(np.float32), ijkToLps))
    return pieces


def readSide(case: dict, trueMasks: bool, atlas: dict, side=None) -> tuple[str, float, str]:
    """(outcome, margin, side of the femur the AP mask covers): the side read by the placement step, or 'refused'
    ('refused, both hips' when it saw both hips), and its margin."""
    views = [workingView(view, mask if trueMasks else None, name)
             for view, mask, name in zip(case["views"], case["masks"], ("AP", "lateral"))]
    apMask = views[0].workingMask.astype(bool)
    trueMask = workingView(case["views"][0], case["masks"][0], "AP").workingMask.astype(bool)
    covered = case["side"] if (apMask & trueMask).sum() >= 0.5 * trueMask.sum() else OTHER[case["side"]]
    try:
        found = locateFemur([view.working.pixels for view in views], [view.workingMask for view in views],
                            [view.geometry for view in views], atlas, side)
    except (ValueError, ImplausibleResult) as error:
        return "refused, both hips" if "both hips" in str(error) else "refused", float("nan"), covered
    return found.side, found.sideMargin, covered


def _count(outcomes: list, truth: list) -> str:
    correct = sum(outcome == side for outcome, side in zip(outcomes, truth))
    refused = sum(outcome.startswith("refused") for outcome in outcomes)
    bothHips = sum(outcome == "refused, both hips" for outcome in outcomes)
    return (f"correct {correct}, refused {refused} ({bothHips} as both hips), wrong {len(outcomes) - correct - refused}"
            f" of {len(outcomes)}")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=40, help="single-femur cases")
    parser.add_argument("--both-hips", type=int, default=10, help="cases with both hips in the AP view")
    parser.add_argument("--far-lateral", action="store_true",
                        help="single femurs: the lateral's detector on the far side")
    parser.add_argument("--pa", action="store_true", help="single femurs: a PA view (primary 180) instead of the AP")
    arguments = parser.parse_args(argv)
    atlas = loadAtlas()
    started = time.time()
    truth, results = [], {(masks, given): [] for masks in ("true", "proposed") for given in ("none", "true", "wrong")}
    for index in range(arguments.cases):
        seed = POSITION_SEED_OFFSET + index
        case = movedCase(seed, farLateral=arguments.far_lateral, posteroAnterior=arguments.pa)
        truth.append(case["side"])
        line = [f"{seed} {case['side']:5s}"]
        for masks, given in results:
            side = {"none": None, "true": case["side"], "wrong": OTHER[case["side"]]}[given]
            outcome, margin, _ = readSide(case, masks == "true", atlas, side)
            results[masks, given].append(outcome)
            line.append(f"{masks}/{given}: {outcome} {margin:+.2f}")
        print("  ".join(line), flush=True)
    print(f"single femurs, {arguments.cases} cases, {time.time() - started:.0f} s"
          f"{', lateral from the far side' if arguments.far_lateral else ''}{', PA' if arguments.pa else ''}")
    for (masks, given), outcomes in results.items():
        if given == "wrong":
            kept = sum(not outcome.startswith("refused") for outcome in outcomes)
            print(f"  {masks:8s} masks, wrong side given: refused {len(outcomes) - kept}, kept {kept} of "
                  f"{len(outcomes)} (kept: the images did not contradict it clearly)")
        else:
            what = {"none": "no side given", "true": "true side given"}[given]
            print(f"  {masks:8s} masks, {what:15s}: {_count(outcomes, truth)}")
    both = {"true": ([], []), "proposed": ([], [])}
    for index in range(arguments.both_hips):
        seed = BOTH_HIPS_SEED_OFFSET + index
        case = bothHipsCase(seed)
        line = [f"{seed} both hips, {case['side']:5s} femur in the true masks"]
        for masks, (outcomes, covered) in both.items():
            outcome, margin, femur = readSide(case, masks == "true", atlas)
            outcomes.append(outcome)
            covered.append(femur)
            line.append(f"{masks}: {outcome} {margin:+.2f} (mask on the {femur} femur)")
        print("  ".join(line), flush=True)
    if arguments.both_hips:
        print(f"both hips in the AP view, {arguments.both_hips} cases, no side given ('correct': the side of the femur "
              "the AP mask covers)")
        for masks, (outcomes, covered) in both.items():
            print(f"  {masks:8s} masks: {_count(outcomes, covered)}")


if __name__ == "__main__":
    main()
