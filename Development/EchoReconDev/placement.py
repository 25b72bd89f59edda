"""Where the training generator puts the heart in each view: the constants of :mod:`EchoReconLib.placement`.

For each training patient (seeds from 0, acquisitions as the bundled model's stage 2 and 3 training data saw them:
``varied``) the centre of the heart (all structures of the true end-diastolic label image, where the sector shows
them) is measured in each view as the runtime measures it on the network's segmentation
(:func:`EchoReconLib.placement.heartCentreMm`). Prints the median per view (``HEART_CENTRE_MM``), the spread, and the
share of patients whose heart lies beyond the runtime's tolerance (those the runtime would move).

``--causes N``: what each out-of-distribution setting costs on its own, and what placement gives back. N held-out
patients are acquired with the out-of-distribution probe errors and otherwise the training ranges, then with one
setting of :data:`~.acquisition.OUT_OF_DISTRIBUTION` at a time (the heart deeper, the other renderer, the wider, deeper
and larger images), then with all of them; each is run by the bundled network alone and with placement.

    python -m EchoReconDev.placement --cases 200
    python -m EchoReconDev.placement --causes 40
"""

from __future__ import annotations

import argparse
import dataclasses

import numpy as np

from EchoReconLib.conventions import VIEWS
from EchoReconLib import placement
from EchoReconLib.placement import HEART_CENTRE_MM, TOLERANCE_MM, heartCentreMm


def heartCentres(seeds, acquisition: str = "varied") -> np.ndarray:
    """[patients, 6, 2] heart centres (depth, lateral mm; NaN where too little heart is seen), end-diastole."""
    from .echosim import makeCase

    centres = np.full((len(seeds), len(VIEWS), 2), np.nan)
    for row, seed in enumerate(seeds):
        labels = makeCase(int(seed), acquisition=acquisition)["labels"][0]
        for index, view in enumerate(VIEWS):
            centre = heartCentreMm(labels[index], view)
            if centre is not None:
                centres[row, index] = centre
    return centres


def causes(cases: int) -> None:
    """Print the EF MAE and LV volume median error of each setting (module docstring), network alone and placed."""
    import torch

    from EchoReconLib.template import HeartTemplate, enclosedVolume
    from ReconCoreDev.training import sourceModelPath
    from ReconCoreLib.models import ModelFile

    from . import acquisition
    from .dataset import HELD_OUT_SEED_OFFSET
    from .echosim import makeCase

    torch.set_num_threads(1)
    model, template = ModelFile(sourceModelPath("EchoRecon")).load("cpu"), HeartTemplate.load()
    lv, ood, varied = template.structureTriangles("LV cavity"), acquisition.OUT_OF_DISTRIBUTION, acquisition.VARIED
    settings = {"probe errors only": varied,
                "heart 20-26 mm deeper": dataclasses.replace(varied, depthShiftMm=ood.depthShiftMm),
                "other renderer": dataclasses.replace(varied, style=ood.style),
                "wider, deeper, larger images": dataclasses.replace(
                    varied, halfAngleDeg=ood.halfAngleDeg, apicalDepthMm=ood.apicalDepthMm,
                    shortAxisDepthMm=ood.shortAxisDepthMm, rows=ood.rows), "all (the split)": ood}
    try:
        for name, ranges in settings.items():
            acquisition.OUT_OF_DISTRIBUTION = ranges  # makeCase("ood") reads it: the split's probe errors, these ranges
            errors = {"alone": ([], []), "placed": ([], [])}
            for seed in range(HELD_OUT_SEED_OFFSET, HELD_OUT_SEED_OFFSET + cases):
                case = makeCase(seed, acquisition="ood")
                for mode, tolerance in (("alone", np.inf), ("placed", TOLERANCE_MM)):
                    displacement = placement.placedForward(model, case["images"].astype(np.float32), VIEWS,
                                                           toleranceMm=tolerance)[0]
                    edv, esv = (enclosedVolume(template.vertices + mesh, lv) / 1000.0 for mesh in displacement)
                    errors[mode][0].append(abs(100.0 * (1.0 - esv / edv) - case["efPercent"]))
                    errors[mode][1].extend((abs(edv / case["edvMl"] - 1.0), abs(esv / case["esvMl"] - 1.0)))
            print(f"{name}: " + "; ".join(f"{mode}: EF MAE {np.mean(ef):.2f} points, LV volume median error "
                                          f"{100 * np.median(volume):.1f} %" for mode, (ef, volume) in errors.items()),
                  flush=True)
    finally:
        acquisition.OUT_OF_DISTRIBUTION = ood


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=200, help="training patients (seeds from 0)")
    parser.add_argument("--acquisition", default="varied", choices=("standard", "varied", "ood"))
    parser.add_argument("--first", type=int, default=0, help="first seed")
    parser.add_argument("--causes", type=int, metavar="N",
                        help="what each out-of-distribution setting costs (module docstring)")
    args = parser.parse_args(argv)
    if args.causes:
        causes(args.causes)
        return
    centres = heartCentres(range(args.first, args.first + args.cases), args.acquisition)
    median = np.nanmedian(centres, axis=0)
    print(f"{args.cases} patients from seed {args.first}, {args.acquisition} acquisitions, end-diastole")
    print("HEART_CENTRE_MM = {" + ", ".join(f'"{view}": ({median[index, 0]:.1f}, {median[index, 1]:.1f})'
                                            for index, view in enumerate(VIEWS)) + "}")
    for index, view in enumerate(VIEWS):
        offsets = centres[:, index] - np.asarray(HEART_CENTRE_MM[view])
        distance = np.hypot(offsets[:, 0], offsets[:, 1])
        seen = np.isfinite(distance)
        print(f"{view}: SD depth {np.nanstd(centres[:, index, 0]):.1f} mm, "
              f"lateral {np.nanstd(centres[:, index, 1]):.1f} mm; from the runtime's centre: median "
              f"{np.nanmedian(distance):.1f} mm, beyond {TOLERANCE_MM:.0f} mm "
              f"{np.mean(distance[seen] > TOLERANCE_MM):.1%} of {seen.sum()}")


if __name__ == "__main__":
    main()
