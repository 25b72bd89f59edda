"""Code the Recon2Dto3D modules share: MRML runtime, X-ray geometry and I/O, projector, metrics, readouts.

Nothing here imports Qt: it runs inside Slicer and headless (slicer-core) alike.
"""

__version__ = "0.1.0"
