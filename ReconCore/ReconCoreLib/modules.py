"""The entry points every module gives the command line, and the registry of modules.

Each module's runtime library has an ``entry.py`` whose ``ENTRY`` is a :class:`ModuleEntry`: the subcommand and
its arguments, a typed case made from them (files checked, nothing read yet), running one case into a folder,
and the bundled sample cases. ``recon2d3d`` only loops over the entries, so a fourth module adds an entry, not
command-line code. An entry file imports only light modules: building the parser must stay fast.

Console example::

    from ReconCoreLib.modules import moduleEntry
    entry = moduleEntry("AngioRecon")
    case = entry.sampleCases()["AngioLeft"]
    readouts = entry.runCase(case, Path("/tmp/angio-left"), "cpu", None)
"""

from __future__ import annotations

import argparse
import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

#: The modules with a command, in the order ``recon2d3d demo`` runs them.
MODULES = ("AngioRecon", "FemurRegistration", "EchoRecon")


@dataclass(frozen=True)
class ModuleEntry:
    """What the command line needs from a module.

    :ivar moduleName: the Slicer module (and its model's) name.
    :ivar command: the ``recon2d3d`` subcommand.
    :ivar help: one line for ``recon2d3d --help``.
    :ivar addArguments: adds the subcommand's own arguments (``--out`` and the common options are added for it).
    :ivar caseFromArguments: parsed arguments -> the module's typed case; ``ValueError`` naming a bad argument.
    :ivar runCase: (case, output folder, device, :class:`~ReconCoreLib.progress.Progress` or None) -> readouts,
        with every output written into the folder.
    :ivar sampleCases: name -> case of each bundled sample.
    :ivar inputImages: case -> {role: file} of the images the case reads (e.g. {"view1": ..., "view2": ...}); the
        DICOM outputs reference them, the batch manifest names them.
    """

    moduleName: str
    command: str
    help: str
    addArguments: Callable[[argparse.ArgumentParser], None]
    caseFromArguments: Callable[[argparse.Namespace], Any]
    runCase: Callable[..., Any]
    sampleCases: Callable[[], dict]
    inputImages: Callable[[Any], dict]


def moduleEntry(moduleName: str) -> ModuleEntry:
    """The :class:`ModuleEntry` of a module (``<moduleName>Lib.entry.ENTRY``)."""
    return importlib.import_module(f"{moduleName}Lib.entry").ENTRY


def moduleEntries() -> list[ModuleEntry]:
    """Every module's entry, in :data:`MODULES` order."""
    return [moduleEntry(name) for name in MODULES]


def existingFile(value, option: Optional[str] = None) -> Optional[Path]:
    """``value`` as a Path when it names a file (None stays None); ``ValueError`` naming the option otherwise (a folder
    is called a folder)."""
    if value is None:
        return None
    path = Path(value)
    if path.is_dir():
        raise ValueError(f"{option + ': ' if option else ''}{path}: is a folder; expected a file")
    if not path.is_file():
        raise ValueError(f"{option + ': ' if option else ''}{path}: no such file")
    return path
