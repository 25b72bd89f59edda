"""Headless library of the AngioRecon module (no Qt).

It will implement the two-view coronary reconstruction of
L. Wang, D. Liang, X. Yin, J. Qiu, Z. Yang, J. Xing, J. Dong, Z. Ma, "Weakly-supervised 3D Coronary Artery
Reconstruction From Two-view Angiographic Images", arXiv:2003.11846, 2020: a Wasserstein GAN generator that
maps two X-ray angiograms with known C-arm geometry to a 3D voxel probability of the coronary tree.
"""
