"""Headless library of the FemurRegistration module (no Qt).

It will implement the atlas-to-radiograph registration network of
J. Van Houtte, E. Audenaert, G. Zheng, J. Sijbers, "Deep learning-based 2D/3D registration of an atlas to
biplanar X-ray images", International Journal of Computer Assisted Radiology and Surgery 17(7):1333-1342, 2022
(doi:10.1007/s11548-022-02586-3): affine and dense deformation of a femur CT atlas regressed from calibrated
AP and lateral radiographs through projective (ProST) and inverse-projective spatial transform layers.
"""
