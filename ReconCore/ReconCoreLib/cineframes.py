"""The frames of a cine (a multi-frame X-ray or ultrasound file), one at a time.

- Reading: a DICOM file's dataset with its pixel module checked and its pixel data not decoded
  (:func:`readDicomDataset`; with pydicom 3 a cine's pixel data are not even read), then its frames decoded one at a
  time (:func:`iterDicomFrames`), so that a reader never holds every frame of a cine as floats; pydicom 2.4 (bundled
  with Slicer 5.10) decodes the whole pixel data once, as stored, and hands out its frames.
- Choosing: :func:`chooseFrame` goes through the frames once and picks one by a score: a plain
  ``score(frame, geometry)`` of every frame, or a :class:`FrameChooser`, a quick score of every frame block-averaged to
  a coarse spacing in mm at the isocenter, then a full score of the few best. A file that marks its R waves
  (:func:`rWaveFrames`: R Wave Pointer, else the R waves of an ECG in its Waveform Sequence, read by
  :mod:`.ecgwaveform`) offers only those frames: end-diastole, the same cardiac phase in every run.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator, Optional, Sequence, Union

import numpy as np

from .xraygeometry import CArmGeometry

#: Fewest blocks along each side of a frame for the quick score.
MIN_COARSE_PIXELS = 16


def defaultFrameScore(frame: np.ndarray, geometry: Optional[CArmGeometry] = None) -> float:
    """Contrast of a frame: the 2nd-98th percentile range of its intensities (``geometry`` unused)."""
    low, high = np.percentile(frame, [2, 98])
    return float(high - low)


#: A frame score: ``score(frame, geometry)`` of a frame as shown (float32 (rows, columns)) and its geometry.
FrameScore = Callable[[np.ndarray, CArmGeometry], float]


@dataclass(frozen=True)
class FrameChooser:
    """How the frame of a multi-frame file is chosen when none is given, in two stages.

    ``quickScore`` scores every frame after block-averaging it to about ``coarseSpacingMm`` per pixel at the
    isocenter (whole detector pixels per block; its geometry says the block's spacing); ``fullScore`` then scores the
    ``candidates`` frames with the highest quick scores at full resolution, and the highest full score wins (ties:
    the earliest frame). A file of at most ``candidates`` frames gets the full score on every frame; a single frame
    is taken without a score. Both take
    ``(frame, geometry)``: the frame as shown (rescaled, MONOCHROME1 inverted), float32 (rows, columns).
    """

    quickScore: FrameScore
    fullScore: FrameScore
    coarseSpacingMm: float = 1.0
    candidates: int = 4

    def blockFactors(self, geometry: CArmGeometry) -> tuple[int, int]:
        """Detector pixels per block along rows and columns: ``coarseSpacingMm`` at the isocenter, rounded, at
        least 1, and at most what leaves :data:`MIN_COARSE_PIXELS` blocks along each side."""
        factors = []
        for spacingMm, size in zip(geometry.pixelSpacingMm, (geometry.rows, geometry.columns)):
            atIsocenterMm = spacingMm / geometry.magnification
            factor = int(round(self.coarseSpacingMm / atIsocenterMm))
            factors.append(max(1, min(factor, size // MIN_COARSE_PIXELS)))
        return factors[0], factors[1]


#: The reader's default: the intensity range (:func:`defaultFrameScore`) at 1 mm, then at full resolution.
DEFAULT_FRAME_CHOOSER = FrameChooser(defaultFrameScore, defaultFrameScore)


def blockMean(frame: np.ndarray, rowFactor: int, columnFactor: int) -> np.ndarray:
    """Mean of each ``rowFactor`` x ``columnFactor`` block of a 2D frame, float32; the rows and columns left over
    (fewer than a block) are cropped evenly from both sides."""
    array = np.asarray(frame)
    rows, columns = array.shape[0] // rowFactor, array.shape[1] // columnFactor
    top, left = (array.shape[0] - rows * rowFactor) // 2, (array.shape[1] - columns * columnFactor) // 2
    array = array[top:top + rows * rowFactor, left:left + columns * columnFactor]
    sums = array.reshape(rows, rowFactor, columns * columnFactor).sum(axis=1, dtype=np.float32)
    return sums.reshape(rows, columns, columnFactor).sum(axis=2) / np.float32(rowFactor * columnFactor)


def coarseGeometry(geometry: CArmGeometry, rowFactor: int, columnFactor: int) -> CArmGeometry:
    """The geometry of :func:`blockMean`'s result: detector pixels ``rowFactor`` x ``columnFactor`` times larger,
    as many rows and columns as whole blocks fit."""
    spacing = (geometry.pixelSpacingMm[0] * rowFactor, geometry.pixelSpacingMm[1] * columnFactor)
    return dataclasses.replace(geometry, pixelSpacingMm=spacing, rows=geometry.rows // rowFactor,
                               columns=geometry.columns // columnFactor)


@dataclass
class ChosenFrame:
    """What :func:`chooseFrame` chose: the frame's index, the frame as it was given (not shown), the seconds spent
    getting the frames from their source (decoding) and scoring them, and the full scores of the candidates."""

    index: int
    frame: np.ndarray
    decodeSeconds: float = 0.0
    scoreSeconds: float = 0.0
    fullScores: dict = dataclasses.field(default_factory=dict)


def chooseFrame(frames: Iterable[np.ndarray], geometry: CArmGeometry,
                chooser: Union[FrameChooser, FrameScore] = DEFAULT_FRAME_CHOOSER,
                shown: Optional[Callable[[np.ndarray], np.ndarray]] = None, count: Optional[int] = None,
                source: str = "") -> ChosenFrame:
    """The frame of a cine with the highest score, going through ``frames`` once, one frame at a time.

    :param frames: 2D frames (rows, columns) of one view, in order: a list, an array or a generator that decodes
        them one by one. Each is looked at once; the candidates of the full score are kept (copied), no other.
    :param geometry: the view's geometry (of a full frame).
    :param chooser: a :class:`FrameChooser`, or a plain ``score(frame, geometry)`` computed on every full frame.
    :param shown: turns a frame as given into the frame as shown (rescale, inversion), applied before any score
        (to the block means for the quick score); default: none.
    :param count: the number of frames, when ``frames`` has no ``len``.
    :param source: names the frames in error messages (e.g. the file).
    :raises ValueError: a frame that is not 2D (e.g. colour), no frames.
    """
    shown = shown or (lambda frame: np.asarray(frame, np.float32))
    if count is None and hasattr(frames, "__len__"):
        count = len(frames)
    if not isinstance(chooser, FrameChooser):  # one score, of every full frame
        keep = 1

        def firstScore(frame):
            return chooser(shown(frame), geometry)
    elif count is not None and count <= chooser.candidates:  # few frames: each gets the full score
        keep = count

        def firstScore(frame):
            return 0.0
    else:
        keep = chooser.candidates
        factors = chooser.blockFactors(geometry)
        small = coarseGeometry(geometry, *factors)

        def firstScore(frame):
            return chooser.quickScore(shown(blockMean(frame, *factors)), small)

    decodeSeconds = scoreSeconds = 0.0
    kept: list[tuple[float, int, np.ndarray]] = []  # (score, index, frame) of the best `keep` so far, best first
    iterator, index = iter(frames), 0
    while True:
        started = time.perf_counter()
        try:
            frame = next(iterator)
        except StopIteration:
            break
        decodeSeconds += time.perf_counter() - started
        if np.ndim(frame) != 2:
            where = f"{source} frame {index}".strip()
            raise ValueError(f"{where}: expected a 2D image, got an array of shape {tuple(np.shape(frame))}")
        started = time.perf_counter()
        score = float(firstScore(frame))
        score = score if np.isfinite(score) else -np.inf
        if len(kept) < keep or score > kept[-1][0]:
            kept.append((score, index, np.array(frame, copy=True)))
            kept.sort(key=lambda item: (-item[0], item[1]))
            del kept[keep:]
        scoreSeconds += time.perf_counter() - started
        index += 1
    if not kept:
        raise ValueError(f"{source + ': ' if source else ''}no frames to choose from")
    fullScores = {}
    if isinstance(chooser, FrameChooser) and index > 1:  # one frame: nothing to choose, nothing to score
        started = time.perf_counter()
        for _, candidate, frame in kept:
            score = float(chooser.fullScore(shown(frame), geometry))
            fullScores[candidate] = score if np.isfinite(score) else -np.inf
        scoreSeconds += time.perf_counter() - started
        kept.sort(key=lambda item: (-fullScores[item[1]], item[1]))
    return ChosenFrame(kept[0][1], kept[0][2], decodeSeconds, scoreSeconds, fullScores)


#: Elements larger than this (bytes) are not read with the rest of a DICOM file's dataset (pydicom 3): a cine's pixel
#: data stay in the file and its frames are read from there one at a time.
DEFERRED_ELEMENT_BYTES = 256 * 1024
_PIXEL_DATA_TAG = 0x7FE00010


def readDicomDataset(path: Path, checkDataset: Optional[Callable] = None):
    """The pydicom dataset of a DICOM file with its pixel module checked, pixel data not decoded; a clear ValueError
    for unreadable files, files without pixel data and pixel modules that disagree with their data.
    ``checkDataset(dataset)`` (e.g. the reader's modality and IOD checks) runs first, before the pixel data are looked
    at. With pydicom 3, pixel data larger than :data:`DEFERRED_ELEMENT_BYTES` are not read (only the length of
    uncompressed ones is checked). Decode its frames with :func:`iterDicomFrames`, one at a time."""
    from .dicomvalues import checkPixelModule

    deferring = _pydicom3()
    dataset = readDicomFile(path, deferSize=DEFERRED_ELEMENT_BYTES if deferring else None)
    if checkDataset is not None:
        checkDataset(dataset)
    if "PixelData" not in dataset:
        raise ValueError(f"{path}: DICOM file has no pixel data")
    element = dataset.get_item(_PIXEL_DATA_TAG, keep_deferred=True) if deferring else None
    if element is not None and element.value is None:  # deferred: its length from the file, its bytes not read
        checkPixelModule(dataset, str(path), pixelDataLength=element.length)
    else:
        checkPixelModule(dataset, str(path))
    return dataset


def _pixelDataDeferred(dataset) -> bool:
    """True when the dataset's pixel data were left in the file (pydicom 3, :data:`DEFERRED_ELEMENT_BYTES`)."""
    if not _pydicom3() or "PixelData" not in dataset:
        return False
    return dataset.get_item(_PIXEL_DATA_TAG, keep_deferred=True).value is None


def readDicomFile(path: Path, stopBeforePixels: bool = False, deferSize: Optional[int] = None):
    """``pydicom.dcmread`` (its pixel data read or not, large elements deferred or not) with a one-line ValueError for
    a file that is not readable DICOM."""
    import pydicom
    from pydicom.errors import InvalidDicomError

    from .conventions import oneLine

    try:
        return pydicom.dcmread(str(path), stop_before_pixels=stopBeforePixels, defer_size=deferSize)
    except (InvalidDicomError, OSError, ValueError, TypeError, KeyError, EOFError) as error:
        raise ValueError(f"{path}: not a readable DICOM file ({oneLine(error, 200)})") from None


def _pydicom3() -> bool:
    import pydicom

    return int(pydicom.__version__.split(".")[0]) >= 3


def _pydicom2Rgb(dataset, pixels: np.ndarray) -> np.ndarray:
    """pydicom 3 gives colour as RGB; pydicom 2 (bundled with Slicer 5.10) leaves it in YCbCr: converted here."""
    photometric = str(getattr(dataset, "PhotometricInterpretation", ""))
    if not _pydicom3() and photometric in ("YBR_FULL", "YBR_FULL_422"):
        from pydicom.pixel_data_handlers.util import convert_color_space

        return convert_color_space(pixels, photometric, "RGB")
    return pixels


def _decodeError(dataset, path, error: Exception) -> ValueError:
    """The one-line ValueError for pixel data that cannot be decoded, with a hint for compressed ones."""
    from .conventions import oneLine
    from .dicomvalues import NATIVE_TRANSFER_SYNTAXES

    syntax = getattr(getattr(dataset, "file_meta", None), "TransferSyntaxUID", None)
    syntaxName = f"{getattr(syntax, 'name', '') or syntax}" if syntax else "unknown transfer syntax"
    hint = "" if str(syntax) in NATIVE_TRANSFER_SYNTAXES else (
        "; install pylibjpeg with its openjpeg and libjpeg plugins, or export the images uncompressed")
    return ValueError(f"{path}: cannot decode DICOM pixel data ({syntaxName}: {oneLine(error, 200)}){hint}")


#: Where a cine's R waves were read, as :func:`frameChoice` says it.
R_WAVE_POINTER, ECG_WAVEFORM = "DICOM RWavePointer", "DICOM ECG waveform"


def rWaveFrames(dataset, source, frames: int) -> tuple[list[int], str]:
    """(zero-based frames of a cine at the ECG's R waves (end-diastole), where they were read): from DICOM R Wave
    Pointer (0028,6040: one-based frame numbers, in the Cardiac Synchronization and XA/XRF multi-frame modules;
    :data:`R_WAVE_POINTER`), else from the ECG in the file's Waveform Sequence (:func:`.ecgwaveform.ecgFrames`;
    :data:`ECG_WAVEFORM`): in order, each once; ([], "") without either.

    :raises ValueError: a pointer that is not a frame of the file (the message names the value).
    """
    from .ecgwaveform import ecgFrames

    pointed = _rWavePointerFrames(dataset, source, frames)
    if pointed:
        return pointed, R_WAVE_POINTER
    waveform = ecgFrames(dataset, frames, str(source))
    return waveform, ECG_WAVEFORM if waveform else ""


def _rWavePointerFrames(dataset, source, frames: int) -> list[int]:
    element = dataset.get((0x0028, 0x6040))
    value = None if element is None else element.value
    if value is None or value == "":
        return []
    numbers = list(value) if hasattr(value, "__len__") and not isinstance(value, (str, bytes)) else [value]
    found = []
    for number in numbers:
        if not isinstance(number, (int, np.integer)) or not 1 <= int(number) <= frames:
            raise ValueError(f"{source}: RWavePointer {number!r} is not a frame of the file (1-{frames})")
        found.append(int(number) - 1)
    return sorted(set(found))


def rWaveFramesOfFile(path, frames: int) -> tuple[list[int], str]:
    """:func:`rWaveFrames` of the DICOM file a cine was loaded from (header only), when it has ``frames`` frames;
    ([], "") for another file, a file with another frame count or an unreadable one (its frames are then all
    candidates)."""
    if not path:
        return [], ""
    try:
        dataset = readDicomFile(Path(path), stopBeforePixels=True)
    except ValueError:
        return [], ""
    from .dicomvalues import number

    if number(dataset, "NumberOfFrames", str(path), required=False, integer=True, default=1) != frames:
        return [], ""
    return rWaveFrames(dataset, str(path), frames)


def frameChoice(rWaves: Sequence[int], frames: int, origin: str = R_WAVE_POINTER) -> str:
    """How a cine's frame was chosen, for the readouts: among its R-wave frames (:func:`rWaveFrames`; ``origin``:
    where they were read, :data:`R_WAVE_POINTER` or :data:`ECG_WAVEFORM`), or all."""
    if rWaves:
        return f"strongest of the {len(rWaves)} R-wave frames (end-diastole, {origin})"
    return f"strongest of all {frames} frames (no ECG R waves in the file)"


def iterDicomFrames(dataset, source, indices: Optional[Sequence[int]] = None) -> Iterator[np.ndarray]:
    """The decoded frames of a DICOM dataset (from :func:`readDicomDataset`; ``source``: its file), one at a time, as
    stored (no rescale; colour as RGB): all of them in order, or those at ``indices``. With pydicom 3 each frame is
    read and decoded when it is reached, from the file when the dataset's pixel data were deferred (never the whole
    cine in memory); pydicom 2 decodes the whole pixel data once, then hands out its frames. A frame that cannot be
    decoded raises the reader's one-line ValueError.
    """
    from .dicomvalues import number

    frames = number(dataset, "NumberOfFrames", str(source), required=False, integer=True, default=1)
    indices = list(range(frames) if indices is None else indices)
    if _pydicom3():
        from pydicom.pixels import iter_pixels

        iterator = iter_pixels(str(source) if _pixelDataDeferred(dataset) else dataset, indices=indices)
    else:
        def fromWholeArray():
            pixels = dataset.pixel_array
            pixels = pixels[None] if frames == 1 else pixels
            for index in indices:
                yield _pydicom2Rgb(dataset, pixels[index])

        iterator = fromWholeArray()
    while True:
        try:
            with _quietDecoders():
                frame = next(iterator)
        except StopIteration:
            return
        except Exception as error:  # pydicom raises several types for unsupported transfer syntaxes
            raise _decodeError(dataset, source, error) from None
        yield frame


class _quietDecoders:
    """Keep the pixel data handlers' own log records (e.g. Pillow's traceback for a codec it lacks) off the console:
    the ValueError raised after them says what went wrong, once."""

    def __enter__(self):
        self._logger = logging.getLogger("pydicom")
        self._level = self._logger.level
        self._logger.setLevel(logging.CRITICAL)
        return self

    def __exit__(self, *exc):
        self._logger.setLevel(self._level)
        return False
