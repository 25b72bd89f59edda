"""What a module's .ui binds to its parameter node, and whether Slicer's parameter node wrapper can connect it.

For ``test_ui_bindings.py``, without Slicer or Qt: 1. :data:`CONNECTORS`, the wrapper's GUI connectors read in
Slicer's source, and :func:`findConnector`, the one the wrapper takes and why it would fail; 2. :func:`uiWidgets`, a
.ui file's widgets (``xml.etree``); 3. :func:`describeModules`, the parameter node fields of the module files,
imported in a fresh process with the stand-ins of ``slicerstartup.py`` and a ``slicer.parameterNodeWrapper``
stand-in that keeps the annotations; 4. :func:`loadWithQt`, the .ui files loaded by PyQt5's ``uic`` (offscreen, in a
fresh process) with stand-ins for the Slicer/CTK designer plugins, or (None, reason) without PyQt5.

``createGuiConnector`` (guiConnectors.py:126-147, v5.10.0) turns ``X | Y`` into ``Union`` (131-133) and takes the
first registered connector whose ``canRepresent(widget, type)`` is true (135-137; registration order = source
order), else raises RuntimeError (145-147); ``canRepresent`` compares ``type(widget)`` exactly (e.g. 165, 279, 748):
a subclass of a supported widget class is not supported.
"""

import dataclasses
import enum
import json
import math
import os
import pathlib
import re
import subprocess
import sys
import types
import typing
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HERE = Path(__file__).resolve().parent
MODULES = ("AngioRecon", "EchoRecon", "FemurRegistration")
OLDEST_SLICER = (5, 10)  # README; Testing/slicer-5.10-packages.txt

# -- 1. The GUI connectors --------------------------------------------------------------------------------------
# Read in github Slicer/Slicer at v5.10.0 (guiConnectors.py has no diff to v5.12.3); lines of v5.10.0:
#   GC = Base/Python/slicer/parameterNodeWrapper/guiConnectors.py, UT = .../parameterNodeWrapper/util.py,
#   SH = Modules/Loadable/SubjectHierarchy/SubjectHierarchyLib/parameterNodeWrapper/guiConnectors.py,
#   MK = Modules/Loadable/Markups/MarkupsLib/parameterNodeWrapper/guiConnectors.py (SH, MK: registered at startup).
# A field's kind is taken after `unannotatedType` (UT:15-32): Annotated[...] never decides *which* connector, only
# what the chosen one's create/__init__ does. bool/int/float/str compare with == (a bool field is no int field);
# "node": a vtkMRMLNode subclass or a Union of them and None (UT:56-75); the connector sets nodeTypes from
# getNodeTypes (UT:78-95), which *instantiates* each class (85, 93): an abstract class (vtkMRMLVolumeNode) raises
# TypeError. "enum": enum.Enum subclass; "path": pathlib.Path and its Pure/Posix/Windows kin; "FloatRange";
# "QColor"; "pack": a @parameterPack.
# v5.8.1 (git diff v5.8.1 v5.10.0): no ctkCheckablePushButton, ctkColorPickerButton, qMRMLSubjectHierarchyComboBox,
# qSlicerSimpleMarkupsWidget connectors (commits 6f831329bf, 0eb6e6a61e, 5fd45c1cda); QDoubleSpinBox & co. took float
# only (int: 6f831329bf); no X | Y; connectGui returned None (fixed by b5a65a49a0): disconnectGui(tag) did nothing.
# No connector at all (RuntimeError): QRadioButton, QGroupBox, ctkCollapsibleButton, QToolButton, QDial,
# QPlainTextEdit, ctkCoordinatesWidget, ctkRangeSlider, qMRMLCheckableNodeComboBox, qMRMLSegmentSelectorWidget,
# qMRMLTableView, and every class not below. A node selector's list (qMRMLSortFilterProxyModel.cxx, v5.10.0):
# showChildNodeTypes false keeps only the exact nodeTypes classes (273); hideChildNodeTypes rejects every node that
# IsA a listed class (278-287).


@dataclasses.dataclass(frozen=True)
class Connector:
    """A registered connector: widget classes (exact type), field kinds accepted (kind -> first Slicer version),
    where it is, what its create/__init__ also needs ("Choice", "RangeBounds") and what it does to the widget."""

    name: str
    widgets: tuple
    accepts: dict
    source: str
    requires: str = ""
    note: str = ""


V58, V510 = (5, 8), (5, 10)
FLOAT_WIDGETS = ("QDoubleSpinBox", "ctkSliderWidget", "qMRMLSliderWidget", "ctkDoubleSlider", "ctkDoubleSpinBox",
                 "qMRMLSpinBox")
#: In registration order: the first whose widget class and field kind match is the one the wrapper takes.
CONNECTORS = (
    Connector("QCheckBoxToBoolConnector", ("QCheckBox", "ctkCheckBox"), {"bool": V58}, "GC:161-191"),
    Connector("QCheckablePushButtonToBoolConnector", ("QPushButton",), {"bool": V58}, "GC:194-227",
              note="makes the button checkable, logging a warning (GC:210-212)"),
    Connector("ctkCheckablePushButtonToBoolConnector", ("ctkCheckablePushButton",), {"bool": V510}, "GC:230-272"),
    Connector("QSliderOrSpinBoxToIntConnector", ("QSlider", "QSpinBox"), {"int": V58}, "GC:275-336",
              note="range from WithinRange, else Minimum/Maximum, else +-2**31 (GC:309-321); QSlider needs bounds "
                   "(GC:304-307)"),
    Connector("QDoubleSpinBoxCtkSliderWidgetToFloatIntConnector", FLOAT_WIDGETS, {"float": V58, "int": V510},
              "GC:339-414", note="decimals: 0 for int, Decimals annotation for float (GC:361-367); range from "
                                 "WithinRange/Minimum/Maximum else +-inf (GC:382-393); ctkSliderWidget and "
                                 "qMRMLSliderWidget need bounds (GC:377-380)"),
    Connector("QComboBoxToStringableConnector", ("QComboBox", "ctkComboBox"),
              {"int": V58, "float": V58, "str": V58, "bool": V58}, "GC:417-462", requires="Choice",
              note="no Choice: RuntimeError (GC:429-431); items replaced by str(choice) (GC:440-442); a value not "
                   "in the choices: ValueError (GC:456-462)"),
    Connector("QComboBoxToEnumConnector", ("QComboBox", "ctkComboBox"), {"enum": V58}, "GC:465-511"),
    Connector("QLineEditToStrConnector", ("QLineEdit",), {"str": V58}, "GC:514-548"),
    Connector("QLabelToStrConnector", ("QLabel",), {"str": V58}, "GC:550-581", note="one way (no signal)"),
    Connector("QTextEditPlainTextToStrConnector", ("QTextEdit",), {"str": V58}, "GC:583-612"),
    Connector("ctkRangeWidgetToRangeConnector", ("ctkRangeWidget", "ctkDoubleRangeSlider", "qMRMLRangeWidget"),
              {"FloatRange": V58}, "GC:615-669", requires="RangeBounds",
              note="no RangeBounds: RuntimeError (GC:641-644); bounds without 0 need Default (GC:646-652)"),
    Connector("ctkPathLineEditToPathConnector", ("ctkPathLineEdit",), {"path": V58}, "GC:672-705"),
    Connector("ctkDirectoryButtonToPathConnector", ("ctkDirectoryButton",), {"path": V58}, "GC:708-741"),
    Connector("qMRMLNodeComboBoxToNodeConnector", ("qMRMLNodeComboBox",), {"node": V58}, "GC:744-774",
              note="nodeTypes = the field's classes (GC:759), whatever the .ui says; other .ui properties stay"),
    Connector("ctkColorPickerButtonToQColorConnector", ("ctkColorPickerButton",), {"QColor": V510}, "GC:777-807"),
    Connector("WidgetChildrenToParameterPackConnector", ("*",), {"pack": V58}, "GC:846-908",
              note="any widget whose descendants carry SlicerPackParameterName for every pack member (GC:858-870)"),
    Connector("qMRMLSubjectHierarchyTreeViewToNodeConnector", ("qMRMLSubjectHierarchyTreeView",), {"node": V58},
              "SH:10-43"),
    Connector("qMRMLSubjectHierarchyComboBoxToNodeConnector", ("qMRMLSubjectHierarchyComboBox",), {"node": V510},
              "SH:46-79"),
    Connector("qSlicerSimpleMarkupsWidgetToNodeConnector", ("qSlicerSimpleMarkupsWidget",), {"node": V510},
              "MK:10-40"),
)
NEEDS_BOUNDS = ("QSlider", "ctkSliderWidget", "qMRMLSliderWidget")
#: Decimals shown when neither the .ui nor a Decimals annotation sets them (Qt/CTK defaults).
DEFAULT_DECIMALS = dict.fromkeys(("QDoubleSpinBox", "ctkSliderWidget", "ctkDoubleSpinBox", "qMRMLSliderWidget",
                                  "qMRMLSpinBox"), 2)


def annotation(field: dict, kind: str):
    """The first annotation of ``kind`` (WithinRange, Choice, Decimals, ...) of a field description, or None."""
    return next((item for item in field.get("annotations", []) if item["kind"] == kind), None)


def bounds(field: dict):
    """(minimum, maximum) the connectors give the widget (either may be None), or None when unbounded."""
    within = annotation(field, "WithinRange")
    if within is not None:
        return within["minimum"], within["maximum"]
    low, high = annotation(field, "Minimum"), annotation(field, "Maximum")
    return None if low is None and high is None else ((low or {}).get("minimum"), (high or {}).get("maximum"))


def findConnector(widgetClass: str, field: dict, slicerVersion=OLDEST_SLICER):
    """(connector or None, why connecting fails or None) for this widget class and field in that Slicer."""
    kind = field["kind"]
    for connector in CONNECTORS:
        if widgetClass not in connector.widgets and connector.widgets != ("*",):
            continue
        if connector.accepts.get(kind, (99,)) > slicerVersion:
            continue
        # canRepresent is true: the wrapper takes this one; its create/__init__ may still fail
        if connector.requires and annotation(field, connector.requires) is None:
            return connector, (f"{connector.name} needs a {connector.requires} annotation on the {kind} field "
                               f"(RuntimeError)")
        if widgetClass in NEEDS_BOUNDS and (bounds(field) is None or None in bounds(field)):
            return connector, (f"{connector.name} refuses an unbounded {kind} for {widgetClass} (RuntimeError, "
                               f"guiConnectors.py:304-307/377-380): add WithinRange")
        abstract = [name for name, ok in field.get("instantiable", {}).items() if not ok]
        if abstract:
            return connector, f"getNodeTypes instantiates {abstract} (util.py:85/93), an abstract class: TypeError"
        return connector, None
    accepted = sorted({kind for connector in CONNECTORS if widgetClass in connector.widgets
                       for kind, since in connector.accepts.items() if since <= slicerVersion})
    if accepted:
        return None, (f"no connector takes a {widgetClass} with a {kind} field ({field.get('repr', kind)}); "
                      f"{widgetClass} takes {accepted} (RuntimeError in createGuiConnector)")
    return None, f"no connector takes a {widgetClass} at all (RuntimeError in createGuiConnector)"


# -- 2. The .ui files -------------------------------------------------------------------------------------------
PARAMETER_PROPERTY, PACK_PROPERTY = "SlicerParameterName", "SlicerPackParameterName"  # wrapper.py:28, GC:810


@dataclasses.dataclass
class UiWidget:
    """A <widget>: name, class, designer properties (Python values), combo box items, and the dotted
    SlicerPackParameterName chains below it (what a widget bound to a whole pack offers, GC:813-843)."""

    name: str
    widgetClass: str
    properties: dict
    items: list
    packNames: set

    @property
    def parameter(self):
        return self.properties.get(PARAMETER_PROPERTY)


def _propertyValue(element):
    value = element[0] if len(element) else None
    if value is None:
        return None
    converters = {"bool": lambda text: text.strip().lower() == "true", "number": int, "double": float}
    if value.tag in converters:
        return converters[value.tag](value.text)
    if value.tag == "stringlist":
        return [item.text or "" for item in value.findall("string")]
    return value.text or "" if value.tag in ("string", "cstring", "enum", "set") else {c.tag: c.text for c in value}


def _packChains(element, prefix=()) -> set:
    chains = set()
    for child in element:
        here = prefix
        if child.tag == "widget":
            name = next((_propertyValue(p) for p in child.findall("property") if p.get("name") == PACK_PROPERTY), "")
            here = prefix + ((name,) if name else ())
        below = _packChains(child, here)
        chains |= below if below else ({".".join(here)} if len(here) > len(prefix) else set())
    return chains


def uiWidgets(path) -> list:
    """Every <widget> of the .ui file in document order (the top-level widget first)."""
    return [UiWidget(element.get("name") or "", element.get("class"),
                     {prop.get("name"): _propertyValue(prop) for prop in element.findall("property")},
                     [_propertyValue(prop) for item in element.findall("item") for prop in item.findall("property")
                      if prop.get("name") == "text"], _packChains(element))
            for element in ET.parse(path).getroot().iter("widget")]


def uiBindings(path) -> list:
    return [widget for widget in uiWidgets(path) if widget.parameter]


def uiConnections(path) -> list:
    """(sender, signal, receiver, slot) of the .ui's <connections>."""
    return [tuple(item.findtext(key) for key in ("sender", "signal", "receiver", "slot"))
            for item in ET.parse(path).getroot().iter("connection")]


def uiPath(module: str) -> Path:
    return ROOT / module / "Resources" / "UI" / f"{module}.ui"


# -- 3. The parameter node fields of the module files -----------------------------------------------------------


def _keepArguments(self, *args):
    for field, value in zip(self.fields, args):
        setattr(self, field, value)


def _wrapperStandIn() -> types.ModuleType:
    """``slicer.parameterNodeWrapper`` keeping what the module files declare: validators with their values, packs
    (positional construction, as Slicer's allow) and the @parameterNodeWrapper classes (``wrapped``)."""
    wrapper = types.ModuleType("slicer.parameterNodeWrapper")
    wrapper.wrapped = []
    for name, fields in (("WithinRange", "minimum maximum"), ("Minimum", "minimum"), ("Maximum", "maximum"),
                         ("Choice", "choices"), ("Exclude", "excludedValues"), ("RangeBounds", "minimum maximum"),
                         ("Default", "value"), ("Decimals", "value"), ("SingleStep", "value"),
                         ("IsInstance", "classtype"), ("NotNone", ""), ("IsNone", "")):
        setattr(wrapper, name, type(name, (), {"fields": tuple(fields.split()), "__init__": _keepArguments}))
    wrapper.FloatRange = type("FloatRange", (), {})

    def parameterPack(cls=None):
        def wrap(cls):
            names = list(cls.__dict__.get("__annotations__", {}))

            def __init__(self, *args, **kwargs):
                for name, value in [*zip(names, args), *kwargs.items()]:
                    setattr(self, name, value)

            cls.__init__, cls._standInParameterPack = __init__, True
            return cls

        return wrap if cls is None else wrap(cls)

    def parameterNodeWrapper(cls=None):
        return (lambda cls: wrapper.wrapped.append(cls) or cls) if cls is None else wrapper.wrapped.append(cls) or cls

    wrapper.parameterPack, wrapper.parameterNodeWrapper = parameterPack, parameterNodeWrapper
    return wrapper


def _jsonValue(value):
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [_jsonValue(item) for item in value]
    return value.name if isinstance(value, enum.Enum) else repr(value)


def _describeType(annotated, default) -> dict:
    """{"kind" (as in Connector.accepts), "annotations", "default", "repr"; "nodeClasses" and "instantiable" for a
    node; "members" (described likewise) for a pack} of one field type."""
    import slicer

    base, annotations = annotated, ()
    if typing.get_origin(annotated) is typing.Annotated:  # nested Annotated are flat already
        base, annotations = annotated.__origin__, annotated.__metadata__
    field = {"repr": re.sub(r"<class '(?:[\w.]+\.)?(\w+)'>", r"\1", repr(annotated)).replace("typing.", ""),
             "annotations": [{"kind": type(item).__name__, **{key: _jsonValue(getattr(item, key, None))
                                                              for key in getattr(item, "fields", ())}}
                             for item in annotations]}
    default = default if default is not None else next(
        (item.value for item in annotations if type(item).__name__ == "Default"), None)
    union = typing.get_origin(base) is typing.Union or isinstance(base, getattr(types, "UnionType", ()))
    nodes = [arg for arg in (typing.get_args(base) if union else (base,)) if arg is not type(None)]

    def instantiable(cls):
        try:
            return cls() is not None
        except TypeError:
            return False

    if base in (bool, int, float, str):
        field["kind"] = base.__name__
    elif nodes and all(isinstance(arg, type) and issubclass(arg, slicer.vtkMRMLNode) for arg in nodes):
        field.update(kind="node", nodeClasses=[arg.__name__ for arg in nodes],
                     instantiable={arg.__name__: instantiable(arg) for arg in nodes})
    elif isinstance(base, type) and issubclass(base, enum.Enum):
        field.update(kind="enum", choices=[member.name for member in base])
    elif isinstance(base, type) and issubclass(base, pathlib.PurePath):
        field["kind"] = "path"
    elif getattr(base, "_standInParameterPack", False):
        field.update(kind="pack", pack=base.__name__, members={
            name: _describeType(hint, getattr(default if default is not None else base, name, None))
            for name, hint in typing.get_type_hints(base, include_extras=True).items()})
        default = None
    else:
        field["kind"] = base.__name__ if getattr(base, "__name__", "") in ("FloatRange", "QColor") else "other"
    field["default"] = _jsonValue(default)
    return field


def flatten(fields: dict, prefix="") -> dict:
    """{dotted name: description} of the fields and, recursively, of their pack members."""
    flat = {}
    for name, field in fields.items():
        flat[prefix + name] = field
        flat.update(flatten(field["members"], f"{prefix}{name}.") if field["kind"] == "pack" else {})
    return flat


def _describeInProcess(modules) -> dict:
    import importlib

    import slicer
    from slicerstartup import standIns

    standIns()  # what Slicer gives a module file while it starts (slicer-core MRML, stand-ins for the rest)
    wrapper = _wrapperStandIn()
    sys.modules["slicer.parameterNodeWrapper"] = slicer.parameterNodeWrapper = wrapper
    described = {}
    for module in modules:
        sys.path[:0] = [str(ROOT / module), str(ROOT / "ReconCore")]
        imported = importlib.import_module(module)
        classes = [cls for cls in wrapper.wrapped if cls.__module__ == module]
        assert len(classes) == 1, f"{module}.py has {len(classes)} @parameterNodeWrapper classes"
        fields = {name: _describeType(hint, getattr(classes[0], name, None))
                  for name, hint in typing.get_type_hints(classes[0], include_extras=True).items()}
        described[module] = {"parameterNodeClass": classes[0].__name__, "fields": flatten(fields),
                             "outputs": {name: list(value) for name, value in getattr(imported, "OUTPUTS", {}).items()},
                             "geometryViews": dict(getattr(getattr(imported, f"{module}Widget", None),
                                                           "_geometryViews", {}) or {})}
    return described


def _runHere(arguments, stdin=None) -> dict:
    result = subprocess.run([sys.executable, str(Path(__file__).resolve()), *arguments], input=stdin, cwd=HERE,
                            capture_output=True, text=True, timeout=120,
                            env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    if result.returncode:
        raise RuntimeError(f"uibindings.py {arguments[0]} failed:\n{result.stderr[-4000:]}")
    return json.loads(result.stdout.splitlines()[-1])


def describeModules(modules=MODULES) -> dict:
    """{module: {"parameterNodeClass", "fields": {dotted name: description}, "outputs": OUTPUTS, "geometryViews"}},
    read in a fresh process: the stand-ins must not leak into the test process."""
    return _runHere(["describe", *modules])


# -- 4. The .ui files loaded by Qt (PyQt5 uic) --------------------------------------------------------------------
#: Signals of the designer plugin stand-ins (what the .ui files connect); a stand-in keeps any other setX(value)
#: uic calls as the dynamic property x, and records the connections made to its signals.
STANDIN_SIGNALS = {"qMRMLWidget": ("mrmlSceneChanged",), "qMRMLNodeComboBox": ("currentNodeChanged",)}


def _installDesignerStandIns(path, QtWidgets, connections: list) -> None:
    """A stand-in class per <customwidget> of the .ui, subclassing its <extends>, in the module uic imports for its
    <header> ("a/b.h" -> a.b)."""

    class Slot:
        def __init__(self, receiver, name):
            self.receiver, self.name = receiver, name

        def __call__(self, *values):
            self.receiver.setProperty(self.name[3].lower() + self.name[4:], values[0] if len(values) == 1 else values)

    class Signal:
        def __init__(self, name, sender=None, signature=""):
            self.name, self.sender, self.signature = name, sender, signature

        def __get__(self, instance, owner):
            return self if instance is None else Signal(self.name, instance)

        def __getitem__(self, signature):
            return Signal(self.name, self.sender, signature if isinstance(signature, str) else ",".join(signature))

        def connect(self, slot):
            receiver = getattr(slot, "receiver", getattr(slot, "__self__", None))
            connections.append([self.sender.objectName(), f"{self.name}({self.signature})",
                                receiver.objectName() if receiver is not None else "?",
                                getattr(slot, "name", getattr(slot, "__name__", "?"))])

    def setter(self, name):
        if len(name) > 3 and name.startswith("set") and name[3].isupper():
            return Slot(self, name)
        raise AttributeError(name)

    classes = {}
    for item in ET.parse(path).getroot().iter("customwidget"):
        className, extends = item.findtext("class"), item.findtext("extends") or "QWidget"
        base = classes.get(extends) or getattr(QtWidgets, extends, QtWidgets.QWidget)
        classes[className] = type(className, (base,), {"__getattr__": setter, "standIn": True, **{
            signal: Signal(signal) for signal in STANDIN_SIGNALS.get(className, ())}})
        moduleName = ".".join(part for part in re.sub(r"\.h$", "", item.findtext("header") or "").split("/") if part)
        module = sys.modules.setdefault(moduleName, types.ModuleType(moduleName))
        setattr(module, className, classes[className])


def _writeAndRead(QtWidgets, widget, field: dict):
    """What the connector does to a standard Qt widget: configure it from the field (range, decimals, choices), write
    the default; what the widget then gives back (None: the default is no choice)."""
    default, limits = field.get("default"), bounds(field) or (None, None)
    kind = type(widget)
    if kind is QtWidgets.QComboBox:
        choices = (annotation(field, "Choice") or {}).get("choices", [])
        widget.clear()
        widget.addItems([str(choice) for choice in choices])
        widget.setCurrentIndex(choices.index(default) if default in choices else -1)
        return choices[widget.currentIndex()] if default in choices else None
    if kind is QtWidgets.QDoubleSpinBox:
        decimals = 0 if field["kind"] == "int" else (annotation(field, "Decimals") or {}).get("value")
        widget.setDecimals(widget.decimals() if decimals is None else decimals)
        widget.setRange(-math.inf if limits[0] is None else limits[0], math.inf if limits[1] is None else limits[1])
    elif kind in (QtWidgets.QSpinBox, QtWidgets.QSlider):
        widget.setRange(-(2**31) if limits[0] is None else limits[0], 2**31 - 1 if limits[1] is None else limits[1])
    elif kind in (QtWidgets.QCheckBox, QtWidgets.QPushButton):
        widget.setCheckable(True)
        widget.setChecked(bool(default))
        return widget.isChecked()
    elif kind in (QtWidgets.QLineEdit, QtWidgets.QLabel):
        widget.setText(default or "")
        return widget.text()
    else:
        return "not a standard Qt widget"
    widget.setValue(default)
    return widget.value()


def _qtInProcess(request: dict) -> dict:
    try:
        from PyQt5 import QtCore, QtWidgets, uic
    except ImportError as error:
        return {"unavailable": f"PyQt5 cannot be imported: {error}"}
    application = QtWidgets.QApplication.instance() or QtWidgets.QApplication(["uibindings"])
    loaded = {"qt": QtCore.QT_VERSION_STR, "pyqt": QtCore.PYQT_VERSION_STR, "modules": {}}
    for module, path in request["uiFiles"].items():
        connections, widgets, fields = [], [], request["fields"].get(module, {})
        _installDesignerStandIns(path, QtWidgets, connections)
        top = uic.loadUi(path)
        for widget in top.findChildren(QtWidgets.QWidget):
            parameter = widget.property(PARAMETER_PROPERTY)
            if not parameter:
                continue
            standIn = bool(getattr(type(widget), "standIn", False))
            record = {"name": widget.objectName(), "class": type(widget).__name__, "parameter": parameter,
                      "standIn": standIn, "properties": {bytes(name).decode(): _jsonValue(widget.property(
                          bytes(name).decode())) for name in widget.dynamicPropertyNames()} if standIn else {}}
            if not standIn and parameter in fields:
                record.update(wrote=fields[parameter].get("default"),
                              read=_jsonValue(_writeAndRead(QtWidgets, widget, fields[parameter])))
            widgets.append(record)
        loaded["modules"][module] = {"top": [type(top).__name__, top.objectName()], "widgets": widgets,
                                     "connections": connections}
        top.deleteLater()
    application.processEvents()
    return loaded


def loadWithQt(modules=MODULES, descriptions=None):
    """(what PyQt5's uic creates from each module's .ui, None), or (None, why) when PyQt5 cannot be imported. For
    each widget with a SlicerParameterName: name, class, parameter; for a designer plugin stand-in its designer
    properties; for a standard Qt widget the default written as the connector would, and what it read back."""
    request = {"uiFiles": {module: str(uiPath(module)) for module in modules},
               "fields": {module: (descriptions or {}).get(module, {}).get("fields", {}) for module in modules}}
    loaded = _runHere(["qt"], json.dumps(request))
    return (None, loaded["unavailable"]) if "unavailable" in loaded else (loaded, None)


if __name__ == "__main__":
    commands = {"describe": lambda: _describeInProcess(sys.argv[2:]),
                "qt": lambda: _qtInProcess(json.loads(sys.stdin.read()))}
    print(json.dumps(commands[sys.argv[1]]()))
