"""Constants of the input and output conventions every module shares, and the one-line form of a user-facing error
message (standard library only).

This file is imported while Slicer starts (parameter nodes take their ranges from it), so it must stay free of
numpy, torch and anything else that is slow or may be missing there.
"""

#: Where a network may run: "auto" (CUDA when usable, else CPU), "cpu" or "cuda".
DEVICES = ("auto", "cpu", "cuda")

# Plausible C-arm / radiograph values; a value outside is refused with a message naming the DICOM attribute.
#: PositionerPrimaryAngle (deg, LAO positive).
PRIMARY_ANGLE_RANGE_DEG = (-180.0, 180.0)
#: PositionerSecondaryAngle (deg, cranial positive).
SECONDARY_ANGLE_RANGE_DEG = (-90.0, 90.0)
#: DistanceSourceToDetector (mm): mobile C-arms (~900 mm) to long-distance chest radiography (1800 mm), with margin.
SOURCE_TO_DETECTOR_RANGE_MM = (300.0, 2500.0)
#: DistanceSourceToPatient (mm), source to isocenter.
SOURCE_TO_PATIENT_RANGE_MM = (100.0, 2400.0)
#: ImagerPixelSpacing (mm).
PIXEL_SPACING_RANGE_MM = (0.01, 5.0)
#: Largest Rows / Columns of an X-ray image.
MAX_PIXELS = 16384

#: The torch the bundled TorchScript models are exported and tested with. No other torch build was available to test
#: (only 2.13.0 installs here without downloading CUDA), so the range claimed is that release onwards; an older torch
#: may still load them, but that is not proven. PyTorchUtils installs the newest torch by default.
MODEL_TORCH_VERSION = "2.13.0"
#: The torch a run needs (``pip`` specifier; inside Slicer PyTorchUtils installs it: ReconCoreSlicer.dependencies).
TORCH_REQUIREMENT = ">=2.13"
#: Import names a run needs beyond numpy, SimpleITK, VTK and pydicom (which Slicer bundles).
RUNTIME_PACKAGES = ("torch", "monai")


def oneLine(error: BaseException, limit: int | None = None) -> str:
    """An exception's message as the one line a user is shown (its type's name when it has none), cut to ``limit``
    characters."""
    text = " ".join(str(error).split()) or type(error).__name__
    return text[:limit] + "..." if limit is not None and len(text) > limit else text
