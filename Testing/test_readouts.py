"""Readouts: snake_case unit-suffixed keys, flat readouts.json, and the table node holding the same numbers."""

import json
import math

import pytest

from ReconCoreLib import __version__
from ReconCoreLib.readouts import (DISPLAY_DECIMALS, METADATA_KEYS, TABLE_ATTRIBUTE, UNIT_SUFFIXES, Readouts,
                                   checkKey, displayValue, unitOf)
from ReconCoreLib.runtime import rowsFromTableNode

# Values chosen so that any rounding on the way to the table or the JSON shows up.
VALUES = {
    "vessel_volume_mm3": 0.1 + 0.2,  # 0.30000000000000004
    "lv_ef_percent": 100.0 / 3.0,
    "centerline_length_mm": 123456.78901234567,
    "lv_edv_ml": 1e-300,
    "femur_angle_deg": -12.5,
    "run_time_s": 2.0 ** -30,
    "myocardium_mass_g": 151.0,
    "dice": 0.9123456789012345,
    "hd95_mm": 2.718281828459045,
    "number_of_segments": 7,
    "big_count": 2 ** 53 + 1,  # not representable as a float: must stay an int
}


def makeReadouts():
    readouts = Readouts(module="AngioRecon", modelSha256="ab" * 32, device="cpu")
    for key, value in VALUES.items():
        readouts.set(key, value)
    readouts.set("tree_side", "left")
    readouts.set("converged", True)
    readouts.warn("view separation 25 deg is small")
    readouts.warn("frame 3 chosen automatically")
    return readouts


# --------------------------------------------------------------------------------------------------
# Keys and values
@pytest.mark.parametrize("key", ["VesselVolume", "vessel-volume", "vesselVolume_mm3", "vessel volume",
                                 "1dice", "_dice", "dice_", "vessel__volume", "", "vessel.volume_mm3", "dice_MM"])
def test_non_snake_case_keys_are_refused(key):
    readouts = Readouts(module="AngioRecon")
    with pytest.raises(ValueError, match="is not snake_case") as error:
        readouts.set(key, 1.0)
    assert repr(key) in str(error.value)
    assert readouts.values == {}


@pytest.mark.parametrize("key", ["vessel_volume_mm3", "dice", "lv_ef_percent", "hd95_mm", "a1_b2_c3"])
def test_snake_case_keys_are_accepted(key):
    checkKey(key)  # no exception
    readouts = Readouts(module="EchoRecon")
    readouts.set(key, 2.5)
    assert readouts.values == {key: 2.5}


def test_key_with_trailing_newline_is_refused():
    with pytest.raises(ValueError, match="is not snake_case"):
        checkKey("dice\n")


@pytest.mark.parametrize("key", METADATA_KEYS)
def test_metadata_keys_are_reserved(key):
    readouts = Readouts(module="FemurRegistration")
    with pytest.raises(ValueError, match=f"readout key '{key}' is reserved for metadata"):
        readouts.set(key, 1.0)
    assert readouts.values == {}


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, float("nan")])
def test_non_finite_values_are_refused(value):
    readouts = Readouts(module="EchoRecon")
    with pytest.raises(ValueError, match="readout lv_edv_ml is not finite"):
        readouts.set("lv_edv_ml", value)
    assert "lv_edv_ml" not in readouts.values


def test_value_types_are_kept():
    readouts = makeReadouts()
    assert type(readouts.values["number_of_segments"]) is int
    assert readouts.values["big_count"] == 2 ** 53 + 1
    assert type(readouts.values["vessel_volume_mm3"]) is float
    assert readouts.values["converged"] is True
    assert readouts.values["tree_side"] == "left"
    readouts.set("dice", 1)  # overwriting keeps one entry
    assert readouts.values["dice"] == 1
    assert list(readouts.values).count("dice") == 1


@pytest.mark.parametrize("key, unit", [
    ("vessel_volume_mm3", "mm3"),
    ("dice", ""),
    ("lv_ef_percent", "percent"),
    ("hd95_mm", "mm"),
    ("lv_edv_ml", "ml"),
    ("myocardium_mass_g", "g"),
    ("femur_angle_deg", "deg"),
    ("run_time_s", "s"),
    ("number_of_segments", ""),
    ("mm", ""),  # a bare word is not a unit suffix
    ("assd_mm2", ""),  # not one of the units
])
def test_unit_of(key, unit):
    assert unitOf(key) == unit


def test_unit_suffixes_are_snake_case_tails():
    for unit in UNIT_SUFFIXES:
        checkKey(f"value_{unit}")
        assert unitOf(f"value_{unit}") == unit


# --------------------------------------------------------------------------------------------------
# readouts.json
def test_to_dict_is_flat_with_metadata():
    readouts = makeReadouts()
    data = readouts.toDict()
    assert data["module"] == "AngioRecon"
    assert data["version"] == __version__
    assert data["model_sha256"] == "ab" * 32
    assert data["device"] == "cpu"
    assert data["warnings"] == ["view separation 25 deg is small", "frame 3 chosen automatically"]
    assert isinstance(data["warnings"], list)
    for key, value in VALUES.items():
        assert data[key] == value
    assert data["tree_side"] == "left"
    assert data["converged"] is True
    assert set(data) == set(METADATA_KEYS) | set(VALUES) | {"tree_side", "converged"}
    # flat: nothing nested except the lists of strings (warnings, failed checks)
    for key, value in data.items():
        assert not isinstance(value, dict), key
        if key not in ("warnings", "failed_checks"):
            assert not isinstance(value, (list, tuple)), key
    assert all(isinstance(message, str) for message in data["warnings"])
    # the returned dict is a copy: changing it leaves the readouts alone
    data["warnings"].append("x")
    assert len(readouts.warnings) == 2


def test_empty_readouts_to_dict():
    data = Readouts(module="EchoRecon").toDict()
    assert data == {"module": "EchoRecon", "version": __version__, "model_sha256": "", "device": "cpu",
                    "warnings": [], "failed_checks": []}


def test_json_round_trip_is_exact(tmp_path):
    readouts = makeReadouts()
    path = readouts.writeJson(tmp_path / "readouts.json")
    assert path == tmp_path / "readouts.json"
    text = path.read_text()
    assert text.endswith("\n")
    onDisk = json.loads(text)
    assert onDisk == readouts.toDict()
    for key, value in VALUES.items():  # bit-exact floats, ints stay ints
        assert onDisk[key] == value
        assert type(onDisk[key]) is type(value)

    again = Readouts.readJson(path)
    assert again.toDict() == readouts.toDict()
    assert again == readouts
    # and once more through the file
    second = again.writeJson(tmp_path / "again.json")
    assert json.loads(second.read_text()) == onDisk


def test_from_dict_refuses_bad_keys_and_values():
    base = Readouts(module="AngioRecon").toDict()
    with pytest.raises(ValueError, match="'VesselVolume' is not snake_case"):
        Readouts.fromDict({**base, "VesselVolume": 1.0})
    with pytest.raises(ValueError, match="not finite"):
        Readouts.fromDict({**base, "dice": math.nan})


def test_read_json_written_by_hand(tmp_path):
    path = tmp_path / "readouts.json"
    path.write_text(json.dumps({"module": "FemurRegistration", "dice": 0.91, "assd_mm": 1.25, "warnings": []}))
    readouts = Readouts.readJson(path)
    assert readouts.module == "FemurRegistration"
    assert readouts.values == {"dice": 0.91, "assd_mm": 1.25}
    assert readouts.version == __version__
    assert readouts.warnings == []


# --------------------------------------------------------------------------------------------------
# Table node: the JSON's numbers at their clinical precision
DISPLAYED = {"vessel_volume_mm3": "0", "lv_ef_percent": "33", "centerline_length_mm": "123456.8", "lv_edv_ml": "0",
             "femur_angle_deg": "-12", "run_time_s": "0.00", "myocardium_mass_g": "151", "dice": "0.91",
             "hd95_mm": "2.7", "number_of_segments": "7", "big_count": str(2 ** 53 + 1)}


@pytest.mark.parametrize("key, value, shown", [
    ("lv_edv_ml", 123.60857471073369, "124"), ("lv_ef_percent", 59.24, "59"), ("head_diameter_mm", 45.8968, "45.9"),
    ("neck_shaft_angle_deg", 125.537, "126"), ("dice", 0.892544, "0.89"), ("femur_volume_mm3", 179597.4, "179597"),
    ("inference_s", 0.0888, "0.09"), ("lv_ef_percent", -0.3, "0"), ("count", 3, "3"), ("converged", True, "True"),
    ("tree", "left", "left")])
def test_display_value_rounds_to_clinical_precision(key, value, shown):
    assert displayValue(key, value) == shown


def test_table_node_holds_the_json_numbers_rounded(scene, tmp_path):
    readouts = makeReadouts()
    onDisk = json.loads(readouts.writeJson(tmp_path / "readouts.json").read_text())
    node = readouts.toTableNode(scene, "AngioRecon readouts")
    assert node.GetName() == "AngioRecon readouts"
    assert scene.GetFirstNodeByName("AngioRecon readouts") is node

    rows = rowsFromTableNode(node)
    assert list(rows[0]) == ["readout", "value", "unit"]
    byKey = {row["readout"]: row for row in rows}
    for key, value in VALUES.items():
        cell = byKey[key]["value"]
        assert cell == DISPLAYED[key], key
        if isinstance(value, int):
            assert int(cell) == onDisk[key], key  # exact, 2**53 + 1 included
        else:
            assert float(cell) == pytest.approx(onDisk[key], abs=0.5 * 10 ** -DISPLAY_DECIMALS[unitOf(key)]), key
        assert byKey[key]["unit"] == unitOf(key)
    assert byKey["tree_side"]["value"] == "left"
    assert byKey["converged"]["value"] == "True"
    for key, attribute in (("module", "AngioRecon"), ("version", __version__), ("model_sha256", "ab" * 32),
                           ("device", "cpu")):
        assert byKey[key]["value"] == attribute
        assert byKey[key]["unit"] == ""
    warnings = [row["value"] for row in rows if row["readout"] == "warning"]
    assert warnings == onDisk["warnings"]
    # value rows first, in insertion order, then metadata, then warnings
    assert [row["readout"] for row in rows] == (list(VALUES) + ["tree_side", "converged"] + list(METADATA_KEYS[:4])
                                                + ["warning", "warning"])


def test_table_node_carries_the_full_precision_object(scene):
    readouts = makeReadouts()
    node = readouts.toTableNode(scene, "readouts")
    assert json.loads(node.GetAttribute(TABLE_ATTRIBUTE)) == readouts.toDict()


def test_table_node_from_json_read_back(scene, tmp_path):
    """The table made after a JSON round trip is the same table."""
    readouts = makeReadouts()
    first = rowsFromTableNode(readouts.toTableNode(scene, "first"))
    again = Readouts.readJson(readouts.writeJson(tmp_path / "readouts.json"))
    second = rowsFromTableNode(again.toTableNode(scene, "second"))
    assert first == second


def test_summary_lists_values_with_units():
    summary = makeReadouts().summary()
    lines = summary.splitlines()
    assert lines[0] == "AngioRecon readouts:"
    volume = next(line for line in lines if "centerline_length_mm" in line)
    assert volume.split()[1:] == ["123456.8", "mm"]
    dice = next(line for line in lines if line.split()[0] == "dice")
    assert dice.split()[1:] == ["0.91"]
    assert "  warning: view separation 25 deg is small" in lines
