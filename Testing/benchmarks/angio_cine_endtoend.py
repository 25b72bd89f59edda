"""Print how long AngioRecon takes from two 512 px XA cines to a Slicer scene (.mrb), end to end on this machine's CPU
(not a test; run by hand). The issue's target: <= 30 s on 2 CPU cores (QAngio XA 3D: 4-5 min per vessel).

    .venv/bin/python Testing/benchmarks/angio_cine_endtoend.py [--frames 60] [--size 512] [--repeats 2]

The cines are ``cine_frames.writeCinePair``'s (a synthetic left tree, RAO 30 / CAU 25 and LAO 45 / CRA 25, contrast
washing in and out, heart motion, 12-bit frames as a C-arm stores them; 60 frames: 4 s at 15 frames/s). Each run is
the command a user types (``recon2d3d angio view1.dcm view2.dcm --tree left --out ...``) in a fresh process, so its
wall time holds Python's start-up, the imports, the model's load, the frame choice, the reconstruction (occupancy,
centerlines, QCA) and every output written (volumes, segmentation, models, tables, DICOM SEG and SR, summary picture,
scene.mrb).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from cine_frames import writeCinePair  # noqa: E402


def endToEnd(frames: int = 60, size: int = 512, repeats: int = 2) -> list[float]:
    """Wall times (s) of ``repeats`` fresh-process runs on one written cine pair."""
    with tempfile.TemporaryDirectory() as directory:
        paths = writeCinePair(Path(directory), frames, size)
        times = []
        for repeat in range(repeats):
            out = Path(directory) / f"out{repeat}"
            started = time.perf_counter()
            subprocess.run([sys.executable, "-m", "ReconCoreLib.cli", "angio", *map(str, paths), "--tree", "left",
                            "--out", str(out)], check=True, capture_output=True)
            times.append(time.perf_counter() - started)
            if not (out / "scene.mrb").is_file():
                raise RuntimeError(f"no scene.mrb in {out}")
    return times


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    times = endToEnd(args.frames, args.size, args.repeats)
    print(f"two {args.size} px cines of {args.frames} frames -> scene.mrb, fresh process each: "
          + ", ".join(f"{value:.1f} s" for value in times) + " (target <= 30 s on 2 CPU cores)")


if __name__ == "__main__":
    main()
