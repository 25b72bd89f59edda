"""Print what FemurRegistration costs at growing radiograph sizes (not a test; run by hand, or import
:func:`femurSizeBenchmark`).

    .venv/bin/python Testing/benchmarks/femur_sizes.py [--sizes 512 1024 2048 3000] [--masks given proposed]
                                                       [--repeats 1] [--refine] [--library DIR] [--json FILE]

FemurOrthogonal is written at each size into a temporary folder: the same 205 mm field, pixels interpolated
bilinearly, ImagerPixelSpacing scaled by 512 / size, the masks upsampled (``femurhelpers.upsampledSample``). Each
case runs as ``recon2d3d femur`` in a fresh process (cold: Python, torch and Slicer start every time; the files are
in the page cache: one untimed run first) with the sample's reference segmentation, with the given masks or without
them (proposed). Columns: wall-clock seconds of the whole process, its CPU seconds (user + system: steadier than the
wall clock on a shared machine; both the median of ``--repeats`` runs), peak resident memory (``os.wait4``: that
process alone, the largest of the repeats), the size of ``scene.mrb``, and readouts
(Dice against the reference, NCC of each view, femur volume, head diameter, neck-shaft angle). Targets (issue 17,
2 cores): a 3000 px pair within 1.5 s of the 512 px one, peak memory <= 1.5 GB.

``--library DIR`` runs another FemurRegistrationLib (``DIR/FemurRegistrationLib``, e.g. the committed one exported
with ``git show``) for before / after figures.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

READOUTS = ("dice", "ncc_ap", "ncc_lat", "femur_volume_mm3", "head_diameter_mm", "neck_shaft_angle_deg")


def runFemur(arguments, out: Path, library=None) -> dict:
    """Run ``recon2d3d femur`` with ``arguments`` into ``out`` in a fresh process: wall and CPU seconds, peak memory
    (MB), .mrb size (MB), the readouts and the return code."""
    env = dict(os.environ)
    if library:
        env["PYTHONPATH"] = os.pathsep.join([str(library)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    command = [sys.executable, "-m", "ReconCoreLib.cli", "femur", *map(str, arguments), "--device", "cpu",
               "--quiet", "--out", str(out)]
    with tempfile.TemporaryFile() as errors:
        started = time.perf_counter()
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=errors, env=env)
        _, status, usage = os.wait4(process.pid, 0)  # this child's own resource use
        wall = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        errors.seek(0)
        message = errors.read().decode(errors="replace").strip()
    row = {"wall_s": wall, "cpu_s": usage.ru_utime + usage.ru_stime, "peak_mb": usage.ru_maxrss / 1024.0,
           "returncode": process.returncode}
    if process.returncode != 0:
        row["error"] = message.splitlines()[-1] if message else f"exit {process.returncode}"
        return row
    row["mrb_mb"] = (out / "scene.mrb").stat().st_size / 1e6
    readouts = json.loads((out / "readouts.json").read_text())
    row.update({key: readouts.get(key) for key in READOUTS})
    return row


def femurSizeBenchmark(sizes=(512, 1024, 2048, 3000), masks=("given", "proposed"), refine: bool = False,
                       library=None, repeats: int = 1) -> list[dict]:
    """One row per (size, masks): ``size`` (px), ``masks`` ('given' or 'proposed'), ``wall_s``, ``cpu_s`` (medians of
    ``repeats`` runs), ``peak_mb`` (the largest), ``mrb_mb``, ``returncode`` and the readouts of :data:`READOUTS` (see
    the module docstring)."""
    import statistics

    from femurhelpers import upsampledSample

    rows = []
    with tempfile.TemporaryDirectory(prefix="femur-sizes-") as folder:
        folder = Path(folder)
        cases = []
        for size in sizes:
            files = upsampledSample(folder / f"{size}", size)
            for mode in masks:
                arguments = [files["ap"], files["lat"], "--reference", files["reference"]]
                if mode == "given":
                    arguments += ["--ap-mask", files["apMask"], "--lat-mask", files["latMask"]]
                if refine:
                    arguments.append("--refine")
                cases.append((size, mode, arguments))
        if cases:
            runFemur(cases[0][2], folder / "warm-up", library)  # libraries and model into the page cache
        for size, mode, arguments in cases:
            runs = [runFemur(arguments, folder / f"{size}-{mode}-{index}", library) for index in range(repeats)]
            row = {"size": size, "masks": mode, **runs[-1]}
            row["wall_s"] = statistics.median(run["wall_s"] for run in runs)
            row["cpu_s"] = statistics.median(run["cpu_s"] for run in runs)
            row["peak_mb"] = max(run["peak_mb"] for run in runs)
            rows.append(row)
    return rows


def printTable(rows) -> None:
    header = (f"{'size':>5} {'masks':>8} {'wall s':>7} {'cpu s':>6} {'peak MB':>8} {'mrb MB':>7} {'Dice':>6} "
              f"{'NCC AP':>7} {'NCC lat':>7} {'volume mm3':>10} {'head mm':>7} {'NSA deg':>7}")
    print(header)
    for row in rows:
        line = (f"{row['size']:>5} {row['masks']:>8} {row['wall_s']:7.2f} {row['cpu_s']:6.2f} "
                f"{row['peak_mb']:8.0f}")
        if row["returncode"] != 0:
            print(f"{line}  failed: {row['error']}")
            continue
        print(f"{line} {row['mrb_mb']:7.1f} {row['dice']:6.3f} {row['ncc_ap']:7.3f} {row['ncc_lat']:7.3f} "
              f"{row['femur_volume_mm3']:10.0f} {row['head_diameter_mm']:7.2f} {row['neck_shaft_angle_deg']:7.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[512, 1024, 2048, 3000])
    parser.add_argument("--masks", nargs="+", choices=("given", "proposed"), default=["given", "proposed"])
    parser.add_argument("--repeats", type=int, default=1, help="runs per case (medians of the times)")
    parser.add_argument("--refine", action="store_true", help="with the test-time refinement")
    parser.add_argument("--library", type=Path, help="folder holding another FemurRegistrationLib to run")
    parser.add_argument("--json", type=Path, help="also write the rows as JSON")
    args = parser.parse_args()
    rows = femurSizeBenchmark(args.sizes, args.masks, args.refine, args.library, args.repeats)
    printTable(rows)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
