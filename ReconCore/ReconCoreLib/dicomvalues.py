"""Checked reading of DICOM header values: the multiplicity each attribute must have, the pixel module's consistency,
the modality a module reads, and JSON values that must be numbers (never booleans).

pydicom hands back whatever the file holds: a ``MultiValue`` where one number is expected, a single ``DSfloat``
where two are, a string in an integer attribute. Every reader calls these instead of ``float(dataset.X)`` so that
such a file is refused with one line naming the attribute and its value, never a ``TypeError`` traceback.

Console example::

    from ReconCoreLib.dicomvalues import number, numbers
    sid = number(dataset, "DistanceSourceToDetector", "view1.dcm")
    rowSpacing, columnSpacing = numbers(dataset, "ImagerPixelSpacing", 2, "view1.dcm")
"""

from __future__ import annotations

import math
from typing import Callable, Optional, Sequence

#: Transfer syntaxes whose pixel data are stored uncompressed (their byte count can be checked).
NATIVE_TRANSFER_SYNTAXES = (
    "1.2.840.10008.1.2",  # Implicit VR Little Endian
    "1.2.840.10008.1.2.1",  # Explicit VR Little Endian
    "1.2.840.10008.1.2.1.99",  # Deflated Explicit VR Little Endian (inflated when read)
    "1.2.840.10008.1.2.2",  # Explicit VR Big Endian
)

#: Storage SOP classes (IODs) of the X-ray images the readers take: their geometry attributes are top-level ones.
#: (The enhanced XA/XRF IODs keep geometry in functional groups, which are not read: refused, not misread.)
XRAY_SOP_CLASSES = {
    "1.2.840.10008.5.1.4.1.1.12.1": "X-Ray Angiographic Image",
    "1.2.840.10008.5.1.4.1.1.12.2": "X-Ray Radiofluoroscopic Image",
    "1.2.840.10008.5.1.4.1.1.1.1": "Digital X-Ray Image - For Presentation",
    "1.2.840.10008.5.1.4.1.1.1.1.1": "Digital X-Ray Image - For Processing",
    "1.2.840.10008.5.1.4.1.1.1": "Computed Radiography Image",
}
#: Storage SOP classes of echo images: ultrasound single- and multi-frame (and their retired forms), and the
#: secondary captures some echo systems export (their Modality must still be US).
ULTRASOUND_SOP_CLASSES = {
    "1.2.840.10008.5.1.4.1.1.6.1": "Ultrasound Image",
    "1.2.840.10008.5.1.4.1.1.3.1": "Ultrasound Multi-frame Image",
    "1.2.840.10008.5.1.4.1.1.6": "Ultrasound Image (retired)",
    "1.2.840.10008.5.1.4.1.1.3": "Ultrasound Multi-frame Image (retired)",
    "1.2.840.10008.5.1.4.1.1.7": "Secondary Capture Image",
    "1.2.840.10008.5.1.4.1.1.7.2": "Multi-frame Grayscale Byte Secondary Capture Image",
    "1.2.840.10008.5.1.4.1.1.7.3": "Multi-frame Grayscale Word Secondary Capture Image",
    "1.2.840.10008.5.1.4.1.1.7.4": "Multi-frame True Color Secondary Capture Image",
}
#: Photometric interpretations the readers turn into grey levels.
PHOTOMETRIC_INTERPRETATIONS = ("MONOCHROME1", "MONOCHROME2", "RGB", "YBR_FULL", "YBR_FULL_422", "PALETTE COLOR")


def _values(raw) -> list:
    """The values of a DICOM element value or a JSON value as a list (one item for a single value)."""
    if raw is None:
        return []
    if isinstance(raw, (str, bytes)):
        text = raw.decode("ascii", "replace") if isinstance(raw, bytes) else raw
        return [part for part in text.split("\\")] if text.strip() else []
    try:
        return list(raw)
    except TypeError:
        return [raw]


def toNumber(value, name: str, source: str = "", integer: bool = False) -> float:
    """One finite number from a DICOM or JSON value; booleans, text that is not a number and NaN are refused."""
    where = f"{source}: " if source else ""
    if isinstance(value, bool):
        raise ValueError(f"{where}{name} must be a number, got the boolean {str(value).lower()}")
    try:
        number = float(value.strip() if isinstance(value, str) else value)
    except (TypeError, ValueError):
        raise ValueError(f"{where}{name} must be a number, got {value!r}") from None
    if not math.isfinite(number):
        raise ValueError(f"{where}{name} must be finite, got {value!r}")
    if integer and number != int(number):
        raise ValueError(f"{where}{name} must be an integer, got {value!r}")
    return int(number) if integer else number


def numbers(dataset, keyword: str, count: int, source: str = "", required: bool = True,
            integer: bool = False) -> Optional[tuple]:
    """Exactly ``count`` numbers of attribute ``keyword`` (a pydicom dataset or a dict); None when absent and not
    ``required``."""
    raw = dataset.get(keyword) if isinstance(dataset, dict) else getattr(dataset, keyword, None)
    values = _values(raw)
    where = f"{source}: " if source else ""
    if not values:
        if required:
            raise ValueError(f"{where}{keyword} is missing")
        return None
    if len(values) != count:
        raise ValueError(f"{where}{keyword} must have {count} value{'s' if count > 1 else ''}, got {len(values)} "
                         f"({raw!r})")
    return tuple(toNumber(value, keyword, source, integer) for value in values)


def number(dataset, keyword: str, source: str = "", required: bool = True, integer: bool = False,
           default=None):
    """The single number of attribute ``keyword``; ``default`` when absent and not ``required``."""
    values = numbers(dataset, keyword, 1, source, required, integer)
    return default if values is None else values[0]


def text(dataset, keyword: str, source: str = "") -> str:
    """The single text value of ``keyword`` ("" when absent); a multi-valued one is refused."""
    values = _values(getattr(dataset, keyword, None))
    if len(values) > 1:
        raise ValueError(f"{source + ': ' if source else ''}{keyword} must have one value, got {len(values)} "
                         f"({getattr(dataset, keyword)!r})")
    return str(values[0]).strip() if values else ""


#: DICOM laterality codes -> side.
LATERALITY_SIDES = {"L": "left", "R": "right"}
#: Free-text attributes read for the side when ImageLaterality and Laterality give none, in this order, and the whole
#: words in them that name a side (English, German, French; single letters are not read: "L" may mean lateral).
#: PatientOrientation is not read: it gives the image's directions, not the side imaged.
SIDE_TEXT_KEYWORDS = ("BodyPartExamined", "SeriesDescription")
SIDE_WORDS = {"LEFT": "left", "LT": "left", "LINKS": "left", "GAUCHE": "left",
              "RIGHT": "right", "RT": "right", "RECHTS": "right", "DROITE": "right"}


def sideOf(value: Callable[[str], str], source: str = "") -> tuple[Optional[str], str]:
    """('left' / 'right' or None, where it was read) of one image whose attribute texts ``value(keyword)`` gives (""
    when absent): ImageLaterality, else Laterality (L, R; U unpaired and B both say nothing), else a side named in
    whole words of :data:`SIDE_TEXT_KEYWORDS` (:data:`SIDE_WORDS`; "bilateral" or both sides named say nothing).
    Where: the keyword, with the text for a free-text one ("SeriesDescription 'HIP LEFT AP'").

    :raises ValueError: a laterality code other than L, R, U or B.
    """
    import re

    for keyword in ("ImageLaterality", "Laterality"):
        code = str(value(keyword) or "").strip()
        if code.upper() in ("", "U", "B"):
            continue
        if code.upper() not in LATERALITY_SIDES:
            raise ValueError(f"{source + ': ' if source else ''}{keyword} is {code!r}; expected R, L, U or B "
                             "(give the side)")
        return LATERALITY_SIDES[code.upper()], keyword
    for keyword in SIDE_TEXT_KEYWORDS:
        words = set(re.findall(r"[A-Z]+", str(value(keyword) or "").upper()))
        sides = {SIDE_WORDS[word] for word in words if word in SIDE_WORDS}
        if len(sides) == 1 and "BILATERAL" not in words:
            return sides.pop(), f"{keyword} {value(keyword)!r}"
    return None, ""


def checkModality(dataset, accepted: Sequence[str], source: str, reads: str) -> str:
    """The dataset's Modality when it is one of ``accepted``; ValueError naming it otherwise (``reads``: what the
    module reads, e.g. "X-ray angiograms")."""
    modality = text(dataset, "Modality", source).upper()
    if modality not in accepted:
        raise ValueError(f"{source}: Modality is {modality or 'missing'}; this module reads {reads} "
                         f"(Modality {', '.join(accepted)})")
    return modality


def checkSopClass(dataset, accepted: dict, source: str) -> str:
    """The dataset's SOPClassUID when it is a key of ``accepted`` (the IODs a reader takes); ValueError naming the
    IOD otherwise. A file without SOPClassUID (not valid DICOM, but written by some tools) is left to the other
    checks."""
    uid = text(dataset, "SOPClassUID", source)
    if not uid:
        meta = getattr(dataset, "file_meta", None)
        uid = str(getattr(meta, "MediaStorageSOPClassUID", "") or "")
    if uid and uid not in accepted:
        try:
            from pydicom.uid import UID

            name = UID(uid).name
        except Exception:  # an unknown or malformed UID has no name
            name = uid
        raise ValueError(f"{source}: the file is a {name} ({uid}), not an image this module reads "
                         f"({', '.join(sorted(set(accepted.values())))})")
    return uid


def checkPixelModule(dataset, source: str, pixelDataLength: int | None = None) -> None:
    """The image pixel module agrees with itself and with the pixel data's length (uncompressed files): that of the
    dataset's PixelData, or ``pixelDataLength`` (bytes) when they were left in the file.

    Checks BitsAllocated (1, 8, 16 or 32), BitsStored <= BitsAllocated, HighBit = BitsStored - 1, PixelRepresentation
    0 or 1, SamplesPerPixel 1 or 3, and for native transfer syntaxes that the pixel data hold Rows x Columns x
    NumberOfFrames x SamplesPerPixel values of BitsAllocated bits (a header that disagrees would be read as garbage).
    """
    where = f"{source}: "
    rows = number(dataset, "Rows", source, integer=True)
    columns = number(dataset, "Columns", source, integer=True)
    allocated = number(dataset, "BitsAllocated", source, integer=True)
    stored = number(dataset, "BitsStored", source, required=False, integer=True, default=allocated)
    highBit = number(dataset, "HighBit", source, required=False, integer=True, default=stored - 1)
    representation = number(dataset, "PixelRepresentation", source, required=False, integer=True, default=0)
    samples = number(dataset, "SamplesPerPixel", source, required=False, integer=True, default=1)
    frames = number(dataset, "NumberOfFrames", source, required=False, integer=True, default=1)
    if rows < 1 or columns < 1 or frames < 1:
        raise ValueError(f"{where}Rows {rows}, Columns {columns}, NumberOfFrames {frames}: each must be at least 1")
    if allocated not in (1, 8, 16, 32):
        raise ValueError(f"{where}BitsAllocated is {allocated}; expected 1, 8, 16 or 32")
    if not 1 <= stored <= allocated:
        raise ValueError(f"{where}BitsStored {stored} does not fit BitsAllocated {allocated}")
    if highBit != stored - 1:
        raise ValueError(f"{where}HighBit {highBit} disagrees with BitsStored {stored} (expected {stored - 1})")
    if representation not in (0, 1):
        raise ValueError(f"{where}PixelRepresentation is {representation}; expected 0 (unsigned) or 1 (signed)")
    if samples not in (1, 3):
        raise ValueError(f"{where}SamplesPerPixel is {samples}; expected 1 (grey) or 3 (colour)")
    photometric = text(dataset, "PhotometricInterpretation", source).upper()
    if photometric not in PHOTOMETRIC_INTERPRETATIONS:
        raise ValueError(f"{where}PhotometricInterpretation is {photometric or 'missing'}; expected one of "
                         f"{', '.join(PHOTOMETRIC_INTERPRETATIONS)}")
    meta = getattr(dataset, "file_meta", None)
    syntax = str(getattr(meta, "TransferSyntaxUID", "") or "")
    if syntax and syntax not in NATIVE_TRANSFER_SYNTAXES:
        return  # compressed: the decoder checks the stream
    if pixelDataLength is None:
        data = getattr(dataset, "PixelData", None)
        if data is None:
            return
        pixelDataLength = len(data)
    expected = (rows * columns * frames * samples * allocated + 7) // 8
    if pixelDataLength not in (expected, expected + 1):  # one padding byte to an even length
        raise ValueError(f"{where}the pixel data hold {pixelDataLength} bytes but the header (Rows {rows} x Columns "
                         f"{columns} x {frames} frame(s) x {samples} sample(s) x {allocated} bits) needs {expected}")
