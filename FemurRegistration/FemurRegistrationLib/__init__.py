"""Runtime library of the FemurRegistration module (no Qt): what a user's registration runs.

The 2D/3D registration of a femur CT atlas to calibrated AP and lateral radiographs of J. Van Houtte et al., "Deep
learning-based 2D/3D registration of an atlas to biplanar X-ray images", Int J CARS 17(7):1333-1342, 2022: a ProST
network (bundled as TorchScript) predicts a similarity and a diffeomorphic displacement. Stages:
:mod:`radiographs` (side, masks, the virtual detector), :mod:`inference` (the network, the atlas, frames),
:mod:`refine` (test-time refinement), :mod:`checks` and :mod:`hipmeasures` (readouts), :mod:`outputs`;
:mod:`pipeline` runs them, :mod:`entry` is the command line's entry, :mod:`samples` the bundled sample cases. The
network's definition, the phantoms, the shape model's sampling, training and evaluation live in the development
package ``FemurRegistrationDev``.
"""
