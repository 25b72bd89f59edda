"""Layout of the Slicer extension, checked without Slicer or Qt.

- every module's CMakeLists.txt lists exactly the files the module has (a file missing from
  MODULE_PYTHON_SCRIPTS / MODULE_PYTHON_RESOURCES is missing from the installed extension);
- the module files and the Slicer-side skeleton (``ReconCoreSlicer``) import nothing heavy at module level (torch,
  numpy, ... load at first use; the light ``conventions`` modules are allowed);
- the headless libraries (``*Lib/``) never need Qt;
- each .ui file is valid XML whose SlicerParameterName properties name fields of the parameter node class (or,
  ``pack.field``, fields of its parameter packs);
- the top-level CMakeLists.txt builds every module and depends on the PyTorch extension.
"""

import ast
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MODULES = ("ReconCore", "AngioRecon", "EchoRecon", "FemurRegistration")

#: Top-level import roots a module file may use (heavy packages load inside functions). ReconCore is the Slicer
#: module the others list in parent.dependencies (it holds their shared widget code), so Slicer loads it first.
ALLOWED_TOP_LEVEL_IMPORTS = {"os", "logging", "typing", "enum", "dataclasses", "json", "pathlib", "vtk", "qt", "ctk",
                             "slicer", "__main__", "ReconCore", "ReconCoreSlicer"}
#: Light runtime modules (standard library only) the module files may import at startup: the conventions.
LIGHT_MODULES = {f"{module}Lib.conventions" for module in MODULES}
#: Modules the headless libraries must not import: they run on slicer-core, without Qt.
QT_MODULES = ("qt", "ctk", "PythonQt", "slicer.util", "slicer.ScriptedLoadableModule")


def _cmakeCommands(text: str) -> list[tuple[str, list[str]]]:
    """(command name in lower case, arguments) of every command call in CMake text.

    Handles comments, quoted arguments (quotes removed) and nested parentheses; enough for CMakeLists.txt files.
    """
    commands = []
    position = 0
    pattern = re.compile(r"#[^\n]*|([A-Za-z_][A-Za-z0-9_]*)\s*\(")
    while True:
        match = pattern.search(text, position)
        if match is None:
            return commands
        position = match.end()
        if match.group(1) is None:  # comment
            continue
        arguments, current, depth, quoted = [], "", 1, False
        while depth:
            character = text[position]
            position += 1
            if quoted:
                if character == '"':
                    quoted = False
                    arguments.append(current)
                    current = ""
                else:
                    current += character
            elif character == '"':
                quoted = True
            elif character == "#":
                position = text.find("\n", position) + 1 or len(text)
            elif character in "()":
                depth += 1 if character == "(" else -1
                if depth:
                    current += character
            elif character.isspace():
                if current:
                    arguments.append(current)
                current = ""
            else:
                current += character
        if current:
            arguments.append(current)
        commands.append((match.group(1).lower(), arguments))


def _cmakeCommandArguments(text: str, command: str) -> list[list[str]]:
    """Arguments of every ``command(...)`` call in CMake text."""
    return [arguments for name, arguments in _cmakeCommands(text) if name == command.lower()]


def _moduleCMakeLists(module: str) -> dict[str, list[str]]:
    """The ``set()`` variables of a module's CMakeLists.txt, ${MODULE_NAME} resolved."""
    text = (ROOT / module / "CMakeLists.txt").read_text(encoding="utf-8")
    variables = {}
    for arguments in _cmakeCommandArguments(text, "set"):
        variables[arguments[0]] = arguments[1:]
    moduleName = variables.get("MODULE_NAME", [None])[0]
    assert moduleName == module, f"{module}/CMakeLists.txt: MODULE_NAME is {moduleName!r}"
    return {name: [value.replace("${MODULE_NAME}", moduleName) for value in values]
            for name, values in variables.items()}


# -- (a) CMake lists match the files ------------------------------------------------------------------------


@pytest.mark.parametrize("module", MODULES)
def test_cmake_lists_every_file(module):
    moduleDir = ROOT / module
    variables = _moduleCMakeLists(module)
    scripts = variables.get("MODULE_PYTHON_SCRIPTS", [])
    resources = variables.get("MODULE_PYTHON_RESOURCES", [])
    assert f"{module}.py" in scripts

    missingOnDisk = [name for name in scripts + resources if not (moduleDir / name).is_file()]
    assert not missingOnDisk, f"{module}/CMakeLists.txt lists files that do not exist: {missingOnDisk}"

    pythonFiles = {path.relative_to(moduleDir).as_posix() for path in moduleDir.rglob("*.py")
                   if "__pycache__" not in path.parts and path.relative_to(moduleDir).parts[0] != "Testing"}
    notListed = sorted(pythonFiles - set(scripts))
    assert not notListed, f"{module}: Python files missing from MODULE_PYTHON_SCRIPTS: {notListed}"

    resourceFiles = {path.relative_to(moduleDir).as_posix() for path in (moduleDir / "Resources").rglob("*")
                     if path.is_file() and "__pycache__" not in path.parts}
    notListed = sorted(resourceFiles - set(resources))
    assert not notListed, f"{module}: resources missing from MODULE_PYTHON_RESOURCES: {notListed}"


@pytest.mark.parametrize("module", MODULES)
def test_cmake_builds_scripted_module_with_tests(module):
    text = (ROOT / module / "CMakeLists.txt").read_text(encoding="utf-8")
    build = _cmakeCommandArguments(text, "slicerMacroBuildScriptedModule")
    assert len(build) == 1
    assert build[0][:2] == ["NAME", "${MODULE_NAME}"]
    assert {"SCRIPTS", "${MODULE_PYTHON_SCRIPTS}", "RESOURCES", "${MODULE_PYTHON_RESOURCES}",
            "WITH_GENERIC_TESTS"} <= set(build[0])
    assert "slicer_add_python_unittest(SCRIPT ${MODULE_NAME}.py)" in text
    if "add_subdirectory(Testing)" in text:
        assert (ROOT / module / "Testing" / "CMakeLists.txt").is_file()


# -- (b) no heavy imports at module level --------------------------------------------------------------------


def _topLevelImports(tree: ast.Module) -> list[str]:
    """Modules imported by statements that run at import time (module body, incl. top-level if/try blocks)."""
    names = []
    pending = list(tree.body)
    while pending:
        node = pending.pop(0)
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            names.append("." * node.level + (node.module or ""))
        elif isinstance(node, (ast.If, ast.Try, ast.With)):
            pending.extend(ast.iter_child_nodes(node))
        elif hasattr(ast, "TryStar") and isinstance(node, ast.TryStar):
            pending.extend(ast.iter_child_nodes(node))
        elif isinstance(node, ast.ExceptHandler):
            pending.extend(node.body)
    return names


def _startupFiles() -> list[Path]:
    """What Slicer imports while it starts: the module files and the Slicer-side skeleton package."""
    return [ROOT / module / f"{module}.py" for module in MODULES] + sorted((ROOT / "ReconCore" / "ReconCoreSlicer")
                                                                          .glob("*.py"))


@pytest.mark.parametrize("path", _startupFiles(), ids=lambda path: path.relative_to(ROOT).as_posix())
def test_startup_file_imports_nothing_heavy(path):
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    forbidden = [name for name in _topLevelImports(tree) if name.split(".")[0] not in ALLOWED_TOP_LEVEL_IMPORTS
                 and name not in LIGHT_MODULES and not name.startswith(".")]
    assert not forbidden, f"{path.name} imports at module level (move into functions): {forbidden}"


@pytest.mark.parametrize("module", ("ReconCore", "AngioRecon", "EchoRecon", "FemurRegistration"))
def test_conventions_are_standard_library_only(module):
    import sys

    path = ROOT / module / f"{module}Lib" / "conventions.py"
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    imported = _importedModules(tree) + _topLevelImports(tree)
    assert all(name.split(".")[0] in sys.stdlib_module_names for name in imported), (path, imported)


@pytest.mark.parametrize("module", MODULES)
def test_module_file_is_short(module):
    lines = (ROOT / module / f"{module}.py").read_text(encoding="utf-8").count("\n")
    assert lines < 500, f"{module}.py has {lines} lines; move computation into {module}Lib"


# -- (c) headless libraries do not need Qt -------------------------------------------------------------------


def _libraryFiles() -> list[Path]:
    return sorted(path for path in ROOT.glob("*/*Lib/**/*.py") if "__pycache__" not in path.parts
                  and not path.relative_to(ROOT).parts[0].startswith("."))


def _importedModules(tree: ast.AST) -> list[str]:
    """Every module an import statement anywhere in the tree names (``from a import b`` gives a and a.b)."""
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.append(node.module)
            names.extend(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _isQtModule(name: str) -> bool:
    return any(name == qtName or name.startswith(qtName + ".") for qtName in QT_MODULES)


def test_library_files_exist():
    assert _libraryFiles(), "no *Lib/ Python files found"


@pytest.mark.parametrize("path", _libraryFiles(), ids=lambda path: path.relative_to(ROOT).as_posix())
def test_library_does_not_import_qt(path):
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    qtImports = sorted({name for name in _importedModules(tree) if _isQtModule(name)})
    assert not qtImports, f"{path.relative_to(ROOT)} imports Qt-dependent modules: {qtImports}"


# -- (d) .ui files -------------------------------------------------------------------------------------------


def _decoratedClasses(path: Path, decorator: str) -> dict[str, dict[str, str]]:
    """{class name: {field: annotation source}} of the classes of ``path`` with ``decorator``."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    classes = {}
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and any(
                (isinstance(item, ast.Name) and item.id == decorator)
                or (isinstance(item, ast.Call) and getattr(item.func, "id", "") == decorator)
                for item in node.decorator_list):
            classes[node.name] = {item.target.id: ast.unparse(item.annotation) for item in node.body
                                  if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name)}
    return classes


def _parameterNodeFields(module: str) -> set[str]:
    """Field names of the @parameterNodeWrapper class of the module file, and ``pack.field`` of its packs."""
    path = ROOT / module / f"{module}.py"
    packs = {**_decoratedClasses(ROOT / "ReconCore" / "ReconCoreSlicer" / "parameters.py", "parameterPack"),
             **_decoratedClasses(path, "parameterPack")}
    fields = set()
    for node in _decoratedClasses(path, "parameterNodeWrapper").values():
        for name, annotation in node.items():
            fields.add(name)
            fields.update(f"{name}.{member}" for member in packs.get(annotation, {}))
    return fields


def test_echo_phase_pack_holds_the_views_of_the_conventions():
    from EchoReconLib.conventions import VIEWS

    pack = _decoratedClasses(ROOT / "EchoRecon" / "EchoRecon.py", "parameterPack")["EchoPhaseViews"]
    assert list(pack) == list(VIEWS) + [f"{view}Frame" for view in VIEWS]


def _uiFiles() -> list[tuple[str, Path]]:
    return [(module, path) for module in MODULES for path in sorted((ROOT / module).rglob("*.ui"))]


@pytest.mark.parametrize("module", [module for module in MODULES if module != "ReconCore"])
def test_user_module_has_ui_and_parameter_node(module):
    assert (ROOT / module / "Resources" / "UI" / f"{module}.ui").is_file()
    assert _parameterNodeFields(module), f"{module}.py has no @parameterNodeWrapper class with fields"


@pytest.mark.parametrize("module,path", _uiFiles(), ids=lambda value: getattr(value, "name", value))
def test_ui_parameter_names_are_parameter_node_fields(module, path):
    root = ET.parse(path).getroot()  # raises on malformed XML
    assert root.tag == "ui"
    names = [prop.findtext("string") for prop in root.iter("property")
             if prop.get("name") == "SlicerParameterName"]
    assert names, f"{path.name} binds no widget to the parameter node"
    assert len(names) == len(set(names)), f"{path.name} binds a parameter to two widgets"
    fields = _parameterNodeFields(module)
    unknown = sorted(set(names) - fields)
    assert not unknown, f"{path.name}: SlicerParameterName values that are not parameter node fields: {unknown}"


# -- (e) top-level CMakeLists.txt ----------------------------------------------------------------------------


def test_top_level_cmake():
    text = (ROOT / "CMakeLists.txt").read_text(encoding="utf-8")
    subdirectories = [arguments[0] for arguments in _cmakeCommandArguments(text, "add_subdirectory")]
    for module in MODULES:
        assert module in subdirectories, f"CMakeLists.txt does not add_subdirectory({module})"
        assert (ROOT / module / f"{module}.py").is_file()
    depends = [arguments for arguments in _cmakeCommandArguments(text, "set") if arguments[0] == "EXTENSION_DEPENDS"]
    assert depends and "PyTorch" in depends[0][1:]
    for command in ("find_package(Slicer REQUIRED)", "include(${Slicer_USE_FILE})",
                    "include(${Slicer_EXTENSION_GENERATE_CONFIG})", "include(${Slicer_EXTENSION_CPACK})"):
        assert command in text
