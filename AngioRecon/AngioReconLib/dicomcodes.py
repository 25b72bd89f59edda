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

# Codes from PS3.16 as pydicom's code dictionary (pydicom.sr.codedict) spells them.
LUMEN_DIAMETER_STENOSIS = ("408715008", "SCT", "Lumen Diameter Stenosis")
VESSEL_LUMEN_DIAMETER = ("397413000", "SCT", "Vessel lumen diameter")
NUMBER_OF_LESIONS = ("246206008", "SCT", "Number of lesions (observable entity)")
LENGTH = ("410668003", "SCT", "Length")

READOUTS = {
    # the lumen of the 3D centerlines' tubes: what the SEG's segment holds
    "lumen_volume_mm3": {"concept": VOLUME, "unit": "mm3", "decimals": 0, "segment": TREES, "method": TWO_VIEWS},
    "reprojection_dice_view1": {"concept": VIEW_DICE, "unit": "1", "decimals": 2, "segment": TREES,
                                "image": "view1"},
    "reprojection_dice_view2": {"concept": VIEW_DICE, "unit": "1", "decimals": 2, "segment": TREES,
                                "image": "view2"},
    # the worst lesion: its percent diameter stenosis and minimal lumen diameter (stenoses.tsv has every lesion)
    "max_diameter_stenosis_percent": {"concept": LUMEN_DIAMETER_STENOSIS, "unit": "%", "decimals": 0,
                                      "segment": TREES},
    "max_stenosis_mld_mm": {"concept": VESSEL_LUMEN_DIAMETER, "unit": "mm", "decimals": 1, "segment": TREES},
    "lesion_count": {"concept": NUMBER_OF_LESIONS, "unit": "1", "decimals": 0, "segment": TREES},
    "centerline_length_mm": {"concept": LENGTH, "unit": "mm", "decimals": 0, "segment": TREES},
}

NOT_REPORTED = {
    "vessel_volume_mm3": "the generator's 2 mm occupancy (volume.nrrd), not the lumen the SEG holds (lumen_volume_mm3)",
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
    "centerline_matched_fraction_view1": "how much of view 1's vessels the 3D centerlines explain (quality of the run)",
    "centerline_matched_fraction_view2": "how much of view 2's vessels the 3D centerlines explain (quality of the run)",
    "edge_blur_view1_mm": "the blur of view 1's vessel edges the lumen widths were corrected for (image quality)",
    "edge_blur_view2_mm": "the blur of view 2's vessel edges the lumen widths were corrected for (image quality)",
    "max_stenosis_branch": "categorical: the worst lesion's branch name (anatomical where confident, else its "
                           "number; not a coded finding)",
    "anatomical_names_fraction": "share of the centerline length named by anatomy (quality of the run)",
    "lesions_50_percent_count": "a count of lesions at or above a threshold: no code for it; stenoses.tsv lists them",
    "branch_count": "how many branches the reconstruction found, not a finding",
}
