"""AngioRecon's input and output conventions (standard library only: imported while Slicer starts)."""

#: Which coronary tree the injection shows.
TREES = ("left", "right")
#: The network's input: vessel maps resampled to IMAGE_SIZE x IMAGE_SIZE pixels, the view's geometry scaled to match.
IMAGE_SIZE = 128
#: The network's output: occupancy on a GRID_SIZE^3 cube of side CUBE_SIDE_MM, axis-aligned in LPS, centred at
#: the C-arm isocenter (2 mm voxels).
GRID_SIZE = 64
CUBE_SIDE_MM = 128.0
#: The tree's colour in the Slicer scene (segment, model) and in summary.png (r, g, b in 0..1).
SEGMENT_COLOR = (0.85, 0.2, 0.2)
