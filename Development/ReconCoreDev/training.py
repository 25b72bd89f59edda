"""One training harness for the three networks: device and torchrun, time budget, learning-rate schedule, atomic
checkpoints and resume, JSON log, TorchScript export checked after loading it back, model-card writing.

A trainer keeps only its data, losses and metrics::

    run = TrainingRun(work, minutes=60, device="auto", threads=1)
    model = buildNetwork().to(run.device)
    optimizer = torch.optim.Adam(model.parameters(), lr=rate)
    run.resume({"model": model, "optimizer": optimizer})
    for fraction in run.steps():  # run.step: this step's number, from 1
        run.cosineRate(optimizer, rate, fraction)
        ... one optimization step ...
        if run.step % 25 == 0:
            run.log({"loss": value})
    if run.finish():  # the main rank: final checkpoint written
        exportTorchScript(torch.jit.script(model.cpu().eval()), modelPath, model, exampleInputs)

Under ``torchrun`` (WORLD_SIZE > 1) each rank runs the same loop; only rank 0 writes checkpoints and logs.
"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path
from typing import Callable, Iterator, Optional


def trainingDevice(device: str = "auto", threads: int | None = None) -> tuple[str, int, bool]:
    """(device, rank, distributed) for a training script, started directly or under ``torchrun``.

    Under torchrun (WORLD_SIZE > 1) the process group is initialized (NCCL on GPUs, else Gloo) and each rank
    takes its own GPU; on CPU ``threads`` sets torch's thread count.
    """
    import torch

    from ReconCoreLib.models import resolveDevice

    distributed = int(os.environ.get("WORLD_SIZE", "1")) > 1
    rank = int(os.environ.get("RANK", "0"))
    if distributed:
        torch.distributed.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    device = resolveDevice(device)
    if device == "cuda" and distributed:
        device = f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}"
        torch.cuda.set_device(device)
    if device == "cpu" and threads:
        torch.set_num_threads(threads)
    return device, rank, distributed


def addRunArguments(parser, work: str, minutes: float, modelPath: Path, threads: int | None = None) -> None:
    """The arguments every training command has: ``--work``, ``--minutes``, ``--device``, ``--threads``,
    ``--export`` (the defaults given here); a trainer adds its own (data, batch, learning rate, ...)."""
    parser.add_argument("--work", type=Path, default=Path(work), help="folder for the data cache, checkpoints, log")
    parser.add_argument("--minutes", type=float, default=minutes, help="training time budget (a resumed run "
                        "counts the time already trained)")
    parser.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda")
    parser.add_argument("--threads", type=int, default=threads, help="CPU threads of torch (none: torch's choice)")
    parser.add_argument("--export", type=Path, default=Path(modelPath), help="where the TorchScript model is written")


def saveAtomically(save: Callable[[Path], None], path: str | Path) -> Path:
    """Write ``path`` through ``save(temporaryPath)`` then rename, so a crash never leaves half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".partial")
    try:
        save(temporary)
        temporary.replace(path)
    finally:
        temporary.unlink(missing_ok=True)
    return path


class TrainingRun:
    """Bookkeeping of one training run in ``work`` (see the module docstring).

    :param minutes: the time budget; a resumed run counts the time already trained.
    :param checkpointSeconds: a checkpoint (``work/checkpoint.pt``) is written at most this often, and at the end.
    :param onCheckpoint: called (main rank) before each checkpoint is written, e.g. a quick validation to log.
    """

    def __init__(self, work: str | Path, minutes: float, device: str = "auto", threads: int | None = None,
                 checkpointSeconds: float = 300.0, onCheckpoint: Optional[Callable[[], None]] = None):
        self.device, self.rank, self.distributed = trainingDevice(device, threads)
        self.work = Path(work)
        self.work.mkdir(parents=True, exist_ok=True)
        self.checkpointPath = self.work / "checkpoint.pt"
        self.budgetSeconds = float(minutes) * 60.0
        self.checkpointSeconds = float(checkpointSeconds)
        self.onCheckpoint = onCheckpoint
        self.parts: dict = {}
        self.state: dict = {"step": 0, "seconds": 0.0, "log": []}
        self._started = time.time()

    @property
    def isMain(self) -> bool:
        return self.rank == 0

    @property
    def step(self) -> int:
        return self.state["step"]

    @property
    def worldSize(self) -> int:
        import torch

        return torch.distributed.get_world_size() if self.distributed else 1

    def resume(self, parts: dict, **initialState) -> bool:
        """Register what a checkpoint holds (name -> module or optimizer) and load the checkpoint when there is
        one; ``initialState`` adds keys to a fresh state. Returns True when a checkpoint was resumed."""
        import torch

        self.parts = dict(parts)
        self.state.update(initialState)
        if not self.checkpointPath.exists():
            return False
        saved = torch.load(self.checkpointPath, map_location=self.device, weights_only=False)
        for name, part in self.parts.items():
            part.load_state_dict(saved[name])
        self.state = saved["state"]
        print(f"resumed at step {self.step} ({self.state['seconds'] / 60:.1f} min trained)", flush=True)
        return True

    def steps(self) -> Iterator[float]:
        """Yield once per training step, until the time budget is spent, the fraction of the budget used.

        :attr:`step` is the number of the step being run (1, 2, ...: a resumed run goes on counting); after each
        step the trained time advances and a checkpoint is written when due.
        """
        self._started = time.time() - self.state["seconds"]
        lastSave = time.time()
        while self.elapsedSeconds() < self.budgetSeconds:
            self.state["step"] += 1
            yield min(self.elapsedSeconds() / self.budgetSeconds, 1.0)
            self.state["seconds"] = self.elapsedSeconds()
            if self.isMain and time.time() - lastSave > self.checkpointSeconds:
                if self.onCheckpoint is not None:
                    self.onCheckpoint()
                self.save()
                lastSave = time.time()
        self.state["seconds"] = self.elapsedSeconds()

    def elapsedSeconds(self) -> float:
        return time.time() - self._started

    @staticmethod
    def waitFor(available: Callable[[], list], message: str, seconds: float = 15.0) -> list:
        """``available()`` once it is not empty, asking again every ``seconds`` (data generated beside)."""
        found = available()
        while not found:
            print(message, flush=True)
            time.sleep(seconds)
            found = available()
        return found

    @staticmethod
    def cosineRate(optimizer, baseRate: float, fraction: float, floor: float = 0.05) -> float:
        """Set every group's learning rate on a cosine from ``baseRate`` (fraction 0) to ``floor`` x it (1)."""
        rate = baseRate * (floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * min(max(fraction, 0.0), 1.0))))
        for group in optimizer.param_groups:
            group["lr"] = rate
        return rate

    def log(self, entry: dict) -> None:
        """Add ``{"step", "minutes", **entry}`` to the run's log and print it as one JSON line (main rank)."""
        if not self.isMain:
            return
        entry = {"step": self.step, "minutes": round(self.elapsedSeconds() / 60, 2), **entry}
        self.state["log"].append(entry)
        print(json.dumps(entry), flush=True)

    def save(self) -> None:
        """Write the checkpoint (every part's state and the run's state), atomically."""
        import torch

        if self.isMain:
            content = {name: part.state_dict() for name, part in self.parts.items()} | {"state": self.state}
            saveAtomically(lambda path: torch.save(content, path), self.checkpointPath)

    def barrier(self) -> None:
        if self.distributed:
            import torch

            torch.distributed.barrier()

    def finish(self) -> bool:
        """Final checkpoint (main rank) and the end of the process group; True on the main rank."""
        self.save()
        if self.isMain:
            print(f"trained {self.step} steps in {self.state['seconds'] / 60:.1f} min on {self.device}", flush=True)
        if self.distributed:
            import torch

            torch.distributed.destroy_process_group()
        return self.isMain


def exportTorchScript(compiled, path: str | Path, eager, checkInputs: tuple, extraFiles: dict | None = None,
                      tolerance: float = 1e-4, halfWeights: bool = False) -> Path:
    """Save a scripted or traced module as TorchScript at ``path``, then load the file back as the runtime does
    (:class:`~ReconCoreLib.models.ModelFile`'s cast of half weights included) and check that it gives the eager
    module's outputs on ``checkInputs`` (best on inputs other than a trace's example) within ``tolerance``.
    ``halfWeights`` stores the parameters in half precision (half the file, which the repository's history keeps for
    every retrained model; the runtime computes in float32); buffers (templates, grids) keep their precision.

    :raises RuntimeError: the saved model differs from the eager one (nothing is left at ``path``).
    """
    import torch

    from ReconCoreLib.models import floatWeights

    path = Path(path)

    def save(temporary: Path) -> None:
        torch.jit.save(compiled, str(temporary), _extra_files=extraFiles or {})
        if halfWeights:  # a copy is halved: the traced module may share its parameters with the eager one
            copy = torch.jit.load(str(temporary), map_location="cpu")
            with torch.no_grad():
                for parameter in copy.parameters():
                    if parameter.dtype == torch.float32:
                        parameter.data = parameter.data.half()
            torch.jit.save(copy, str(temporary), _extra_files=extraFiles or {})
        loaded = floatWeights(torch.jit.load(str(temporary), map_location="cpu"))
        with torch.no_grad():
            expected, found = eager(*checkInputs), loaded(*checkInputs)
        expected = expected if isinstance(expected, (tuple, list)) else (expected,)
        found = found if isinstance(found, (tuple, list)) else (found,)
        if len(expected) != len(found) or not all(
                torch.allclose(a, b, atol=tolerance, rtol=tolerance) for a, b in zip(expected, found)):
            raise RuntimeError(f"{path.name}: the saved model differs from the trained one")

    saveAtomically(save, path)
    print(f"exported {path} ({path.stat().st_size / 1e6:.1f} MB)", flush=True)
    return path


def modelFileLine(path: str | Path, parameters: int | None = None) -> str:
    """The model card's first line: file, size, SHA-256 (and parameter count)."""
    from ReconCoreLib.models import sha256

    path = Path(path)
    line = f"**File** `{path.name}` (TorchScript, {path.stat().st_size / 1e6:.1f} MB, SHA-256 `{sha256(path)}`)"
    return line + (f", {parameters:,} parameters." if parameters is not None else ".")


def writeModelCard(path: str | Path, text: str) -> Path:
    """Write a model card atomically and say where."""
    path = saveAtomically(lambda temporary: temporary.write_text(text, encoding="utf-8"), path)
    print(f"wrote {path}", flush=True)
    return path


def sourceModelPath(moduleName: str) -> Path:
    """Where a module's trained model is written in the source tree (``<Module>/Resources/Models/<Module>.pt``)."""
    from ReconCoreLib.models import modelSearchDirectories

    return modelSearchDirectories(moduleName)[0] / f"{moduleName}.pt"
