"""The views a run used, and the interval its LV volumes and EF carry for that set of views.

A study may lack views: EchoRecon needs A4C and A2C (:data:`~.conventions.REQUIRED_VIEWS`) and takes any of A3C,
SAXB, SAXM and SAXA beside them, 16 sets in all. The bundled network was trained with those four dropped at random
(view dropout, see the model card), and a view not given reaches it as a black image, as in training. Fewer views
leave more of the heart to the shapes the network learned, so the error grows; the readouts say by how much.

The interval is calibrated per view set, on patients of the training generator that neither training nor the
held-out evaluation used (``python -m EchoReconDev.viewsets --calibrate``; seeds and counts in the resource): the
bundled model ran on each set, and the interval half-width is the conformal quantile (the ceil((n + 1) x 0.9)-th
smallest of the n absolute errors) of the EF error in points and of the relative EDV and ESV errors. On patients
like those, the truth lies inside the interval 9 times in 10; the held-out evaluation checks that coverage. It is
not an interval for images unlike the training generator's: the model card's out-of-distribution table shows how
much larger the errors are there.

Readouts: ``views_used`` (e.g. "A4C A2C SAXM"), ``view_count``, and ``lv_edv_low_ml`` / ``lv_edv_high_ml`` (with
end-systole also ``lv_esv_low_ml``, ``lv_esv_high_ml``, ``lv_ef_low_percent``, ``lv_ef_high_percent``): the 90 %
interval. A calibration made for another model file gives no interval and a warning (never the wrong model's).
"""

from __future__ import annotations

import json
from pathlib import Path

from .conventions import REQUIRED_VIEWS, VIEWS

#: The calibration of the bundled model (written by ``EchoReconDev.viewsets --calibrate``).
CALIBRATION_PATH = Path(__file__).resolve().parents[1] / "Resources" / "Models" / "EchoRecon-intervals.json"
#: The share of calibration patients whose truth lies inside the interval.
COVERAGE = 0.9
#: Beyond this EF half-width (points) the result is too uncertain to read a clinical category from: a warning.
WIDE_EF_INTERVAL_POINTS = 10.0


def viewSetName(views) -> str:
    """The key of a set of views: the views in :data:`VIEWS` order, separated by spaces ("A4C A2C SAXM")."""
    return " ".join(view for view in VIEWS if view in set(views))


def optionalViewSets() -> list[tuple]:
    """Every set of views a run may have: A4C and A2C with each subset of the other four (16 sets)."""
    optional = [view for view in VIEWS if view not in REQUIRED_VIEWS]
    return [REQUIRED_VIEWS + tuple(view for bit, view in enumerate(optional) if mask >> bit & 1)
            for mask in range(2 ** len(optional))]


def loadCalibration(path: Path = CALIBRATION_PATH) -> dict | None:
    """The calibration resource ({"modelSha256", "coverage", "patients", "seeds", "sets": {name: {"ef_points",
    "edv_relative", "esv_relative"}}}), or None when there is none."""
    path = Path(path)
    if not path.is_file():
        return None
    return json.loads(path.read_text(encoding="utf-8"))  # a few kB, read per run


def recordViewSet(result, modelSha256: str, calibrationPath: Path = CALIBRATION_PATH) -> None:
    """Set ``views_used``, ``view_count`` and the volume and EF intervals (module docstring) on ``result.readouts``
    (a :class:`~.pipeline.Reconstruction` after :func:`~.measure.measure`)."""
    readouts = result.readouts
    values = readouts.values
    name = viewSetName(result.views)
    readouts.set("views_used", name)
    readouts.set("view_count", len(result.views))
    calibration = loadCalibration(calibrationPath)
    problem = (f"{Path(calibrationPath).name} is missing" if calibration is None else
               f"{Path(calibrationPath).name} was calibrated for another model file "
               f"({str(calibration.get('modelSha256'))[:12]}..., this one {modelSha256[:12]}...)"
               if calibration.get("modelSha256") != modelSha256 else
               f"{Path(calibrationPath).name} has no calibration for the views {name}"
               if name not in calibration.get("sets", {}) else "")
    if problem:
        readouts.warn(f"no interval for the LV volumes and EF: {problem}")
        return
    widths = calibration["sets"][name]
    for key, width in (("lv_edv", widths["edv_relative"]), ("lv_esv", widths["esv_relative"])):
        if f"{key}_ml" in values:
            volume = values[f"{key}_ml"]
            readouts.set(f"{key}_low_ml", volume / (1.0 + width))
            readouts.set(f"{key}_high_ml", volume / max(1.0 - width, 1e-3))
    if "lv_ef_percent" in values:
        ef, width = values["lv_ef_percent"], widths["ef_points"]
        readouts.set("lv_ef_low_percent", max(ef - width, 0.0))
        readouts.set("lv_ef_high_percent", min(ef + width, 100.0))
        if len(result.views) < len(VIEWS) or width > WIDE_EF_INTERVAL_POINTS:
            missing = [view for view in VIEWS if view not in result.views]
            readouts.warn(f"EF {ef:.0f} % from {len(result.views)} views (without {', '.join(missing) or 'none'}): "
                          f"{100 * calibration['coverage']:.0f} % interval {max(ef - width, 0):.0f}-"
                          f"{min(ef + width, 100):.0f} % on the calibration patients; more views narrow it")
