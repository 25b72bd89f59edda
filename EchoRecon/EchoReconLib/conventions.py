"""EchoRecon's input and output conventions (standard library only: imported while Slicer starts)."""

#: The six standard views S2MNet takes (after Table 1 of Gong et al.): apical four-, two- and three-chamber,
#: short axis at the basal, mid-ventricular and apical levels. Inputs and outputs keep this order.
VIEWS = ("A4C", "A2C", "A3C", "SAXB", "SAXM", "SAXA")
APICAL_VIEWS = ("A4C", "A2C", "A3C")
#: The views every study must have (the network was trained with the others dropped, never these): a run on a
#: subset of VIEWS gives the others to the network as black images.
REQUIRED_VIEWS = ("A4C", "A2C")
#: Cardiac phases: end-diastole, end-systole.
PHASES = ("ED", "ES")
PHASE_NAMES = {"ED": "end-diastolic", "ES": "end-systolic"}
#: Heart structures; label = index + 1 in label images (0 is background).
STRUCTURES = ("LV cavity", "LV myocardium", "RV", "LA", "RA", "aortic root")
#: The network's input: every view resampled to IMAGE_SIZE x IMAGE_SIZE pixels at FIELD_DEPTH_MM / (IMAGE_SIZE - 1)
#: mm per pixel, the sector apex at row 0 and the middle column.
IMAGE_SIZE = 128
#: Depth of the field of view (mm) = image height of each view as the network was trained.
FIELD_DEPTH_MM = {"A4C": 180.0, "A2C": 180.0, "A3C": 180.0, "SAXB": 140.0, "SAXM": 140.0, "SAXA": 140.0}
