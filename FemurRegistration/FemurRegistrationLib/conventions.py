"""FemurRegistration's input and output conventions (standard library only: imported while Slicer starts)."""

#: Which femur the radiographs show; a left femur is registered as the mirrored right femur.
SIDES = ("left", "right")
#: DICOM Modality values of the radiographs: DX and CR (digital and computed radiography: hip radiographs), and RF
#: because intra-operative hip images come from fluoroscopy C-arms, which store them as RF with the positioner angles
#: and distances the registration needs. XA (angiography) and every other modality are refused.
FEMUR_MODALITIES = ("DX", "CR", "RF")
#: The two radiographs, in the order the network takes them.
VIEW_NAMES = ("AP", "lateral")
#: The network's virtual detector: IMAGE_SIZE x IMAGE_SIZE pixels of DETECTOR_PIXEL_MM (96 px cover ~195 mm, about
#: 180 mm at the isocenter for the paper's geometry, magnification 1000 / 925), centred on the central ray.
IMAGE_SIZE = 96
DETECTOR_PIXEL_MM = 2.03
#: The ray segment sampled by the projector: a sphere of this radius around the crop box centre holds the box.
RAY_RADIUS_MM = 120.0
#: The crop box (x, y, z) in mm, centred where the femur is found (:mod:`.placement`), axis-aligned in LPS: where the
#: atlas is registered. The atlas volume lives on its 1 mm grid, the network on 2 mm, the displacement field on 4 mm.
BOX_SIZE_MM = (128.0, 112.0, 160.0)
ATLAS_SPACING_MM, NETWORK_SPACING_MM, FIELD_SPACING_MM = 1.0, 2.0, 4.0
