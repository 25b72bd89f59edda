"""Train and export the EchoRecon network (S2MNet with a segmentation branch; see the model card).

    python -m EchoReconDev.train --work runs/echo --minutes 45                   # or: make train-echo
    torchrun --nproc_per_node=4 -m EchoReconDev.train --work runs/echo           # several GPUs

Data: the shard cache of :mod:`EchoReconDev.dataset` in ``--work`` (generated first when missing; shards that
appear while training runs are picked up). A batch holds ``--patients`` patients with both phases (ED, ES), so
the ejection fraction of each patient enters the loss.

Loss per batch:
``WEIGHT_VERTEX * vertex MSE (mm^2, squared distance per vertex)``
``+ WEIGHT_VOLUME * |relative LV cavity volume error|`` (divergence-theorem volume of the predicted LV cavity
surface, differentiable)
``+ WEIGHT_EF * |EF error|`` (fraction, from the predicted ED and ES volumes)
``+ WEIGHT_SEGMENTATION * (Dice + cross-entropy)`` of the 2D segmentation (MONAI ``DiceCELoss``, 7 labels, Dice
pooled over the batch: per image, the labels a view does not show (RA in A2C, ...) would each add a loss of ~1 that
no prediction can remove).
Adam, learning rate decayed with a cosine over the time budget to 5 %, gradient norm clipped at 5. The run's
bookkeeping (checkpoints every :data:`CHECKPOINT_SECONDS` with a quick validation, resume, log, export checked after
saving) is the shared harness, :mod:`ReconCoreDev.training`. At the end the model is exported as TorchScript
(:func:`export`); ``python -m EchoReconDev.evaluate`` measures it on held-out patients and writes the model card.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from EchoReconLib.conventions import IMAGE_SIZE, REQUIRED_VIEWS, STRUCTURES, VIEWS
from EchoReconLib.template import enclosedVolumeTensor
from ReconCoreDev.training import TrainingRun, addRunArguments, exportTorchScript, sourceModelPath

from . import dataset
from .network import NUM_CLASSES, EchoReconNet, buildNetwork, countParameters

WEIGHT_VERTEX, WEIGHT_VOLUME, WEIGHT_EF, WEIGHT_SEGMENTATION = 0.1, 10.0, 10.0, 2.0
DICE_OVER_BATCH = True
CHECKPOINT_SECONDS = 300
MODEL_PATH = sourceModelPath("EchoRecon")


class Losses(torch.nn.Module):
    """The training loss (module docstring) of predictions for a batch ordered [patient 0 ED, patient 0 ES, ...]."""

    def __init__(self, network: EchoReconNet):
        super().__init__()
        from monai.losses import DiceCELoss

        lv = network.structureOfTriangle == STRUCTURES.index("LV cavity")
        self.register_buffer("lvTriangles", network.templateTriangles[lv].long())
        self.register_buffer("templateVertices", network.templateVertices.clone())
        self.segmentation = DiceCELoss(to_onehot_y=True, softmax=True, batch=DICE_OVER_BATCH)

    def forward(self, displacement, logits, batch: dict):
        predicted = self.templateVertices + displacement
        truth = batch["vertices"]
        vertexMse = ((predicted - truth) ** 2).sum(dim=-1).mean()
        volume = enclosedVolumeTensor(predicted, self.lvTriangles) / 1000.0
        trueVolume = enclosedVolumeTensor(truth, self.lvTriangles) / 1000.0
        volumeError = ((volume - trueVolume) / trueVolume).abs().mean()
        ef = 1.0 - volume[1::2] / volume[0::2].clamp(min=1.0)
        trueEf = 1.0 - trueVolume[1::2] / trueVolume[0::2]
        efError = (ef - trueEf).abs().mean()
        size = logits.shape[-1]
        segmentation = self.segmentation(logits.reshape(-1, NUM_CLASSES, size, size),
                                         batch["labels"].reshape(-1, 1, size, size))
        total = (WEIGHT_VERTEX * vertexMse + WEIGHT_VOLUME * volumeError + WEIGHT_EF * efError
                 + WEIGHT_SEGMENTATION * segmentation)
        terms = {"vertex_mse_mm2": vertexMse, "volume_rel": volumeError, "ef_abs": efError,
                 "segmentation": segmentation}
        return total, {key: value.item() for key, value in terms.items()}


def toTensors(arrays: dict, device) -> dict:
    return {key: torch.as_tensor(value, device=device) for key, value in arrays.items()}


def dropViews(batch: dict, rng: np.random.Generator, probability: float) -> dict:
    """View dropout (in place, numpy batch ordered [p0 ED, p0 ES, ...]): with ``probability`` a patient keeps only
    the :data:`REQUIRED_VIEWS` and each other view with probability 0.5, for both phases (a study lacks a view in
    both). A dropped view is what the runtime gives the network for a view it was not given: a black image, and
    its label image is background."""
    optional = [index for index, view in enumerate(VIEWS) if view not in REQUIRED_VIEWS]
    for patient in range(len(batch["images"]) // 2):
        if rng.random() >= probability:
            continue
        dropped = [index for index in optional if rng.random() < 0.5]
        rows = slice(2 * patient, 2 * patient + 2)
        batch["images"][rows, dropped] = 0.0
        batch["labels"][rows, dropped] = 0
    return batch


def pairBatch(data: dict, patients: np.ndarray, rng=None) -> dict:
    """Both phases of each patient, ordered [p0 ED, p0 ES, p1 ED, ...]."""
    return dataset.batchArrays(data, np.repeat(patients, 2), np.tile([0, 1], len(patients)), rng)


@torch.no_grad()
def quickValidation(model: EchoReconNet, data: dict, patients: int, device) -> dict:
    """LV volume and EF errors and vertex MSE of the first ``patients`` held-out patients (training log only; the
    full evaluation is :mod:`EchoReconDev.evaluate`)."""
    was = model.training
    model.eval()
    lv = (model.structureOfTriangle == STRUCTURES.index("LV cavity"))
    triangles = model.templateTriangles[lv].long()
    volumeErrors, efErrors, mse = [], [], []
    for start in range(0, min(patients, len(data["seed"])), 4):
        indices = np.arange(start, min(start + 4, patients, len(data["seed"])))
        batch = toTensors(pairBatch(data, indices), device)
        displacement, _ = model(batch["images"])
        predicted = model.templateVertices + displacement
        volume = (enclosedVolumeTensor(predicted, triangles) / 1000.0).cpu().numpy()
        truth = batch["volumesMl"].cpu().numpy()
        volumeErrors += list(np.abs(volume - truth) / truth)
        efErrors += list(np.abs((1 - volume[1::2] / volume[0::2]) - (1 - truth[1::2] / truth[0::2])) * 100)
        mse.append(float(((predicted - batch["vertices"]) ** 2).sum(-1).mean()))
    model.train(was)
    return {"val_volume_median_rel": round(float(np.median(volumeErrors)), 4),
            "val_ef_mae": round(float(np.mean(efErrors)), 2), "val_vertex_mse_mm2": round(float(np.mean(mse)), 2)}


def ensureData(work: Path, cases: int, heldOutCases: int, workers: int, acquisition: str) -> None:
    for offset, count, prefix in ((0, cases, dataset.TRAIN_PREFIX),
                                  (dataset.HELD_OUT_SEED_OFFSET, heldOutCases, dataset.HELD_OUT_PREFIX)):
        if len(dataset.availableShards(work, prefix)) * dataset.SHARD_SIZE < count:
            started = time.time()
            dataset.buildShards(list(range(offset, offset + count)), work, prefix, workers, acquisition=acquisition)
            print(f"generated {count} {prefix} patients in {time.time() - started:.0f} s", flush=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description="Train the EchoRecon network")
    addRunArguments(parser, "runs/echo", 45.0, MODEL_PATH, threads=1)
    parser.add_argument("--cases", type=int, default=2000, help="training patients (seeds 0..cases-1)")
    parser.add_argument("--held-out-cases", type=int, default=200)
    parser.add_argument("--patients", type=int, default=2, help="patients per batch (x 2 phases)")
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--workers", type=int, default=1, help="processes generating missing data")
    parser.add_argument("--no-generate", action="store_true", help="train on the shards present (no generation)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--acquisition", default="standard", choices=("standard", "varied"),
                        help="the data generated when missing (EchoReconDev.dataset)")
    parser.add_argument("--data", type=Path, help="the shard cache (default: --work); another stage's shards "
                        "reused with this run's own checkpoint in --work")
    parser.add_argument("--view-dropout", type=float, default=0.0,
                        help="share of patients that keep only A4C, A2C and each other view with probability 0.5")
    parser.add_argument("--init", type=Path, help="start from this TorchScript model's weights (fine-tuning) "
                        "when there is no checkpoint to resume")
    args = parser.parse_args(argv)

    heldOut = None

    def validate():  # at each checkpoint (main rank): a quick look at held-out patients for the log
        nonlocal heldOut
        if heldOut is None and dataset.availableShards(work, dataset.HELD_OUT_PREFIX):
            heldOut = dataset.loadShards(dataset.availableShards(work, dataset.HELD_OUT_PREFIX)[:1])
        if heldOut is not None:
            run.log(quickValidation(model, heldOut, 16, run.device))

    run = TrainingRun(args.work, args.minutes, args.device, args.threads, CHECKPOINT_SECONDS, onCheckpoint=validate)
    device = run.device
    torch.manual_seed(args.seed)  # same initial weights on every rank
    work = args.data or run.work
    if run.isMain and not args.no_generate:
        ensureData(work, args.cases, args.held_out_cases, args.workers, args.acquisition)
    run.barrier()
    shardPaths = run.waitFor(lambda: dataset.availableShards(work, dataset.TRAIN_PREFIX),
                             "waiting for the first training shard ...")  # --no-generate, a generator beside
    train = dataset.loadShards(shardPaths)
    heldOutPaths = dataset.availableShards(work, dataset.HELD_OUT_PREFIX)
    heldOut = dataset.loadShards(heldOutPaths[:1]) if heldOutPaths else None

    model = buildNetwork().to(device)
    losses = Losses(model).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    if not run.resume({"model": model, "optimizer": optimizer}, samples=0) and args.init:
        model.load_state_dict(torch.jit.load(str(args.init), map_location=device).state_dict())
        run.state["init"] = str(args.init)
    # one entry per (re)start: the settings in force from that step on (a resumed run may change them)
    run.state.setdefault("history", []).append({
        "from_step": run.step, "from_minutes": round(run.state["seconds"] / 60, 1), "minutes_budget": args.minutes,
        "segmentation_weight": WEIGHT_SEGMENTATION, "dice_over_batch": DICE_OVER_BATCH, "lr": args.lr,
        "init": run.state.get("init", ""), "view_dropout": args.view_dropout, "data": str(work)})
    trainer = torch.nn.parallel.DistributedDataParallel(model) if run.distributed else model
    rng = np.random.default_rng([args.seed, run.rank, run.step])
    running: dict[str, list] = {}
    print(f"{len(train['seed'])} training patients, {countParameters(model):,} parameters, device {device}, "
          f"{torch.get_num_threads()} threads", flush=True)
    for fraction in run.steps():
        if run.step > 1 and (run.step - 1) % 50 == 0:  # shards written since the start (generator beside)
            newer = dataset.availableShards(work, dataset.TRAIN_PREFIX)
            if len(newer) > len(shardPaths):
                extra = dataset.loadShards([path for path in newer if path not in shardPaths])
                train = {key: np.concatenate([train[key], extra[key]]) for key in train}
                shardPaths = newer
        patients = rng.integers(0, len(train["seed"]), args.patients)
        batch = toTensors(dropViews(pairBatch(train, patients, rng), rng, args.view_dropout), device)
        rate = run.cosineRate(optimizer, args.lr, fraction)
        displacement, logits = trainer(batch["images"])
        total, terms = losses(displacement, logits, batch)
        optimizer.zero_grad()
        total.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        optimizer.step()
        run.state["samples"] += 2 * args.patients * run.worldSize
        for key, value in terms.items():
            running.setdefault(key, []).append(value)
        if run.step % 25 == 0:
            run.log({"lr": round(rate, 6), "patients": len(train["seed"]),
                     **{key: round(float(np.mean(values)), 4) for key, values in running.items()}})
            running = {}
    worldSize = run.worldSize
    if not run.finish():
        return
    if heldOut is not None:
        print(json.dumps({"step": run.step, **quickValidation(model, heldOut, 16, device)}), flush=True)
    state = run.state
    summary = {"steps": state["step"], "samples": state["samples"], "minutes": round(state["seconds"] / 60, 1),
               "minutes_budget": args.minutes, "device": str(device), "threads": torch.get_num_threads(),
               "patients_per_batch": args.patients, "training_patients": int(len(train["seed"])), "lr": args.lr,
               "seed": args.seed, "torch": torch.__version__, "history": state.get("history", []),
               "epochs": round(state["samples"] / (2 * len(train["seed"])), 2), "world_size": worldSize}
    (run.work / "training.json").write_text(json.dumps(summary | {"log": state["log"]}, indent=1) + "\n")
    export(model.cpu(), Path(args.export))


def export(model: EchoReconNet, path: Path) -> Path:
    """Trace the network (eval mode, CPU) and save it as TorchScript at ``path``; the saved file is checked against
    the eager module on a different input and batch size. Metadata (views, labels, units) ride along as the extra
    file ``metadata.json``."""
    model = model.eval().cpu()
    generator = torch.Generator().manual_seed(0)
    example = torch.rand(1, len(VIEWS), IMAGE_SIZE, IMAGE_SIZE, generator=generator)
    other = torch.rand(2, len(VIEWS), IMAGE_SIZE, IMAGE_SIZE, generator=generator)
    with torch.no_grad():
        traced = torch.jit.trace(model, example, check_trace=False)
    metadata = {"views": list(VIEWS), "labels": ["background", *STRUCTURES], "imageSize": IMAGE_SIZE,
                "input": "images [B, 6, 128, 128] float in [0, 1], views in the order above",
                "outputs": ["displacement [B, V, 3] mm, template heart frame", "segmentation logits [B, 6, 7, 128, 128]"],
                "numberOfVertices": model.numberOfVertices}
    # half-precision weights: 6.6 MB instead of 12.6 MB in the repository's history; on the bundled model's weights
    # the displacements moved by at most 0.02 mm and the logits by 0.013 (float32 computation either way)
    return exportTorchScript(traced, path, model, (other,), {"metadata.json": json.dumps(metadata)},
                             tolerance=0.05, halfWeights=True)


if __name__ == "__main__":
    main()
