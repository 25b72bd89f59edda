"""Print the speed of the training-data generators (not a test; run by hand).

    .venv/bin/python Testing/benchmarks/benchmark_generators.py [--repeats 5]

Figures (median wall-clock and CPU seconds of this process): a coronary tree voxelized into the 64^3 cube and
projected as a 128 x 128 vessel map (AngioReconDev; targets 1.5 s and 0.3 s), one echo training case (a heart, its
six jittered views, label and echo images at ED and ES; EchoReconDev; target 3 s CPU, ~0.4-0.55 s on one core) and
one femur phantom (FemurRegistrationDev). These targets were wall-clock assertions in the tests, which a loaded
machine made flaky; they are measured here instead.
"""

import argparse
import statistics
import time

import numpy as np


def seconds(function, repeats):
    """(median wall-clock seconds, median CPU seconds of this process) of ``repeats`` calls."""
    wall, cpu = [], []
    for _ in range(repeats):
        started, startedCpu = time.perf_counter(), time.process_time()
        function()
        wall.append(time.perf_counter() - started)
        cpu.append(time.process_time() - startedCpu)
    return statistics.median(wall), statistics.median(cpu)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    from AngioReconDev import coronaryimages, coronarytree
    from EchoReconDev.echosim import makeCase
    from EchoReconLib.template import HeartTemplate
    from FemurRegistrationDev import phantom

    tree = coronarytree.generateCase(0, "left")
    geometry = coronaryimages.sampleViewPair("left", np.random.default_rng(0))[0]
    template = HeartTemplate.load()
    rows = [("coronary tree voxelized (64^3)", lambda: coronaryimages.voxelize(tree), 1.5),
            ("coronary vessel map (128 x 128)", lambda: coronaryimages.renderVesselMap(tree, geometry), 0.3),
            ("echo training case (6 views, ED + ES)", lambda: makeCase(7, template=template), 3.0),
            ("femur phantom (1 mm box)", lambda: phantom.makeCase(0), None)]
    for name, function, target in rows:
        function()  # warm-up: caches, first calls
        wall, cpu = seconds(function, args.repeats)
        goal = f"; target {target:g} s" if target is not None else ""
        print(f"{name}: {wall:.3f} s wall, {cpu:.3f} s CPU (median of {args.repeats}){goal}")


if __name__ == "__main__":
    main()
