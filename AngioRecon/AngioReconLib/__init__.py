"""Runtime library of the AngioRecon module (no Qt): what a user's reconstruction runs.

The two-view coronary reconstruction of L. Wang, D. Liang, X. Yin, J. Qiu, Z. Yang, J. Xing, J. Dong, Z. Ma,
"Weakly-supervised 3D Coronary Artery Reconstruction From Two-view Angiographic Images", arXiv:2003.11846, 2020:
a Wasserstein GAN generator (bundled as TorchScript) maps two X-ray angiograms with known C-arm geometry to a 3D
voxel probability of the coronary tree. Stages: :mod:`vessels` (vessel maps), :mod:`pipeline` (the generator and
the outputs), :mod:`reprojection` (the cube and the re-projection checks), :mod:`skeleton2d` and :mod:`matching`
(2D centerlines and widths, matched into 3D centerlines, :mod:`centerlines`), :mod:`qca` (lesions),
:mod:`centerlineoutputs` (centerline, lumen, labelmap, markups and lesion-table outputs); :mod:`entry` is the
command line's entry, :mod:`samples` the bundled sample cases. The generator's definition, its training data and
training live in the development package ``AngioReconDev``.
"""
