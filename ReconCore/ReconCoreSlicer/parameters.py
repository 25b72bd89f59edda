"""Parameter packs shared by the module parameter nodes (``slicer.parameterNodeWrapper``)."""

from typing import Annotated

from slicer.parameterNodeWrapper import WithinRange, parameterPack

from ReconCoreLib.conventions import (PIXEL_SPACING_RANGE_MM, PRIMARY_ANGLE_RANGE_DEG, SECONDARY_ANGLE_RANGE_DEG,
                                      SOURCE_TO_DETECTOR_RANGE_MM, SOURCE_TO_PATIENT_RANGE_MM)


@parameterPack
class CArmViewParameters:
    """The C-arm geometry of one X-ray view, as a user enters it (the file's values fill it when it has them).

    primaryAngleDeg - PositionerPrimaryAngle (deg, LAO positive).
    secondaryAngleDeg - PositionerSecondaryAngle (deg, cranial positive).
    sourceToDetectorMm, sourceToPatientMm - source to detector and source to isocenter (mm).
    pixelSpacingMm - detector pixel size (mm, isotropic).

    In a .ui file a widget binds to a field as ``<parameter>.<field>``, e.g. ``view1Geometry.primaryAngleDeg``.
    """

    primaryAngleDeg: Annotated[float, WithinRange(*PRIMARY_ANGLE_RANGE_DEG)] = 0.0
    secondaryAngleDeg: Annotated[float, WithinRange(*SECONDARY_ANGLE_RANGE_DEG)] = 0.0
    sourceToDetectorMm: Annotated[float, WithinRange(*SOURCE_TO_DETECTOR_RANGE_MM)] = 1000.0
    sourceToPatientMm: Annotated[float, WithinRange(*SOURCE_TO_PATIENT_RANGE_MM)] = 750.0
    pixelSpacingMm: Annotated[float, WithinRange(*PIXEL_SPACING_RANGE_MM)] = 0.3
