"""The model registry: where each module's TorchScript model is, its checksum, the device, loading once.

Each module ships at most one model, ``<Module>/Resources/Models/<Module>.pt``, with its card ``<Module>.md``
beside it. In an installed extension all modules' resources share the folder ``Resources/`` next to the module
files, so both layouts are searched. A model file is hashed once per file version and loaded once per device.

Console example::

    from ReconCoreLib import models
    model = models.requireModel("AngioRecon")  # ValueError with a plain statement when none is bundled
    print(model.path, model.sha256)
    network = model.load(models.resolveDevice("auto"))
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from .conventions import DEVICES, MODEL_TORCH_VERSION, RUNTIME_PACKAGES, TORCH_REQUIREMENT

_LIB_DIR = Path(__file__).resolve().parent
_SHA256 = {}  # (path, size, mtime) -> hex digest
_LOADED = {}  # (path, size, mtime, device) -> loaded TorchScript module


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


class RuntimeUnavailable(RuntimeError):
    """This Python cannot run the models: a package is missing, or its torch cannot load the model files."""


def missingRuntimePackages() -> list[str]:
    """Names of :data:`~.conventions.RUNTIME_PACKAGES` that this Python cannot import (without importing them)."""
    import importlib.util

    return [name for name in RUNTIME_PACKAGES if importlib.util.find_spec(name) is None]


def requireRuntimePackages() -> None:
    """:class:`RuntimeUnavailable` naming the missing packages (what a run needs) when any is missing."""
    missing = missingRuntimePackages()
    if missing:
        raise RuntimeUnavailable(
            f"{', '.join(missing)} not installed in this Python ({_pythonName()}): install torch{TORCH_REQUIREMENT} "
            "and monai (in Slicer: open a Recon2Dto3D module, which installs them through the PyTorch extension)")


def _pythonName() -> str:
    import sys

    return f"Python {sys.version.split()[0]} at {sys.executable}"


def notBundledMessage(moduleName: str) -> str:
    """The plain statement shown when a module has no trained model yet."""
    return (f"{moduleName}: no trained model is bundled yet "
            f"(expected {moduleName}/Resources/Models/{moduleName}.pt); nothing was computed")


def sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file (computed every time; :attr:`ModelFile.sha256` keeps it per file version)."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class ModelFile:
    """One TorchScript model file: its checksum, computed once per file version, and the model loaded once per
    device (a file replaced on disk is hashed and loaded again)."""

    def __init__(self, path: str | Path):
        self.path = Path(path).resolve()
        if not self.path.is_file():
            raise ValueError(f"{self.path}: no such model file")

    def _version(self) -> tuple:
        status = self.path.stat()
        return str(self.path), status.st_size, status.st_mtime_ns

    @property
    def sha256(self) -> str:
        key = self._version()
        if key not in _SHA256:
            _SHA256[key] = sha256(self.path)
        return _SHA256[key]

    def load(self, device: str = "cpu", expectedSha256: str | None = None):
        """The TorchScript module on ``device`` (eval mode), checking the SHA-256 when ``expectedSha256`` is given.
        On the CPU the module is frozen and optimised for inference when first loaded, and every call fits torch's
        threads to the cores other processes leave free (:func:`~.cpushare.fitTorchThreads`)."""
        if expectedSha256 is not None and self.sha256 != expectedSha256:
            raise ValueError(f"{self.path.name}: checksum mismatch (file damaged or replaced)")
        key = (*self._version(), device)
        if key not in _LOADED:
            import torch

            try:
                model = torch.jit.load(str(self.path), map_location=device)
            except RuntimeError as error:  # an older torch meets operators or a file format it does not know
                reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
                raise RuntimeUnavailable(
                    f"{self.path.name}: torch {torch.__version__} cannot load this model ({reason}); the bundled "
                    f"models are exported with torch {MODEL_TORCH_VERSION} and need torch{TORCH_REQUIREMENT}") \
                    from error
            floatWeights(model)
            model.eval()
            if device == "cpu":
                # The weights folded into the graph and conv + batch norm fused, once per process: the femur
                # network's first call costs 0.27 s of CPU instead of 0.85 s (its load 0.14 s more), and every later
                # call of every model is as fast or faster. Per device: the result is specific to the CPU.
                model = torch.jit.optimize_for_inference(torch.jit.freeze(model))
            _LOADED[key] = model
        if device == "cpu":
            from .cpushare import fitTorchThreads

            fitTorchThreads()
        return _LOADED[key]


def floatWeights(model):
    """Cast weights a model file stores in half precision back to float32, in place, and return the model: the
    computation stays float32. Exports may halve the weights (``ReconCoreDev.training.exportTorchScript``,
    ``halfWeights``) because the repository's history keeps every retrained model file for good; float32 files pass
    unchanged."""
    import torch

    with torch.no_grad():
        for parameter in model.parameters():
            if parameter.dtype == torch.float16:
                parameter.data = parameter.data.float()
    return model


def requireModel(moduleName: str, modelPath: str | Path | None = None) -> ModelFile:
    """``modelPath`` when given, else the module's bundled model; ``ValueError`` (plain statement) when none."""
    path = modelPath or findBundledModel(moduleName)
    if path is None:
        raise ValueError(notBundledMessage(moduleName))
    return ModelFile(path)


def resolveDevice(device: str = "auto") -> str:
    """'auto' -> 'cuda' when a GPU is usable, else 'cpu' (also without torch, where a run then stops with
    :class:`RuntimeUnavailable`). 'cuda' without a GPU is an error."""
    import importlib.util

    device = (device or "auto").lower()
    if device not in DEVICES:
        raise ValueError(f"device must be auto, cpu or cuda, got {device!r}")
    if device == "cpu":
        return device
    if importlib.util.find_spec("torch") is None:
        if device == "auto":
            return "cpu"
        requireRuntimePackages()
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if not torch.cuda.is_available():
        raise ValueError("device 'cuda' was requested but no CUDA GPU is available (use --device cpu or auto)")
    return device
