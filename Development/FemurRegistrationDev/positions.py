"""FemurRegistration with the femur anywhere in the field: the whole run on held-out phantoms moved off the isocenter.

    python -m FemurRegistrationDev.positions --cases 20                     # placement on the anatomy (the run's)
    python -m FemurRegistrationDev.positions --cases 20 --isocenter-box     # the crop box fixed on the isocenter
    python -m FemurRegistrationDev.positions --cases 20 --unmoved [--isocenter-box]  # femurs where training has them
    python -m FemurRegistrationDev.positions --cases 24 --sid 1800 --sod 1700 --pixels 1280 --pixel-mm 0.3  # standing
    python -m FemurRegistrationDev.positions --cases 200 --ood     # the out-of-distribution split (.outofdistribution)
    python -m FemurRegistrationDev.positions --cases 48 --ood-only pose   # one of its settings alone
    python -m FemurRegistrationDev.positions --cases 24 --far-lateral --pa  # views from the other sides
    python -m FemurRegistrationDev.positions --cases 24 --hospital   # collimation, side marker, burned-in text

Each held-out phantom (seeds from :data:`POSITION_SEED_OFFSET`, never trained on) is moved so its femoral head lies at
a uniform place within +-:data:`IN_PLANE_MM` of the isocenter along x (left-right) and z (head-foot) and
+-:data:`DEPTH_MM` along y (the AP view's depth), as hip radiographs centred on the hip, the mid-femur or the knee
place it; half the cases are left femurs (the phantom mirrored). Both views are simulated
(:func:`.dataset.simulateRadiographs`) on a 384 mm square detector (:data:`DETECTOR_PIXELS` pixels of
:data:`DETECTOR_PIXEL_MM`), AP (primary 0) and lateral (primary -90 for a right femur, +90 for a left one: detector on
the femur's side), SID 1000, SOD 925. Where the femur runs off the detector, it is cut as on a radiograph. Every case
goes through :func:`FemurRegistrationLib.pipeline.registerFemur` with the true femur masks and with proposed ones, and
is scored against the phantom's label (Dice, ASSD). Prints one row per case and the medians and means.
``--ood``: the out-of-distribution split instead (seeds from :data:`OOD_SEED_OFFSET`; shape, pose, tissue, radiograph
style and SID/SOD outside training's ranges, :mod:`.outofdistribution`), positions as above; ``--ood-only PART``: only
that part of it (:data:`.outofdistribution.PARTS`), the rest as training has it. ``--far-lateral``: the lateral's
detector on the side away from the femur (LAO 90 for a right femur, as issue 11's new-user test took it); ``--pa``:
a PA view (primary 180) instead of the AP.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from FemurRegistrationLib import pipeline, placement
from FemurRegistrationLib.mirroring import mirrorIjkToLps
from ReconCoreLib.xraygeometry import LPS_TO_RAS, CArmGeometry
from ReconCoreLib.xrayio import XrayImage

from . import outofdistribution, phantom
from .dataset import simulateRadiographs

POSITION_SEED_OFFSET = 3_000_000
OOD_SEED_OFFSET = 3_700_000
IN_PLANE_MM, DEPTH_MM = 80.0, 40.0
DETECTOR_PIXELS, DETECTOR_PIXEL_MM = 640, 0.6


def placedPhantom(seed: int, side: str, head=None,
                  outOfDistribution=()) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(hu, label, ijkToLps, head centre LPS) of the phantom of ``seed`` as a ``side`` femur (a left one is the phantom
    mirrored), its femoral head moved to ``head`` (None: where the training phantoms have it, near (+-24, 0, +50))."""
    case = phantom.makeCase(seed, outOfDistribution=outOfDistribution)
    hu, label = np.asarray(case.hu), np.asarray(case.label)
    ijkToLps = np.asarray(case.ijkToLps, dtype=float).copy()
    centre = np.asarray(case.measurements["head_centre_lps"], dtype=float)
    if side == "left":
        ijkToLps = mirrorIjkToLps(ijkToLps, hu.shape)
        hu, label = np.ascontiguousarray(hu[..., ::-1]), np.ascontiguousarray(label[..., ::-1])
        centre = centre * [-1.0, 1.0, 1.0]
    if head is not None:
        ijkToLps[:3, 3] += np.asarray(head, dtype=float) - centre
        centre = np.asarray(head, dtype=float)
    return hu, label, ijkToLps, centre


def viewPair(side: str, sourceToDetectorMm: float = 1000.0, sourceToPatientMm: float = 925.0,
             pixels: int = DETECTOR_PIXELS, pixelMm: float = DETECTOR_PIXEL_MM, farLateral: bool = False,
             posteroAnterior: bool = False) -> list[CArmGeometry]:
    """AP (primary 0; PA, 180, when ``posteroAnterior``) and lateral (the detector on the femur's side; on the other
    side when ``farLateral``), SID / SOD as training had them unless given, on :data:`DETECTOR_PIXELS` pixels of
    :data:`DETECTOR_PIXEL_MM` unless given."""
    lateral = (90.0 if side == "left" else -90.0) * (-1.0 if farLateral else 1.0)
    return [CArmGeometry(primary, 0.0, sourceToDetectorMm, sourceToPatientMm, (pixelMm, pixelMm), pixels, pixels)
            for primary in (180.0 if posteroAnterior else 0.0, lateral)]


def movedCase(seed: int, moved: bool = True, outOfDistribution=(), hospital: bool = False, **acquisition) -> dict:
    """The phantom of ``seed`` (mirrored for odd seeds: a left femur) with its head moved to a random place (else left
    where the training phantoms have it, near (+-24, 0, +50) mm); its radiographs (AP, lateral) and femur masks.
    ``outOfDistribution``: the parts of :data:`.outofdistribution.PARTS` drawn as that split draws them;
    ``hospital``: collimation, a side marker and burned-in text (:mod:`.hospitalstyle`, drawn from their own random
    stream: the case is otherwise the same)."""
    rng = np.random.default_rng([seed, 11])
    side = "left" if seed % 2 else "right"
    target = rng.uniform([-IN_PLANE_MM, -DEPTH_MM, -IN_PLANE_MM], [IN_PLANE_MM, DEPTH_MM, IN_PLANE_MM])
    hu, label, ijkToLps, head = placedPhantom(seed, side, target if moved else None, outOfDistribution)
    style = outofdistribution.RADIOGRAPH_STYLE if "radiograph" in outOfDistribution else {}
    if "geometry" in outOfDistribution:
        acquisition = {**acquisition, **outofdistribution.acquisition(rng)}
    geometries = viewPair(side, **acquisition)
    images, masks = simulateRadiographs(hu, label, ijkToLps, geometries, rng, **style)
    if hospital:
        from .hospitalstyle import hospitalStyle

        styleRng = np.random.default_rng([seed, 12])
        images, masks = zip(*(hospitalStyle(image, mask, geometry.pixelSpacingMm[0], side, styleRng)
                              for image, mask, geometry in zip(images, masks, geometries)))
    return {"side": side, "head": head, "label": label, "ijkToRas": LPS_TO_RAS @ ijkToLps,
            "views": [XrayImage(image, geometry, f"case {seed} {name}")
                      for image, geometry, name in zip(images, geometries, ("AP", "lateral"))], "masks": list(masks)}


def runCase(case: dict, given: bool, refine: bool = False) -> dict:
    """Dice and ASSD of the whole run on a moved case (true masks when ``given``, else proposals), implausible results
    kept (``gated``: the run would have stopped); a run that stops anyway gives Dice 0 and its message."""
    from ReconCoreLib.plausibility import keepingImplausible

    masks = case["masks"] if given else [None, None]
    try:
        with keepingImplausible():
            result = pipeline.registerFemur(*case["views"], *masks, side=case["side"], device="cpu", refine=refine,
                                            reference=(case["label"], case["ijkToRas"]))
    except ValueError as error:
        return {"dice": 0.0, "assd_mm": float("nan"), "error": str(error)[:90]}
    readouts = result.readouts.values
    return {"dice": readouts["dice"], "assd_mm": readouts["assd_mm"], "gated": bool(result.readouts.failedChecks)}


def _isocenterBox():
    """The crop box on the isocenter, no re-centring: the run before the femur was looked for."""
    pipeline.RECENTRE_PASSES = 0
    placement.locateFemur = lambda images, masks, geometries, atlas, side, readouts=None: placement.Placement(
        np.zeros(3), 2.0, (0.0, 0.0), side=side)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=20)
    parser.add_argument("--first", type=int, default=0, help="the first case (split a long run over processes)")
    parser.add_argument("--isocenter-box", action="store_true", help="the crop box on the isocenter (no placement)")
    parser.add_argument("--refine", action="store_true", help="with the test-time refinement (--refine)")
    parser.add_argument("--unmoved", action="store_true", help="the femurs where the training phantoms have them")
    parser.add_argument("--ood", action="store_true",
                        help="the out-of-distribution split (FemurRegistrationDev.outofdistribution; its own SID/SOD)")
    parser.add_argument("--ood-only", choices=outofdistribution.PARTS, help="one part of that split alone")
    parser.add_argument("--sid", type=float, default=1000.0, help="source to detector (mm; training: 1000)")
    parser.add_argument("--sod", type=float, default=925.0, help="source to isocenter (mm; training: 925)")
    parser.add_argument("--pixels", type=int, default=DETECTOR_PIXELS, help="detector pixels per side")
    parser.add_argument("--pixel-mm", type=float, default=DETECTOR_PIXEL_MM, help="detector pixel size (mm)")
    parser.add_argument("--far-lateral", action="store_true",
                        help="the lateral's detector on the side away from the femur (training: the femur's side)")
    parser.add_argument("--pa", action="store_true", help="a PA view (primary 180) instead of the AP")
    parser.add_argument("--hospital", action="store_true",
                        help="collimation, a lead side marker and burned-in text (.hospitalstyle)")
    parser.add_argument("--recentre-passes", type=int, default=pipeline.RECENTRE_PASSES,
                        help="times the network may move the box again (the run's setting by default)")
    parser.add_argument("--recentre-tolerance-mm", type=float, default=pipeline.RECENTRE_TOLERANCE_MM,
                        help="head offset the network may find before the box is moved again (the run's by default)")
    arguments = parser.parse_args(argv)
    pipeline.RECENTRE_PASSES = arguments.recentre_passes
    pipeline.RECENTRE_TOLERANCE_MM = arguments.recentre_tolerance_mm
    if arguments.isocenter_box:
        _isocenterBox()
    parts = outofdistribution.PARTS if arguments.ood else (arguments.ood_only,) if arguments.ood_only else ()
    rows = {"given": [], "proposed": []}
    started = time.time()
    for index in range(arguments.first, arguments.first + arguments.cases):
        seed = (OOD_SEED_OFFSET if parts else POSITION_SEED_OFFSET) + index
        case = movedCase(seed, not arguments.unmoved, parts, sourceToDetectorMm=arguments.sid,
                         sourceToPatientMm=arguments.sod, pixels=arguments.pixels, pixelMm=arguments.pixel_mm,
                         farLateral=arguments.far_lateral, posteroAnterior=arguments.pa, hospital=arguments.hospital)
        line = [f"{seed} {case['side']:5s} head {np.round(case['head']).astype(int)}"]
        for name in rows:
            row = runCase(case, name == "given", arguments.refine)
            rows[name].append(row)
            line.append(f"{name} Dice {row['dice']:.3f}" + (" gated" if row.get("gated") else "")
                        + (f" ({row['error']})" if "error" in row else ""))
        print("  ".join(line), flush=True)
    split = f" (out of distribution: {', '.join(parts)})" if parts else ""
    print(f"{arguments.cases} cases{f' from case {arguments.first}' if arguments.first else ''}{split}, "
          f"{time.time() - started:.0f} s, femurs "
          f"{'where training has them' if arguments.unmoved else 'moved'}, crop box "
          f"{'on the isocenter' if arguments.isocenter_box else 'placed on the femur'}, re-centred at most "
          f"{pipeline.RECENTRE_PASSES} times (beyond {pipeline.RECENTRE_TOLERANCE_MM:g} mm)"
          f"{', with --refine' if arguments.refine else ''}; SID "
          f"{'1150-1800' if 'geometry' in parts else f'{arguments.sid:g} / SOD {arguments.sod:g}'} mm, "
          f"{arguments.pixels} px of {arguments.pixel_mm:g} mm"
          f"{'; lateral from the far side' if arguments.far_lateral else ''}{'; PA' if arguments.pa else ''}"
          f"{'; collimated, marker and text burned in' if arguments.hospital else ''}")
    for name, values in rows.items():
        dice = np.array([row["dice"] for row in values])
        assd = np.array([row["assd_mm"] for row in values])
        print(f"{name:8s} masks: Dice median {np.median(dice):.3f} mean {dice.mean():.3f} (>= 0.8: "
              f"{(dice >= 0.8).mean():.0%}); ASSD median {np.nanmedian(assd):.2f} mm; stopped "
              f"{sum('error' in row for row in values)}, gated {sum(bool(row.get('gated')) for row in values)}")


if __name__ == "__main__":
    main()
