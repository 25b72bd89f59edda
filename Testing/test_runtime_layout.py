"""Runtime apart from development: what Slicer imports at startup, what a user's run imports, no import cycles.

- Each module starts as in a fresh Slicer without torch, monai or the development packages (a fresh process,
  ``slicerstartup.py``): its file and its sample data registration import, the samples appear with checksums that
  match the files, and nothing heavy was imported.
- A run's whole import chain (command line, entries, pipelines, and running a sample case of each module) works
  with the development packages unimportable.
- No runtime file imports a development file, anywhere (function-level imports included); no import cycle exists
  among the project's modules; no Python file has more than 500 lines; wall-clock limits live in benchmarks only.
"""

import ast
import functools
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from slicerstartup import BLOCKED

ROOT = Path(__file__).resolve().parents[1]
MODULES = ("AngioRecon", "EchoRecon", "FemurRegistration")
DEVELOPMENT_PACKAGES = tuple(name for name in BLOCKED if name.endswith("Dev"))
SAMPLE_COUNTS = {"AngioRecon": 2, "EchoRecon": 3, "FemurRegistration": 3}


def runPython(arguments, code=None, timeout=300):
    command = [sys.executable, *(["-c", code] if code else []), *arguments]
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=ROOT / "Testing")
    assert result.returncode == 0, result.stderr
    return result


# -- what Slicer imports at startup ------------------------------------------------------------------------------


@pytest.mark.parametrize("module", MODULES)
def test_slicer_startup_without_torch_monai_or_development_code(module):
    found = json.loads(runPython(["slicerstartup.py", module]).stdout.splitlines()[-1])
    assert found["heavy"] == [], f"{module} imported at startup: {found['heavy']}"
    assert found["logged"] == [], found["logged"]
    assert found["startupCallbacks"].count("startupCompleted()") == 1
    sources = found["sources"]
    assert len(sources) == SAMPLE_COUNTS[module] and {source["category"] for source in sources} == {module}
    for source in sources:
        assert len(source["uris"]) == len(source["fileNames"]) == len(source["checksums"])
        for uri, checksum in zip(source["uris"], source["checksums"]):
            path = Path(uri.removeprefix("file://"))
            assert path.is_file(), uri
            assert checksum == "SHA256:" + hashlib.sha256(path.read_bytes()).hexdigest(), path.name
        # Each loaded file names its reader (a .dcm would go to the DICOM importer: confidence 0.6 against the volume
        # reader's 0.54, SampleData.py / DICOM.py / qSlicerFileReader.cxx at v5.10.0) and loads as one picture (ITK
        # stacks ..._A2C.png, ..._A3C.png into one volume when singleFile is off, its default).
        assert source["loadFileProperties"] == {"singleFile": True}
        loadFiles = source.get("loadFiles") or [None] * len(source["fileNames"])
        for fileName, nodeName, fileType, load in zip(source["fileNames"], source["nodeNames"],
                                                      source["loadFileTypes"], loadFiles):
            if load is not False and nodeName:
                assert fileType == ("SegmentationFile" if fileName.endswith(".seg.nrrd") else "VolumeFile"), fileName


def test_a_failing_sample_registration_is_one_logged_line():
    found = json.loads(runPython(["slicerstartup.py", "AngioRecon", "AngioReconLib.samples"]).stdout.splitlines()[-1])
    assert found["sources"] == []
    assert len(found["logged"]) == 1 and found["logged"][0].startswith(
        "ERROR: AngioRecon: its sample data could not be registered (ModuleNotFoundError"), found["logged"]


# -- what a user's run imports -----------------------------------------------------------------------------------

RUN_WITHOUT_DEVELOPMENT = f"""
import importlib.abc, sys, tempfile
from pathlib import Path
class Refuse(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {DEVELOPMENT_PACKAGES!r}:
            raise ModuleNotFoundError(name)
sys.meta_path.insert(0, Refuse())
from ReconCoreLib import cli
from ReconCoreLib.modules import moduleEntries
cli.buildParser()
for entry in moduleEntries():
    name, case = next(iter(entry.sampleCases().items()))
    readouts = entry.runCase(case, Path(tempfile.mkdtemp()) / name, "cpu", None)
    print(entry.moduleName, len(readouts.values))
print(sorted(name for name in sys.modules if name.split(".")[0] in {DEVELOPMENT_PACKAGES!r}))
"""


def test_a_run_of_each_module_needs_no_development_code():
    pytest.importorskip("torch", reason="a run needs torch: the pass with Slicer's packages runs without it")
    lines = runPython([], RUN_WITHOUT_DEVELOPMENT).stdout.splitlines()
    assert [line.split()[0] for line in lines[:3]] == ["AngioRecon", "FemurRegistration", "EchoRecon"]
    assert all(int(line.split()[1]) > 5 for line in lines[:3])  # readouts were made
    assert lines[3] == "[]"


# -- imports, read from the source -------------------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def pythonFiles() -> tuple[Path, ...]:
    """Every Python file of the project (not the virtual environment, not hidden folders)."""
    found = []
    for folder, subfolders, files in os.walk(ROOT):
        subfolders[:] = [name for name in subfolders if not name.startswith(".") and name != "__pycache__"]
        found += [Path(folder) / name for name in files if name.endswith(".py")]
    return tuple(sorted(found))


@functools.lru_cache(maxsize=1)
def projectModules() -> frozenset:
    return frozenset(moduleNameOf(path) for path in pythonFiles())


def runtimeFiles() -> list[Path]:
    """What ships into Slicer: the module folders' Python files (their Testing folders aside)."""
    return [path for path in pythonFiles() if path.relative_to(ROOT).parts[0] in ("ReconCore", *MODULES)
            and "Testing" not in path.relative_to(ROOT).parts[1:-1]]


def moduleNameOf(path: Path) -> str:
    """Dotted import name of a project file (``AngioRecon/AngioReconLib/pipeline.py`` -> ``AngioReconLib.pipeline``)."""
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[0] in ("ReconCore", *MODULES, "Development", "Testing"):
        parts = parts[1:] or parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def importedNames(path: Path) -> list[tuple[str, int]]:
    """(absolute module name, line) of every import anywhere in a file; ``from a import b`` gives a.b when a.b is
    one of the project's modules, else a."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = moduleNameOf(path) if path.name == "__init__.py" else moduleNameOf(path).rpartition(".")[0]
    known = projectModules()
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([node.module] if node.module else [])])
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                found.append((candidate if candidate in known else base, node.lineno))
    return found


@pytest.mark.parametrize("path", runtimeFiles(), ids=lambda path: path.relative_to(ROOT).as_posix())
def test_runtime_file_never_imports_development_code(path):
    wrong = [f"{name} (line {line})" for name, line in importedNames(path) if name.split(".")[0]
             in DEVELOPMENT_PACKAGES]
    assert not wrong, f"{path.relative_to(ROOT)} imports development code: {wrong}"


def test_runtime_and_development_are_two_places():
    assert runtimeFiles() and all((ROOT / "Development" / name / "__init__.py").is_file()
                                  for name in DEVELOPMENT_PACKAGES)
    development = [path for path in pythonFiles() if path.relative_to(ROOT).parts[0] == "Development"]
    assert {path.relative_to(ROOT).parts[1] for path in development} == set(DEVELOPMENT_PACKAGES)
    text = (ROOT / "pyproject.toml").read_text()
    for name in DEVELOPMENT_PACKAGES:  # installed for the command line and retraining
        assert f'{name} = "Development/{name}"' in text


def importGraph() -> dict[str, set[str]]:
    """Project module -> the project modules it imports (anywhere in the file)."""
    files = {moduleNameOf(path): path for path in pythonFiles() if path.relative_to(ROOT).parts[0] != "Testing"}
    return {name: {imported for imported, _ in importedNames(path) if imported in files and imported != name}
            for name, path in files.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan's algorithm, iterative)."""
    index, lowLink, onStack, stack, found, counter = {}, {}, set(), [], [], [0]
    for start in graph:
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = lowLink[start] = counter[0]
        counter[0] += 1
        stack.append(start)
        onStack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = lowLink[child] = counter[0]
                    counter[0] += 1
                    stack.append(child)
                    onStack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in onStack:
                    lowLink[node] = min(lowLink[node], index[child])
                continue
            work.pop()
            if work:
                lowLink[work[-1][0]] = min(lowLink[work[-1][0]], lowLink[node])
            if lowLink[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    onStack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_no_import_cycles():
    graph = importGraph()
    assert "AngioReconLib.pipeline" in graph and "FemurRegistrationDev.train" in graph
    assert cycles(graph) == []


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_python_file_over_500_lines():
    long = {path.relative_to(ROOT).as_posix(): count for path in pythonFiles()
            if (count := path.read_text(encoding="utf-8").count("\n")) > 500}
    assert not long, f"split these files: {long}"


def test_tests_assert_no_wall_clock_times():
    """Speed targets live in Testing/benchmarks (scripts that print figures), never in timed tests."""
    for path in (ROOT / "Testing").glob("test_*.py"):
        names = {name for name, _ in importedNames(path)}
        assert not names & {"time", "timeit"}, f"{path.name} times itself: move the figure to a benchmark"
