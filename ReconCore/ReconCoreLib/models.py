"""Bundled TorchScript models: where they are, their checksum, device choice, loading once.

Each module ships at most one model, ``<Module>/Resources/Models/<Module>.pt``, with its card
``<Module>.md`` beside it. In an installed extension all modules' resources share the folder
``Resources/`` next to the module files, so both layouts are searched.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

_LIB_DIR = Path(__file__).resolve().parent
_CACHE = {}  # (path, device) -> loaded TorchScript module


def modelSearchDirectories(moduleName: str) -> list[Path]:
    """Folders that may hold ``<moduleName>.pt``: source tree first, then installed layout."""
    return [
        _LIB_DIR.parent.parent / moduleName / "Resources" / "Models",  # source tree: <root>/<Module>/Resources
        _LIB_DIR.parent / "Resources" / "Models",  # installed: qt-scripted-modules/Resources
    ]


def findBundledModel(moduleName: str) -> Path | None:
    """Path of the module's bundled model file, or ``None`` when it has none yet."""
    for directory in modelSearchDirectories(moduleName):
        candidate = directory / f"{moduleName}.pt"
        if candidate.is_file():
            return candidate
    return None


def sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def resolveDevice(device: str = "auto") -> str:
    """'auto' -> 'cuda' when a GPU is usable, else 'cpu'. 'cuda' without a GPU is an error."""
    import torch

    device = (device or "auto").lower()
    if device not in ("auto", "cpu", "cuda"):
        raise ValueError(f"device must be auto, cpu or cuda, got {device!r}")
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' was requested but no CUDA GPU is available (use --device cpu or auto)")
    return device


def trainingDevice(device: str = "auto", threads: int | None = None) -> tuple[str, int, bool]:
    """(device, rank, distributed) for a training script, started directly or under ``torchrun``.

    Under torchrun (WORLD_SIZE > 1) the process group is initialized (NCCL on GPUs, else Gloo) and each rank
    takes its own GPU; on CPU ``threads`` sets torch's thread count.
    """
    import os

    import torch

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


def resumeCheckpoint(path: str | Path, parts: dict, device: str, state: dict) -> dict:
    """Resume a training run: load each of ``parts`` (name -> module or optimizer) from the checkpoint at ``path``.

    Returns the checkpoint's training state (``step``, ``seconds``, ...), or ``state`` when there is no checkpoint.
    """
    import torch

    path = Path(path)
    if not path.exists():
        return state
    saved = torch.load(path, map_location=device, weights_only=False)
    for name, part in parts.items():
        part.load_state_dict(saved[name])
    print(f"resumed at step {saved['state']['step']} ({saved['state']['seconds'] / 60:.1f} min trained)", flush=True)
    return saved["state"]


def loadModel(path: str | Path, device: str = "cpu", expectedSha256: str | None = None):
    """Load a TorchScript model once per (file, device), checking its SHA-256 when given."""
    import torch

    path = Path(path).resolve()
    key = (str(path), device)
    if key not in _CACHE:
        if expectedSha256 is not None and sha256(path) != expectedSha256:
            raise ValueError(f"{path.name}: checksum mismatch (file damaged or replaced)")
        model = torch.jit.load(str(path), map_location=device)
        model.eval()
        _CACHE[key] = model
    return _CACHE[key]


def notBundledMessage(moduleName: str) -> str:
    """The plain statement shown when a module has no trained model yet."""
    return (f"{moduleName}: no trained model is bundled yet "
            f"(expected {moduleName}/Resources/Models/{moduleName}.pt); nothing was computed")
