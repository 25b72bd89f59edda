"""Print FemurRegistration's speed and memory on a bundled sample case (not a test; run by hand).

    .venv/bin/python Testing/benchmarks/benchmark_femur.py [--model PATH] [--device cpu|cuda|all] [--repeats 3]
                                                           [--threads 2] [--refine]

Figures: model load (TorchScript, cold), network inference, the registration without writing (masks, virtual
detector, network, atlas warp, checks, outlines, hip measurements), and end to end from the two DICOM files to the
written outputs and ``scene.mrb`` (the entry's ``runCase``, no reference); peak resident memory of this process
(``resource.getrusage``, includes the Python, torch and Slicer libraries). Targets: < 5 s and < 4 GB on 2 CPU cores.
The model is the bundled one; without it, ``--model`` (e.g. an untrained network traced for development).
"""

import argparse
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch


def seconds(function, repeats):
    timings, result = [], None
    for _ in range(repeats):
        started = time.perf_counter()
        result = function()
        timings.append(time.perf_counter() - started)
    return statistics.median(timings), result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, help="TorchScript model (default: the bundled one)")
    parser.add_argument("--device", default="all", choices=("all", "cpu", "cuda"))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2, help="CPU threads for torch (the target machine has 2)")
    parser.add_argument("--case", default="FemurOrthogonal")
    parser.add_argument("--refine", action="store_true", help="also time the test-time refinement")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from FemurRegistrationLib import inference, pipeline, refine
    from FemurRegistrationLib.entry import FemurCase
    from FemurRegistrationLib.radiographs import prepareInputs, resolveSide
    from FemurRegistrationLib.samples import sampleFiles
    from FemurRegistrationLib.transforms import viewParameters
    from ReconCoreLib import models
    from ReconCoreLib.xrayio import readMaskImage, readXrayImage

    modelPath = args.model or models.findBundledModel("FemurRegistration")
    if modelPath is None:
        sys.exit("no bundled FemurRegistration model: give --model")
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else []) if args.device == "all" else [args.device]
    files = sampleFiles(args.case)
    print(f"torch {torch.__version__}, {args.threads} CPU threads, model {modelPath}, case {args.case}")
    for device in devices:
        models._LOADED.clear()
        load, model = seconds(lambda: models.ModelFile(modelPath).load(device), 1)
        views = [readXrayImage(files[key]) for key in ("ap", "lat")]
        masks = [readMaskImage(files[key]) for key in ("apMask", "latMask")]
        side = resolveSide(None, [files["ap"]])
        prepared, _, _ = prepareInputs(*views, *masks, side)
        inputs = (np.stack([view.image for view in prepared]), np.stack([view.mask for view in prepared]),
                  viewParameters([view.geometry for view in prepared]))
        inference.register(model, *inputs, device)  # warm-up
        if device == "cuda":
            torch.cuda.synchronize()
        network, _ = seconds(lambda: inference.register(model, *inputs, device), args.repeats)
        registration, result = seconds(lambda: pipeline.registerFemur(*views, *masks, side, device,
                                                                      modelPath=modelPath), args.repeats)

        def endToEnd():
            with tempfile.TemporaryDirectory() as directory:
                return pipeline.runCase(FemurCase(files["ap"], files["lat"], files["apMask"], files["latMask"]),
                                        Path(directory), device, modelPath=modelPath)

        total, readouts = seconds(endToEnd, args.repeats)
        print(f"{device}: model load {load:.2f} s, network inference {network:.2f} s, registration {registration:.2f} s, "
              f"end to end (DICOM -> outputs + .mrb) {total:.2f} s (median of {args.repeats})")
        if args.refine:
            refined, result = seconds(lambda: pipeline.registerFemur(*views, *masks, side, device, refine=True,
                                                                     modelPath=modelPath), 1)
            print(f"{device}: registration with --refine {refined:.2f} s (refine_s "
                  f"{result.readouts.values['refine_s']:.2f} s, {refine.REFINE_STEPS} steps)")
        if device == "cuda":
            print(f"cuda: peak GPU memory {torch.cuda.max_memory_allocated() / 2 ** 20:.0f} MB")
    print(f"peak resident memory {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
