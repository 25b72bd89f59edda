"""EchoRecon pipeline: six 2D echo views per cardiac phase -> labelled 3D heart, LV volumes and EF, with checks.

Steps: read each view (DICOM US, a chosen frame of a cine; or ``.nrrd``/``.png``/... with an optional JSON sidecar),
check the set of views, resample every image to the network's 128 x 128 input at the training pixel spacing of its
view, run the network (S2MNet: template vertex displacements + a 2D segmentation of every view, end-diastole and
end-systole in one batch), then measure (LV volumes, EF, LV mass, biplane Simpson's on the 2D segmentation, overlap
of the mesh's standard view planes with each image's segmented heart) and build the outputs: one model per
structure, a segmentation made from the closed surfaces, a readouts table.

Inputs. A phase is ``{view: image}`` with every view of :data:`~EchoReconLib.echosim.VIEWS` (A4C, A2C, A3C, SAXB,
SAXM, SAXA): the network was trained on all six, never with a view missing, so a missing view is refused. Images are
2D, row 0 at the top as displayed, the sector apex (transducer) at the top. Pixel spacing: DICOM ``PixelSpacing``
or the ultrasound region's ``PhysicalDeltaX/Y`` (cm); the sidecar's ``PixelSpacing`` ([row, column] mm, the DICOM
keyword, as :mod:`EchoReconLib.samples` writes); the header of ``.nrrd``/``.nii``/``.mha`` files. A sidecar's
``ViewLabel`` and ``CardiacPhase`` must match the view and phase the image is given for.

Network input (:func:`networkInput`). Every image is resampled to 128 x 128 at the pixel spacing the network was
trained with for its view (:data:`~EchoReconLib.echosim.FIELD_DEPTH_MM` / 127: 1.417 mm for the apical views,
1.102 mm for the short-axis views), one isotropic scale so the aspect ratio is kept, with the sector apex at row 0
and the middle column: the DICOM ultrasound region's reference pixel when the file has one, else the top middle of
the image. What lies beyond the field of view is cut, what the image does not cover is black (as outside the
sector); a downsampled image is smoothed first (Gaussian, sigma = (factor - 1) / 2 pixels). Without a pixel
spacing (a PNG without sidecar) the image height is taken as the training field depth (180 mm apical, 140 mm short
axis) and a warning says so: every volume scales with the cube of that guess. Grey levels: 8-bit images / 255,
others linearly from their minimum and maximum to [0, 1]; colour images are reduced to luminance.

Coordinates. The network predicts the template's vertices in its heart frame (:mod:`EchoReconLib.hearttemplate`:
origin at the mitral annulus centre, +z from the base to the LV apex, +x toward the RV). 2D echo does not say where
the heart is in the patient, so the outputs put the heart frame's origin (the mitral annulus centre) at the RAS
origin, turned into the anatomical orientation the template heart had in its CT (:func:`heartToRas`: apex to the
left, anterior and inferior). That placement is the template's, not the patient's: volumes, EF and mass do not
depend on it.

Readouts (:func:`measure`): ``lv_edv_ml`` (closed LV cavity surface), ``lv_mass_g`` (LV myocardial volume, epicardial
minus cavity, x 1.05 g/mL), ``rv_edv_ml``, ``la_volume_ed_ml``, ``ra_volume_ed_ml``, ``simpson_edv_ml`` (biplane method
of disks on the network's A4C / A2C LV cavity segmentation), ``view_dice_<view>`` (Dice between the mesh cut by the
standard plane of the view, :func:`~EchoReconLib.echosim.viewPlanes` on the predicted vertices, and the heart
region, labels 1-6, of the network's segmentation of that image), ``inference_s``; with end-systole also
``lv_esv_ml``, ``lv_sv_ml``, ``lv_ef_percent``, ``rv_esv_ml``, ``la_volume_es_ml``, ``ra_volume_es_ml``,
``simpson_esv_ml``, ``simpson_ef_percent`` and ``view_dice_es_<view>``. Warnings: ESV above EDV, a view overlapping
poorly (Dice < :data:`LOW_VIEW_DICE`), biplane Simpson's far from the 3D volume, images without pixel spacing.

Outputs (:func:`writeOutputs`): ``segmentation.seg.nrrd`` (closed surfaces -> 1 mm labelmap; the LV myocardium
segment is the wall only), ``<structure>.vtk`` (``lv_cavity``, ``lv_myocardium``, ``rv``, ``la``, ``ra``,
``aortic_root``), the same with ``_es`` for end-systole, ``readouts.json`` and ``scene.mrb``.

Console example (Slicer Python console or any Python with the environment)::

    from EchoReconLib import pipeline
    cases = pipeline.sampleCases()["EchoNormal"]
    ed = {view: pipeline.readEchoImage(path) for view, path in cases["ED"].items()}
    es = {view: pipeline.readEchoImage(path) for view, path in cases["ES"].items()}
    result = pipeline.reconstruct(ed, es, device="cpu")
    print(result.readouts.summary())
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping, Optional

import numpy as np

from ReconCoreLib.readouts import Readouts

from .echosim import FIELD_DEPTH_MM, IMAGE_SIZE, PHASES, VIEWS
from .heartshapes import MYOCARDIAL_DENSITY_G_PER_ML  # 1.05 g/mL: LV mass = myocardial volume x 1.05
from .hearttemplate import STRUCTURES, HeartTemplate

MODULE = "EchoRecon"
SAMPLE_DIRECTORY = Path(__file__).resolve().parents[1] / "Resources" / "SampleData"
SAMPLE_PATIENTS = ("EchoNormal", "EchoDilated")
PHASE_NAMES = {"ED": "end-diastolic", "ES": "end-systolic"}
#: Voxel size (mm) of the segmentation's labelmap (one grid for both phases, axis-aligned in RAS).
SEGMENTATION_SPACING_MM = 1.0
SEGMENTATION_MARGIN_MM = 3.0
#: Below this overlap of a view's mesh cut with the image's segmented heart, a warning asks to check the view.
LOW_VIEW_DICE = 0.5
#: Relative difference between biplane Simpson's volume and the 3D LV cavity above which a warning is given.
SIMPSON_DISAGREEMENT = 0.3
#: Smallest image side (pixels) accepted.
MIN_IMAGE_SIZE = 32
#: Relative pixel spacing difference above which ED and ES of one view are not frames of one cine.
SPACING_TOLERANCE = 0.01
IMAGE_SUFFIXES = (".nrrd", ".nii.gz", ".nii", ".png", ".mha", ".mhd", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
#: Formats whose files hold no physical pixel spacing (a header spacing of 1 means nothing there).
NO_SPACING_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
#: Colours (r, g, b in 0..1) of the structures, in :data:`STRUCTURES` order: left heart red, right heart blue.
STRUCTURE_COLORS = {
    "LV cavity": (0.86, 0.20, 0.18),
    "LV myocardium": (0.87, 0.66, 0.52),
    "RV": (0.25, 0.45, 0.85),
    "LA": (0.96, 0.56, 0.52),
    "RA": (0.55, 0.72, 0.96),
    "aortic root": (0.93, 0.78, 0.25),
}
#: Opacity of each structure's model in 3D (the LV myocardium is see-through so the cavity shows).
STRUCTURE_OPACITY = {"LV myocardium": 0.35}
_MODEL_REFERENCE_ROLE = "echoReconModel"
_STRUCTURE_ATTRIBUTE = "EchoRecon.structure"

#: SHA-256 of the bundled sample files (``python -m EchoReconLib.samples --out Resources/SampleData`` writes them;
#: checked by the tests and by Slicer's SampleData module).
SAMPLE_SHA256 = {
    "EchoDilated_ED_A2C.json": "aeed0a0ffbcaccf620457d5c7fdd2eaae92f5d2bd6c7d67ff7656e33ce1c6a9a",
    "EchoDilated_ED_A2C.png": "4fb3b52721a29555965e27adccbc3698b8542f14c53556a93c5943fd14893308",
    "EchoDilated_ED_A3C.json": "7c01439559fa9a8a320bc7705fb5e019af51f91cd0d9b7ab5f1cfc68aca17fee",
    "EchoDilated_ED_A3C.png": "382528b1a6d0c0796e6ef80c82b97f3549faa3df26a9ac53acbf21a4d494b9f8",
    "EchoDilated_ED_A4C.json": "3d48b86abc34241792823400fbde9048b3ba4e82f26a2d93149623db2dbdbbe1",
    "EchoDilated_ED_A4C.png": "d9505bf9086ad016071c883676c76484bf82c74463e4106e641914ff31462a8d",
    "EchoDilated_ED_SAXA.json": "b87f848726a6d1e4e651e7ebdf2ad6acd5b8300f18ce174f34a9aab094ea2951",
    "EchoDilated_ED_SAXA.png": "782df4542747f699caa33feebca2b8e62e8660c4ad6cb8153bf6a827f5346712",
    "EchoDilated_ED_SAXB.json": "e8f34caa30c41a6ca5dc087a2cd193bff285eb77b9951ba8424ede0bbd615855",
    "EchoDilated_ED_SAXB.png": "4a453640ca7975d0e374c66c8dcde4c39f160f5ab7ac568da6d5936780e292f8",
    "EchoDilated_ED_SAXM.json": "cb6e399a7cac48ea00d7ded651f3d7856fb1d0299576483c3f81913ec078f84f",
    "EchoDilated_ED_SAXM.png": "44e366d7b23738e464875f99aa72e218069fefb0981151d6f555ccd6965b5977",
    "EchoDilated_ES_A2C.json": "02a48288ce37ddd2a6bf8b461e8181739abf053fa713bfa670c04148934005dc",
    "EchoDilated_ES_A2C.png": "c1688db0d67554dedbc7bffbbaf3a6abb2f92170ab6b625c2d366a6a17f55ac4",
    "EchoDilated_ES_A3C.json": "bc249dd12e0a2f42b20af52adcbe1f01a085b0ce9cbd3502f976b9c398bc4cb9",
    "EchoDilated_ES_A3C.png": "9664be5e8c1ced8934ad6844d081f11b27b1a4ac3d78c42b56c1ac42fd073372",
    "EchoDilated_ES_A4C.json": "e1726d622a5af8b16d25d3e70fbec3dcc3370e7905d260abd1428d5459719731",
    "EchoDilated_ES_A4C.png": "1e461693677236ad0ef1266095dcccb1c80b2b69b97e008633696931627f2a7f",
    "EchoDilated_ES_SAXA.json": "ff4a7797657bf1cad6d16333d26d2ff62ad79bda76b5af8fd90ea6243888fc5d",
    "EchoDilated_ES_SAXA.png": "831751f2e4d5e039ba396faec22790eed4482fa60ea6aad0ea2305b2aee0c586",
    "EchoDilated_ES_SAXB.json": "907b74a6b7f9676718f87f78cfab2c48e22e35644d1fcb4d237187f0bcbc9bb5",
    "EchoDilated_ES_SAXB.png": "75e89871346b15d4ec745359026d37cf1f9d0ca5f02f803ddabcd7774fadd7ad",
    "EchoDilated_ES_SAXM.json": "215798274f15e04742119daa23c1054bdcc790d1d716f1eb45fcdcc8e5e70306",
    "EchoDilated_ES_SAXM.png": "d3bdf93d4fba0771db38d1c3e8ac0c98a414e6a861fba653106c848a300b16d0",
    "EchoNormal_ED_A2C.json": "53ebd037730c25e7d3b5a950b3bfa164ea1aa0186f8274bedb75e5e221aba520",
    "EchoNormal_ED_A2C.png": "c479d4ca80ef323b30bbbc1c75e9e4e1a81018534b5b7f38e4adfddc0d79cf8d",
    "EchoNormal_ED_A3C.json": "fec0104d10ab9e9603eda4cda0f2a398073e896050f923f1e6cafd111408e878",
    "EchoNormal_ED_A3C.png": "3fbe5c204ffd8c3a38e68c0d72780a2560281526988ec2ccb281adef4a25b512",
    "EchoNormal_ED_A4C.json": "2c054a6230e8e387c0f8efd1773885895ced0c4666af92283b33153d2b3a4082",
    "EchoNormal_ED_A4C.png": "f273d8e9e442b60caead2ad98383eb27bbac29d2b5e1d29a74364fc81a19a5ae",
    "EchoNormal_ED_SAXA.json": "0142bf1f0c288fcd631da2e3089f39e21756bb1710c0ed1a67c0036d11604b8b",
    "EchoNormal_ED_SAXA.png": "1c17609693e035f1f8222755ca5ab6be81d9d2a93af79d91bffb837e146c6e08",
    "EchoNormal_ED_SAXB.json": "5aef09d0b9366c51af693758236ab569bb9e4f75e86228612abeacd68e02e661",
    "EchoNormal_ED_SAXB.png": "d3d8b276e3de1931f4da0fa79fc9f1ba058bb452549df8c56850afb7025d49de",
    "EchoNormal_ED_SAXM.json": "67cb6c1f37bbcf8762032ebcf7f29fb5127d440961d74aae671ffb474d4779d6",
    "EchoNormal_ED_SAXM.png": "bc44fc9ad72405c854cb039e5c8588b28b80e406e8ef1d22f4ec0369d5fdf558",
    "EchoNormal_ES_A2C.json": "c53ca34462b9506eb35fe98c15bca691aa58b708fba017d80a419c6cf8b3c549",
    "EchoNormal_ES_A2C.png": "7d33e057790706cd75da2660414d5b30ed962328e6a50ad4c1c106bca1d232a2",
    "EchoNormal_ES_A3C.json": "0c6c3d8b07c8846fa7592f65a25cc78e4873be0d1e562da495645878f1f9b4f1",
    "EchoNormal_ES_A3C.png": "041a65639cd4724e21635083e190dd5833289e28b16c28b27ea8824e7c6a1b94",
    "EchoNormal_ES_A4C.json": "8caf9d03d821d76fb874c7092cff6913c25b5e894071d7e22d46ef256ec278a5",
    "EchoNormal_ES_A4C.png": "dbbc5a7e8d22fd60647fdb5ecb8e44d20173b445534acef132ed55d6bed1e1d9",
    "EchoNormal_ES_SAXA.json": "1aeef7fabade34e291237be1175a0f1ffcfde57b306ce1245a43720ad0e71271",
    "EchoNormal_ES_SAXA.png": "e37403f3eac612a9464c43e3ad78048ae525c81ee2a2ee0e1ed7b40569fff944",
    "EchoNormal_ES_SAXB.json": "b8dcd5ff89e94be1a235e7f85d64838e2a83a1f3bb68e992465c07014e14c4c8",
    "EchoNormal_ES_SAXB.png": "1e102bb4775d8c8837092beb0ad18547d35e5d4bcf7a3f8b5fcabc48dece4c8e",
    "EchoNormal_ES_SAXM.json": "4a43d08857ecd054c7cfb631aacf1e53424924c7b2ffded32b90de76daacfd46",
    "EchoNormal_ES_SAXM.png": "01ec1d7a2ed7a298d8395c7f2f7755ed9949330190aede3c62cce51e055e256c",
}


def fileStem(structure: str) -> str:
    """snake_case file name stem of a structure ("LV cavity" -> "lv_cavity")."""
    return structure.lower().replace(" ", "_")


def heartToRas(template: Optional[HeartTemplate] = None) -> np.ndarray:
    """4x4 heart frame -> RAS: the template's CT orientation (rotation only), mitral annulus centre at the origin."""
    template = template or HeartTemplate.load()
    matrix = np.eye(4)
    matrix[:3, :3] = np.diag([-1.0, -1.0, 1.0]) @ template.frameToSource[:3, :3]  # source LPS -> RAS
    return matrix


# -- input images ---------------------------------------------------------------------------------------------


@dataclass
class EchoImage:
    """One 2D echo image: grey levels in [0, 1] and what is known about it."""

    pixels: np.ndarray  #: float32 [rows, columns] in [0, 1], row 0 at the top
    pixelSpacingMm: Optional[tuple] = None  #: (row, column) mm, None when unknown
    sourcePath: str = ""
    viewLabel: str = ""  #: view named by the file itself (sidecar ViewLabel), "" when it names none
    phaseLabel: str = ""  #: phase named by the file (sidecar CardiacPhase: ED / ES), "" when none
    apexPixel: Optional[tuple] = None  #: (row, column) of the sector apex; None: top middle of the image
    frameIndex: int = 0
    numberOfFrames: int = 1

    @property
    def name(self) -> str:
        return self.sourcePath or "image"


def _check(abortFlag, progressCallback, fraction, message):
    if abortFlag is not None and abortFlag():
        raise InterruptedError("cancelled")
    if progressCallback is not None:
        progressCallback(fraction, message)


def _selectFrame(frames: np.ndarray, frame: Optional[int], source: str) -> np.ndarray:
    """One frame [rows, columns(, channels)] of frames [F, rows, columns(, channels)]."""
    count = len(frames)
    if count == 1:
        if frame not in (None, 0):
            raise ValueError(f"{source}: frame {frame} requested but the image has a single frame")
        return frames[0]
    if frame is None:
        raise ValueError(f"{source}: a cine of {count} frames; choose the frame of this phase (0-{count - 1}): "
                         "VIEW=FILE@FRAME on the command line, the frame box in Slicer")
    if not 0 <= frame < count:
        raise ValueError(f"{source}: frame {frame} does not exist (the cine has {count} frames, 0-{count - 1})")
    return frames[frame]


def _greyLevels(array: np.ndarray, eightBit: bool, source: str) -> np.ndarray:
    """2D grey image in [0, 1] from a 2D grey or colour array: checks shape, NaNs and contrast."""
    array = np.asarray(array)
    if array.ndim == 3 and array.shape[-1] in (3, 4):  # RGB(A): ITU-R BT.601 luminance, alpha ignored
        array = array[..., :3].astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    elif array.ndim == 3 and array.shape[-1] == 2:  # grey + alpha
        array = array[..., 0]
    if array.ndim != 2:
        raise ValueError(f"{source}: expected a 2D image, got an array of shape {tuple(np.shape(array))}")
    if not np.issubdtype(array.dtype, np.number):
        raise ValueError(f"{source}: image pixels are not numbers ({array.dtype})")
    if min(array.shape) < MIN_IMAGE_SIZE:
        raise ValueError(f"{source}: image of {array.shape[0]} x {array.shape[1]} pixels is too small "
                         f"(at least {MIN_IMAGE_SIZE} x {MIN_IMAGE_SIZE})")
    array = array.astype(np.float32)
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{source}: image contains NaN or infinite values")
    low, high = float(array.min()), float(array.max())
    if high == low:
        raise ValueError(f"{source}: image is empty or constant")
    if eightBit and low >= 0.0 and high <= 255.0:
        return array / 255.0
    return (array - low) / (high - low)


def _spacing(values, source: str) -> tuple:
    try:
        spacing = tuple(float(value) for value in values)
    except (TypeError, ValueError):
        raise ValueError(f"{source}: PixelSpacing must be two numbers (row, column mm), got {values!r}") from None
    if len(spacing) != 2 or not all(np.isfinite(spacing)) or min(spacing) <= 0:
        raise ValueError(f"{source}: PixelSpacing must be two positive numbers (row, column mm), got {values!r}")
    return spacing


def readSidecar(imagePath: str | Path) -> dict:
    """The JSON sidecar of an image file ({} when there is none): ``PixelSpacing``, ``ViewLabel``, ..."""
    from ReconCoreLib.xrayio import sidecarPath

    path = sidecarPath(imagePath)
    if not path.is_file():
        return {}
    try:
        attributes = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"{path}: not valid JSON ({error})") from None
    if not isinstance(attributes, dict):
        raise ValueError(f"{path}: expected a JSON object keyed by DICOM keywords")
    return attributes


def _applySidecar(image: EchoImage, attributes: dict, source: str) -> EchoImage:
    if "PixelSpacing" in attributes:
        image.pixelSpacingMm = _spacing(attributes["PixelSpacing"], source)
    rows, columns = attributes.get("Rows"), attributes.get("Columns")
    try:
        rows, columns = (int(rows), int(columns)) if rows is not None and columns is not None else (None, None)
    except (TypeError, ValueError):
        raise ValueError(f"{source}: the sidecar's Rows and Columns must be integers, got {rows!r}, {columns!r}") \
            from None
    if rows is not None and (rows, columns) != image.pixels.shape:
        raise ValueError(f"{source}: the sidecar says Rows x Columns = {rows} x {columns} but the image is "
                         f"{image.pixels.shape[0]} x {image.pixels.shape[1]}")
    image.viewLabel = str(attributes.get("ViewLabel", "") or "").upper()
    image.phaseLabel = str(attributes.get("CardiacPhase", "") or "").upper()
    return image


def readEchoImage(path: str | Path, frame: Optional[int] = None) -> EchoImage:
    """Read one echo view: DICOM (``frame``: zero-based frame of a cine, required when it has several) or an image
    file (``.nrrd``, ``.png``, ...; a 3D file is a cine of its slices) with an optional JSON sidecar.

    :raises ValueError: unreadable file, not 2D, too small, NaNs, constant, bad sidecar, frame missing or absent.
    """
    from ReconCoreLib.xrayio import isDicom

    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: no such file")
    if isDicom(path):
        return _readDicom(path, frame)
    if not path.name.lower().endswith(IMAGE_SUFFIXES):
        raise ValueError(f"{path}: not a DICOM file nor one of {', '.join(IMAGE_SUFFIXES)}")
    return _readImageFile(path, frame)


def _readImageFile(path: Path, frame: Optional[int]) -> EchoImage:
    import SimpleITK as sitk

    try:
        itkImage = sitk.ReadImage(str(path))
    except RuntimeError as error:
        raise ValueError(f"{path}: cannot be read as an image ({str(error).strip().splitlines()[-1]})") from None
    if itkImage.GetDimension() > 3:
        raise ValueError(f"{path}: expected a 2D image, got a {itkImage.GetDimension()}D image")
    array = sitk.GetArrayFromImage(itkImage)
    components = itkImage.GetNumberOfComponentsPerPixel()
    frames = array if itkImage.GetDimension() == 3 else array[None]
    if components > 1 and frames.ndim != 4 or components == 1 and frames.ndim != 3:
        raise ValueError(f"{path}: unexpected image layout {array.shape} with {components} components")
    pixels = _greyLevels(_selectFrame(frames, frame, str(path)), array.dtype == np.uint8, str(path))
    spacing = None
    if not path.name.lower().endswith(NO_SPACING_SUFFIXES):
        spacing = (float(itkImage.GetSpacing()[1]), float(itkImage.GetSpacing()[0]))
    image = EchoImage(pixels, spacing, str(path), frameIndex=frame or 0, numberOfFrames=len(frames))
    return _applySidecar(image, readSidecar(path), str(path))


def _ultrasoundRegion(dataset, shape: tuple) -> Optional[dict]:
    """Spacing (mm), sector apex (row, column) and bounds of the first 2D ultrasound region measured in cm."""
    for region in getattr(dataset, "SequenceOfUltrasoundRegions", None) or []:
        try:
            if int(region.RegionSpatialFormat) != 1 or int(region.PhysicalUnitsXDirection) != 3 \
                    or int(region.PhysicalUnitsYDirection) != 3:
                continue
            deltaX, deltaY = abs(float(region.PhysicalDeltaX)), abs(float(region.PhysicalDeltaY))
            x0, y0 = int(region.RegionLocationMinX0), int(region.RegionLocationMinY0)
            x1, y1 = int(region.RegionLocationMaxX1), int(region.RegionLocationMaxY1)
        except (AttributeError, TypeError, ValueError):
            continue
        if deltaX <= 0 or deltaY <= 0:
            continue
        apex = None
        if "ReferencePixelX0" in region and "ReferencePixelY0" in region:
            # the reference pixel is relative to the region's corner; the apex is where both physical values are 0
            physicalX = float(getattr(region, "ReferencePixelPhysicalValueX", 0.0) or 0.0)
            physicalY = float(getattr(region, "ReferencePixelPhysicalValueY", 0.0) or 0.0)
            apex = (y0 + float(region.ReferencePixelY0) - physicalY / float(region.PhysicalDeltaY),
                    x0 + float(region.ReferencePixelX0) - physicalX / float(region.PhysicalDeltaX))
        bounds = (max(y0, 0), min(y1, shape[0] - 1), max(x0, 0), min(x1, shape[1] - 1))
        return {"spacing": (10.0 * deltaY, 10.0 * deltaX), "apex": apex, "bounds": bounds}
    return None


def _readDicom(path: Path, frame: Optional[int]) -> EchoImage:
    from ReconCoreLib.xrayio import readDicomPixels

    dataset, pixels = readDicomPixels(path)
    pixels = np.asarray(pixels)
    count = int(getattr(dataset, "NumberOfFrames", 1) or 1)
    frames = pixels if count > 1 else pixels[None]
    selected = np.asarray(_selectFrame(frames, frame, str(path)), dtype=np.float32)
    slope = float(getattr(dataset, "RescaleSlope", 1) or 1)
    intercept = float(getattr(dataset, "RescaleIntercept", 0) or 0)
    selected = selected * slope + intercept
    if str(getattr(dataset, "PhotometricInterpretation", "")) == "MONOCHROME1":
        selected = selected.max() + selected.min() - selected
    eightBit = int(getattr(dataset, "BitsStored", 8) or 8) <= 8 and slope == 1 and intercept == 0
    region = _ultrasoundRegion(dataset, selected.shape[:2])
    if region is not None:  # only the imaging region: no annotations, ECG trace or colour bar
        top, bottom, left, right = region["bounds"]
        inside = np.zeros(selected.shape[:2], bool)
        inside[top:bottom + 1, left:right + 1] = True
        selected = np.where(inside if selected.ndim == 2 else inside[..., None], selected, 0)
    image = EchoImage(_greyLevels(selected, eightBit, str(path)), None, str(path), frameIndex=frame or 0,
                      numberOfFrames=count)
    if region is not None:
        image.pixelSpacingMm, image.apexPixel = region["spacing"], region["apex"]
    elif getattr(dataset, "PixelSpacing", None):
        image.pixelSpacingMm = _spacing(dataset.PixelSpacing, str(path))
    return image


def echoImageFromVolumeNode(node, frame: Optional[int] = None) -> EchoImage:
    """An :class:`EchoImage` of a Slicer volume node (one slice per frame for a cine, ``frame`` ignored for a single
    image; the sidecar of the file it was loaded from is read when there is one). Spacing: the sidecar's, else the
    node's unless the file is a PNG or another format without physical spacing."""
    from vtk.util import numpy_support

    name = node.GetName()
    imageData = node.GetImageData()
    if imageData is None or imageData.GetPointData().GetScalars() is None:
        raise ValueError(f"{name}: the volume has no image data")
    i, j, k = imageData.GetDimensions()
    components = imageData.GetNumberOfScalarComponents()
    scalars = numpy_support.vtk_to_numpy(imageData.GetPointData().GetScalars())
    frames = scalars.reshape((k, j, i, components) if components > 1 else (k, j, i))
    frame = frame if k > 1 else None  # the frame box of a single image is ignored
    pixels = _greyLevels(_selectFrame(frames, frame, name), frames.dtype == np.uint8, name)
    storage = node.GetStorageNode()
    fileName = storage.GetFileName() if storage is not None else None
    spacing = (float(node.GetSpacing()[1]), float(node.GetSpacing()[0]))
    if fileName and fileName.lower().endswith(NO_SPACING_SUFFIXES):
        spacing = None
    image = EchoImage(pixels, spacing, name, frameIndex=frame or 0, numberOfFrames=k)
    return _applySidecar(image, readSidecar(fileName), name) if fileName else image


def viewAndPhaseOfNode(node) -> tuple[str, str]:
    """(view, phase) a volume node declares: its file's sidecar (ViewLabel, CardiacPhase), else its name's words
    (e.g. "EchoNormal ED A4C"); "" for what it does not say."""
    storage = node.GetStorageNode()
    fileName = storage.GetFileName() if storage is not None else None
    try:
        attributes = readSidecar(fileName) if fileName else {}
    except ValueError:
        attributes = {}
    words = {word.upper() for word in node.GetName().replace("_", " ").replace("-", " ").split()}
    view = str(attributes.get("ViewLabel", "") or next((v for v in VIEWS if v in words), "")).upper()
    phase = str(attributes.get("CardiacPhase", "") or next((p for p in PHASES if p in words), "")).upper()
    return (view if view in VIEWS else ""), (phase if phase in PHASES else "")


# -- checks and network input ---------------------------------------------------------------------------------


def checkPhase(images: Mapping[str, EchoImage], phase: str) -> None:
    """All six views, each a different image, each labelled (when the file says) as the view and phase it is given
    for. Raises ``ValueError`` naming the problem."""
    phaseName = PHASE_NAMES[phase]
    unknown = sorted(set(images) - set(VIEWS))
    if unknown:
        raise ValueError(f"unknown {phaseName} view(s) {', '.join(unknown)} (views: {', '.join(VIEWS)})")
    missing = [view for view in VIEWS if images.get(view) is None]
    if missing:
        raise ValueError(f"missing {phaseName} view(s): {', '.join(missing)}; EchoRecon needs all six views "
                         f"({', '.join(VIEWS)}): its network was not trained with missing views")
    for view in VIEWS:
        image = images[view]
        if image.viewLabel and image.viewLabel != view:
            raise ValueError(f"{image.name}: given as the {phaseName} {view} view but its file labels it "
                             f"{image.viewLabel}")
        if image.phaseLabel and image.phaseLabel != phase:
            raise ValueError(f"{image.name}: given as the {phaseName} {view} view but its file labels it "
                             f"{image.phaseLabel}")
    for index, first in enumerate(VIEWS):
        for second in VIEWS[index + 1:]:
            if _sameImage(images[first], images[second]):
                raise ValueError(f"the {phaseName} {first} and {second} views are the same image "
                                 f"({images[second].name}); a view given twice?")


def _sameImage(first: EchoImage, second: EchoImage) -> bool:
    return first.pixels.shape == second.pixels.shape and np.array_equal(first.pixels, second.pixels)


def checkPhasePair(endDiastole: Mapping[str, EchoImage], endSystole: Mapping[str, EchoImage]) -> None:
    """ED and ES of each view must be two different frames of one cine: same size and pixel spacing."""
    for view in VIEWS:
        ed, es = endDiastole[view], endSystole[view]
        if ed.pixels.shape != es.pixels.shape or (ed.pixelSpacingMm is None) != (es.pixelSpacingMm is None) or (
                ed.pixelSpacingMm is not None and not np.allclose(ed.pixelSpacingMm, es.pixelSpacingMm,
                                                                   rtol=SPACING_TOLERANCE)):
            raise ValueError(
                f"{view}: the end-diastolic image ({_describe(ed)}) and the end-systolic image ({_describe(es)}) "
                "differ in size or pixel spacing; ED and ES must be two frames of the same cine")
        if _sameImage(ed, es):
            raise ValueError(f"{view}: the end-diastolic and end-systolic images are identical ({es.name}); "
                             "choose the two frames of the cine")


def _describe(image: EchoImage) -> str:
    spacing = "unknown spacing" if image.pixelSpacingMm is None else \
        f"{image.pixelSpacingMm[0]:.3g} x {image.pixelSpacingMm[1]:.3g} mm"
    return f"{image.pixels.shape[0]} x {image.pixels.shape[1]} pixels, {spacing}"


def trainingPixelMm(view: str) -> float:
    """Pixel spacing (mm) of the network's input for ``view`` (that of the training images)."""
    return FIELD_DEPTH_MM[view] / (IMAGE_SIZE - 1)


def networkInput(image: EchoImage, view: str) -> np.ndarray:
    """The image resampled to the network's input for ``view``: float32 [128, 128] in [0, 1] (module docstring).

    Output pixel (column c, row r) lies (c - 63.5) * s mm lateral of and r * s mm deep below the sector apex,
    s = :func:`trainingPixelMm`; without a pixel spacing the image's height is taken as the training depth.
    """
    from scipy import ndimage

    target = trainingPixelMm(view)
    rows, columns = image.pixels.shape
    if image.pixelSpacingMm is None:
        spacing = (FIELD_DEPTH_MM[view] / (rows - 1),) * 2
    else:
        spacing = tuple(float(value) for value in image.pixelSpacingMm)
    apexRow, apexColumn = image.apexPixel if image.apexPixel is not None else (0.0, (columns - 1) / 2.0)
    factors = np.array([target / spacing[0], target / spacing[1]])
    factors[np.abs(factors - 1.0) < 1e-4] = 1.0  # spacings written with 6 decimals: no needless interpolation
    pixels = image.pixels
    sigma = np.maximum((factors - 1.0) / 2.0, 0.0)
    if np.any(sigma > 0):
        pixels = ndimage.gaussian_filter(pixels, sigma, mode="nearest")
    grid = np.arange(IMAGE_SIZE, dtype=np.float64)
    sourceRows = apexRow + grid * factors[0]
    sourceColumns = apexColumn + (grid - (IMAGE_SIZE - 1) / 2.0) * factors[1]
    if np.allclose(factors, 1.0) and float(apexRow).is_integer() and float(apexColumn - (IMAGE_SIZE - 1) / 2.0) \
            .is_integer():  # a pure shift: copy pixels (the bundled samples land here, bit for bit)
        output = np.zeros((IMAGE_SIZE, IMAGE_SIZE), np.float32)
        rowIndex, columnIndex = sourceRows.astype(int), sourceColumns.astype(int)
        rowsInside = (rowIndex >= 0) & (rowIndex < rows)
        columnsInside = (columnIndex >= 0) & (columnIndex < columns)
        output[np.ix_(rowsInside, columnsInside)] = pixels[np.ix_(rowIndex[rowsInside], columnIndex[columnsInside])]
        return output
    coordinates = np.meshgrid(sourceRows, sourceColumns, indexing="ij")
    output = ndimage.map_coordinates(pixels, coordinates, order=1, mode="constant", cval=0.0)
    return np.clip(output, 0.0, 1.0).astype(np.float32)


# -- reconstruction -------------------------------------------------------------------------------------------


@dataclass
class Reconstruction:
    """Everything one run produces. Vertices are in the heart frame (mm); :attr:`heartToRas` places them."""

    vertices: dict  #: phase ("ED", "ES") -> [V, 3] predicted template vertices (mm, heart frame)
    segmentations: dict  #: phase -> uint8 [6, 128, 128] 2D labels of every view (0 background, 1..6 STRUCTURES)
    inputs: dict  #: phase -> float32 [6, 128, 128] network inputs
    readouts: Readouts
    template: HeartTemplate
    heartToRas: np.ndarray = field(default_factory=lambda: np.eye(4))

    @property
    def phases(self) -> tuple:
        return tuple(phase for phase in PHASES if phase in self.vertices)

    def verticesRas(self, phase: str) -> np.ndarray:
        return self.vertices[phase] @ self.heartToRas[:3, :3].T + self.heartToRas[:3, 3]


def reconstruct(endDiastole: Mapping[str, EchoImage], endSystole: Optional[Mapping[str, EchoImage]] = None,
                device: str = "auto", modelPath: Optional[str] = None,
                progressCallback: Optional[Callable[[float, str], None]] = None,
                abortFlag: Optional[Callable[[], bool]] = None) -> Reconstruction:
    """Run the method on one or two phases ({view: :class:`EchoImage`}, every view of :data:`VIEWS`).

    Raises ``ValueError`` on bad input (the message names the problem), ``InterruptedError`` on cancel.
    """
    import torch

    from ReconCoreLib.models import findBundledModel, loadModel, notBundledMessage, resolveDevice, sha256

    _check(abortFlag, progressCallback, 0.02, "checking the views")
    phases = {"ED": endDiastole} if endSystole is None else {"ED": endDiastole, "ES": endSystole}
    for phase, images in phases.items():
        if not isinstance(images, Mapping):
            raise ValueError(f"the {PHASE_NAMES[phase]} views must be given as {{view: image}}")
        checkPhase(images, phase)
    if endSystole is not None:
        checkPhasePair(endDiastole, endSystole)
    device = resolveDevice(device)
    modelPath = modelPath or findBundledModel(MODULE)
    if modelPath is None:
        raise ValueError(notBundledMessage(MODULE))
    template = HeartTemplate.load()
    readouts = Readouts(MODULE, modelSha256=_modelSha256(modelPath, sha256), device=device)
    unknownSpacing = sorted({view for images in phases.values() for view in VIEWS
                             if images[view].pixelSpacingMm is None}, key=VIEWS.index)
    if unknownSpacing:
        readouts.warn(f"no pixel spacing for {', '.join(unknownSpacing)}: the image height was taken as the "
                      "training field depth (180 mm apical, 140 mm short axis); volumes scale with the cube of it")

    inputs = np.stack([np.stack([networkInput(images[view], view) for view in VIEWS]) for images in phases.values()])
    _check(abortFlag, progressCallback, 0.2, "network")
    model = loadModel(modelPath, device)
    started = time.perf_counter()
    with torch.no_grad():
        displacement, logits = model(torch.as_tensor(inputs, device=device))
        labels = logits.argmax(dim=2).to(torch.uint8)
        if device == "cuda":
            torch.cuda.synchronize()
    inferenceSeconds = time.perf_counter() - started
    displacement = displacement.double().cpu().numpy()
    labels = labels.cpu().numpy()
    if displacement.shape[1:] != template.vertices.shape or labels.shape[1:] != inputs.shape[1:]:
        raise ValueError(f"{Path(modelPath).name} does not match the heart template: it returned displacements "
                         f"{displacement.shape} and labels {labels.shape} for {template.numberOfVertices} vertices")
    if not np.all(np.isfinite(displacement)):
        raise ValueError("the network returned non-finite vertex positions")
    _check(abortFlag, progressCallback, 0.5, "measurements")
    result = Reconstruction(
        vertices={phase: template.vertices + displacement[index] for index, phase in enumerate(phases)},
        segmentations={phase: labels[index] for index, phase in enumerate(phases)},
        inputs={phase: inputs[index] for index, phase in enumerate(phases)},
        readouts=readouts, template=template, heartToRas=heartToRas(template))
    measure(result)
    readouts.set("inference_s", inferenceSeconds)
    return result


_SHA256 = {}  # (path, size, mtime) -> hex digest: a model file is hashed once, not on every run


def _modelSha256(path, sha256) -> str:
    status = Path(path).stat()
    key = (str(Path(path).resolve()), status.st_size, status.st_mtime_ns)
    if key not in _SHA256:
        _SHA256[key] = sha256(path)
    return _SHA256[key]


def measure(result: Reconstruction) -> None:
    """Fill ``result.readouts``: volumes, EF, mass, biplane Simpson's and the view overlaps (module docstring)."""
    from .echosim import planeCutDice, viewPlanes
    from .simpson import biplaneSimpsonVolume, ejectionFractionPercent

    readouts, template = result.readouts, result.template
    volumes = {phase: template.structureVolumesMl(result.vertices[phase]) for phase in result.phases}
    ed = volumes["ED"]
    if ed["LV cavity"] <= 0:
        raise ValueError(f"the reconstructed LV cavity has no volume ({ed['LV cavity']:.1f} mL)")
    readouts.set("lv_edv_ml", ed["LV cavity"])
    if "ES" in volumes:
        es = volumes["ES"]
        readouts.set("lv_esv_ml", es["LV cavity"])
        readouts.set("lv_sv_ml", ed["LV cavity"] - es["LV cavity"])
        readouts.set("lv_ef_percent", ejectionFractionPercent(ed["LV cavity"], es["LV cavity"]))
        if es["LV cavity"] > ed["LV cavity"]:
            readouts.warn(f"the end-systolic LV volume ({es['LV cavity']:.1f} mL) exceeds the end-diastolic one "
                          f"({ed['LV cavity']:.1f} mL): are the ED and ES images swapped?")
    readouts.set("lv_mass_g", (ed["LV myocardium"] - ed["LV cavity"]) * MYOCARDIAL_DENSITY_G_PER_ML)
    for key, structure in (("rv", "RV"), ("la", "LA"), ("ra", "RA")):
        for phase in result.phases:
            name = f"{key}_{phase.lower()}v_ml" if key == "rv" else f"{key}_volume_{phase.lower()}_ml"
            readouts.set(name, volumes[phase][structure])

    simpson = {}
    for phase in result.phases:
        masks = result.segmentations[phase] == STRUCTURES.index("LV cavity") + 1
        try:
            simpson[phase] = biplaneSimpsonVolume(masks[VIEWS.index("A4C")], masks[VIEWS.index("A2C")],
                                                  (trainingPixelMm("A4C"), trainingPixelMm("A2C")))
        except (ValueError, IndexError) as error:
            readouts.warn(f"biplane Simpson's {PHASE_NAMES[phase]} volume not computed: the 2D segmentation of "
                          f"A4C / A2C gives no usable LV cavity ({error})")
    if "ED" in simpson:
        readouts.set("simpson_edv_ml", simpson["ED"])
    if "ES" in simpson:
        readouts.set("simpson_esv_ml", simpson["ES"])
    if "ED" in simpson and "ES" in simpson and simpson["ED"] > 0:
        readouts.set("simpson_ef_percent", ejectionFractionPercent(simpson["ED"], simpson["ES"]))
        if simpson["ES"] > simpson["ED"]:
            readouts.warn(f"biplane Simpson's end-systolic volume ({simpson['ES']:.1f} mL) exceeds its end-diastolic "
                          f"volume ({simpson['ED']:.1f} mL): the 2D LV cavity segmentation of A4C / A2C is unreliable "
                          "here; simpson_* readouts should not be used")
    for phase, volume in simpson.items():
        meshVolume = volumes[phase]["LV cavity"]
        if abs(volume - meshVolume) > SIMPSON_DISAGREEMENT * meshVolume:
            readouts.warn(f"biplane Simpson's {PHASE_NAMES[phase]} volume ({volume:.1f} mL) differs from the 3D LV "
                          f"cavity ({meshVolume:.1f} mL) by more than {100 * SIMPSON_DISAGREEMENT:.0f} %: check the 2D "
                          "LV segmentation of A4C / A2C")

    for phase in result.phases:
        planes = viewPlanes(result.vertices[phase], template)
        for index, view in enumerate(VIEWS):
            dice = planeCutDice(result.vertices[phase], template, planes[view], result.segmentations[phase][index] > 0)
            readouts.set(f"view_dice_{view.lower()}" if phase == "ED" else f"view_dice_es_{view.lower()}", dice)
            if dice < LOW_VIEW_DICE:
                readouts.warn(f"{PHASE_NAMES[phase]} {view}: the reconstructed heart overlaps the image's heart "
                              f"poorly (Dice {dice:.2f}); check the view label and the image")


# -- outputs --------------------------------------------------------------------------------------------------


def _normals(polyData):
    import vtk

    normals = vtk.vtkPolyDataNormals()
    normals.SetInputData(polyData)
    normals.SplittingOff()
    normals.ConsistencyOff()
    normals.AutoOrientNormalsOff()
    normals.Update()
    output = vtk.vtkPolyData()
    output.DeepCopy(normals.GetOutput())
    return output


def structureSurfaces(result: Reconstruction, phase: str) -> dict:
    """{structure: vtkPolyData in RAS (mm), with point normals} of one phase. The LV myocardium is the wall: the
    epicardial surface plus the LV cavity surface turned inside out, so it encloses the myocardium only (no overlap
    with the cavity in the labelmap)."""
    import vtk

    vertices = result.verticesRas(phase)
    surfaces = {}
    for structure in STRUCTURES:
        polyData = result.template.polyData(vertices, structure)
        if structure == "LV myocardium":
            inside = vtk.vtkReverseSense()
            inside.SetInputData(result.template.polyData(vertices, "LV cavity"))
            inside.ReverseCellsOn()
            wall = vtk.vtkAppendPolyData()
            wall.AddInputData(polyData)
            wall.AddInputConnection(inside.GetOutputPort())
            wall.Update()
            polyData = wall.GetOutput()
        surfaces[structure] = _normals(polyData)
    return surfaces


def labelmapGeometry(result: Reconstruction) -> tuple[np.ndarray, tuple[int, int, int]]:
    """(ijkToRas 4x4, dimensions (i, j, k)) of the segmentation grid: axis-aligned RAS, :data:`SEGMENTATION_SPACING_MM`,
    covering every phase's heart plus a margin, voxel corners on multiples of the spacing."""
    points = np.concatenate([result.verticesRas(phase) for phase in result.phases])
    spacing = SEGMENTATION_SPACING_MM
    low = np.floor((points.min(axis=0) - SEGMENTATION_MARGIN_MM) / spacing) * spacing
    high = np.ceil((points.max(axis=0) + SEGMENTATION_MARGIN_MM) / spacing) * spacing
    dimensions = tuple(int(value) for value in np.round((high - low) / spacing).astype(int) + 1)
    ijkToRas = np.eye(4)
    ijkToRas[:3, :3] *= spacing
    ijkToRas[:3, 3] = low
    return ijkToRas, dimensions


def segmentationFromSurfaces(scene, surfaces: Mapping, colors: Mapping, ijkToRas: np.ndarray, dimensions,
                             name: str, node=None):
    """Fill ``node`` (its segments replaced) or a new segmentation node with closed-surface segments (source
    representation) and their binary labelmaps on the grid (``ijkToRas``, ``dimensions`` (i, j, k))."""
    import slicer
    from vtk import vtkMatrix4x4

    segmentation = node if node is not None else scene.AddNewNodeByClass("vtkMRMLSegmentationNode", name)
    segmentation.CreateDefaultDisplayNodes()
    content = segmentation.GetSegmentation()
    content.RemoveAllSegments()
    content.SetSourceRepresentationName(slicer.vtkSegmentationConverter.GetClosedSurfaceRepresentationName())
    for segmentName, polyData in surfaces.items():
        segmentation.AddSegmentFromClosedSurfaceRepresentation(polyData, segmentName, colors[segmentName])
    matrix = vtkMatrix4x4()
    for row in range(4):
        for column in range(4):
            matrix.SetElement(row, column, float(ijkToRas[row, column]))
    extent = [0, dimensions[0] - 1, 0, dimensions[1] - 1, 0, dimensions[2] - 1]
    content.SetConversionParameter(slicer.vtkSegmentationConverter.GetReferenceImageGeometryParameterName(),
                                   slicer.vtkSegmentationConverter.SerializeImageGeometry(matrix, extent))
    if not segmentation.CreateBinaryLabelmapRepresentation():
        raise RuntimeError(f"could not make the labelmap of segmentation {segmentation.GetName()}")
    return segmentation


def modelNodesOf(segmentation) -> dict:
    """{structure: model node} of the models made with ``segmentation`` (node references)."""
    models = {}
    for index in range(segmentation.GetNumberOfNodeReferences(_MODEL_REFERENCE_ROLE)):
        model = segmentation.GetNthNodeReference(_MODEL_REFERENCE_ROLE, index)
        if model is not None and model.GetAttribute(_STRUCTURE_ATTRIBUTE):
            models[model.GetAttribute(_STRUCTURE_ATTRIBUTE)] = model
    return models


def addToScene(result: Reconstruction, scene, outputEdSegmentation=None, outputEsSegmentation=None,
               outputTable=None) -> dict:
    """Put a reconstruction into ``scene``: per phase a segmentation (closed surfaces + labelmap) and one model per
    structure (reused when the segmentation already has them), plus the readouts table. End-systole is hidden at
    first. Returns {"outputEdSegmentation", "outputEsSegmentation" (with ES), "outputTable": node, "edModels",
    "esModels": {structure: model node}}."""
    from ReconCoreLib import runtime

    ijkToRas, dimensions = labelmapGeometry(result)
    given = {"ED": outputEdSegmentation, "ES": outputEsSegmentation}
    nodes = {}
    for phase in result.phases:
        surfaces = structureSurfaces(result, phase)
        title = "heart ED" if phase == "ED" else "heart ES"
        segmentation = segmentationFromSurfaces(scene, surfaces, STRUCTURE_COLORS, ijkToRas, dimensions, title,
                                                node=given[phase])
        existing = modelNodesOf(segmentation)
        models = {}
        for structure, polyData in surfaces.items():
            model = runtime.modelNodeFromPolyData(scene, polyData, f"{structure} {phase}", STRUCTURE_COLORS[structure],
                                                  node=existing.get(structure))
            if structure not in existing:
                model.SetAttribute(_STRUCTURE_ATTRIBUTE, structure)
                segmentation.AddNodeReferenceID(_MODEL_REFERENCE_ROLE, model.GetID())
            display = model.GetDisplayNode()
            display.SetOpacity(STRUCTURE_OPACITY.get(structure, 1.0))
            display.SetVisibility(phase == "ED")
            models[structure] = model
        segmentation.GetDisplayNode().SetVisibility3D(False)  # the models show the surfaces in 3D
        segmentation.GetDisplayNode().SetVisibility(phase == "ED")
        nodes[f"output{phase.capitalize()}Segmentation"] = segmentation
        nodes[f"{phase.lower()}Models"] = models
    nodes["outputTable"] = result.readouts.toTableNode(scene, "heart readouts", node=outputTable)
    return nodes


def writeOutputs(result: Reconstruction, nodes: dict, scene, directory: Path) -> list[Path]:
    """segmentation.seg.nrrd, <structure>.vtk per structure (``_es`` suffix for end-systole), readouts.json and
    scene.mrb into ``directory``; returns the files."""
    from ReconCoreLib import runtime

    directory = Path(directory)
    written = []
    for phase in result.phases:
        suffix = "" if phase == "ED" else "_es"
        written.append(runtime.saveNode(nodes[f"output{phase.capitalize()}Segmentation"],
                                        directory / f"segmentation{suffix}.seg.nrrd"))
        for structure, model in nodes[f"{phase.lower()}Models"].items():
            written.append(runtime.saveNode(model, directory / f"{fileStem(structure)}{suffix}.vtk"))
    written.append(result.readouts.writeJson(directory / "readouts.json"))
    written.append(runtime.saveScene(scene, directory / "scene.mrb"))
    return written


# -- entry points ---------------------------------------------------------------------------------------------


def run(scene, endDiastole, endSystole=None, device="auto", modelPath=None, endDiastoleFrames=None,
        endSystoleFrames=None, progressCallback=None, abortFlag=None, **outputs) -> dict:
    """Slicer entry point (EchoReconLogic.process): {view: volume node} per phase (+ {view: frame} for cines) ->
    filled output nodes (see :func:`addToScene`)."""
    phases = {"ED": (endDiastole, endDiastoleFrames)}
    if endSystole is not None:
        phases["ES"] = (endSystole, endSystoleFrames)
    images = {}
    for phase, (nodes, frames) in phases.items():
        if not isinstance(nodes, Mapping):
            raise ValueError(f"the {PHASE_NAMES[phase]} views must be given as {{view: volume node}}")
        images[phase] = {view: None if node is None else echoImageFromVolumeNode(node, (frames or {}).get(view))
                         for view, node in nodes.items()}
    result = reconstruct(images["ED"], images.get("ES"), device, modelPath, progressCallback, abortFlag)
    _check(abortFlag, progressCallback, 0.7, "surfaces and segmentation")
    nodes = addToScene(result, scene, **outputs)
    _check(None, progressCallback, 1.0, "done")
    return nodes


def readPhase(paths: Mapping[str, str | Path], frames: Optional[Mapping[str, int]] = None) -> dict:
    """{view: :class:`EchoImage`} read from {view: file}."""
    return {view: readEchoImage(path, (frames or {}).get(view)) for view, path in paths.items()}


def runCase(endDiastole: Mapping, endSystole: Optional[Mapping], device: str, directory: Path,
            endDiastoleFrames=None, endSystoleFrames=None, progress=None) -> Readouts:
    """Read the files ({view: path} per phase), reconstruct, write every output into ``directory`` (headless)."""
    from ReconCoreLib import runtime

    ed = readPhase(endDiastole, endDiastoleFrames)
    es = readPhase(endSystole, endSystoleFrames) if endSystole else None
    result = reconstruct(ed, es, device, progressCallback=progress)
    if progress is not None:
        progress(0.7, "surfaces and segmentation")
    runtime.writeResultHeadless(result, addToScene, writeOutputs, directory, progress)
    return result.readouts


def runCommandLine(args, outputDirectory: Path, device: str, progress) -> Readouts:
    """``recon2d3d echo --ed VIEW=FILE[@FRAME] ... [--es ...] --out DIR``."""
    return runCase(args.edViews, args.esViews or None, device, outputDirectory,
                   getattr(args, "edFrames", None), getattr(args, "esFrames", None), progress)


def sampleCases() -> dict:
    """Bundled sample patients: name -> {"ED": {view: PNG path}, "ES": {...}} (JSON sidecars beside them)."""
    return {patient: {phase: {view: SAMPLE_DIRECTORY / f"{patient}_{phase}_{view}.png" for view in VIEWS}
                      for phase in PHASES} for patient in SAMPLE_PATIENTS}


def runDemo(outputDirectory: Path, device: str, progress) -> dict:
    """``recon2d3d demo``: each sample patient (ED and ES) into its own subfolder; readouts by patient."""
    results = {}
    for patient, phases in sampleCases().items():
        directory = Path(outputDirectory) / patient
        directory.mkdir(parents=True, exist_ok=True)
        results[patient] = runCase(phases["ED"], phases["ES"], device, directory, progress=progress)
    return results
