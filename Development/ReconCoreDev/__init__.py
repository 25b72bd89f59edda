"""Development code the three modules share: the training harness (never shipped into Slicer).

``Development/`` holds what builds the extension's models and data, apart from what runs for a user:
``<Module>Dev`` packages hold simulators, data sets, training, evaluation, model-card writers and resource
builders; they may import the runtime libraries (``<Module>Lib``, ``ReconCoreLib``), never the reverse.
"""
