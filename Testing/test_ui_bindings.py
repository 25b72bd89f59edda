"""Every SlicerParameterName in a module's .ui binds a parameter node field that Slicer's parameter node wrapper can
connect to that widget class (Slicer 5.10 and later), and nothing around the binding undoes it.

Without Slicer: the .ui files are read as XML, the module files are imported in a fresh process with stand-ins
(``uibindings.describeModules``), and the wrapper's GUI connectors are the table ``uibindings.CONNECTORS``, read in
Slicer's source. Where PyQt5 can be imported the .ui files are also loaded by Qt (``uic``, offscreen) with stand-ins
for the Slicer/CTK designer plugins, and the connectors' setup and first write are replayed on the real Qt widgets;
without PyQt5 (the pass with Slicer's packages) those tests skip.

How Slicer connects a module's .ui (v5.10.0 = v5.12.3, ``Base/Python/slicer/parameterNodeWrapper/wrapper.py``):
``ReconWidgetMixin`` calls ``parameterNode.connectGui(self.ui)`` with ``slicer.util.childWidgetVariables``'s object
(not a widget), so ``_connectGui`` (241-253) takes ``gui.__dict__.values()``: only named widgets are seen, and of two
widgets with one SlicerParameterName the last silently wins (a dict). ``_connectParametersToGui`` (194-213) checks
each name (``_checkParamName`` 146-159: a field, or ``pack.member``), creates the connector for the field's type as
annotated (``dataType`` 283-297, ``parameterPack.py:164-172``) and writes the field's value to the widget (208-210).
"""

import pytest

import uibindings as ub
from uibindings import annotation, bounds, findConnector, flatten

MODULES = ub.MODULES
#: Parameter node fields no widget shows, on purpose (the logic creates them; the user does not pick them).
NOT_SHOWN = {"FemurRegistration": ["outputApOutline", "outputLatOutline"]}


@pytest.fixture(scope="module")
def descriptions():
    return ub.describeModules(MODULES)


@pytest.fixture(scope="module")
def qtLoaded(descriptions):
    loaded, reason = ub.loadWithQt(MODULES, descriptions)
    if loaded is None:
        pytest.skip(reason)
    return loaded


# -- the checks ----------------------------------------------------------------------------------------------


def isSubclass(className: str, ofClasses) -> bool:
    import slicer

    cls = getattr(slicer, className, None)
    return cls is not None and any(issubclass(cls, getattr(slicer, other, type(None))) for other in ofClasses)


def _rounds(value, decimals) -> bool:
    return None not in (value, decimals) and abs(round(value, decimals) - value) > 1e-9 * max(1.0, abs(value))


def bindingProblems(widgets, description: dict, slicerVersion=ub.OLDEST_SLICER) -> list:
    """Why the wrapper cannot connect, or connects wrongly, the bound widgets (``uiWidgets``) to the fields of
    ``description`` (one module of ``describeModules``): no such field; no connector for that widget class and field
    type, or its create fails; a default the configured widget does not hold (no choice, out of range, rounded by the
    decimals); range bounds the decimals round (the widget then reaches values the validator refuses); a field bound
    twice; a bound widget without a unique name; a node selector whose nodeTypes the field type does not cover, whose
    hideChildNodeTypes hide the field's class, or that names no MRML class."""
    import slicer

    fields, problems, names = description["fields"], [], [widget.name for widget in widgets]
    bound = [widget for widget in widgets if widget.parameter]
    for widget in bound:
        where = f"{widget.widgetClass} {widget.name!r} (SlicerParameterName {widget.parameter!r})"
        if not widget.name or names.count(widget.name) > 1:
            problems.append(f"{where}: needs a unique object name (connectGui sees widgets by name)")
        field = fields.get(widget.parameter)
        if field is None:
            top, _, member = widget.parameter.partition(".")
            problems.append(f"{where}: " + (f"{top!r} has no member {member!r}" if top in fields else
                                            f"{top!r} is not a field of {description['parameterNodeClass']}"))
            continue
        missing = sorted(name for name, member in flatten(field.get("members", {})).items()
                         if member["kind"] != "pack" and name not in widget.packNames)
        if missing:
            problems.append(f"{where}: binds the pack {field['pack']} but no child has SlicerPackParameterName "
                            f"{missing} (guiConnectors.py:858-870)")
            continue
        connector, problem = findConnector(widget.widgetClass, field, slicerVersion)
        if problem:
            problems.append(f"{where}: {problem}")
            continue
        default, choice = field.get("default"), annotation(field, "Choice")
        if connector.requires == "Choice" and default not in choice["choices"]:
            problems.append(f"{where}: default {default!r} is not one of the choices {choice['choices']} "
                            f"(ValueError when written, guiConnectors.py:456-462)")
        if field["kind"] in ("int", "float") and not connector.requires:
            limits = bounds(field) or ()
            low, high = limits or (None, None)
            if default is not None and ((low is not None and default < low) or (high is not None and default > high)):
                problems.append(f"{where}: default {default} is outside the field's range {list(limits)}")
            decimals = None
            if widget.widgetClass in ub.DEFAULT_DECIMALS:
                decimals = 0 if field["kind"] == "int" else (annotation(field, "Decimals") or {}).get(
                    "value", widget.properties.get("decimals", ub.DEFAULT_DECIMALS[widget.widgetClass]))
            if _rounds(default, decimals):
                problems.append(f"{where}: default {default} shows as {round(default, decimals)} with {decimals} "
                                f"decimals")
            problems += [f"{where}: range bound {limit} becomes {round(limit, decimals)} with {decimals} decimals, "
                         f"so the widget reaches values the field's validator refuses"
                         for limit in limits if _rounds(limit, decimals)]
        if connector.name == "QCheckablePushButtonToBoolConnector" and not widget.properties.get("checkable"):
            problems.append(f"{where}: not checkable (the connector makes it so, with a warning: GC:210-212)")
        if widget.widgetClass == "qMRMLNodeComboBox":
            for key in ("nodeTypes", "hideChildNodeTypes"):
                unknown = [name for name in widget.properties.get(key, []) if not hasattr(slicer, name)]
                problems += [f"{where}: {key} {unknown} are not MRML classes"] if unknown else []
            notCovered = [name for name in widget.properties.get("nodeTypes", [])
                          if hasattr(slicer, name) and not isSubclass(name, field["nodeClasses"])]
            if notCovered:
                problems.append(f"{where}: .ui nodeTypes {notCovered} are not {field['nodeClasses']} (the field "
                                f"type), which the wrapper puts in their place (guiConnectors.py:759)")
            hidesAll = [name for name in widget.properties.get("hideChildNodeTypes", []) if hasattr(slicer, name)
                        and any(isSubclass(fieldClass, [name]) for fieldClass in field["nodeClasses"])]
            if hidesAll and widget.properties.get("showChildNodeTypes", True) is not False:
                problems.append(f"{where}: hideChildNodeTypes {hidesAll} hides every {field['nodeClasses']} node")
    parameters = [widget.parameter for widget in bound]
    for parameter in sorted(set(parameters)):
        users = [widget.name for widget in bound if widget.parameter == parameter]
        if len(users) > 1:
            problems.append(f"{parameter!r} is bound by {len(users)} widgets {users}: connectGui keeps one silently")
        problems += [f"{parameter!r} and its member {other!r} are both bound"
                     for other in sorted(set(parameters)) if other.startswith(parameter + ".")]
    return problems


def unboundFields(widgets, description: dict) -> list:
    """Fields (pack members by dotted name) no widget binds, directly or through a bound pack."""
    bound = {widget.parameter for widget in widgets if widget.parameter}
    return [name for name, field in description["fields"].items() if field["kind"] != "pack"
            and not any(name == parameter or name.startswith(parameter + ".") for parameter in bound)]


def driftProblems(widgets, description: dict) -> list:
    """Where the .ui says what the wrapper overwrites and the field says otherwise (the designer preview lies):
    combo box items vs Choice, spin box minimum/maximum vs WithinRange, value or checked vs the default."""
    problems = []
    for widget in widgets:
        field = description["fields"].get(widget.parameter or "")
        if field is None:
            continue
        where, properties = f"{widget.widgetClass} {widget.name!r} ({widget.parameter})", widget.properties
        choice = annotation(field, "Choice")
        if choice and widget.items and widget.items != [str(item) for item in choice["choices"]]:
            problems.append(f"{where}: .ui items {widget.items} != choices {choice['choices']}")
        for key, limit in zip(("minimum", "maximum"), bounds(field) or ()):
            if key in properties and limit is not None and properties[key] != limit:
                problems.append(f"{where}: .ui {key} {properties[key]} != field range {limit}")
        for key in ("value", "checked"):
            if key in properties and field.get("default") is not None and properties[key] != field["default"]:
                problems.append(f"{where}: .ui {key} {properties[key]} != default {field['default']}")
    return problems


def outputSelectorProblems(widgets, description: dict) -> list:
    """The output node the logic creates (OUTPUTS: class) must be one its selector lists: a class the field type
    covers, not hidden by hideChildNodeTypes, and with showChildNodeTypes false one of the field's classes exactly
    (qMRMLSortFilterProxyModel.cxx:273) -- else after Apply the selector shows no node for the parameter."""
    byParameter, problems = {widget.parameter: widget for widget in widgets if widget.parameter}, []
    for name, (className, _) in description["outputs"].items():
        widget, field = byParameter.get(name), description["fields"].get(name, {})
        if widget is None or field.get("kind") != "node":
            continue
        where, properties = f"{widget.widgetClass} {widget.name!r} ({name})", widget.properties
        hidden = [other for other in properties.get("hideChildNodeTypes", []) if isSubclass(className, [other])]
        if not isSubclass(className, field["nodeClasses"]):
            problems.append(f"{where}: the logic creates a {className}, not a {field['nodeClasses']} (the field)")
        elif properties.get("showChildNodeTypes", True) is False and className not in field["nodeClasses"]:
            problems.append(f"{where}: the logic creates a {className} (OUTPUTS) but the selector lists only "
                            f"{field['nodeClasses']} exactly (showChildNodeTypes false): after Apply it shows no "
                            f"node, and it never lists existing {className}s")
        elif hidden and properties.get("showChildNodeTypes", True) is not False:
            problems.append(f"{where}: the logic creates a {className} (OUTPUTS), hidden by hideChildNodeTypes "
                            f"{hidden}: after Apply the selector shows no node")
    return problems


def layoutProblems(widgets, connections, description: dict) -> list:
    """ReconWidgetMixin needs a qMRMLNodeComboBox ``<image>Selector`` bound to ``<image>`` for each _geometryViews
    entry; every qMRMLNodeComboBox needs the scene from the top widget's mrmlSceneChanged."""
    byName, top = {widget.name: widget for widget in widgets}, widgets[0].name
    problems = [f"_geometryViews[{geometry!r}] needs a qMRMLNodeComboBox '{image}Selector' bound to {image!r}"
                for geometry, image in description["geometryViews"].items()
                if (byName.get(f"{image}Selector") is None or byName[f"{image}Selector"].parameter != image
                    or byName[f"{image}Selector"].widgetClass != "qMRMLNodeComboBox")]
    scened = {receiver for sender, signal, receiver, slot in connections
              if sender == top and signal.startswith("mrmlSceneChanged(") and slot.startswith("setMRMLScene(")}
    return problems + [f"qMRMLNodeComboBox {widget.name!r} never gets the scene ({top}.mrmlSceneChanged -> "
                       f"setMRMLScene): it lists no node" for widget in widgets
                       if widget.widgetClass == "qMRMLNodeComboBox" and widget.name not in scened]


# -- the checks find what they should (a connector table and a .ui made to be wrong) --------------------------


def _field(kind, default=None, **annotations):
    """A field description as describeModules gives it; annotations as WithinRange=(0, 1), Choice=[...]."""
    field = {"kind": kind, "default": default, "repr": kind, "annotations": []}
    for name, value in annotations.items():
        if name == "nodeClasses":
            field.update(nodeClasses=value, instantiable={cls: cls not in ("vtkMRMLVolumeNode",) for cls in value})
        else:
            keys = {"Choice": ("choices",), "Decimals": ("value",)}.get(name, ("minimum", "maximum"))
            field["annotations"].append({"kind": name, **dict(zip(keys, value if len(keys) > 1 else [value]))})
    return field


VOLUME = _field("node", nodeClasses=["vtkMRMLScalarVolumeNode"])
V58, V510 = (5, 8), (5, 10)
FLOAT_INT = "QDoubleSpinBoxCtkSliderWidgetToFloatIntConnector"
CONNECTOR_CASES = [  # widget class, field, Slicer, connector the wrapper takes (or None), part of the problem
    ("QCheckBox", _field("bool"), V510, "QCheckBoxToBoolConnector", None),
    ("QCheckBox", _field("int"), V510, None, "no connector takes a QCheckBox with a int"),
    ("QPushButton", _field("bool"), V510, "QCheckablePushButtonToBoolConnector", None),
    ("QSpinBox", _field("int"), V510, "QSliderOrSpinBoxToIntConnector", None),
    ("QSpinBox", _field("float"), V510, None, "no connector takes a QSpinBox with a float"),
    ("QSlider", _field("int"), V510, "QSliderOrSpinBoxToIntConnector", "unbounded"),
    ("QSlider", _field("int", WithinRange=(0, 9)), V510, "QSliderOrSpinBoxToIntConnector", None),
    ("QDoubleSpinBox", _field("float"), V58, FLOAT_INT, None),
    ("QDoubleSpinBox", _field("int"), V510, FLOAT_INT, None),
    ("QDoubleSpinBox", _field("int"), V58, None, "no connector"),
    ("ctkSliderWidget", _field("float"), V510, FLOAT_INT, "unbounded"),
    ("ctkSliderWidget", _field("float", WithinRange=(0, 1)), V510, FLOAT_INT, None),
    ("QComboBox", _field("str"), V510, "QComboBoxToStringableConnector", "needs a Choice"),
    ("QComboBox", _field("str", Choice=["a", "b"]), V510, "QComboBoxToStringableConnector", None),
    ("ctkComboBox", _field("int", Choice=[1, 2]), V510, "QComboBoxToStringableConnector", None),
    ("QComboBox", _field("enum"), V510, "QComboBoxToEnumConnector", None),
    ("QLineEdit", _field("str"), V510, "QLineEditToStrConnector", None),
    ("QLineEdit", _field("path"), V510, None, "no connector"),
    ("ctkPathLineEdit", _field("path"), V510, "ctkPathLineEditToPathConnector", None),
    ("ctkRangeWidget", _field("FloatRange"), V510, "ctkRangeWidgetToRangeConnector", "RangeBounds"),
    ("qMRMLNodeComboBox", VOLUME, V510, "qMRMLNodeComboBoxToNodeConnector", None),
    ("qMRMLNodeComboBox", _field("str"), V510, None, "no connector"),
    ("qMRMLNodeComboBox", _field("node", nodeClasses=["vtkMRMLVolumeNode"]), V510,
     "qMRMLNodeComboBoxToNodeConnector", "abstract"),
    ("qMRMLSubjectHierarchyComboBox", VOLUME, V510, "qMRMLSubjectHierarchyComboBoxToNodeConnector", None),
    ("qMRMLSubjectHierarchyComboBox", VOLUME, V58, None, "no connector takes a qMRMLSubjectHierarchyComboBox"),
    ("qMRMLCheckableNodeComboBox", VOLUME, V510, None, "at all"),
    ("ctkCollapsibleButton", _field("bool"), V510, None, "at all"),
    ("QRadioButton", _field("bool"), V510, None, "at all"),
    ("QGroupBox", _field("bool"), V510, None, "at all"),
    ("QWidget", _field("pack"), V510, "WidgetChildrenToParameterPackConnector", None),
]


@pytest.mark.parametrize("widgetClass,field,version,expected,problem", CONNECTOR_CASES,
                         ids=[f"{case[0]}-{case[1]['kind']}-{case[2][0]}.{case[2][1]}" for case in CONNECTOR_CASES])
def test_connector_table(widgetClass, field, version, expected, problem):
    connector, found = findConnector(widgetClass, field, version)
    assert (connector.name if connector else None) == expected
    assert found is None if problem is None else (found is not None and problem in found), found


def test_connector_table_has_no_unreachable_entries():
    seen = {}
    for connector in ub.CONNECTORS:
        for key in ((widgetClass, kind) for widgetClass in connector.widgets for kind in connector.accepts):
            assert key not in seen, f"{connector.name} is shadowed by {seen[key]} for {key}"
            seen[key] = connector.name


def _bound(widgetClass, name, parameter, extra=""):
    return (f'<item><widget class="{widgetClass}" name="{name}"><property name="SlicerParameterName" stdset="0">'
            f"<string>{parameter}</string></property>{extra}</widget></item>")


BAD_UI = ('<?xml version="1.0"?><ui version="4.0"><class>Bad</class><widget class="qMRMLWidget" name="Bad">'
          '<layout class="QVBoxLayout" name="layout">' + "".join([
              _bound("QSpinBox", "ratioSpinBox", "ratio"), _bound("QComboBox", "modeComboBox", "mode"),
              _bound("QComboBox", "deviceComboBox", "device",
                     '<item><property name="text"><string>auto</string></property></item>'),
              _bound("qMRMLNodeComboBox", "volumeSelector", "volume",
                     '<property name="nodeTypes"><stringlist><string>vtkMRMLModelNode</string></stringlist>'
                     '</property><property name="showChildNodeTypes"><bool>false</bool></property>'),
              _bound("qMRMLNodeComboBox", "otherVolumeSelector", "otherVolume",
                     '<property name="hideChildNodeTypes"><stringlist><string>vtkMRMLVolumeNode</string>'
                     '</stringlist></property>'),
              _bound("QCheckBox", "flagCheckBox", "flag"), _bound("QPushButton", "flagButton", "flag"),
              _bound("QCheckBox", "missingCheckBox", "missing"), _bound("QDoubleSpinBox", "xSpinBox", "geometry.x"),
              _bound("QDoubleSpinBox", "spacingSpinBox", "geometry.spacing",
                     '<property name="decimals"><number>1</number></property>'
                     '<property name="minimum"><double>0.0</double></property>'),
              _bound("ctkCollapsibleButton", "collapsibleButton", "expanded")]) + "</layout></widget></ui>")


def test_checks_find_bad_bindings(tmp_path):
    path = tmp_path / "Bad.ui"
    path.write_text(BAD_UI, encoding="utf-8")
    spacing = _field("float", 0.15, WithinRange=(0.01, 5.0))
    fields = {"ratio": _field("float", 0.5), "mode": _field("str", "a"),
              "device": _field("str", "gpu", Choice=["auto", "cpu"]), "volume": VOLUME, "otherVolume": VOLUME,
              "flag": _field("bool", False), "geometry": dict(_field("pack"), pack="Geometry"),
              "geometry.spacing": spacing, "expanded": _field("bool", True)}
    description = {"parameterNodeClass": "BadParameterNode", "fields": fields, "geometryViews": {"geometry": "image"},
                   "outputs": {"volume": ["vtkMRMLLabelMapVolumeNode", "Label"]}}
    widgets = ub.uiWidgets(path)
    problems = bindingProblems(widgets, description)
    for expected in ("'ratioSpinBox' (SlicerParameterName 'ratio'): no connector takes a QSpinBox with a float",
                     "'modeComboBox' (SlicerParameterName 'mode'): QComboBoxToStringableConnector needs a Choice",
                     "'deviceComboBox' (SlicerParameterName 'device'): default 'gpu' is not one of the choices",
                     "'volumeSelector' (SlicerParameterName 'volume'): .ui nodeTypes ['vtkMRMLModelNode']",
                     "'otherVolumeSelector' (SlicerParameterName 'otherVolume'): hideChildNodeTypes "
                     "['vtkMRMLVolumeNode'] hides every", "'flag' is bound by 2 widgets ['flagCheckBox', 'flagButton']",
                     "'flagButton' (SlicerParameterName 'flag'): not checkable",
                     "'missing' is not a field of BadParameterNode", "'geometry' has no member 'x'",
                     "'spacingSpinBox' (SlicerParameterName 'geometry.spacing'): default 0.15 shows as",
                     "range bound 0.01 becomes 0.0 with 1 decimals", "no connector takes a ctkCollapsibleButton"):
        assert sum(expected in problem for problem in problems) == 1, f"{expected}\n" + "\n".join(problems)
    assert len(problems) == 12, "\n".join(problems)
    drift = driftProblems(widgets, description)
    assert drift == ["QComboBox 'deviceComboBox' (device): .ui items ['auto'] != choices ['auto', 'cpu']",
                     "QDoubleSpinBox 'spacingSpinBox' (geometry.spacing): .ui minimum 0.0 != field range 0.01"]
    assert "lists only ['vtkMRMLScalarVolumeNode'] exactly" in "".join(outputSelectorProblems(widgets, description))
    layout = "\n".join(layoutProblems(widgets, ub.uiConnections(path), description))
    assert "'imageSelector' bound to 'image'" in layout and "'volumeSelector' never gets the scene" in layout
    assert unboundFields(widgets, description) == []


# -- the modules' .ui files ------------------------------------------------------------------------------------


def _widgets(module):
    return ub.uiWidgets(ub.uiPath(module))


@pytest.mark.parametrize("module", MODULES)
def test_every_binding_connects(module, descriptions):
    """Each SlicerParameterName names a field, a connector takes that widget class with that field's type, and the
    field's default is a value the configured widget holds as it is."""
    assert ub.uiBindings(ub.uiPath(module)), f"{module}.ui binds no widget"
    problems = bindingProblems(_widgets(module), descriptions[module])
    assert not problems, f"{module}.ui:\n" + "\n".join(problems)


@pytest.mark.parametrize("module", MODULES)
def test_each_field_bound_at_most_once_and_all_shown(module, descriptions):
    widgets = _widgets(module)
    bound = [widget.parameter for widget in widgets if widget.parameter]
    assert len(bound) == len(set(bound)), f"{module}.ui binds a field twice: {sorted(bound)}"
    assert unboundFields(widgets, descriptions[module]) == NOT_SHOWN.get(module, [])


@pytest.mark.parametrize("module", MODULES)
def test_output_selectors_list_the_nodes_the_logic_creates(module, descriptions):
    problems = outputSelectorProblems(_widgets(module), descriptions[module])
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("module", MODULES)
def test_ui_agrees_with_fields_where_the_wrapper_overwrites(module, descriptions):
    problems = driftProblems(_widgets(module), descriptions[module])
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("module", MODULES)
def test_geometry_selectors_and_scene_connections(module, descriptions):
    path = ub.uiPath(module)
    problems = layoutProblems(ub.uiWidgets(path), ub.uiConnections(path), descriptions[module])
    assert not problems, "\n".join(problems)


# -- the same .ui files loaded by Qt ---------------------------------------------------------------------------


@pytest.mark.parametrize("module", MODULES)
def test_qt_creates_every_bound_widget(module, descriptions, qtLoaded):
    """uic creates each widget the XML binds, of that class, with its SlicerParameterName; a connector takes the
    class Qt created; the node selectors keep their designer properties and get the scene."""
    loaded = qtLoaded["modules"][module]
    assert loaded["top"] == ["qMRMLWidget", module]
    created = {(widget["name"], widget["class"], widget["parameter"]) for widget in loaded["widgets"]}
    assert created == {(widget.name, widget.widgetClass, widget.parameter)
                       for widget in ub.uiBindings(ub.uiPath(module))}
    byName = {widget.name: widget for widget in _widgets(module)}
    for widget in loaded["widgets"]:
        assert findConnector(widget["class"], descriptions[module]["fields"][widget["parameter"]])[1] is None
        for key in ("nodeTypes", "hideChildNodeTypes", "showChildNodeTypes") if widget["standIn"] else ():
            assert widget["properties"].get(key) == byName[widget["name"]].properties.get(key), (widget, key)
    scened = {receiver for _, signal, receiver, slot in loaded["connections"]
              if signal == "mrmlSceneChanged(vtkMRMLScene*)" and slot == "setMRMLScene"}
    assert {widget["name"] for widget in loaded["widgets"] if widget["class"] == "qMRMLNodeComboBox"} <= scened


@pytest.mark.parametrize("module", MODULES)
def test_qt_widgets_hold_the_defaults(module, qtLoaded):
    """Configured as the connector does (range, decimals, choices), each Qt widget gives back the default written."""
    standard = [widget for widget in qtLoaded["modules"][module]["widgets"] if not widget["standIn"]]
    assert standard
    for widget in standard:
        assert widget["read"] == pytest.approx(widget["wrote"], abs=1e-12) if isinstance(widget["wrote"], float) \
            else widget["read"] == widget["wrote"], widget
