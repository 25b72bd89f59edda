"""Print how far each module's result moves when the same field of view comes at other pixel counts (not a test; run
by hand). The tests (test_angio_units.py, test_femur_gates.py, test_echo_gates.py) assert thresholds; this prints the
figures behind them.

    .venv/bin/python Testing/benchmarks/resolution_invariance.py [--sizes 256 512 1024 2048]

AngioRecon: both views of each sample resampled (Lanczos when shrinking, bicubic when growing, the geometry scaled to
match), reconstructed, and the 3D Dice of the result against the native-size result and against the true labels
(on the isocenter's cube: each run puts its cube on the tree it finds).
EchoRecon: EchoNormal's twelve views split into N x N pixels of 1/N the spacing; EDV, ESV and EF against the native.
"""

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def angio(sizes) -> None:
    from angiohelpers import onIsocenterCube
    from AngioReconLib import pipeline
    from AngioReconLib.samples import SAMPLES, sampleFiles
    from ReconCoreLib.xrayio import readXrayImage
    from test_angio_units import dice, resampled

    for name, tree in SAMPLES.items():
        views = [readXrayImage(sampleFiles(name)[key], 1) for key in ("view1", "view2")]
        native = pipeline.reconstruct(views[0], views[1], tree, "cpu")
        import SimpleITK as sitk

        truth = sitk.GetArrayFromImage(sitk.ReadImage(str(sampleFiles(name)["label"]))) > 0  # the isocenter's cube
        nativeOnCube = onIsocenterCube(native.probability, native.cubeCentreLps)  # each cube goes on the tree it finds
        print(f"{name} native {views[0].pixels.shape[0]} px: Dice vs truth {dice(nativeOnCube, truth):.3f}")
        for size in sizes:
            result = pipeline.reconstruct(resampled(views[0], size), resampled(views[1], size), tree, "cpu")
            onCube = onIsocenterCube(result.probability, result.cubeCentreLps)
            shift = abs(result.cubeCentreLps - native.cubeCentreLps).max()
            print(f"  {size:5d} px: 3D Dice vs native {dice(onCube, nativeOnCube):.3f}, vs truth "
                  f"{dice(onCube, truth):.3f} (cube {shift:.0f} mm from the native run's)")


def echo(sizes) -> None:
    from EchoReconLib import echoio, pipeline, samples
    from test_echo_gates import upsampled

    files = samples.sampleFiles("EchoNormal")
    phases = [{view: echoio.readEchoImage(path) for view, path in files[phase].items()} for phase in ("ED", "ES")]
    native = pipeline.reconstruct(*phases, "cpu").readouts.values
    print(f"EchoNormal native 128 px: EDV {native['lv_edv_ml']:.1f} mL, ESV {native['lv_esv_ml']:.1f} mL, "
          f"EF {native['lv_ef_percent']:.1f} %")
    for size in sizes:
        factor = size // 128
        values = pipeline.reconstruct(*({view: upsampled(image, factor) for view, image in phase.items()}
                                        for phase in phases), "cpu").readouts.values
        print(f"  {size:5d} px: EDV {values['lv_edv_ml']:.1f} mL, ESV {values['lv_esv_ml']:.1f} mL, "
              f"EF {values['lv_ef_percent']:.1f} %")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512, 1024, 2048])
    args = parser.parse_args()
    import torch

    torch.set_num_threads(2)
    angio(args.sizes)
    echo(args.sizes)


if __name__ == "__main__":
    main()
