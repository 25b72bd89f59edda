"""AngioRecon's input and output conventions (standard library only: imported while Slicer starts)."""

#: Which coronary tree the injection shows.
TREES = ("left", "right")
#: The network's input: vessel maps resampled to IMAGE_SIZE x IMAGE_SIZE pixels of a detector whose central ray goes
#: through the cube's centre, the field NETWORK_FIELD_MM wide at that centre (the training views': 1.11 x the cube).
IMAGE_SIZE = 128
NETWORK_FIELD_MM = 142.08
#: The network's output: occupancy on a GRID_SIZE^3 cube of side CUBE_SIDE_MM, axis-aligned in LPS (2 mm voxels),
#: centred on the coronary tree (AngioReconLib.placement; in training, the C-arm isocenter).
GRID_SIZE = 64
CUBE_SIDE_MM = 128.0
#: The tree's colour in the Slicer scene (segment, model) and in summary.png (r, g, b in 0..1).
SEGMENT_COLOR = (0.85, 0.2, 0.2)
