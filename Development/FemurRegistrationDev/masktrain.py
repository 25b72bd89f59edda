"""Train and export the femur mask network (:mod:`FemurRegistrationLib.femurmask`; card ``FemurMask.md``).

    python -m FemurRegistrationDev.maskdata --work runs/femur-masks --cases 500     # the training radiographs
    python -m FemurRegistrationDev.masktrain --work runs/femur-masks --minutes 35   # or: make train-femur-mask

A 2D MONAI U-Net (:func:`buildNetwork`) on the radiographs of :mod:`.maskdata`: random crops of :data:`CROP` pixels
(2 mm; a radiograph smaller than that is padded), mirrored left-right at random, each normalised as the run does
(:func:`~FemurRegistrationLib.femurmask.normalise`), then a random contrast and offset, a smooth random additive
field (uneven soft tissue) and Gaussian noise; Dice + cross-entropy (MONAI ``DiceCELoss``). The radiographs' own
exposure draws (photons, gamma, blur) are the registration network's training ranges. Exported traced, half
weights (:func:`ReconCoreDev.training.exportTorchScript`), checked on a radiograph of another size.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from FemurRegistrationLib.femurmask import MODEL_NAME, normalise
from ReconCoreDev.training import TrainingRun, addRunArguments, exportTorchScript, sourceModelPath

from .maskdata import loadShards

CROP, BATCH, RATE = 160, 8, 2e-3
CONTRAST, OFFSET, FIELD, NOISE = (0.7, 1.3), 0.2, 0.25, 0.05
MODEL_PATH = sourceModelPath("FemurRegistration").with_name(MODEL_NAME)


def buildNetwork() -> torch.nn.Module:
    from monai.networks.nets import UNet

    return UNet(spatial_dims=2, in_channels=1, out_channels=1, channels=(16, 32, 64, 128, 256),
                strides=(2, 2, 2, 2), num_res_units=2, norm="instance")


def _smoothField(rng: np.random.Generator, shape) -> np.ndarray:
    """A smooth random field of amplitude up to :data:`FIELD` (a 4 x 4 grid of draws, bilinear)."""
    from scipy.ndimage import zoom

    coarse = rng.uniform(-1.0, 1.0, (4, 4)) * rng.uniform(0.0, FIELD)
    return zoom(coarse, (shape[0] / 4, shape[1] / 4), order=1)[:shape[0], :shape[1]]


def sample(image: np.ndarray, mask: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """One augmented (image, mask) crop of :data:`CROP` x :data:`CROP`."""
    image = normalise(image)
    padded = [max(CROP, count) for count in image.shape]
    canvas, target = np.full(padded, image.min(), np.float32), np.zeros(padded, np.float32)
    canvas[:image.shape[0], :image.shape[1]], target[:mask.shape[0], :mask.shape[1]] = image, mask
    row, column = (int(rng.integers(0, count - CROP + 1)) for count in padded)
    crop, cropMask = canvas[row:row + CROP, column:column + CROP], target[row:row + CROP, column:column + CROP]
    if rng.random() < 0.5:
        crop, cropMask = crop[:, ::-1], cropMask[:, ::-1]
    crop = crop * rng.uniform(*CONTRAST) + rng.uniform(-OFFSET, OFFSET) + _smoothField(rng, crop.shape)
    crop = crop + rng.normal(0.0, rng.uniform(0.0, NOISE), crop.shape)
    return crop.astype(np.float32), np.ascontiguousarray(cropMask)


def main(argv=None) -> None:
    from monai.losses import DiceCELoss

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    addRunArguments(parser, "runs/femur-masks", 35.0, MODEL_PATH, threads=2)
    parser.add_argument("--seed", type=int, default=0)
    arguments = parser.parse_args(argv)
    images, masks = loadShards(arguments.work)
    if not images:
        raise SystemExit(f"no training radiographs in {arguments.work}: run FemurRegistrationDev.maskdata first")
    print(f"{len(images)} radiographs", flush=True)
    torch.manual_seed(arguments.seed)
    rng = np.random.default_rng(arguments.seed)
    run = TrainingRun(arguments.work, arguments.minutes, arguments.device, arguments.threads)
    model = buildNetwork().to(run.device)
    optimizer = torch.optim.Adam(model.parameters(), lr=RATE)
    run.resume({"model": model, "optimizer": optimizer}, radiographs=len(images))
    loss = DiceCELoss(sigmoid=True)
    total = 0.0
    for fraction in run.steps():
        run.cosineRate(optimizer, RATE, fraction)
        picks = rng.integers(0, len(images), BATCH)
        pairs = [sample(images[index].astype(np.float32), masks[index], rng) for index in picks]
        batch = torch.from_numpy(np.stack([pair[0] for pair in pairs]))[:, None].to(run.device)
        target = torch.from_numpy(np.stack([pair[1] for pair in pairs]))[:, None].to(run.device)
        value = loss(model(batch), target)
        optimizer.zero_grad()
        value.backward()
        optimizer.step()
        total += value.item()
        if run.step % 50 == 0:
            run.log({"loss": round(total / 50, 4)})
            total = 0.0
    if run.finish():
        model = model.cpu().eval()
        example, other = torch.rand(1, 1, 192, 192), torch.rand(1, 1, 224, 176)
        with torch.no_grad():
            traced = torch.jit.trace(model, example)
        exportTorchScript(traced, arguments.export, model, (other,), tolerance=2e-2, halfWeights=True)


if __name__ == "__main__":
    main()
