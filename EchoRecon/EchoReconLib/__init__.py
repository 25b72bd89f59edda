"""Runtime library of the EchoRecon module (no Qt): what a user's reconstruction runs.

S2MNet (X. Gong et al., "S2MNet: Speckle-To-Mesh Net for Three-Dimensional Cardiac Morphology Reconstruction via
Echocardiogram", arXiv:2505.06105, 2025), bundled as TorchScript, deforms the heart template (:mod:`template`) from
six standard 2D echo views. Stages: :mod:`echoio` (reading images), :mod:`inputs` (checks, network input),
:mod:`pipeline` (the network), :mod:`measure` (volumes, EF, mass, per-view overlap with :mod:`viewplanes` and
:mod:`simpson`), :mod:`outputs` (segmentation, models, files); :mod:`entry` is the command line's entry,
:mod:`samples` the bundled sample patients. The network's definition, the echo simulator, data sets, training and
evaluation live in the development package ``EchoReconDev``.
"""
