"""Screenshots of each module's result on its bundled sample data (Extensions Index, README): the ``summary.png`` that
every run writes (:mod:`ReconCoreLib.summaryimage` and each module's ``summary.py``), copied from a demo run.

Development only: no runtime file imports this. Regenerate all three pictures from the repository root::

    .venv/bin/python -m ReconCoreDev.screenshots --out Resources/Screenshots    # runs `recon2d3d demo` first
    .venv/bin/python -m ReconCoreDev.screenshots --out Resources/Screenshots --demo /tmp/shots-demo  # reuses a run
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

#: Screenshot file -> the demo case whose summary.png it is (demo subfolder, case).
SCREENSHOT_CASES = {"AngioRecon.png": ("angio", "AngioLeft"), "EchoRecon.png": ("echo", "EchoNormal"),
                    "FemurRegistration.png": ("femur", "FemurOrthogonal")}


def copyScreenshots(demo: Path, out: Path) -> list[Path]:
    """Copy the summary pictures of :data:`SCREENSHOT_CASES` from a ``recon2d3d demo --out DEMO`` folder to ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, (command, case) in SCREENSHOT_CASES.items():
        source = demo / command / case / "summary.png"
        if not source.is_file():
            raise FileNotFoundError(f"{source}: no summary picture (was the demo run with every model bundled?)")
        written.append(Path(shutil.copyfile(source, out / name)))
    return written


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("Resources/Screenshots"), help="folder for the PNGs")
    parser.add_argument("--demo", type=Path, help="an existing `recon2d3d demo --out` folder (default: run one)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as scratch:
        demo = args.demo
        if demo is None:
            demo = Path(scratch) / "demo"
            subprocess.run([str(Path(sys.executable).with_name("recon2d3d")), "demo", "--out", str(demo),
                            "--device", "cpu", "--quiet"], check=True, stdout=subprocess.DEVNULL)
        for path in copyScreenshots(demo, args.out):
            print(f"{path} ({path.stat().st_size // 1024} KB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
