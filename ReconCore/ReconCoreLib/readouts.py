"""Readouts: the numbers a module reports, identical in ``readouts.json`` and in the Slicer table node.

``readouts.json`` is one flat JSON object. Measurement keys are snake_case and end in their unit
(``_mm``, ``_mm3``, ``_ml``, ``_g``, ``_deg``, ``_percent``, ``_s``; no suffix for ratios such as Dice);
beside them stand ``module``, ``version``, ``model_sha256``, ``device``, ``warnings`` (list of strings) and
``failed_checks`` (list of strings: plausibility gates the result failed when the user chose to keep it; a result
with a failed check is not a measurement).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

from . import __version__

UNIT_SUFFIXES = ("mm", "mm3", "ml", "g", "deg", "percent", "s")
#: Decimals a readout is shown with (console summary, Slicer table), by unit: its clinical precision. mL, g, %, deg
#: and mm3 to whole units (EF to 1 %), mm to 0.1, ratios (Dice, NCC, Jacobians) to 0.01, seconds to 0.01.
#: readouts.json keeps every number at full precision.
DISPLAY_DECIMALS = {"ml": 0, "g": 0, "percent": 0, "deg": 0, "mm3": 0, "mm": 1, "s": 2, "": 2}
#: Table node attribute holding readouts.json's object, numbers at full precision (the cells show them rounded).
TABLE_ATTRIBUTE = "Recon2Dto3D.readouts"
METADATA_KEYS = ("module", "version", "model_sha256", "device", "warnings", "failed_checks")
_SNAKE_CASE = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")


def unitOf(key: str) -> str:
    """The unit a readout key ends in ('' for a ratio)."""
    suffix = key.rsplit("_", 1)[-1] if "_" in key else ""
    return suffix if suffix in UNIT_SUFFIXES else ""


def checkKey(key: str) -> None:
    """Raise ``ValueError`` unless ``key`` is snake_case and not a metadata key."""
    if not _SNAKE_CASE.fullmatch(key):
        raise ValueError(f"readout key {key!r} is not snake_case")
    if key in METADATA_KEYS:
        raise ValueError(f"readout key {key!r} is reserved for metadata")


@dataclass
class Readouts:
    """Measurements of one run plus the metadata that says how they were made."""

    module: str
    modelSha256: str = ""
    device: str = "cpu"
    values: dict = field(default_factory=dict)
    warnings: list = field(default_factory=list)
    version: str = __version__
    failedChecks: list = field(default_factory=list)

    def set(self, key: str, value) -> None:
        """Add one measurement (a finite number, or a bool / string for categorical readouts)."""
        checkKey(key)
        if isinstance(value, bool) or isinstance(value, str):
            self.values[key] = value
            return
        number = float(value)
        if not math.isfinite(number):
            raise ValueError(f"readout {key} is not finite ({value!r})")
        self.values[key] = int(value) if isinstance(value, int) else number

    def warn(self, message: str) -> None:
        """Record a warning shown to the user with the results."""
        self.warnings.append(str(message))

    def failCheck(self, message: str) -> None:
        """Record a plausibility gate the result failed (kept because the user asked to keep implausible results)."""
        self.failedChecks.append(str(message))

    @property
    def failed(self) -> bool:
        """True when a plausibility gate failed: the numbers are not measurements."""
        return bool(self.failedChecks)

    def toDict(self) -> dict:
        """The flat object written to readouts.json."""
        return {"module": self.module, "version": self.version, "model_sha256": self.modelSha256,
                "device": self.device, **self.values, "warnings": list(self.warnings),
                "failed_checks": list(self.failedChecks)}

    @classmethod
    def fromDict(cls, data: dict) -> "Readouts":
        readouts = cls(module=data["module"], modelSha256=data.get("model_sha256", ""),
                       device=data.get("device", ""), version=data.get("version", __version__),
                       warnings=list(data.get("warnings", [])),
                       failedChecks=list(data.get("failed_checks", [])))
        for key, value in data.items():
            if key not in METADATA_KEYS:
                readouts.set(key, value)
        return readouts

    def writeJson(self, path: str | Path) -> Path:
        path = Path(path)
        path.write_text(json.dumps(self.toDict(), indent=2) + "\n")
        return path

    @classmethod
    def readJson(cls, path: str | Path) -> "Readouts":
        return cls.fromDict(json.loads(Path(path).read_text()))

    def tableRows(self) -> list[dict]:
        """Rows of the Slicer table: readout, value (at its clinical precision, :func:`displayValue`), unit (then
        metadata and warnings)."""
        rows = [{"readout": key, "value": displayValue(key, value), "unit": unitOf(key)}
                for key, value in self.values.items()]
        rows += [{"readout": key, "value": str(value), "unit": ""} for key, value in
                 (("module", self.module), ("version", self.version), ("model_sha256", self.modelSha256),
                  ("device", self.device))]
        rows += [{"readout": "warning", "value": message, "unit": ""} for message in self.warnings]
        rows += [{"readout": "FAILED CHECK", "value": message, "unit": ""} for message in self.failedChecks]
        return rows

    def toTableNode(self, scene, name: str = "readouts", node=None):
        """Fill ``node`` (or a new table node in ``scene``) with :meth:`tableRows`; the node's attribute
        :data:`TABLE_ATTRIBUTE` holds readouts.json's object (full precision) for scripts."""
        from .runtime import tableNodeFromRows

        node = tableNodeFromRows(scene, self.tableRows(), name, node)
        node.SetAttribute(TABLE_ATTRIBUTE, json.dumps(self.toDict()))
        return node

    def summary(self) -> str:
        """Readable lines for the console."""
        lines = [f"{self.module} readouts{' (FAILED CHECKS: not measurements)' if self.failed else ''}:"]
        lines += [f"  {key:<40} {displayValue(key, value)} {unitOf(key)}".rstrip()
                  for key, value in self.values.items()]
        lines += [f"  warning: {message}" for message in self.warnings]
        lines += [f"  FAILED CHECK: {message}" for message in self.failedChecks]
        return "\n".join(lines)


def displayValue(key: str, value) -> str:
    """A readout as people read it: rounded to the clinical precision of its unit (:data:`DISPLAY_DECIMALS`),
    e.g. ``lv_edv_ml`` 123.60857 -> "124", ``head_diameter_mm`` 45.8968 -> "45.9", ``dice`` 0.89254 -> "0.89";
    integers, booleans and text as they are."""
    if isinstance(value, bool) or not isinstance(value, float):
        return str(value)
    text = f"{value:.{DISPLAY_DECIMALS[unitOf(key)]}f}"
    return "0" + text[2:] if text.startswith("-0") and float(text) == 0 else text
