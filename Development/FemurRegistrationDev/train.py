"""Train, evaluate and export the FemurRegistration network (one command; see the model card).

    python -m FemurRegistrationDev.train --work runs/femur --minutes 60          # or: make train-femur
    python -m FemurRegistrationDev.train --work runs/femur --evaluate-only --cases 200
    torchrun --nproc_per_node=4 -m FemurRegistrationDev.train --work runs/femur  # several GPUs

Loss (Van Houtte et al. eq. 6): ``-NCC(V o T, V^f) - NCC(V o Psi, V^f) + 0.01 smooth(phi)`` on the 2 mm
femur-only volumes (MONAI local NCC, MONAI diffusion regularizer on the velocity), plus two terms the paper
does not have, because it trains 300 epochs on a GPU and we train about two hours on a CPU:

- a Dice term on the warped atlas label (weight :data:`DICE_WEIGHT`);
- a surface-correspondence term (weight :data:`VERTEX_WEIGHT`): the phantoms come from a shape model, so
  every case vertex has a known atlas vertex. It is the mean distance (per :data:`VERTEX_SCALE_MM`) between
  ``T(p)`` and the atlas vertex (similarity alone; the vertices outside the box, shaft and condyles, count a
  quarter),
  and, for the vertices inside the crop box, between ``T(p + u(p))`` and the atlas vertex and between the
  inverse map of the atlas vertex and ``p``. The local module gets a dense, smooth signal instead of NCC on
  random trabecular texture, and the hip landmarks (moved by the inverse map) are trained directly.

Cases come from the cache that ``dataset`` fills (a generator process can run beside training); the run's
bookkeeping (checkpoints, resume, cosine learning rate, log, export checked after saving) is the shared harness,
:mod:`ReconCoreDev.training`; ``--init`` starts from another run's weights.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from FemurRegistrationLib import transforms
from FemurRegistrationLib.conventions import FIELD_SPACING_MM, NETWORK_SPACING_MM
from FemurRegistrationLib.drr import downsample
from FemurRegistrationLib.grid import boxGrid
from FemurRegistrationLib.atlasfile import defaultAtlasPath, loadAtlas
from ReconCoreDev.training import TrainingRun, addRunArguments, exportTorchScript
from ReconCoreLib.projector import gridPointsLps, lpsToGridMatrix

from . import dataset, network
from .atlas import buildNetwork, writeAtlas
from .evaluate import MODEL_PATH, evaluateModel, summaryPath, writeCardFromSummaries

SMOOTHNESS_WEIGHT, DICE_WEIGHT, VERTEX_WEIGHT, VERTEX_SCALE_MM = 0.01, 1.0, 1.0, 5.0
#: Weight of the vertices outside the crop box (distal shaft, condyles) in the similarity's term.
OUTSIDE_BOX_WEIGHT = 0.25


class Losses(torch.nn.Module):
    def __init__(self, model: network.FemurRegistrationNet, atlasVerticesLps: np.ndarray):
        super().__init__()
        from monai.losses import DiceLoss, DiffusionLoss, LocalNormalizedCrossCorrelationLoss

        self.ncc = LocalNormalizedCrossCorrelationLoss(spatial_dims=3, kernel_size=7)
        self.smooth = DiffusionLoss()
        self.dice = DiceLoss(reduction="mean")
        ijkToLps, shape = boxGrid(NETWORK_SPACING_MM)
        self.register_buffer("points", gridPointsLps(ijkToLps, shape)[None])
        fieldIjkToLps, fieldShape = boxGrid(FIELD_SPACING_MM)
        self.register_buffer("fieldLpsToGrid", torch.as_tensor(lpsToGridMatrix(fieldIjkToLps, fieldShape),
                                                               dtype=torch.float32)[None])
        self.register_buffer("atlasVertices", torch.as_tensor(np.asarray(atlasVerticesLps, np.float32))[None])

    def vertexTerms(self, affine, displacement, inverse, fieldLpsToGrid, vertices, inside) -> dict:
        """Mean distances (mm) of the correspondence term; see the module docstring."""
        atlasVertices = self.atlasVertices.expand(vertices.shape[0], -1, -1)

        def meanDistance(moved, target, weights):
            distance = torch.sqrt(((moved - target) ** 2).sum(-1) + 1e-6)
            return (distance * weights).sum() / weights.sum().clamp_min(1.0)

        everywhere = inside + OUTSIDE_BOX_WEIGHT * (1.0 - inside)
        forward = transforms.patientToAtlas(vertices, affine, displacement, fieldLpsToGrid)
        backward = transforms.atlasToPatient(atlasVertices, affine, inverse, fieldLpsToGrid)
        return {"mm_affine": meanDistance(transforms.transformPoints(affine, vertices), atlasVertices, everywhere),
                "mm": meanDistance(forward, atlasVertices, inside), "mm_inverse": meanDistance(backward, vertices, inside)}

    def forward(self, model, trainer, atlasLabel, batch):
        """``trainer`` runs ``model.register`` (through DistributedDataParallel under torchrun)."""
        affine, velocity = trainer(batch["images"], batch["masks"], batch["views"])
        displacement = model.velocityToMm(model.integrate(velocity))
        inverse = model.velocityToMm(model.integrate(-velocity))
        size = affine.shape[0]
        points = self.points.expand(size, -1, -1, -1, -1)
        fieldLpsToGrid = self.fieldLpsToGrid.expand(size, 4, 4)
        atlasLpsToGrid = model.atlasLpsToGrid.expand(size, 4, 4)
        atlas = model.atlas.expand(size, -1, -1, -1, -1)
        affineOnly = transforms.warpVolume(atlas, atlasLpsToGrid, points, affine, None, fieldLpsToGrid)
        warped = transforms.warpVolume(atlas, atlasLpsToGrid, points, affine, displacement, fieldLpsToGrid)
        warpedLabel = transforms.warpVolume(atlasLabel.expand(size, -1, -1, -1, -1), atlasLpsToGrid, points, affine,
                                         displacement, fieldLpsToGrid)
        target = batch["target"]
        terms = {"ncc_affine": self.ncc(affineOnly, target), "ncc": self.ncc(warped, target),
                 "smooth": self.smooth(velocity), "dice": self.dice(warpedLabel, batch["targetLabel"]),
                 **self.vertexTerms(affine, displacement, inverse, fieldLpsToGrid, batch["vertices"],
                                    batch["vertexInside"])}
        total = terms["ncc_affine"] + terms["ncc"] + SMOOTHNESS_WEIGHT * terms["smooth"] + DICE_WEIGHT * terms["dice"]
        total = total + VERTEX_WEIGHT / VERTEX_SCALE_MM * (terms["mm_affine"] + terms["mm"] + terms["mm_inverse"])
        return total, {key: float(value.detach()) for key, value in terms.items()}


class RegisterStep(torch.nn.Module):
    """``model.register`` as a module's forward, so DistributedDataParallel can wrap the training step."""

    def __init__(self, model: network.FemurRegistrationNet):
        super().__init__()
        self.model = model

    def forward(self, images, masks, views):
        return self.model.register(images, masks, views)


def collate(samples, device) -> dict:
    keys = ("images", "masks", "views", "vertices", "vertexInside")
    batch = {key: torch.as_tensor(np.stack([sample[key] for sample in samples]), device=device) for key in keys}
    for key in ("target", "targetLabel"):
        batch[key] = torch.as_tensor(np.stack([sample[key] for sample in samples]), device=device)[:, None]
    return batch


def cachedSeeds(work: Path, held: bool = False) -> list[int]:
    seeds = [int(path.stem) for path in (work / "cases").glob("*.npz") if not path.name.endswith(".tmp.npz")]
    return sorted(seed for seed in seeds if (seed >= dataset.HELD_OUT_SEED_OFFSET) == held)


def train(arguments) -> bool:
    """Train in ``arguments.work`` for ``arguments.minutes``; True on the main rank (which wrote the checkpoint)."""
    run = TrainingRun(arguments.work, arguments.minutes, arguments.device, arguments.threads)
    device = run.device
    atlas = loadAtlas() if defaultAtlasPath().exists() else writeAtlas(defaultAtlasPath())
    model = buildNetwork(atlas).to(device)
    atlasLabel = torch.as_tensor(downsample(atlas["label"]), device=device)[None, None]
    losses = Losses(model, atlas["verticesLps"]).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=arguments.learning_rate)
    if not run.resume({"model": model, "optimizer": optimizer}) and arguments.init is not None:
        model.load_state_dict(torch.load(arguments.init, map_location=device, weights_only=False)["model"])
        run.state["init"] = str(arguments.init)
        print(f"started from the weights of {arguments.init}", flush=True)
    trainer = RegisterStep(model)
    if run.distributed:
        trainer = torch.nn.parallel.DistributedDataParallel(trainer)
    rng = np.random.default_rng([run.rank, run.step, 11])
    cache: dict[int, dict] = {}
    seeds = run.waitFor(lambda: cachedSeeds(run.work), "waiting for cached cases ...", 10.0)
    for fraction in run.steps():
        if (run.step - 1) % 25 == 0:  # cases written by the generator beside
            seeds = cachedSeeds(run.work)
        samples = []
        for seed in rng.choice(seeds, arguments.batch):
            if int(seed) not in cache:
                cache[int(seed)] = dataset.loadOrMakeCase(int(seed), run.work)
            samples.append(dataset.trainingSample(cache[int(seed)], rng))
        run.cosineRate(optimizer, arguments.learning_rate, fraction)
        total, terms = losses(model, trainer, atlasLabel, collate(samples, device))
        optimizer.zero_grad()
        total.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        optimizer.step()
        if run.step % 20 == 0:
            run.log({"cases": len(seeds), **{key: round(value, 4) for key, value in terms.items()}})
    return run.finish()


def export(work: Path, output: Path = MODEL_PATH) -> Path:
    """Trace the trained network to TorchScript, checked (once saved) against eager on a second geometry."""
    model = buildNetwork(loadAtlas())
    model.load_state_dict(torch.load(work / "checkpoint.pt", map_location="cpu", weights_only=False)["model"])
    model.eval()
    rng = np.random.default_rng(5)
    examples = []
    for setting in ("orthogonal", "generalized"):
        case = dataset.loadOrMakeCase(dataset.HELD_OUT_SEED_OFFSET, work)
        geometries = dataset.viewGeometries(setting, rng)
        images, masks = dataset.simulateRadiographs(case["hu"], case["label"], case["ijkToLps"], geometries, rng)
        examples.append(tuple(torch.as_tensor(np.asarray(array, np.float32))[None] for array in
                              (images, masks, transforms.viewParameters(geometries))))
    import warnings

    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)  # MONAI Warp's shape checks: constant here
        traced = torch.jit.trace(model, examples[0], check_trace=False)
    return exportTorchScript(traced, output, model, examples[1])


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description="Train / evaluate / export the FemurRegistration network.")
    addRunArguments(parser, "runs/femur", 60.0, MODEL_PATH, threads=2)
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--learning-rate", type=float, default=5e-4)
    parser.add_argument("--init", type=Path, default=None, help="checkpoint whose weights start a new run")
    parser.add_argument("--cases", type=int, default=200, help="held-out cases to evaluate")
    parser.add_argument("--evaluate-only", action="store_true")
    parser.add_argument("--no-export", action="store_true")
    parser.add_argument("--processes", type=int, default=2, help="evaluation worker processes")
    arguments = parser.parse_args(argv)
    arguments.work.mkdir(parents=True, exist_ok=True)
    if not arguments.evaluate_only and not train(arguments):
        return  # not the main rank
    if not arguments.no_export:
        export(arguments.work, arguments.export)
    if arguments.cases > 0:
        summary = evaluateModel(arguments.export, arguments.cases, arguments.work, processes=arguments.processes)
        summaryPath(arguments.work).write_text(json.dumps(summary, indent=2))
        writeCardFromSummaries(arguments.work, arguments, arguments.export)


if __name__ == "__main__":
    main()
