"""Training radiographs for the femur mask network (:mod:`FemurRegistrationLib.femurmask`): phantoms of the training
seeds, anywhere in the field, AP and lateral, on the network's grid.

    python -m FemurRegistrationDev.maskdata --work runs/femur-masks --cases 500

Each case is :func:`.positions.movedCase` of a training seed (0, 1, ...; the held-out splits start at 1,000,000): the
femur moved anywhere within +-80 mm (x, z) and +-40 mm (y) of the isocenter, half of them left femurs, with the
pelvis the phantom holds; SID 1000-1100 mm (the isocenter 75 mm from the detector; the out-of-distribution split's
SID starts at 1150), detector pixels 0.4-0.8 mm over a 360-420 mm field; photons, gamma and blur as the registration
network's training draws them. Both views go onto the mask network's grid (:data:`~FemurRegistrationLib.femurmask.
MASK_PIXEL_MM` detector pixels, area means; the mask is the pixels at least half femur) and are written in shards of
:data:`SHARD_CASES` cases (``shard-00000.npz``: ``images`` float16 and ``masks`` uint8, lists of arrays of varied
size). A shard already written is kept, so the command resumes.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from FemurRegistrationLib.femurmask import gridShape
from ReconCoreLib.resample import areaAverage

from .positions import movedCase

SHARD_CASES = 25
SID_RANGE_MM, ISOCENTER_TO_DETECTOR_MM = (1000.0, 1100.0), 75.0
PIXEL_MM_RANGE, FIELD_MM_RANGE = (0.4, 0.8), (360.0, 420.0)


def acquisition(seed: int) -> dict:
    """The SID, SOD and detector of ``seed``'s case."""
    rng = np.random.default_rng([seed, 17])
    sid = float(rng.uniform(*SID_RANGE_MM))
    pixelMm = float(rng.uniform(*PIXEL_MM_RANGE))
    return {"sourceToDetectorMm": sid, "sourceToPatientMm": sid - ISOCENTER_TO_DETECTOR_MM,
            "pixelMm": pixelMm, "pixels": int(round(rng.uniform(*FIELD_MM_RANGE) / pixelMm))}


def gridCase(seed: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """(images, masks) of ``seed``'s two views on the mask network's grid."""
    case = movedCase(seed, **acquisition(seed))
    images, masks = [], []
    for view, mask in zip(case["views"], case["masks"]):
        shape = gridShape(view.pixels.shape, view.geometry.pixelSpacingMm)
        images.append(areaAverage(view.pixels, *shape).astype(np.float16))
        masks.append((areaAverage(mask.astype(np.float32), *shape) >= 0.5).astype(np.uint8))
    return images, masks


def writeShards(work: Path, cases: int, first: int = 0) -> None:
    work.mkdir(parents=True, exist_ok=True)
    for start in range(first, first + cases, SHARD_CASES):
        path = work / f"shard-{start:05d}.npz"
        if path.exists():
            continue
        images, masks = [], []
        for seed in range(start, min(start + SHARD_CASES, first + cases)):
            caseImages, caseMasks = gridCase(seed)
            images += caseImages
            masks += caseMasks
        temporary = path.with_suffix(".tmp.npz")
        np.savez(temporary, images=np.array(images, dtype=object), masks=np.array(masks, dtype=object))
        temporary.replace(path)
        print(f"{path.name}: {len(images)} images", flush=True)


def loadShards(work: Path) -> tuple[list[np.ndarray], list[np.ndarray]]:
    images, masks = [], []
    for path in sorted(Path(work).glob("shard-*[0-9].npz")):
        with np.load(path, allow_pickle=True) as shard:
            images += list(shard["images"])
            masks += list(shard["masks"])
    return images, masks


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("runs/femur-masks"))
    parser.add_argument("--cases", type=int, default=500)
    parser.add_argument("--first", type=int, default=0, help="the first seed (a second process can fill another part)")
    arguments = parser.parse_args(argv)
    writeShards(arguments.work, arguments.cases, arguments.first)


if __name__ == "__main__":
    main()
