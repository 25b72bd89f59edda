"""Train, evaluate and export the AngioRecon generator (one command; see the model card).

    python -m AngioReconDev.train --work runs/angio --minutes 60          # or: make train-angio
    torchrun --nproc_per_node=4 -m AngioReconDev.train --work runs/angio  # several GPUs

Losses (Wang et al.): 3D full supervision (binary cross-entropy + Dice to the voxel label), 2D weak
supervision (the output re-projected through the shared cone-beam projector, max along each ray, against
the clean vessel silhouette of each view), and a Wasserstein adversarial term with gradient penalty from a
3D critic. Training data is generated (:mod:`dataset`) and cached under ``--work``; the run's bookkeeping
(checkpoints, resume, log, export) is the shared harness, :mod:`ReconCoreDev.training`.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from AngioReconLib.conventions import IMAGE_SIZE
from AngioReconLib.reprojection import Reprojector
from ReconCoreDev.training import (TrainingRun, addRunArguments, exportTorchScript, modelFileLine, sourceModelPath,
                                  writeModelCard)

from . import dataset
from .network import AngioCritic, AngioGenerator

WEIGHT_3D, WEIGHT_2D, WEIGHT_ADVERSARIAL, GRADIENT_PENALTY = 1.0, 0.5, 0.001, 10.0
#: The adversarial term joins after this fraction of the time budget, once the supervised losses have shaped
#: the output (with it from the start, the critic's scores grew into the thousands and the 3D loss stalled).
ADVERSARIAL_START = 0.25
SAMPLES_PER_RAY = 64
MODEL_PATH = sourceModelPath("AngioRecon")


def gradientPenalty(critic, real, fake):
    alpha = torch.rand(real.shape[0], 1, 1, 1, 1, device=real.device)
    mixed = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
    gradients = torch.autograd.grad(critic(mixed).sum(), mixed, create_graph=True)[0]
    return ((gradients.flatten(1).norm(dim=1) - 1) ** 2).mean()


def batchOf(data, indices, pairs, device):
    """Tensors of samples ``indices``, view pair ``pairs``: inputs, targets, projections, labels, geometries, trees."""
    take = (indices, pairs)
    inputs = torch.as_tensor(data["inputs"][take].astype(np.float32), device=device)
    targets = torch.as_tensor(data["targets"][take].astype(np.float32), device=device)
    projections = torch.as_tensor(data["projections"][take], device=device)
    labels = torch.as_tensor(data["label"][indices].astype(np.float32), device=device)[:, None]
    geometries = [dataset.geometryFromRow(row) for row in data["geometries"][take].reshape(-1, 6)]
    trees = torch.as_tensor(data["tree"][indices].astype(np.float32), device=device)
    return inputs, targets, projections, labels, geometries, trees


def evaluate(generator, data, device, limit=None) -> dict:
    """Held-out figures: 3D Dice and per-view re-projection Dice of the model and of the visual hull baseline.

    Uses the pipeline's own checks (:func:`pipeline.visualHull`, :func:`pipeline.reprojectionDice`), so the
    model card reports exactly what a user's readouts compute; re-projection is against the clean silhouettes.
    """
    from ReconCoreLib.metrics import overlapMetrics

    from AngioReconLib.reprojection import reprojectionDice, visualHull

    rows = {"dice_3d": [], "reprojection_dice": [], "hull_dice_3d": [], "hull_reprojection_dice": []}
    count = len(data["label"]) if limit is None else min(limit, len(data["label"]))
    generator.eval()
    with torch.no_grad():
        for index in range(count):
            inputs, targets, projections, labels, geometries, trees = batchOf(data, [index], [0], device)
            occupancy = generator(inputs, projections, trees)[0, 0].cpu().numpy()
            hull = visualHull(inputs[0].cpu().numpy(), geometries)
            label = labels[0, 0].cpu().numpy() > 0.5
            for key, volume in (("", occupancy), ("hull_", hull)):
                rows[key + "dice_3d"].append(overlapMetrics(volume >= 0.5, label)["dice"])
                rows[key + "reprojection_dice"] += reprojectionDice(volume, targets[0].cpu().numpy(), geometries)
    generator.train()
    return {key: float(np.mean(values)) for key, values in rows.items()} | {"cases": count}


def main(argv=None):
    parser = argparse.ArgumentParser(description="Train the AngioRecon generator")
    addRunArguments(parser, "runs/angio", 60.0, MODEL_PATH)
    parser.add_argument("--cases", type=int, default=1500, help="training trees")
    parser.add_argument("--held-out-cases", type=int, default=100)
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--lr", type=float, default=5e-4)
    parser.add_argument("--critic-every", type=int, default=2, help="generator steps per critic step")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=2, help="processes generating the data")
    args = parser.parse_args(argv)

    from monai.losses import DiceLoss

    run = TrainingRun(args.work, args.minutes, args.device, args.threads)
    device = run.device
    torch.manual_seed(args.seed + run.rank)
    work = run.work
    trainPath, heldOutPath = work / f"train-{args.cases}.npz", work / f"heldout-{args.held_out_cases}.npz"
    if run.isMain:
        for path, count, offset in ((trainPath, args.cases, 0),
                                    (heldOutPath, args.held_out_cases, dataset.HELD_OUT_SEED_OFFSET)):
            if not path.exists():
                started = time.time()
                dataset.buildDataset(list(range(offset, offset + count)), path, args.workers)
                print(f"generated {path} in {time.time() - started:.0f} s", flush=True)
    run.barrier()
    train, heldOut = dataset.loadDataset(trainPath), dataset.loadDataset(heldOutPath)

    generator, critic = AngioGenerator().to(device), AngioCritic().to(device)
    reprojector = Reprojector(SAMPLES_PER_RAY).to(device)
    optimizerG = torch.optim.Adam(generator.parameters(), lr=args.lr, betas=(0.5, 0.9))
    optimizerD = torch.optim.Adam(critic.parameters(), lr=args.lr, betas=(0.5, 0.9))
    run.resume({"generator": generator, "critic": critic, "optimizerG": optimizerG, "optimizerD": optimizerD})
    trainG, trainD = generator, critic
    if run.distributed:
        trainG = torch.nn.parallel.DistributedDataParallel(generator)
        trainD = torch.nn.parallel.DistributedDataParallel(critic)
    dice = DiceLoss(smooth_nr=1.0, smooth_dr=1.0)
    bce = torch.nn.BCELoss()
    rng = np.random.default_rng(args.seed + 1000 * run.rank + run.step)
    pairsPerCase = train["inputs"].shape[1]
    for fraction in run.steps():  # constant learning rate (Adam, as the paper)
        indices = rng.integers(0, len(train["label"]), args.batch)
        pairs = rng.integers(0, pairsPerCase, args.batch)
        inputs, targets, projections, labels, geometries, trees = batchOf(train, indices, pairs, device)
        fake = trainG(inputs, projections, trees)
        if (run.step - 1) % args.critic_every == 0:
            optimizerD.zero_grad()
            lossD = trainD(fake.detach()).mean() - trainD(labels).mean() \
                + GRADIENT_PENALTY * gradientPenalty(trainD, labels, fake.detach())
            lossD.backward()
            optimizerD.step()
        optimizerG.zero_grad()
        loss3d = bce(fake, labels) + dice(fake, labels)
        silhouettes = reprojector(fake.repeat_interleave(2, 0), geometries).reshape(args.batch, 2, IMAGE_SIZE,
                                                                                     IMAGE_SIZE)
        loss2d = bce(silhouettes.clamp(1e-6, 1 - 1e-6), targets)
        adversarialOn = fraction > ADVERSARIAL_START
        lossAdversarial = -trainD(fake).mean() if adversarialOn else torch.zeros((), device=fake.device)
        loss = WEIGHT_3D * loss3d + WEIGHT_2D * loss2d + WEIGHT_ADVERSARIAL * lossAdversarial
        loss.backward()
        optimizerG.step()
        if run.step % 25 == 0:
            run.log({"loss3d": round(loss3d.item(), 4), "loss2d": round(loss2d.item(), 4),
                     "adversarial": round(lossAdversarial.item(), 4)})
    if not run.finish():
        return
    metrics = evaluate(generator, heldOut, device)
    metrics.update(steps=run.step, minutes=round(run.state["seconds"] / 60, 1), device=device,
                   batch=args.batch, training_cases=args.cases, torch=torch.__version__)
    (work / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    print(json.dumps(metrics, indent=2), flush=True)
    exported = export(generator.cpu(), Path(args.export), heldOut)
    writeModelCard(exported.with_suffix(".md"), modelCard(metrics, exported, args))


def export(generator: AngioGenerator, path: Path, data: dict) -> Path:
    """Script the generator and save it as TorchScript at ``path``, checked on a held-out case once saved."""
    generator.eval()
    inputs, _, projections, _, _, trees = batchOf(data, [0], [0], "cpu")
    return exportTorchScript(torch.jit.script(generator), path, generator, (inputs, projections, trees))


def modelCard(metrics: dict, modelPath: Path, args) -> str:
    """The model card (``AngioRecon.md``) with the figures measured on the held-out trees."""
    parameters = sum(parameter.numel() for parameter in AngioGenerator().parameters())
    return CARD_TEMPLATE.format(
        fileLine=modelFileLine(modelPath, parameters), args=args,
        lastTrain=args.cases - 1, adversarialStart=ADVERSARIAL_START,
        heldOutStart=dataset.HELD_OUT_SEED_OFFSET, heldOutEnd=dataset.HELD_OUT_SEED_OFFSET + args.held_out_cases - 1,
        threshold=dataset.LABEL_THRESHOLD, pairs=dataset.VIEW_PAIRS_PER_CASE, m=metrics,
        weights=(WEIGHT_3D, WEIGHT_2D, WEIGHT_ADVERSARIAL, GRADIENT_PENALTY))


CARD_TEMPLATE = """# AngioRecon generator: model card

{fileLine}
Written by `python -m AngioReconDev.train` (`make train-angio`); this card is written by the same run.

## What it does
Input: two vessel maps (128 x 128, values 0-1, as displayed: vessels bright), the two views' 3x4 projection
matrices (patient LPS mm -> pixel of the 128 x 128 map, from DICOM positioner angles and distances through
`ReconCoreLib.xraygeometry`), and the tree (0 left, 1 right). Output: occupancy probability of a 64^3 cube,
side 128 mm (2 mm voxels), axis-aligned in LPS, in training centred at the C-arm isocenter with the views' field
142 mm there; the pipeline centres it on the tree found in both views, resamples each vessel map onto a detector
about that centre with that field (`AngioReconLib/placement.py`, `vessels.networkMap`) and places the result in
Slicer's RAS.

Architecture after Wang et al. (generator Fig. 2, critic Fig. 3): a 2D encoder per view (shared weights),
fusion by back-projecting each view's features along its rays into the cube (every voxel reads the pixel it
projects to through that view's matrix), the soft visual hull (product of the back-projected maps) and the
tree as extra channels, and a MONAI 3D U-Net decoder with a sigmoid. Because the geometry enters as the
projection matrices, one model serves any angle pair and any source distances, and the fusion is exactly
the imaging geometry rather than something the network must learn; the decoder learns to keep the true
vessels and remove the visual hull's ghost intersections. The critic (3D strided convolutions) is used in
training only.

## Training data (generated; nothing is committed)
`AngioReconDev.coronarytree` (deterministic by seed; anatomy, ranges and their sources are documented
in `AngioReconDev.coronaryanatomy`) -> `AngioReconDev.dataset`: trees with seeds 0-{lastTrain} (two thirds
left, one third right), each
augmented as in the paper (rotation 5-15 deg, scale 3-10 %), voxelized (label: partial-volume occupancy >=
{threshold}), seen from {pairs} random pairs of standard clinical views (left: RAO 30/CAU 25, LAO 45/CRA 25,
AP/CRA 30, LAO 50/CAU 30; right: LAO 30, RAO 30, LAO 30/CRA 20; +-8 deg jitter; SID 900-1200 mm, SOD 700-800
mm) at least 30 deg apart. Network inputs are imperfect vessel maps (small branches missed, blur, noise,
threshold-like contrast, sometimes a catheter); 2D targets are the exact silhouettes.

## Training
Command: `make train-angio MINUTES={args.minutes:g}` (= `python -m AngioReconDev.train --work runs/angio
--cases {args.cases} --held-out-cases {args.held_out_cases} --minutes {args.minutes:g}`; resumes from
`runs/angio/checkpoint.pt`; `torchrun --nproc_per_node=N -m AngioReconDev.train ...` for several GPUs).
Losses: {weights[0]} x (BCE + Dice) to the voxel label (3D full supervision) + {weights[1]} x BCE between the
re-projected output (shared cone-beam projector, max along each ray) and the view silhouettes (2D weak
supervision) + {weights[2]} x Wasserstein adversarial term (from {adversarialStart:.0%} of the run on); critic
with gradient penalty {weights[3]}.
Adam (lr {args.lr}, betas 0.5/0.9), batch {args.batch}, seed {args.seed}.
Run: {m[steps]} generator steps in {m[minutes]} min on `{m[device]}` (torch {m[torch]}).

## Held-out evaluation
{m[cases]} held-out trees (seeds {heldOutStart}-{heldOutEnd}, never seen in training), first view pair each,
imperfect input maps, threshold 0.5 on the output:

| | this model | visual hull baseline |
|---|---|---|
| 3D Dice to the voxel label | {m[dice_3d]:.3f} | {m[hull_dice_3d]:.3f} |
| re-projection Dice to the clean silhouettes (mean of both views) | {m[reprojection_dice]:.3f} | {m[hull_reprojection_dice]:.3f} |

## Limits
Trained and evaluated on synthetic trees and synthetic vessel maps only: it has not been validated on real
angiograms. 2 mm voxels cannot resolve lumens below ~1.5 mm or grade stenoses; the segmentation shows where
vessels run. The cube goes on the tree wherever the views put it (a heart within +-40 mm of the isocenter is
evaluated); a tree larger than the 128 mm cube is cut. CPU training was limited to {args.minutes:g} minutes; longer
training (e.g. on a GPU) is one command with a larger `--minutes`.
"""


if __name__ == "__main__":
    main()
