"""FemurRegistration test helpers: a TorchScript stand-in with the network's interface that returns one known
registration (a similarity and a constant displacement with its exact inverse), and the simulated views; the
fixtures that use them are in conftest.py."""

import importlib.util

import numpy as np

from FemurRegistrationLib.samples import SAMPLE_DIRECTORY
from ReconCoreLib.xraygeometry import CArmGeometry

BUNDLED_MODEL = SAMPLE_DIRECTORY.parent / "Models" / "FemurRegistration.pt"
OUTPUT_FILES = ["volume.nrrd", "segmentation.seg.nrrd", "model.vtk", "transform.h5", "landmarks.mrk.json",
                "readouts.json", "scene.mrb", ".recon2d3d-result.json", "summary.png"]
#: Written besides when the inputs are DICOM and highdicom is installed (the pass with Slicer's packages has none).
DICOM_OUTPUT_FILES = ["seg.dcm", "sr.dcm"] if importlib.util.find_spec("highdicom") else []
READOUT_KEYS = {"side", "side_source", "view_separation_deg", "placement_disagreement_ap_mm",
                "placement_disagreement_lat_mm", "box_offset_mm", "box_turn_deg", "views_from_opposite_side",
                "femur_turn_deg", "inference_s", "ncc_ap", "ncc_lat", "min_jacobian", "femur_volume_mm3",
                "head_diameter_mm", "neck_shaft_angle_deg", "femoral_offset_mm"}
#: The known registration of the stand-in: similarity parameters (network units) and a constant displacement (mm).
SIMILARITY = [[0.3, -0.2, 0.5, 0.3, -0.2, 0.4, 0.05]]
SHIFT_MM = (1.5, -1.0, 2.0)
ISOCENTER = (0.0, 0.0, 0.0)  # a crop box centred on the isocenter (LPS mm), where the samples put the femur
DETECTOR = 128  # simulated radiographs: 128 x 128 pixels of 1.6 mm (205 mm, like a 512 x 0.4 mm detector)


def fixedRegistration(affine: np.ndarray, displacement: np.ndarray):
    """A stand-in module with the network's TorchScript interface returning one known registration (patient frame,
    working frame for a left femur) wherever the pipeline puts the crop box.

    The box centre ``c`` is read from the AP view's source: in the view rows it is the radiograph's source minus ``c``,
    and every AP view the tests use has its source SOD 925 mm from the isocenter at a primary angle that is a multiple
    of 5 deg, secondary 0 (80 mm apart: the nearest one is the source while ``c`` is under 40 mm). The map
    ``p -> T(p + c + u)`` is returned as the similarity ``T @ translation(c)`` and the same displacement ``u``. In a
    turned box frame (the run's pass for femurs turned more than ``pipeline.ROTATE_TOLERANCE_DEG``) its answer is not
    the known registration, and the run keeps the unturned one, whose silhouettes fit the masks."""
    import torch

    sources = np.array([CArmGeometry(angle, 0.0, 1000.0, 925.0, (1.0, 1.0), 8, 8).sourcePositionLps
                        for angle in np.arange(-90.0, 90.1, 5.0)])

    class FixedRegistration(torch.nn.Module):
        def __init__(self, affine: np.ndarray, displacement: np.ndarray, sources: np.ndarray):
            super().__init__()
            self.register_buffer("affine", torch.as_tensor(affine, dtype=torch.float32))
            self.register_buffer("displacement", torch.as_tensor(displacement, dtype=torch.float32))
            self.register_buffer("sources", torch.as_tensor(sources, dtype=torch.float32))

        def forward(self, images: torch.Tensor, masks: torch.Tensor, views: torch.Tensor):
            batch = images.shape[0]
            shape = [batch] + list(self.displacement.shape)
            offsets = self.sources[None] - views[:, 0:1, 0:3]  # [B, K, 3]: source candidates - source in the box
            nearest = torch.argmin((offsets * offsets).sum(2), dim=1)
            translation = torch.eye(4, dtype=views.dtype).repeat(batch, 1, 1)
            translation[:, :3, 3] = offsets[torch.arange(batch), nearest]
            return (self.affine[None] @ translation, self.displacement[None].expand(shape),
                    -self.displacement[None].expand(shape))

    return FixedRegistration(affine, displacement, sources)


def geometries(side="right", primaries=(0.0, -90.0)):
    sign = -1.0 if side == "left" else 1.0
    return [CArmGeometry(sign * primary, 0.0, 1000.0, 925.0, (1.6, 1.6), DETECTOR, DETECTOR) for primary in primaries]


def upsampledSample(directory, size: int, name: str = "FemurOrthogonal") -> dict:
    """A bundled sample at ``size`` x ``size`` pixels over the same field, written into ``directory``: the DICOM
    radiographs (every attribute kept; pixels interpolated bilinearly between pixel centres, ImagerPixelSpacing scaled
    by 512 / size) and their masks (each pixel the sample pixel it lies in). Returns the paths by role, as
    :func:`~FemurRegistrationLib.samples.sampleFiles` does (the reference is the sample's own)."""
    from pathlib import Path

    import pydicom
    from scipy.ndimage import map_coordinates

    from FemurRegistrationLib.samples import sampleFiles
    from ReconCoreLib.xrayio import readMaskImage, writeMaskImage

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    files = dict(sampleFiles(name))
    for key in ("ap", "lat"):
        dataset = pydicom.dcmread(files[key])
        stored = dataset.pixel_array
        count = stored.shape[0]
        centres = (np.arange(size) + 0.5) * count / size - 0.5  # each new pixel centre in sample pixels
        rows, columns = np.meshgrid(centres, centres, indexing="ij")
        pixels = map_coordinates(stored.astype(np.float32), [rows, columns], order=1, mode="nearest")
        dataset.Rows = dataset.Columns = size
        dataset.PixelData = np.round(pixels).astype(stored.dtype).tobytes()
        dataset.ImagerPixelSpacing = [f"{float(value) * count / size:.12g}" for value in dataset.ImagerPixelSpacing]
        files[key] = directory / f"{name}-{size}-{key}.dcm"
        dataset.save_as(files[key])
        mask = readMaskImage(files[key + "Mask"])
        inside = np.floor((np.arange(size) + 0.5) * count / size).astype(int)
        files[key + "Mask"] = directory / f"{name}-{size}-{key}-mask.png"
        writeMaskImage(files[key + "Mask"], mask[inside][:, inside])
    return files


def knownCaseViews(atlas: dict, registration, primaries=(0.0, -90.0)) -> dict:
    """The atlas moved by ``registration`` (right femur) and the same case mirrored (left femur), seen by the views
    of :func:`geometries` (``primaries`` for the right femur, negated for the left): per side its radiographs (DRRs of
    the femur alone), femur masks, label and ijkToRas."""
    from FemurRegistrationLib import inference, mirroring
    from FemurRegistrationLib.conventions import ATLAS_SPACING_MM
    from FemurRegistrationLib.drr import projectVolume, relativeAttenuation
    from FemurRegistrationLib.grid import boxGrid
    from ReconCoreLib.xraygeometry import LPS_TO_RAS
    from ReconCoreLib.xrayio import XrayImage

    hu, label = inference.warpAtlas(atlas, registration)
    ijkToLps, _ = boxGrid(ATLAS_SPACING_MM)
    cases = {}
    for side in ("right", "left"):
        volumeHu, volumeLabel, matrix = hu, label, ijkToLps
        if side == "left":
            volumeHu, volumeLabel = hu[..., ::-1].copy(), label[..., ::-1].copy()
            matrix = mirroring.mirrorIjkToLps(ijkToLps, hu.shape)
        views = geometries(side, primaries)
        images = projectVolume(relativeAttenuation(volumeHu) * volumeLabel, matrix, views)  # femur only
        masks = projectVolume(volumeLabel.astype(np.float32), matrix, views, "max") > 0.5
        cases[side] = {"views": [XrayImage(image, view, f"{side} {index}") for index, (image, view) in
                                 enumerate(zip(images, views))], "masks": list(masks), "label": volumeLabel,
                       "ijkToRas": LPS_TO_RAS @ matrix}
    return cases


def blob(geometry, pointLps, sigmaPx=5.0) -> np.ndarray:
    """An image of ``geometry``: a Gaussian spot of ``sigmaPx`` pixels where ``pointLps`` projects."""
    column, row = geometry.projectLps([pointLps])[0]
    rows, columns = np.mgrid[0:geometry.rows, 0:geometry.columns]
    return np.exp(-((columns - column) ** 2 + (rows - row) ** 2) / (2 * sigmaPx ** 2)).astype(np.float32)


def centroid(image) -> np.ndarray:
    """(column, row) of an image's spot: the centroid of its values above a fifth of its maximum."""
    weights = np.clip(image - 0.2 * image.max(), 0, None)
    rows, columns = np.mgrid[0:image.shape[0], 0:image.shape[1]]
    return np.array([(weights * columns).sum(), (weights * rows).sum()]) / weights.sum()
