"""Print EchoRecon's speed and memory on a bundled sample patient (not a test; run by hand).

    .venv/bin/python Testing/benchmarks/benchmark_echo.py [--model PATH] [--device cpu|cuda|all] [--repeats 3]
                                                          [--threads 2] [--patient EchoNormal]

Figures: model load (TorchScript, cold), network inference (ED and ES in one batch of 2), the reconstruction
without writing (reading checks, resampling, network, readouts incl. biplane Simpson's and the 12 view-plane cuts),
and end to end from the 12 PNG + JSON files to the written outputs and ``scene.mrb`` (the entry's ``runCase``: two
segmentations from the closed surfaces, 12 models, readouts); peak resident memory of this process
(``resource.getrusage``, includes the Python, torch and Slicer libraries) and, on CUDA, peak GPU memory.
Target: end to end < 2 s on 2 CPU cores. The model is the bundled one; without it, ``--model`` (e.g. an untrained
network exported for development with ``EchoReconDev.train.export``).
"""

import argparse
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch


def seconds(function, repeats):
    """(median wall-clock seconds, median CPU seconds of this process, last result) of ``repeats`` calls."""
    timings, cpu, result = [], [], None
    for _ in range(repeats):
        started, startedCpu = time.perf_counter(), time.process_time()
        result = function()
        timings.append(time.perf_counter() - started)
        cpu.append(time.process_time() - startedCpu)
    return statistics.median(timings), statistics.median(cpu), result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, help="TorchScript model (default: the bundled one)")
    parser.add_argument("--device", default="all", choices=("all", "cpu", "cuda"))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2, help="CPU threads for torch (the target machine has 2)")
    parser.add_argument("--patient", default="EchoNormal", choices=("EchoNormal", "EchoDilated"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    import vtk

    vtk.vtkObject.GlobalWarningDisplayOff()
    from EchoReconLib import outputs as echoOutputs
    from EchoReconLib import pipeline
    from EchoReconLib.conventions import VIEWS
    from EchoReconLib.entry import EchoCase
    from EchoReconLib.inputs import networkInput
    from EchoReconLib.samples import sampleFiles
    from ReconCoreLib import models, runtime

    modelPath = args.model or models.findBundledModel("EchoRecon")
    if modelPath is None:
        sys.exit("no bundled EchoRecon model: give --model")
    if args.model is not None:  # runCase looks the model up by name: point it at the given file
        models.findBundledModel = lambda name: Path(args.model) if name == "EchoRecon" else None
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else []) if args.device == "all" else [args.device]
    files = sampleFiles(args.patient)
    print(f"torch {torch.__version__}, {args.threads} CPU threads, model {modelPath}, patient {args.patient}, "
          f"load average {' '.join(f'{value:.1f}' for value in os.getloadavg())}")
    for device in devices:
        models._LOADED.clear()
        load, _, model = seconds(lambda: models.ModelFile(modelPath).load(device), 1)
        phases = {phase: pipeline.readPhase(paths) for phase, paths in files.items()}
        inputs = torch.as_tensor(np.stack([[networkInput(phases[phase][view], view) for view in VIEWS]
                                           for phase in ("ED", "ES")]), device=device)

        def infer():
            with torch.no_grad():
                output = model(inputs)
            if device == "cuda":
                torch.cuda.synchronize()
            return output

        infer()  # warm-up
        network, networkCpu, _ = seconds(infer, args.repeats)
        reconstruction, reconstructionCpu, result = seconds(lambda: pipeline.reconstruct(
            pipeline.readPhase(files["ED"]), pipeline.readPhase(files["ES"]), device, str(modelPath)), args.repeats)

        def outputs():
            scene = runtime.newHeadlessScene()
            try:
                with tempfile.TemporaryDirectory() as directory:
                    echoOutputs.writeOutputs(result, echoOutputs.addToScene(result, scene), scene, Path(directory))
            finally:
                runtime.releaseScene(scene)

        outputs()  # warm-up (first scene)
        writing, writingCpu, _ = seconds(outputs, args.repeats)

        def endToEnd():
            with tempfile.TemporaryDirectory() as directory:
                return pipeline.runCase(EchoCase(files["ED"], files["ES"]), Path(directory), device)

        total, totalCpu, readouts = seconds(endToEnd, args.repeats)
        print(f"{device} (median of {args.repeats}; wall s, CPU s of this process in brackets):\n"
              f"  model load {load:.2f}\n"
              f"  network inference, ED + ES in one batch {network:.3f} ({networkCpu:.3f})\n"
              f"  reconstruction: read 12 PNG, checks, resampling, network, readouts {reconstruction:.2f} "
              f"({reconstructionCpu:.2f})\n"
              f"  outputs: 12 models, 2 segmentations from the surfaces, table, written + scene.mrb {writing:.2f} "
              f"({writingCpu:.2f})\n"
              f"  end to end (runCase, 12 PNG -> every output) {total:.2f} ({totalCpu:.2f})\n"
              f"  EDV {readouts.values['lv_edv_ml']:.0f} mL, EF {readouts.values['lv_ef_percent']:.0f} %")
        if device == "cuda":
            print(f"cuda: peak GPU memory {torch.cuda.max_memory_allocated() / 2 ** 20:.0f} MB")
    print(f"peak resident memory {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
