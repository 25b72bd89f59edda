"""Print the projector's speed and memory at the sizes the modules use (not a test; run by hand).

    .venv/bin/python Testing/benchmarks/benchmark_projector.py [--device cpu|cuda] [--repeats 5]
"""

import argparse
import resource
import time

import numpy as np
import torch

from ReconCoreLib.projector import BeamToPatient, ConeBeamProjector, ViewGeometry, gridPointsLps, lpsToGridMatrix
from ReconCoreLib.xraygeometry import CArmGeometry

CASES = {
    # name: (volume size, voxel mm, image rows/cols, samples per ray, views, reduction)
    "angio 64^3 -> 2 x 128^2, K=128, max": (64, 2.0, 128, 128, 2, "max"),
    "femur 96^3 -> 2 x 128^2, K=160, integral": (96, 1.5, 128, 160, 2, "integral"),
}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    print(f"torch {torch.__version__}, device {args.device}, threads {torch.get_num_threads()}")
    for name, (size, voxel, pixels, samples, views, reduction) in CASES.items():
        shape = (size, size, size)
        ijkToLps = np.diag([voxel, voxel, voxel, 1.0])
        ijkToLps[:3, 3] = -(size - 1) / 2 * voxel
        volume = torch.rand(views, 1, *shape, device=args.device, requires_grad=True)
        geometries = [CArmGeometry(30, 20, 1000, 750, (0.8, 0.8), pixels, pixels),
                      CArmGeometry(-30, -25, 1000, 750, (0.8, 0.8), pixels, pixels)][:views]
        rays = ViewGeometry.fromCArm(geometries, radiusMm=size * voxel * 0.87, device=args.device)
        lpsToGrid = torch.as_tensor(lpsToGridMatrix(ijkToLps, shape), dtype=torch.float32,
                                    device=args.device)[None].repeat(views, 1, 1)
        projector = ConeBeamProjector(pixels, pixels, samples, reduction).to(args.device)
        points = gridPointsLps(ijkToLps, shape).to(args.device)[None].repeat(views, 1, 1, 1, 1)
        timings = {"forward": [], "forward+backward": [], "inv-ProST": []}
        for _ in range(args.repeats):
            started = time.perf_counter()
            with torch.no_grad():
                projector(volume, lpsToGrid, *rays.tensors())
            timings["forward"].append(time.perf_counter() - started)
            started = time.perf_counter()
            projector(volume, lpsToGrid, *rays.tensors()).sum().backward()
            timings["forward+backward"].append(time.perf_counter() - started)
            with torch.no_grad():
                beam = projector.beamVolume(volume, lpsToGrid, *rays.tensors())
                started = time.perf_counter()
                BeamToPatient()(beam, points, *rays.tensors())
            timings["inv-ProST"].append(time.perf_counter() - started)
        figures = ", ".join(f"{key} {1000 * np.median(value):.0f} ms" for key, value in timings.items())
        print(f"{name}: {figures} (median of {args.repeats})")
    print(f"peak resident memory {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
