"""FemurRegistration's DICOM codes: what its segments and readouts are, for the DICOM SEG and SR that
:mod:`ReconCoreLib.dicomoutputs` writes. Data only (standard library: nothing imported).

The format of each table and where the codes come from: :mod:`ReconCoreLib.dicomoutputs`.
"""

PROCEDURE = ("168537006", "SCT", "Plain radiography")  # CID 10005
SEGMENTATIONS = {"segmentation.seg.nrrd": ""}

ANATOMICAL_STRUCTURE = ("91723000", "SCT", "Anatomical Structure")  # CID 7150
FEMUR = ("71341001", "SCT", "Femur")  # CID 7151, 7304
FEMORAL_HEAD = ("2812003", "SCT", "Femoral head")  # CID 1005, 7304

SEGMENTS = {"femur": {"category": ANATOMICAL_STRUCTURE, "type": FEMUR, "lateral": True}}

VOLUME = ("118565006", "SCT", "Volume")  # CID 7469, 7472
DIAMETER = ("81827009", "SCT", "Diameter")  # CID 7470
TWO_VIEWS = ("121218", "DCM", "Volume estimated from two non-coplanar 2D regions")  # CID 7472
# Private: no code for these hip measurements in DICOM PS3.16 (CID 7304-7308 code the structures, not the figures).
NECK_SHAFT_ANGLE = ("NECKSHAFT", "99RECON2D3D", "Femoral neck-shaft angle")
FEMORAL_OFFSET = ("FEMOFFSET", "99RECON2D3D", "Femoral offset")
ANTEVERSION = ("ANTEVERSION", "99RECON2D3D", "Femoral anteversion angle")
# Private: agreement with a given reference segmentation (--reference) and with the input radiographs.
REFERENCE_DICE = ("REFDICE", "99RECON2D3D", "Dice similarity coefficient with the reference segmentation")
REFERENCE_JACCARD = ("REFJACCARD", "99RECON2D3D", "Jaccard index with the reference segmentation")
REFERENCE_HD95 = ("REFHD95", "99RECON2D3D", "95th percentile Hausdorff distance to the reference segmentation")
REFERENCE_ASSD = ("REFASSD", "99RECON2D3D", "Average symmetric surface distance to the reference segmentation")
VIEW_NCC = ("VIEWNCC", "99RECON2D3D", "Normalized cross-correlation with the input view")

READOUTS = {
    "femur_volume_mm3": {"concept": VOLUME, "unit": "mm3", "decimals": 0, "segment": ("femur",),
                         "method": TWO_VIEWS},
    "head_diameter_mm": {"concept": DIAMETER, "unit": "mm", "decimals": 1, "segment": ("femur",),
                         "site": FEMORAL_HEAD},
    "neck_shaft_angle_deg": {"concept": NECK_SHAFT_ANGLE, "unit": "deg", "decimals": 0, "segment": ("femur",)},
    "femoral_offset_mm": {"concept": FEMORAL_OFFSET, "unit": "mm", "decimals": 1, "segment": ("femur",)},
    "anteversion_deg": {"concept": ANTEVERSION, "unit": "deg", "decimals": 0, "segment": ("femur",)},
    "dice": {"concept": REFERENCE_DICE, "unit": "1", "decimals": 2, "segment": ("femur",)},
    "jaccard": {"concept": REFERENCE_JACCARD, "unit": "1", "decimals": 2, "segment": ("femur",)},
    "hd95_mm": {"concept": REFERENCE_HD95, "unit": "mm", "decimals": 1, "segment": ("femur",)},
    "assd_mm": {"concept": REFERENCE_ASSD, "unit": "mm", "decimals": 1, "segment": ("femur",)},
    "ncc_ap": {"concept": VIEW_NCC, "unit": "1", "decimals": 2, "segment": ("femur",), "image": "ap"},
    "ncc_lat": {"concept": VIEW_NCC, "unit": "1", "decimals": 2, "segment": ("femur",), "image": "lat"},
}

NOT_REPORTED = {
    "side": "categorical: the laterality of the femur segment and of its finding sites",
    "side_source": "where the side was read (the user, which DICOM attribute, or the femur's shape in the images), "
                   "not a finding",
    "side_shape_margin": "how clearly the femur's shape in the images shows its side (a quality figure of the run)",
    "view_separation_deg": "acquisition geometry of the two radiographs, not a finding",
    "placement_disagreement_ap_mm": "how well the views agree on where the femur is (a quality figure of the run)",
    "placement_disagreement_lat_mm": "how well the views agree on where the femur is (a quality figure of the run)",
    "box_offset_mm": "where the femur lies from the isocenter: positioning, not a finding",
    "box_turn_deg": "how far the box was turned to the femur's pose: a setting of the run, not a finding",
    "views_from_opposite_side": "views the network was given from the side it was trained on: a setting of the run",
    "femur_turn_deg": "the femur's pose against the atlas's: positioning, not a finding",
    "min_jacobian": "a property of the registration's deformation, not of the patient",
    "inference_s": "run time, not a finding",
    "refine_s": "run time, not a finding",
    "refine_steps": "a setting of the refinement, not a finding",
}
