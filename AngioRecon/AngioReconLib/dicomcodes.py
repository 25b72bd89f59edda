"""AngioRecon's DICOM codes: what its segments and readouts are, for the DICOM SEG and SR that
:mod:`ReconCoreLib.dicomoutputs` writes. Data only (standard library: nothing imported).

The format of each table and where the codes come from: :mod:`ReconCoreLib.dicomoutputs`.
"""

PROCEDURE = ("33367005", "SCT", "Coronary Arteriography")  # CID 3405
SEGMENTATIONS = {"segmentation.seg.nrrd": ""}

ANATOMICAL_STRUCTURE = ("91723000", "SCT", "Anatomical Structure")  # CID 7150
LEFT_CORONARY_ARTERY = ("50018008", "SCT", "Left Coronary Artery")  # CID 3015, 7151
RIGHT_CORONARY_ARTERY = ("13647002", "SCT", "Right Coronary Artery")  # CID 3015, 7151
TREES = ("left coronary tree", "right coronary tree")

SEGMENTS = {
    "left coronary tree": {"category": ANATOMICAL_STRUCTURE, "type": LEFT_CORONARY_ARTERY},
    "right coronary tree": {"category": ANATOMICAL_STRUCTURE, "type": RIGHT_CORONARY_ARTERY},
}

VOLUME = ("118565006", "SCT", "Volume")  # CID 7469, 7472
TWO_VIEWS = ("121218", "DCM", "Volume estimated from two non-coplanar 2D regions")  # CID 7472
# Private: Dice of the reconstruction projected onto an input view against that view's vessel map (no standard code).
VIEW_DICE = ("VIEWDICE", "99RECON2D3D", "Dice similarity coefficient with the input view")

READOUTS = {
    "vessel_volume_mm3": {"concept": VOLUME, "unit": "mm3", "decimals": 0, "segment": TREES, "method": TWO_VIEWS},
    "reprojection_dice_view1": {"concept": VIEW_DICE, "unit": "1", "decimals": 2, "segment": TREES,
                                "image": "view1"},
    "reprojection_dice_view2": {"concept": VIEW_DICE, "unit": "1", "decimals": 2, "segment": TREES,
                                "image": "view2"},
}

NOT_REPORTED = {
    "view_separation_deg": "acquisition geometry of the two views, not a finding",
    "frame_view1": "which frame of view 1's cine was used, not a finding",
    "frame_view2": "which frame of view 2's cine was used, not a finding",
    "frame_choice_view1": "how view 1's frame was chosen (ECG R waves, vessel contrast, given), not a finding",
    "frame_choice_view2": "how view 2's frame was chosen (ECG R waves, vessel contrast, given), not a finding",
    "tree": "categorical: the segment's type says which coronary tree",
    "visual_hull_volume_mm3": "the visual hull is a baseline method for comparison, not this result",
    "visual_hull_reprojection_dice_view1": "the visual hull is a baseline method for comparison, not this result",
    "visual_hull_reprojection_dice_view2": "the visual hull is a baseline method for comparison, not this result",
    "inference_s": "run time, not a finding",
    "cube_offset_mm": "where the tree lies from the isocenter: positioning, not a finding",
    "tree_location_disagreement_mm": "how well the views agree on where the tree is (a quality figure of the run)",
}
