"""EchoRecon's DICOM codes: what its segments and readouts are, for the DICOM SEG and SR that
:mod:`ReconCoreLib.dicomoutputs` writes. Data only (standard library: nothing imported).

The format of each table and where the codes come from: :mod:`ReconCoreLib.dicomoutputs`.
"""

PROCEDURE = ("40701008", "SCT", "Echocardiography")  # CID 3206, 12001
SEGMENTATIONS = {"segmentation.seg.nrrd": "end-diastole", "segmentation_es.seg.nrrd": "end-systole"}

ANATOMICAL_STRUCTURE = ("91723000", "SCT", "Anatomical Structure")  # CID 7150
HEART = ("80891009", "SCT", "Heart")  # CID 4, 7151
# The LV cavity (blood pool) is coded as the left ventricle: PS3.16 has no LV cavity or blood pool structure code, and
# the ventricular volumes (EDV, ESV) are the left ventricle's.
LEFT_VENTRICLE = ("87878005", "SCT", "Left ventricle")  # CID 4, 3010, 7151
LV_MYOCARDIUM = ("49848007", "SCT", "Left Ventricle Myocardium")  # CID 12305
RIGHT_VENTRICLE = ("53085002", "SCT", "Right ventricle")  # CID 4, 3010, 7151
LEFT_ATRIUM = ("82471001", "SCT", "Left atrium")  # CID 4, 3010, 7151
RIGHT_ATRIUM = ("73829009", "SCT", "Right atrium")  # CID 4, 3010, 7151
AORTIC_ROOT = ("8128003", "SCT", "Aortic Root")  # CID 12305

SEGMENTS = {
    "LV cavity": {"category": ANATOMICAL_STRUCTURE, "type": LEFT_VENTRICLE},
    "LV myocardium": {"category": ANATOMICAL_STRUCTURE, "type": LV_MYOCARDIUM},
    "RV": {"category": ANATOMICAL_STRUCTURE, "type": RIGHT_VENTRICLE},
    "LA": {"category": ANATOMICAL_STRUCTURE, "type": LEFT_ATRIUM},
    "RA": {"category": ANATOMICAL_STRUCTURE, "type": RIGHT_ATRIUM},
    "aortic root": {"category": ANATOMICAL_STRUCTURE, "type": AORTIC_ROOT},
}

VOLUME = ("118565006", "SCT", "Volume")  # CID 7469, 7472
SIX_VIEWS = ("121217", "DCM", "Volume estimated from three or more non-coplanar 2D regions")  # CID 7472
TWO_VIEWS = ("121218", "DCM", "Volume estimated from two non-coplanar 2D regions")  # CID 7472
#: Methods :func:`readoutMethod` gives in place of a readout's ``method`` (the standard-codes test checks them too).
OTHER_METHODS = (TWO_VIEWS,)
LV_EDV = ("18026-5", "LN", "Left Ventricular End Diastolic Volume")  # CID 12200, 12202
LV_ESV = ("18148-7", "LN", "Left Ventricular End Systolic Volume")  # CID 12200, 12202
STROKE_VOLUME = ("90096001", "SCT", "Stroke Volume")  # CID 12200, 12207
LV_EF = ("18043-0", "LN", "Left Ventricular Ejection Fraction by US")  # CID 12200, 12202
LV_MASS = ("18087-7", "LN", "Left Ventricle Mass")  # CID 12200, 12203
RV_EDV = ("8822-9", "LN", "Right Ventricular ED Volume")  # CID 3468
RV_ESV = ("8824-5", "LN", "Right Ventricular ES Volume")  # CID 3469
LA_EDV = ("122407", "DCM", "Left Atrial ED Volume")  # CID 3468
LA_ESV = ("122408", "DCM", "Left Atrial ES Volume")  # CID 3469
SIMPSON_EDV = ("79996-5", "LN", "Left ventricular end diastolic volume biplane (MOD)")  # CID 12300
SIMPSON_ESV = ("80001-1", "LN", "Left ventricular end systolic volume biplane (MOD)")  # CID 12300
SIMPSON_EF = ("79991-6", "LN", "Left ventricular ejection fraction biplane (MOD)")  # CID 12300
# Private: Dice of the reconstructed heart cut by a view's plane against the heart segmented in that view.
VIEW_DICE = ("VIEWDICE", "99RECON2D3D", "Dice similarity coefficient with the input view")

ED, ES = " (end-diastole)", " (end-systole)"
READOUTS = {
    "lv_edv_ml": {"concept": LV_EDV, "unit": "ml", "decimals": 0, "segment": ("LV cavity" + ED,), "method": SIX_VIEWS},
    "lv_esv_ml": {"concept": LV_ESV, "unit": "ml", "decimals": 0, "segment": ("LV cavity" + ES,), "method": SIX_VIEWS},
    "lv_sv_ml": {"concept": STROKE_VOLUME, "unit": "ml", "decimals": 0, "site": LEFT_VENTRICLE},
    "lv_ef_percent": {"concept": LV_EF, "unit": "%", "decimals": 0, "site": LEFT_VENTRICLE},
    "lv_mass_g": {"concept": LV_MASS, "unit": "g", "decimals": 0, "segment": ("LV myocardium" + ED,)},
    "rv_edv_ml": {"concept": RV_EDV, "unit": "ml", "decimals": 0, "segment": ("RV" + ED,), "method": SIX_VIEWS},
    "rv_esv_ml": {"concept": RV_ESV, "unit": "ml", "decimals": 0, "segment": ("RV" + ES,), "method": SIX_VIEWS},
    "la_volume_ed_ml": {"concept": LA_EDV, "unit": "ml", "decimals": 0, "segment": ("LA" + ED,), "method": SIX_VIEWS},
    "la_volume_es_ml": {"concept": LA_ESV, "unit": "ml", "decimals": 0, "segment": ("LA" + ES,), "method": SIX_VIEWS},
    # No right atrial volume code in PS3.16: Volume, the phase given by the segment it belongs to.
    "ra_volume_ed_ml": {"concept": VOLUME, "unit": "ml", "decimals": 0, "segment": ("RA" + ED,), "method": SIX_VIEWS},
    "ra_volume_es_ml": {"concept": VOLUME, "unit": "ml", "decimals": 0, "segment": ("RA" + ES,), "method": SIX_VIEWS},
    "simpson_edv_ml": {"concept": SIMPSON_EDV, "unit": "ml", "decimals": 0, "site": LEFT_VENTRICLE,
                       "image": ("ED A4C", "ED A2C")},
    "simpson_esv_ml": {"concept": SIMPSON_ESV, "unit": "ml", "decimals": 0, "site": LEFT_VENTRICLE,
                       "image": ("ES A4C", "ES A2C")},
    "simpson_ef_percent": {"concept": SIMPSON_EF, "unit": "%", "decimals": 0, "site": LEFT_VENTRICLE,
                           "image": ("ED A4C", "ED A2C", "ES A4C", "ES A2C")},
}
# each view's Dice with its input image, ED ("view_dice_a4c") and ES ("view_dice_es_a4c")
READOUTS.update({f"view_dice{prefix}_{view.lower()}": {"concept": VIEW_DICE, "unit": "1", "decimals": 2, "site": HEART,
                                                       "image": f"{phase} {view}"}
                 for phase, prefix in (("ED", ""), ("ES", "_es"))
                 for view in ("A4C", "A2C", "A3C", "SAXB", "SAXM", "SAXA")})

NOT_REPORTED = {
    "inference_s": "run time, not a finding",
    "view_fit": "what the view fit moved (pose, or pose and shape): a method setting",
    "views_used": "the input views: the SR references the input images and codes the method by their number",
    "view_count": "the number of input views: the SR codes the volumes' method by it",
    "view_label_disagreements": "views whose image the view classifier reads as another view: a check of the input",
}
# the 90 % interval of the LV volumes and EF for the views used (EchoReconLib.viewsets)
NOT_REPORTED.update({f"lv_{key}_{end}_{unit}": "the calibrated interval of a readout the SR reports, not a finding"
                     for key, unit in (("edv", "ml"), ("esv", "ml"), ("ef", "percent")) for end in ("low", "high")})

# each view's fit residual (mm), ED and ES: a quality measure of the input, not a finding
NOT_REPORTED.update({f"view_residual{prefix}_{view.lower()}_mm": "quality of the view's fit, not a finding"
                     for prefix in ("", "_es") for view in ("A4C", "A2C", "A3C", "SAXB", "SAXM", "SAXA")})
# the frames a run chose in each view's cine, and the LV area change they come from: how the input was read
NOT_REPORTED.update({f"{key}_{view.lower()}": "how the cine was read, not a finding"
                     for key in ("ed_frame", "ed_choice", "es_frame", "lv_area_change")
                     for view in ("A4C", "A2C", "A3C", "SAXB", "SAXM", "SAXA")})
# where the heart lay in each view against where training put it, and the views the run moved onto it (placement)
NOT_REPORTED.update({f"heart_offset_{axis}_{view.lower()}_mm": "where the heart lay in the view's sector: how the "
                     "input was read, not a finding" for axis in ("depth", "lateral")
                     for view in ("A4C", "A2C", "A3C", "SAXB", "SAXM", "SAXA")})
NOT_REPORTED["recentred_views"] = "the views the run moved onto the heart before its second pass: a method step"


def readoutMethod(key: str, readouts):
    """The method of readout ``key`` in this run (``None``: its ``method`` in READOUTS): volumes from A4C and A2C
    alone are estimated from two non-coplanar regions, not three or more."""
    if READOUTS[key].get("method") == SIX_VIEWS and readouts.values.get("view_count") == 2:
        return TWO_VIEWS
    return None
