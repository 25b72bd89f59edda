"""What every Recon2Dto3D module's self-test (Reload and Test, ctest) checks before its own sample case."""

import slicer
from slicer.ScriptedLoadableModule import ScriptedLoadableModuleTest


class ReconModuleTest(ScriptedLoadableModuleTest):
    """Base of ``<Module>Test``: a clean scene before each test method. Slicer's ``runTest`` runs the module's
    methods named ``test...`` (typically :meth:`checkModelStatus`, then a bundled sample case when the model is
    there); the helpers here have no "test" in their names, so this base, imported into a module file, runs none."""

    def setUp(self):
        slicer.mrmlScene.Clear()

    def installDependencies(self) -> None:
        """torch (PyTorch extension) and the packages of requirements.txt, without asking: a self-test that runs a
        sample case needs them, in a fresh Slicer too (testing mode included)."""
        from .dependencies import Dependencies

        self.delayDisplay("Checking the Python packages the module needs (installed on first use)")
        Dependencies().ensureDependencies(interactive=False)

    def loadSampleData(self, sampleName: str) -> list:
        """The nodes Sample Data loads for one of the module's samples, as a user's click loads them (files dropped,
        names kept): the module must find their geometry, spacing and laterality all the same."""
        import SampleData

        nodes = SampleData.SampleDataLogic().downloadSamples(sampleName)
        self.assertTrue(nodes, f"Sample Data loaded nothing for {sampleName}")
        return [node for node in nodes if hasattr(node, "GetID")]

    def checkModelStatus(self, logic, processWithoutInputs) -> bool:
        """The logic says plainly whether its model is bundled; without one, processing is an honest error, never a
        fake result. Returns whether the model is available."""
        available, message = logic.modelAvailable()
        self.assertIsInstance(available, bool)
        self.assertIsInstance(message, str)
        self.assertTrue(message)
        if not available:
            with self.assertRaises(ValueError):
                processWithoutInputs()
        return available

    def checkIsocenterProjection(self) -> None:
        """The C-arm geometry of this installation projects the isocenter onto the image centre."""
        import numpy as np

        from ReconCoreLib.xraygeometry import CArmGeometry

        rows, columns = 512, 512
        geometry = CArmGeometry(primaryAngleDeg=30.0, secondaryAngleDeg=20.0, sourceToDetectorMm=1000.0,
                                sourceToPatientMm=750.0, pixelSpacingMm=(0.3, 0.3), rows=rows, columns=columns)
        isocenterPixel = geometry.projectLps(np.zeros((1, 3)))[0]
        expected = np.array([(columns - 1) / 2.0, (rows - 1) / 2.0])
        self.assertLess(float(np.max(np.abs(isocenterPixel - expected))), 1e-6)
