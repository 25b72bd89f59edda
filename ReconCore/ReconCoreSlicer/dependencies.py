"""The Python packages the Recon2Dto3D modules need inside Slicer, installed at first use (never at import).

torch comes from the PyTorch extension (``PyTorchUtils``), never from a plain pip install; the other packages of
``ReconCore/Resources/requirements.txt`` through pip with Slicer's and the PyTorch extension's packages pinned, so that
installing MONAI can neither replace torch nor Slicer's numpy or pydicom.
"""

import logging
import os

import slicer
from slicer.i18n import tr as _

# torch comes from the PyTorch extension (PyTorchUtils), never from a plain pip install, in the range the bundled
# models are proven to load in.
from ReconCoreLib.conventions import TORCH_REQUIREMENT

#: Packages that Slicer (numpy, scipy, SimpleITK, pydicom, Pillow, VTK) or the PyTorch extension (torch) provide:
#: their version is checked, never replaced. Slicer's own DICOM plugins depend on its pydicom, and torch must stay the
#: PyTorch extension's CPU or CUDA build, so installing the other packages runs pip with these pinned at their
#: installed versions (a constraints file): pip then picks versions that fit them, or fails, and never upgrades them.
PROVIDED_PACKAGES = ("torch", "numpy", "scipy", "simpleitk", "pydicom", "pillow", "vtk")

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

    def ensureDependencies(self, interactive: bool = True) -> None:
        """Make torch and the packages of ``requirements.txt`` importable; call at first use, never at import.

        torch is installed through the PyTorch extension, the other packages with pip, the provided packages pinned
        (:meth:`constraints`): ``slicer.packaging.pip_ensure`` where Slicer has it (5.12 on), else
        ``slicer.util.pip_install`` (5.10).

        :param interactive: ask the user to confirm each installation (the Apply button); False installs without
            asking, in testing mode too (the self-tests, which need the packages to run a sample case).
        :raises RuntimeError: the PyTorch extension is missing, the user declined, or a requirement is still
            not met afterwards.
        """
        self.ensureTorch(interactive)
        self.ensurePackages(interactive)

    def ensureTorch(self, interactive: bool = True):
        """Install torch through the PyTorch extension when needed; return the ``torch`` module."""
        try:
            import PyTorchUtils
        except ModuleNotFoundError as error:
            raise RuntimeError(_("Recon2Dto3D needs the PyTorch extension: install 'PyTorch' from the Extensions "
                                 "Manager, restart Slicer and try again.")) from error
        torchLogic = PyTorchUtils.PyTorchUtilsLogic()
        if not torchLogic.torchInstalled():
            logging.info(f"{REQUESTER}: installing PyTorch {TORCH_REQUIREMENT} through the PyTorch extension")
            torch = torchLogic.installTorch(askConfirmation=interactive, torchVersionRequirement=TORCH_REQUIREMENT)
            if torch is None:
                raise RuntimeError(_("PyTorch was not installed. Recon2Dto3D cannot run without it."))
        import torch
        from packaging.specifiers import SpecifierSet

        if not SpecifierSet(TORCH_REQUIREMENT).contains(torch.__version__.split("+")[0], prereleases=True):
            raise RuntimeError(_("PyTorch {installed} is installed but the Recon2Dto3D models need torch{required}. "
                                 "Use the PyTorch Utils module to uninstall it, restart Slicer and try again.").format(
                installed=torch.__version__, required=TORCH_REQUIREMENT))
        return torch

    @staticmethod
    def constraints() -> list:
        """``name==version`` of each installed provided package (the local part of a version, such as torch's
        ``+cu121``, dropped: ``torch==2.13.0`` is met by ``2.13.0+cu121``)."""
        import importlib.metadata

        pins = []
        for name in PROVIDED_PACKAGES:
            try:
                version = importlib.metadata.version(name)
            except importlib.metadata.PackageNotFoundError:
                continue  # built into Slicer without metadata (VTK, SimpleITK in some releases): pip cannot see it
            pins.append(f"{name}=={version.split('+')[0]}")
        return pins

    def ensurePackages(self, interactive: bool = True) -> None:
        """Install the missing packages of ``requirements.txt``; check (never replace) the provided ones."""
        import tempfile

        from packaging.utils import canonicalize_name

        requirements = self.requirements()
        provided = [r for r in requirements if canonicalize_name(r.name) in PROVIDED_PACKAGES]
        for requirement in provided:
            if not self.isSatisfied(requirement):
                raise RuntimeError(_("Recon2Dto3D needs {requirement}, which this Slicer provides in another "
                                     "version: use Slicer 5.10 or newer.").format(requirement=requirement))
        pending = [r for r in requirements
                   if canonicalize_name(r.name) not in PROVIDED_PACKAGES and not self.isSatisfied(r)]
        if not pending:
            return
        names = [str(r) for r in pending]
        logging.info(f"{REQUESTER}: installing {', '.join(names)}")
        try:
            import slicer.packaging as slicerPackaging
        except ImportError:  # Slicer 5.10: no slicer.packaging
            slicerPackaging = None
        with tempfile.TemporaryDirectory() as folder:
            constraintsPath = os.path.join(folder, "constraints.txt")
            with open(constraintsPath, "w", encoding="utf-8") as stream:
                stream.write("\n".join(self.constraints()) + "\n")
            if slicerPackaging is not None and hasattr(slicerPackaging, "pip_ensure"):
                slicerPackaging.pip_ensure(names, constraints=constraintsPath, requester=REQUESTER,
                                           prompt_install=interactive, skip_in_testing=interactive)
            else:
                if interactive and not slicer.util.confirmOkCancelDisplay(
                        _("{requester} needs these Python packages, which will be downloaded and installed:\n{names}")
                        .format(requester=REQUESTER, names="\n".join(names))):
                    raise RuntimeError(_("Installation of the Python packages was declined."))
                slicer.util.pip_install([*names, "-c", constraintsPath])
        stillMissing = [str(r) for r in pending if not self.isSatisfied(r)]
        if stillMissing:
            raise RuntimeError(_("These Python packages are still missing: {names}").format(
                names=", ".join(stillMissing)))
