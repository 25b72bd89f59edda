"""Print how long AngioRecon takes to read an X-ray angiography cine pair and choose its frames, before and after
issue 17, and whether the frames it chooses agree with the full-vesselness choice (not a test; run by hand).

    .venv/bin/python Testing/benchmarks/cine_frames.py [--frames 150] [--size 1024] [--no-before]

``cineBenchmark(frames=150, size=1024) -> dict`` gives the figures to another script; ``printCineBenchmark()``
prints them (Testing/benchmarks/run_all.py).

Builds, in a temporary folder, a pair of multi-frame DICOM XA cines of a synthetic left coronary tree
(AngioReconDev's tree; RAO 30 / CAU 25 and LAO 45 / CRA 25, the field of the bundled samples, so 1024 px are
0.139 mm at the isocenter; 10 s, so 15 frames/s at 150 frames): a static background (smooth tissue, spine,
diaphragm, ribs, the heart's shadow, a guiding catheter), contrast washing in from the ostium to the distal branches
and out again (a gamma-variate curve delayed 0.25 s per branching generation), the heart's motion (4 mm at
75 beats/min), detector blur and quantum noise, stored as 12-bit frames as a C-arm stores them (300 MB per file at
150 x 1024 px).

Then, each in a fresh Python process (so that the peak resident memory is that of the run alone, imports
included), both files are read: as the reader did before issue 17 (every frame decoded at once, the full
:func:`~AngioReconLib.vessels.vesselContrastScore` of every frame: this also gives the reference, the frame with the
best full vesselness), with ``AngioReconLib.vessels.readAngiogram`` choosing the frame, and with the chosen frame
given (what ``--frame`` costs). ``decode s`` is the time spent reading and decoding frames, ``choice s`` the time
spent scoring them (the reader's own split, logged at DEBUG by ``ReconCoreLib.xrayio``), ``total s`` the
wall-clock time of both reads. A chosen frame is sensible when its full score is within 95 % of the best frame's.

Measured (2026, 2 CPU cores shared with other work, 2 x 150 frames of 1024 px):

| read | decode s | choice s | total s | peak MB | frames |
|---|---|---|---|---|---|
| before: every frame's full vesselness | 0.94 | 15.47 | 16.56 | 769 | 59, 60 |
| after: frame chosen | 0.34 | 1.09 | 1.53 | 188 | 59, 57 |
| after: frame given (--frame) | 0.00 | 0.00 | 0.11 | 61 | 59, 57 |

The chosen frames' full scores: 100 % and 97.7 % of the best's (frames within 95 %: 59-62 and 57-67).
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

#: The cine pair: (primary, secondary, SID, SOD) of each view, as the AngioLeft sample's.
VIEWS = ((-30.0, -25.0, 1000.0, 750.0), (45.0, 25.0, 1050.0, 760.0))
#: Length of every run (s): 150 frames are 15 frames/s, fewer frames a lower frame rate over the same bolus.
DURATION_S = 10.0
HEART_PERIOD_S = 0.8
MOTION_MM = 4.0
#: Contrast arrival at the ostium (s), time from arrival to peak (s), gamma-variate shape, delay per generation (s).
ARRIVAL_S, RISE_S, SHAPE, DELAY_PER_GENERATION_S = 1.2, 2.5, 3.0, 0.25


def contrastCurve(seconds: np.ndarray | float, arrival: float) -> np.ndarray:
    """Iodine concentration (peak 1) of a bolus arriving at ``arrival`` s: a gamma variate peaking ``RISE_S`` later."""
    x = np.maximum(np.asarray(seconds, float) - arrival, 0.0) / RISE_S
    return np.where(x > 0, x ** SHAPE * np.exp(SHAPE * (1 - x)), 0.0)


def _background(rows: int, columns: int, rng: np.random.Generator) -> np.ndarray:
    """Attenuation (tau) of the anatomy that does not take up contrast, as AngioReconDev's renderAngiogram draws it."""
    from scipy import ndimage

    scaleRow, scaleColumn = np.meshgrid(np.linspace(-1, 1, rows), np.linspace(-1, 1, columns), indexing="ij")
    tau = np.full((rows, columns), 1.5)
    coarse = 128  # the smooth field drawn at 128 px, then enlarged (its structure is 6-16 px of 128)
    field = ndimage.gaussian_filter(rng.standard_normal((coarse, coarse)), 10.0)
    field = ndimage.zoom(field, (rows / coarse, columns / coarse), order=1)
    tau += 0.12 * field / max(field.std(), 1e-9)
    angle = math.radians(8.0)  # spine
    across = scaleColumn * math.cos(angle) - scaleRow * math.sin(angle) + 0.35
    tau += 0.3 / (1.0 + np.exp(-(0.18 - np.abs(across)) / 0.04))
    down = scaleRow * math.cos(0.2) + scaleColumn * math.sin(0.2)  # diaphragm
    tau += 0.5 / (1.0 + np.exp(-(down - (0.55 + 0.2 * scaleColumn ** 2)) / 0.05))
    along = scaleRow * math.cos(0.5) + scaleColumn * math.sin(0.5) + 0.3 * scaleColumn ** 2  # ribs
    tau += 0.05 * (0.5 + 0.5 * np.sin(2 * math.pi * along / 0.28 + 1.0)) ** 2
    heart = ((scaleRow - 0.05) / 0.75) ** 2 + ((scaleColumn + 0.1) / 0.6) ** 2  # the heart's shadow
    tau += 0.25 * np.sqrt(np.clip(1 - heart, 0, 1))
    return tau


def writeCine(path: Path, view: tuple, frames: int, size: int, seed: int, tree: str = "left",
              caseSeed: int = 2_000_001) -> Path:
    """One synthetic XA cine of ``frames`` frames of ``size`` x ``size`` pixels (see the module's docstring) of the
    coronary ``tree`` of AngioReconDev's case ``caseSeed``; ``seed`` draws the catheter, background and noise."""
    import pydicom
    from scipy import ndimage

    from AngioReconDev import coronaryimages, coronarytree
    from AngioReconLib.conventions import CUBE_SIDE_MM
    from ReconCoreLib.xraygeometry import CArmGeometry
    from ReconCoreLib.xrayio import saveDicom, writeXrayDicom

    primary, secondary, sid, sod = view
    fieldMm = coronaryimages.FIELD_OF_VIEW_FACTOR * CUBE_SIDE_MM * sid / sod
    geometry = CArmGeometry(primary, secondary, sid, sod, (fieldMm / size,) * 2, size, size)
    rng = np.random.default_rng(seed)
    case = coronarytree.generateCase(caseSeed, tree)
    catheter = coronaryimages._catheter(case, rng)
    vessels = [*case.vessels, catheter]
    points, radii, labels, tangents = coronaryimages._stack(vessels)
    chords = coronaryimages._splat(geometry, points, radii, labels, len(vessels), "chord", tangents)  # mm
    parents = {vessel.name: vessel.parent for vessel in case.vessels}

    def generation(name):
        return 0 if parents.get(name) is None else 1 + generation(parents[name])

    delays = [DELAY_PER_GENERATION_S * generation(vessel.name) for vessel in case.vessels]
    catheterTau = 0.04 * chords[-1]  # plastic, no contrast in it
    background = _background(size, size, rng)
    mu = 0.15  # diluted iodine, /mm
    photons = 400.0 * (256 / size) ** 2 * 4  # per background pixel: fewer in smaller pixels
    spacingIsocenter = geometry.pixelSpacingMm[0] / geometry.magnification
    amplitude = MOTION_MM / spacingIsocenter  # pixels
    low, high = -2.2, 0.6  # log-transmission window of the whole run (12 bits)
    stored = np.empty((frames, size, size), np.uint16)
    for index in range(frames):
        seconds = index * DURATION_S / frames
        vesselTau = sum(mu * float(contrastCurve(seconds, ARRIVAL_S + delay)) * chords[layer]
                        for layer, delay in enumerate(delays))
        phase = 2 * math.pi * seconds / HEART_PERIOD_S
        shift = (int(round(amplitude * math.sin(phase))), int(round(0.6 * amplitude * math.sin(phase + 1.0))))
        tau = background + np.roll(vesselTau + catheterTau, shift, axis=(0, 1))
        tau = ndimage.gaussian_filter(tau, 0.5)
        counts = rng.poisson(photons * np.exp(-(tau - 1.5)))
        logImage = np.log(np.maximum(counts, 0.5) / photons)
        stored[index] = np.round(np.clip((logImage - low) / (high - low), 0, 1) * 4095).astype(np.uint16)
    header = np.zeros((2, size, size))
    header[1] = high - low
    writeXrayDicom(path, header, geometry, "XA", patientName="Recon2Dto3D^Cine", patientId="CINE",
                   seriesDescription="synthetic left coronary cine", uidSeed=f"cine-{seed}", studySeed="cine")
    dataset = pydicom.dcmread(str(path))  # the header of a two-frame file, rescale low..high; the frames replaced
    dataset.NumberOfFrames = frames
    dataset.RescaleIntercept = f"{low:g}"
    dataset.PixelData = stored.tobytes()
    return saveDicom(dataset, path)


def writeCinePair(directory: Path, frames: int = 150, size: int = 1024) -> list[Path]:
    """Both views' cines in ``directory`` (view1.dcm, view2.dcm)."""
    return [writeCine(Path(directory) / f"view{index}.dcm", view, frames, size, seed=index)
            for index, view in enumerate(VIEWS, 1)]


_MEASURE = """
import json, logging, resource, sys, time

timings = []


class Keep(logging.Handler):
    def emit(self, record):
        timings.append(getattr(record, "timing", None) or {})


logger = logging.getLogger("ReconCoreLib.xrayio")
logger.addHandler(Keep())
logger.setLevel(logging.DEBUG)
from AngioReconLib.vessels import readAngiogram, vesselContrastScore
paths, frames, mode = json.loads(sys.argv[1]), json.loads(sys.argv[2]), sys.argv[3]
result = {"frames": [], "decode": 0.0, "choice": 0.0, "scores": []}
started = time.perf_counter()
if mode == "before":  # the reader before issue 17: every frame decoded at once, every frame's full vesselness
    import numpy as np
    import pydicom
    from ReconCoreLib.xrayio import readXrayGeometry

    for path in paths:
        begun = time.perf_counter()
        dataset = pydicom.dcmread(path)
        pixels = dataset.pixel_array
        slope, intercept = float(dataset.RescaleSlope), float(dataset.RescaleIntercept)
        result["decode"] += time.perf_counter() - begun
        begun = time.perf_counter()
        geometry = readXrayGeometry(path)
        scores = [vesselContrastScore(np.asarray(one, np.float32) * slope + intercept, geometry) for one in pixels]
        result["choice"] += time.perf_counter() - begun
        result["frames"].append(int(np.argmax(scores)))
        result["scores"].append([float(score) for score in scores])
        del dataset, pixels
else:
    views = [readAngiogram(path, frame) for path, frame in zip(paths, frames)]
    result["frames"] = [view.frameIndex for view in views]
    result["decode"] = sum(timing.get("decode", 0.0) for timing in timings)
    result["choice"] = sum(timing.get("choice", 0.0) for timing in timings)
result["total"] = time.perf_counter() - started
try:  # this process's own high-water mark (ru_maxrss would carry the parent's across fork and exec)
    with open("/proc/self/status") as status:
        result["peakMb"] = next(int(line.split()[1]) for line in status if line.startswith("VmHWM")) / 1024
except OSError:
    result["peakMb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps(result))
"""


def measureRead(paths: list[Path], frames: list, mode: str = "after") -> dict:
    """Read ``paths`` in a fresh process: with readAngiogram (``mode`` "after"; ``frames``: None = choose), or as the
    reader did before issue 17 (``mode`` "before": all frames decoded at once, each frame's full vesselness, which
    also gives the reference ``scores``). Returns the times (s), the frames read and the peak memory (MB)."""
    result = subprocess.run([sys.executable, "-c", _MEASURE, json.dumps([str(path) for path in paths]),
                             json.dumps(frames), mode], capture_output=True, text=True)
    if result.returncode:
        raise RuntimeError(f"the {mode} read failed:\n{result.stderr}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def cineBenchmark(frames: int = 150, size: int = 1024, before: bool = True) -> dict:
    """Build a cine pair of ``frames`` frames of ``size`` px and read it in fresh processes: as the reader did before
    issue 17 (with ``before``: the reference), choosing the frames, and with the chosen frames given.

    :returns: ``{"frames", "size", "writeSeconds", "before", "after", "explicit", "wholeRun"}``, each read a dict of
        ``total``,
        ``decode``, ``choice`` (s), ``peakMb``, ``frames`` (the frame read from each file); with ``before`` also
        ``"reference"`` (the frame of each file with the best full vesselness), ``"scorePercent"`` (the chosen
        frame's full score as a percentage of the best's) and ``"plateau"`` (the frames within 95 % of the best).
    """
    with tempfile.TemporaryDirectory(prefix="cine-frames-") as directory:
        started = time.perf_counter()
        paths = writeCinePair(Path(directory), frames, size)
        result = {"frames": frames, "size": size, "writeSeconds": time.perf_counter() - started}
        if before:
            result["before"] = measureRead(paths, [None, None], "before")
        result["after"] = measureRead(paths, [None, None])
        result["explicit"] = measureRead(paths, result["after"]["frames"])
        from run_all import coldRun  # the whole command on the pair (its peak memory its own, as run_all measures)

        run = coldRun(["angio", *map(str, paths), "--tree", "left"], Path(directory) / "out")
        result["wholeRun"] = {"wall": run["wall_s"], "peakMb": run["peak_mb"]}
    if before:
        scores = result["before"].pop("scores")
        result["reference"] = [int(np.argmax(values)) for values in scores]
        result["scorePercent"] = [100 * values[chosen] / max(values)
                                  for values, chosen in zip(scores, result["after"]["frames"])]
        result["plateau"] = [[index for index, value in enumerate(values) if value >= 0.95 * max(values)]
                             for values in scores]
    return result


def printTable(result: dict) -> None:
    """The benchmark's table (Markdown)."""
    names = {"before": "before: every frame's full vesselness", "after": "after: frame chosen",
             "explicit": "after: frame given (--frame)"}
    print(f"Cine pair: 2 x {result['frames']} frames of {result['size']} x {result['size']} px "
          f"(written in {result['writeSeconds']:.0f} s)\n")
    print("| read | decode s | choice s | total s | peak MB | frames |")
    print("|---|---|---|---|---|---|")
    for key, name in names.items():
        if key in result:
            row = result[key]
            print(f"| {name} | {row['decode']:.2f} | {row['choice']:.2f} | {row['total']:.2f} | {row['peakMb']:.0f} "
                  f"| {', '.join(str(frame) for frame in row['frames'])} |")
    print(f"\nThe whole `recon2d3d angio` run on the pair, frames chosen: {result['wholeRun']['wall']:.2f} s, peak "
          f"{result['wholeRun']['peakMb']:.0f} MB")
    if "reference" in result:
        print()
        for index, (chosen, best, percent, plateau) in enumerate(zip(result["after"]["frames"], result["reference"],
                                                                     result["scorePercent"], result["plateau"]), 1):
            print(f"view{index}: chosen frame {chosen}, best full vesselness frame {best}; the chosen frame's full "
                  f"score is {percent:.1f} % of the best's; frames within 95 %: {plateau}")
    print()


def printCineBenchmark(frames: int = 150, size: int = 1024, before: bool = True) -> None:
    """Run :func:`cineBenchmark` and print its table."""
    printTable(cineBenchmark(frames, size, before))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=150)
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--no-before", action="store_true",
                        help="skip the read as before issue 17 (every frame's full vesselness: the reference)")
    args = parser.parse_args()
    printCineBenchmark(args.frames, args.size, not args.no_before)


if __name__ == "__main__":
    main()
