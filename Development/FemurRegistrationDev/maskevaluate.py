"""The femur mask proposals on held-out radiographs: the network's (:mod:`FemurRegistrationLib.femurmask`) beside the
brightness split it replaced (:mod:`FemurRegistrationLib.proposal`), 2D Dice against the true femur masks.

    python -m FemurRegistrationDev.maskevaluate --cases 100          # in distribution, then out of distribution

Radiographs of :func:`.positions.movedCase` (AP and lateral, femurs anywhere in the field): the in-distribution
positions split (seeds from 3,000,000), the whole out-of-distribution split (seeds from 3,700,000;
:mod:`.outofdistribution`) and each of its parts alone (``--parts``). A proposal that finds nothing scores 0.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from FemurRegistrationLib import femurmask, proposal

from . import outofdistribution
from .positions import OOD_SEED_OFFSET, POSITION_SEED_OFFSET, movedCase

METHODS = {"network": femurmask.proposeFemurMask, "brightness": proposal.proposeFemurMask}


def dice(first: np.ndarray, second: np.ndarray) -> float:
    first, second = first > 0, second > 0
    return float(2.0 * (first & second).sum() / max(1, first.sum() + second.sum()))


def scoreSplit(parts: tuple, cases: int) -> dict:
    """{method: Dice array [cases, 2 views]} on ``cases`` radiograph pairs of the split with ``parts``."""
    scores = {name: [] for name in METHODS}
    for index in range(cases):
        case = movedCase((OOD_SEED_OFFSET if parts else POSITION_SEED_OFFSET) + index, outOfDistribution=parts)
        for name, propose in METHODS.items():
            row = []
            for view, mask in zip(case["views"], case["masks"]):
                try:
                    row.append(dice(propose(view.pixels, view.geometry.pixelSpacingMm), mask))
                except ValueError:
                    row.append(0.0)
            scores[name].append(row)
    return {name: np.asarray(rows) for name, rows in scores.items()}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=100)
    parser.add_argument("--parts", action="store_true", help="also each out-of-distribution part alone")
    arguments = parser.parse_args(argv)
    splits = {"in distribution": (), "out of distribution": outofdistribution.PARTS}
    if arguments.parts:
        splits |= {f"only {part}": (part,) for part in outofdistribution.PARTS}
    print("| split | proposal | Dice AP median / mean | Dice lateral median / mean | views with Dice < 0.7 |")
    print("|---|---|---|---|---|")
    for label, parts in splits.items():
        started = time.time()
        for name, scores in scoreSplit(parts, arguments.cases).items():
            print(f"| {label} ({arguments.cases} pairs) | {name} | {np.median(scores[:, 0]):.3f} / "
                  f"{scores[:, 0].mean():.3f} | {np.median(scores[:, 1]):.3f} / {scores[:, 1].mean():.3f} | "
                  f"{int((scores < 0.7).sum())} of {scores.size} |", flush=True)
        print(f"<!-- {label}: {time.time() - started:.0f} s -->", flush=True)


if __name__ == "__main__":
    main()
