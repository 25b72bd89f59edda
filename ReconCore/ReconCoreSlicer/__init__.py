"""The module skeleton the Recon2Dto3D modules share inside the Slicer application (needs Slicer and Qt).

- :class:`~.logic.ReconLogicBase`: what every module logic does (parameter node, model availability, geometry of a
  radiograph volume, running its pipeline with progress and cancel);
- :class:`~.widget.ReconWidgetMixin`: the widget life cycle, Apply / Cancel, progress, geometry fields filled from
  a radiograph's file;
- :class:`~.parameters.CArmViewParameters`: the parameter pack of one C-arm view (ranges from
  ``ReconCoreLib.conventions``);
- :func:`~.logic.registerSampleData`: a module's sample data in the Sample Data module, never failing at startup;
- :class:`~.selftest.ReconModuleTest`: what every module's self-test checks first.

Headless code lives in ``ReconCoreLib`` (no Qt); this package only wires it into Slicer. Like every module file, it
imports nothing heavy at import time: it is loaded while Slicer starts.
"""

from .logic import ReconLogicBase, registerSampleData
from .parameters import CArmViewParameters
from .selftest import ReconModuleTest
from .widget import ReconWidgetMixin

__all__ = ["CArmViewParameters", "ReconLogicBase", "ReconModuleTest", "ReconWidgetMixin", "registerSampleData"]
