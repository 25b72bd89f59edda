"""Training and evaluation data for EchoRecon, generated (there are no paired echo / 3D heart data here).

One patient = :func:`EchoReconDev.echosim.makeCase` (deterministic by seed): a heart sampled from the template
population (:mod:`heartshapes`), six jittered standard views, simulated B-mode images and label slices at
end-diastole and end-systole. One training sample is one phase of one patient: its six images, their label
images (the 2D segmentation target) and the vertices (the 3D target, template numbering).

The cache is a folder of shards (``<prefix>-<first seed>.npz``, :data:`SHARD_SIZE` patients each; images
stored as uint8, 1/255 steps) written once and read by training and evaluation; a missing shard is generated,
an existing one is reused, so an interrupted generation resumes.

Seeds: training uses seeds from 0, held-out evaluation seeds from :data:`HELD_OUT_SEED_OFFSET`, so the two never
share a patient.

    python -m EchoReconDev.dataset --work runs/echo --cases 2000            # training shards
    python -m EchoReconDev.dataset --work runs/echo --cases 200 --held-out  # held-out shards
    python -m EchoReconDev.dataset --work runs/echo-varied --cases 2000 --acquisition varied

``--acquisition`` (:func:`~.echosim.makeCase`): ``standard`` (one geometry, one renderer: the first model's data),
``varied`` (acquisitions as scanners vary them: :mod:`~.acquisition`) or ``ood`` (the out-of-distribution split);
one cache folder holds one kind.
"""

from __future__ import annotations

import argparse
import multiprocessing
import time
from pathlib import Path

import numpy as np

HELD_OUT_SEED_OFFSET = 1_000_000
SHARD_SIZE = 50
PHENOTYPES = ("normal", "reduced", "dilated", "hypertrophic")
TRAIN_PREFIX, HELD_OUT_PREFIX = "train", "heldout"


def makeSample(seed: int, acquisition: str = "standard") -> dict:
    """Compact arrays of one patient (both phases), deterministic by ``seed`` and ``acquisition`` (see
    :func:`~.echosim.makeCase`)."""
    from .echosim import makeCase

    case = makeCase(int(seed), acquisition=acquisition)
    return {
        "seed": np.int64(seed),
        "phenotype": np.int8(PHENOTYPES.index(case["phenotype"]) if case["phenotype"] in PHENOTYPES else -1),
        "images": np.round(np.clip(case["images"], 0.0, 1.0) * 255.0).astype(np.uint8),  # [2, 6, H, W]
        "labels": case["labels"].astype(np.uint8),  # [2, 6, H, W]
        "vertices": np.stack([case["verticesEd"], case["verticesEs"]]).astype(np.float32),  # [2, V, 3]
        "volumesMl": np.array([case["edvMl"], case["esvMl"]], np.float32),  # LV cavity at ED, ES
        "efPercent": np.float32(case["efPercent"]),
        "planes": case["planes"].astype(np.float32),  # [6, 4, 3]
        "pixelSpacingMm": case["pixelSpacingMm"].astype(np.float32),  # [6]
    }


def shardPath(folder: Path, prefix: str, first: int) -> Path:
    return Path(folder) / f"{prefix}-{first:07d}.npz"


def _writeShard(job) -> str:
    folder, prefix, seeds, acquisition = job
    path = shardPath(folder, prefix, seeds[0])
    if path.exists():
        return str(path)
    samples = [makeSample(seed, acquisition) for seed in seeds]
    arrays = {key: np.stack([sample[key] for sample in samples]) for key in samples[0]}
    temporary = path.with_suffix(".partial.npz")
    np.savez_compressed(temporary, **arrays)
    temporary.replace(path)
    return str(path)


def buildShards(seeds: list[int], folder: str | Path, prefix: str, workers: int = 1, progress=None,
                acquisition: str = "standard") -> list[Path]:
    """Generate (or reuse) the shards of ``seeds`` in ``folder``; returns their paths. One folder holds one
    ``acquisition`` (:func:`~.echosim.makeCase`): ``folder/acquisition.txt`` says which, and another is refused."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    checkAcquisition(folder, acquisition)
    jobs = [(folder, prefix, list(seeds[start:start + SHARD_SIZE]), acquisition)
            for start in range(0, len(seeds), SHARD_SIZE)]
    paths = []
    if workers <= 1:
        results = map(_writeShard, jobs)
    else:
        pool = multiprocessing.get_context("spawn").Pool(workers)
        results = pool.imap(_writeShard, jobs)
    for index, path in enumerate(results):
        paths.append(Path(path))
        if progress is not None:
            progress((index + 1) / len(jobs), f"{min((index + 1) * SHARD_SIZE, len(seeds))}/{len(seeds)} patients")
    if workers > 1:
        pool.close()
    return paths


def checkAcquisition(folder: Path, acquisition: str) -> None:
    """Record the acquisition of a cache folder, or refuse shards of another one in it (a folder without the record
    holds standard shards, as written before there was a choice)."""
    record = Path(folder) / "acquisition.txt"
    present = record.read_text().strip() if record.exists() else (
        "standard" if availableShards(folder, TRAIN_PREFIX) or availableShards(folder, HELD_OUT_PREFIX) else None)
    if present is not None and present != acquisition:
        raise ValueError(f"{folder} holds {present!r} shards; use another --work for {acquisition!r}")
    record.write_text(acquisition + "\n")


def availableShards(folder: str | Path, prefix: str) -> list[Path]:
    return sorted(path for path in Path(folder).glob(f"{prefix}-*.npz") if not path.name.endswith(".partial.npz"))


def loadShards(paths: list[Path]) -> dict:
    """The shards' arrays concatenated along the patient axis."""
    parts = []
    for path in paths:
        with np.load(path) as data:
            parts.append({key: data[key] for key in data.files})
    if not parts:
        raise FileNotFoundError("no cached EchoRecon shards (run python -m EchoReconDev.dataset first)")
    return {key: np.concatenate([part[key] for part in parts]) for key in parts[0]}


def augmentImages(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Intensity augmentation of float images [..., 6, H, W] in [0, 1] (per view: gamma 0.75-1.33, gain
    0.85-1.15, a little noise); zeros (outside the sector) stay zero."""
    shape = images.shape[:-2] + (1, 1)
    gamma = np.exp(rng.uniform(np.log(0.75), np.log(1.33), shape))
    gain = rng.uniform(0.85, 1.15, shape)
    noisy = gain * images ** gamma + rng.normal(0.0, 0.02, images.shape) * (images > 0)
    return np.clip(noisy, 0.0, 1.0).astype(np.float32)


def batchArrays(data: dict, patients: np.ndarray, phases: np.ndarray, rng: np.random.Generator | None = None) -> dict:
    """A batch (numpy) of samples (patient index, phase 0 ED / 1 ES): ``images`` float32 [B, 6, H, W] (augmented
    when ``rng`` is given), ``labels`` int64 [B, 6, H, W], ``vertices`` float32 [B, V, 3], ``volumesMl`` [B]."""
    images = data["images"][patients, phases].astype(np.float32) / 255.0
    if rng is not None:
        images = augmentImages(images, rng)
    return {"images": images, "labels": data["labels"][patients, phases].astype(np.int64),
            "vertices": data["vertices"][patients, phases], "volumesMl": data["volumesMl"][patients, phases]}


def main(argv=None):
    parser = argparse.ArgumentParser(description="Generate EchoRecon training / held-out shards")
    parser.add_argument("--work", default="runs/echo", help="cache folder")
    parser.add_argument("--cases", type=int, default=2000, help="patients")
    parser.add_argument("--held-out", action="store_true", help="use the held-out seed range")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--acquisition", default="standard", choices=("standard", "varied", "ood"),
                        help="how the views are acquired and rendered (EchoReconDev.echosim.makeCase)")
    args = parser.parse_args(argv)
    offset, prefix = (HELD_OUT_SEED_OFFSET, HELD_OUT_PREFIX) if args.held_out else (0, TRAIN_PREFIX)
    started = time.time()

    def progress(fraction, text):
        print(f"{text} ({time.time() - started:.0f} s)", flush=True)

    buildShards(list(range(offset, offset + args.cases)), args.work, prefix, args.workers, progress, args.acquisition)


if __name__ == "__main__":
    main()
