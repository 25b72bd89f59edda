"""Radiographs as hospitals hand them over: collimation, a lead side marker and burned-in text (issue 11, item 3).

Applied to a simulated radiograph (bone bright, as displayed) and its femur mask after projection
(:func:`hospitalStyle`; sizes in mm on the detector):

- collimation: the exposed field is a rectangle whose edges lie 10-60 mm inside the detector's (each edge drawn on
  its own); outside it the shutter is white (unexposed, as most DX systems display it) or black (electronic
  shuttering), half the cases each, with noise of 1 % of the image's range (scatter and detector noise). The femur
  mask is cut to the field: what the radiograph does not show is not femur on it;
- a lead marker: the letter of the side ("R" or "L"), 12-20 mm tall, inside the field near one of its corners, as
  bright as lead (1.5 x the image's 99.9th percentile);
- burned-in text: three lines (a name, a date and time, the exposure), 4-6 mm tall, near another corner of the
  field, at the image's maximum.

Development code: the training data has none of this; ``positions --hospital`` measures what it costs the run.
"""

from __future__ import annotations

import numpy as np

#: Collimation: each edge of the field this far inside the detector's edge (mm on the detector).
COLLIMATION_MM = (10.0, 60.0)
MARKER_MM = (12.0, 20.0)
TEXT_MM = (4.0, 6.0)
TEXT_LINES = ("DOE^JANE 1957-03-14", "2026-11-30 08:42:17", "75 kV 12.5 mAs")


def _glyphs(text: str, heightPx: int) -> np.ndarray:
    """A float mask (0-1) of ``text`` drawn with Pillow's bundled font, ``heightPx`` pixels per line."""
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.load_default(size=max(int(heightPx), 6))
    lines = text.split("\n")
    width = max(int(font.getlength(line)) for line in lines) + 4
    image = Image.new("L", (width, (heightPx + 2) * len(lines) + 4))
    draw = ImageDraw.Draw(image)
    for index, line in enumerate(lines):
        draw.text((2, 2 + index * (heightPx + 2)), line, fill=255, font=font)
    return np.asarray(image, np.float32) / 255.0


def _stamp(image: np.ndarray, glyphs: np.ndarray, row: int, column: int, value: float) -> None:
    """Burn ``glyphs`` into ``image`` at (row, column) (top left), clipped to the image."""
    rows = slice(max(row, 0), min(row + glyphs.shape[0], image.shape[0]))
    columns = slice(max(column, 0), min(column + glyphs.shape[1], image.shape[1]))
    part = glyphs[rows.start - row:rows.stop - row, columns.start - column:columns.stop - column]
    image[rows, columns] = np.where(part > 0.5, value, image[rows, columns])


def hospitalStyle(image: np.ndarray, mask: np.ndarray, pixelMm: float, side: str,
                  rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(image, mask) with collimation, a lead side marker and burned-in text (module docstring); ``pixelMm``: the
    detector's pixel size."""
    image, mask = np.array(image, np.float32), np.array(mask, np.uint8)
    rows, columns = image.shape
    top, bottom, left, right = (int(round(rng.uniform(*COLLIMATION_MM) / pixelMm)) for _ in range(4))
    field = np.zeros(image.shape, bool)
    field[top:rows - bottom, left:columns - right] = True
    bright = float(np.percentile(image, 99.9))
    corners = [(top, left), (top, columns - right), (rows - bottom, left), (rows - bottom, columns - right)]
    order = rng.permutation(4)
    marker = _glyphs("R" if side == "right" else "L", int(round(rng.uniform(*MARKER_MM) / pixelMm)))
    text = _glyphs("\n".join(TEXT_LINES), int(round(rng.uniform(*TEXT_MM) / pixelMm)))
    inset = int(round(5.0 / pixelMm))
    for glyphs, corner, value in ((marker, corners[order[0]], 1.5 * bright), (text, corners[order[1]], bright)):
        row = corner[0] + inset if corner[0] == top else corner[0] - inset - glyphs.shape[0]
        column = corner[1] + inset if corner[1] == left else corner[1] - inset - glyphs.shape[1]
        _stamp(image, glyphs, row, column, value)
    shutter = bright if rng.uniform() < 0.5 else 0.0
    spread = bright - float(np.percentile(image, 0.1))
    image[~field] = shutter + rng.normal(0.0, 0.01 * spread, int((~field).sum()))
    mask[~field] = 0
    return image, mask
