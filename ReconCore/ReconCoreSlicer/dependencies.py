"""The Python packages the Recon2Dto3D modules need inside Slicer, installed at first use (never at import).

torch comes from the PyTorch extension (``PyTorchUtils``), never from a plain pip install; the other packages of
``ReconCore/Resources/requirements.txt`` through ``slicer.packaging.pip_ensure``.
"""

import logging
import os

import slicer
from slicer.i18n import tr as _

# torch comes from the PyTorch extension (PyTorchUtils), never from a plain pip install, in the range the bundled
# models are proven to load in.
from ReconCoreLib.conventions import TORCH_REQUIREMENT

#: Packages that Slicer (numpy, SimpleITK) or the PyTorch extension (torch) provide: their version is checked,
#: they are never pip-installed over the provided build, and they are kept out of other packages' dependencies.
PROVIDED_PACKAGES = ("torch", "simpleitk", "numpy")

REQUESTER = "Recon2Dto3D"


class Dependencies:
    """Checks and installs the packages; ``ReconCore.ReconCoreLogic`` offers the same methods.

    Console example (Slicer Python console)::

        from ReconCoreSlicer.dependencies import Dependencies
        print(Dependencies().missingRequirements())  # e.g. ['monai>=1.4']; [] when all are installed
        Dependencies().ensureDependencies()  # torch via the PyTorch extension, then the rest; may ask to confirm
    """

    @staticmethod
    def requirementsPath() -> str:
        """ReconCore's ``Resources/requirements.txt`` (source tree and installed extension alike)."""
        return os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "Resources",
                            "requirements.txt")

    def requirements(self) -> list:
        """The requirements of ``requirements.txt`` as ``packaging.requirements.Requirement`` objects."""
        from packaging.requirements import Requirement

        result = []
        with open(self.requirementsPath(), encoding="utf-8") as stream:
            for line in stream:
                line = line.strip()
                if line and not line.startswith(("#", "-")):
                    result.append(Requirement(line))
        return result

    @staticmethod
    def isSatisfied(requirement) -> bool:
        """Whether the installed package meets ``requirement`` (a ``Requirement``), without running pip.

        The version comes from the distribution metadata, else (packages Slicer builds itself may have none) from
        the importable module's ``__version__``.
        """
        import importlib
        import importlib.metadata

        try:
            installed = importlib.metadata.version(requirement.name)
        except importlib.metadata.PackageNotFoundError:
            try:
                installed = getattr(importlib.import_module(requirement.name), "__version__", None)
            except ImportError:
                installed = None
        if installed is None:
            return False
        return requirement.specifier.contains(str(installed).split("+")[0], prereleases=True)

    def missingRequirements(self) -> list:
        """Requirement strings of ``requirements.txt`` that the running Slicer does not meet."""
        return [str(requirement) for requirement in self.requirements() if not self.isSatisfied(requirement)]

    def ensureDependencies(self) -> None:
        """Make torch and the packages of ``requirements.txt`` importable; call at first use, never at import.

        torch is installed through the PyTorch extension, which may ask the user to confirm; the other packages
        through ``slicer.packaging.pip_ensure`` (or ``slicer.util.pip_install`` in Slicer versions without it).

        :raises RuntimeError: the PyTorch extension is missing, the user declined, or a requirement is still
            not met afterwards.
        """
        self.ensureTorch()
        self.ensurePackages()

    def ensureTorch(self):
        """Install torch through the PyTorch extension when needed; return the ``torch`` module."""
        try:
            import PyTorchUtils
        except ModuleNotFoundError as error:
            raise RuntimeError(_("Recon2Dto3D needs the PyTorch extension: install 'PyTorch' from the Extensions "
                                 "Manager, restart Slicer and try again.")) from error
        torchLogic = PyTorchUtils.PyTorchUtilsLogic()
        if not torchLogic.torchInstalled():
            logging.info(f"{REQUESTER}: installing PyTorch {TORCH_REQUIREMENT} through the PyTorch extension")
            torch = torchLogic.installTorch(askConfirmation=True, torchVersionRequirement=TORCH_REQUIREMENT)
            if torch is None:
                raise RuntimeError(_("PyTorch was not installed. Recon2Dto3D cannot run without it."))
        import torch
        from packaging.specifiers import SpecifierSet

        if not SpecifierSet(TORCH_REQUIREMENT).contains(torch.__version__.split("+")[0], prereleases=True):
            raise RuntimeError(_("PyTorch {installed} is installed but Recon2Dto3D needs torch{required}. Use the "
                                 "PyTorch Utils module to uninstall it, restart Slicer and try again.").format(
                installed=torch.__version__, required=TORCH_REQUIREMENT))
        return torch

    def ensurePackages(self) -> None:
        """Install the missing packages of ``requirements.txt``; check (never replace) the provided ones."""
        from packaging.utils import canonicalize_name

        requirements = self.requirements()
        provided = [r for r in requirements if canonicalize_name(r.name) in PROVIDED_PACKAGES]
        for requirement in provided:
            if not self.isSatisfied(requirement):
                raise RuntimeError(_("Recon2Dto3D needs {requirement}, which this Slicer provides in another "
                                     "version: use a more recent Slicer.").format(requirement=requirement))
        pending = [r for r in requirements
                   if canonicalize_name(r.name) not in PROVIDED_PACKAGES and not self.isSatisfied(r)]
        if not pending:
            return
        logging.info(f"{REQUESTER}: installing {', '.join(str(r) for r in pending)}")
        try:
            import slicer.packaging as slicerPackaging
        except ImportError:
            slicerPackaging = None
        if slicerPackaging is not None and hasattr(slicerPackaging, "pip_ensure"):
            import inspect

            options = {"requester": REQUESTER}
            if "skip_packages" in inspect.signature(slicerPackaging.pip_ensure).parameters:
                options["skip_packages"] = list(PROVIDED_PACKAGES)
            slicerPackaging.pip_ensure(pending, **options)
        else:
            if not slicer.app.commandOptions().testingEnabled and not slicer.util.confirmOkCancelDisplay(
                    _("{requester} needs these Python packages, which will be downloaded and installed:\n{names}")
                    .format(requester=REQUESTER, names="\n".join(str(r) for r in pending))):
                raise RuntimeError(_("Installation of the Python packages was declined."))
            slicer.util.pip_install([str(r) for r in pending])
        stillMissing = [str(r) for r in pending if not self.isSatisfied(r)]
        if stillMissing:
            raise RuntimeError(_("These Python packages are still missing: {names}").format(
                names=", ".join(stillMissing)))
