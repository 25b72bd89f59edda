"""Headless library of the EchoRecon module (no Qt).

It will implement S2MNet of
X. Gong, Y. Chen, S. Wu, F. Wang, P. Ma, W. Zhong, "S2MNet: Speckle-To-Mesh Net for Three-Dimensional Cardiac
Morphology Reconstruction via Echocardiogram", arXiv:2505.06105, 2025: a template heart mesh deformed by a
field predicted from six standard 2D echocardiography views (A4C, A2C, A3C and basal, mid and apical short
axis), giving chamber shapes, LV volumes and the ejection fraction.
"""
