"""The extension passes the Slicer Extensions Index rules (``Testing/extensionsindex.py``), and each rule catches
the mistake it is for.

(a) this checkout passes: the description file ``Resources/ExtensionsIndex/Recon2Dto3D.json``, the top-level
    CMakeLists.txt, the license file, the icon and the screenshot files the URLs name;
(b) each rule fails on a copy of the checkout in tmp_path with one thing broken (multi-line EXTENSION_ICONURL,
    empty EXTENSION_SCREENSHOTURLS, a space before its ``)``, an unknown category, a name starting with "Slicer",
    a repository name not starting with "Slicer", a project() name that is not the extension name, ...).
"""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import extensionsindex
from extensionsindex import checkRepository

ROOT = Path(__file__).resolve().parents[1]
SCREENSHOTS = ROOT / "Resources" / "Screenshots"
DESCRIPTION = ROOT / extensionsindex.DESCRIPTION_FOLDER / "Recon2Dto3D.json"
ICON = Path("Resources") / "Icons" / "Recon2Dto3D.png"
SCREENSHOT_NAMES = ("AngioRecon.png", "EchoRecon.png", "FemurRegistration.png")
RAW = "https://raw.githubusercontent.com/recon2dto3d/SlicerRecon2Dto3D/main"
#: The smallest valid PNG: signature, IHDR (1x1 grey), IDAT, IEND.
TINY_PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d49484452000000010000000108000000003a7e9b55"
    "0000000a49444154789c63600000000200015e2e6f9a0000000049454e44ae426082")


def _tags(problems: list[str]) -> set[str]:
    return {problem.split("]", 1)[0] + "]" for problem in problems}


# -- (a) this checkout ----------------------------------------------------------------------------------------------


def test_repository_passes():
    problems = checkRepository(ROOT)
    if not SCREENSHOTS.is_dir():
        # Until Resources/Screenshots/ is committed its files are checked by test_screenshot_files_exist (skipped).
        problems = [problem for problem in problems if not problem.startswith("[screenshot-file]")]
    assert problems == []


def test_screenshot_files_exist():
    if not SCREENSHOTS.is_dir():
        pytest.skip("Resources/Screenshots/ is not in this checkout yet: the EXTENSION_SCREENSHOTURLS files are "
                    "required once it is")
    problems = [problem for problem in checkRepository(ROOT) if problem.startswith("[screenshot-file]")]
    assert problems == []


def test_description_file_names_the_repository():
    metadata = json.loads(DESCRIPTION.read_text(encoding="utf-8"))
    assert metadata["scm_url"] == "https://github.com/recon2dto3d/SlicerRecon2Dto3D.git"
    assert metadata["category"] == "Tomographic Reconstruction"
    assert metadata["build_dependencies"] == ["PyTorch"]
    assert extensionsindex.findDescriptionFile(ROOT) == DESCRIPTION


def test_accepted_categories_are_the_index_list():
    assert len(extensionsindex.ACCEPTED_CATEGORIES) == len(set(extensionsindex.ACCEPTED_CATEGORIES)) == 61
    assert "Tomographic Reconstruction" in extensionsindex.ACCEPTED_CATEGORIES
    assert "Reconstruction" not in extensionsindex.ACCEPTED_CATEGORIES


def test_repository_size_limit():
    assert extensionsindex.repositorySizeProblems(ROOT) == []
    if not (ROOT / ".git").exists() or shutil.which("git") is None:
        pytest.skip("not a git checkout: the size estimate needs git")
    assert _tags(extensionsindex.repositorySizeProblems(ROOT, limitMB=0.001)) == {"[size]"}


# -- (b) each rule on a crafted copy --------------------------------------------------------------------------------


@pytest.fixture
def repository(tmp_path):
    """A copy of what the index reads from this checkout: CMakeLists.txt, LICENSE, description file, icon, and
    small stand-ins for the screenshots."""
    shutil.copy(ROOT / "CMakeLists.txt", tmp_path / "CMakeLists.txt")
    shutil.copy(ROOT / "LICENSE", tmp_path / "LICENSE")
    (tmp_path / extensionsindex.DESCRIPTION_FOLDER).mkdir(parents=True)
    shutil.copy(DESCRIPTION, tmp_path / extensionsindex.DESCRIPTION_FOLDER / DESCRIPTION.name)
    (tmp_path / ICON).parent.mkdir(parents=True)
    shutil.copy(ROOT / ICON, tmp_path / ICON)
    (tmp_path / "Resources" / "Screenshots").mkdir()
    for name in SCREENSHOT_NAMES:
        (tmp_path / "Resources" / "Screenshots" / name).write_bytes(TINY_PNG)
    return tmp_path


def _edit(path: Path, old: str, new: str):
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"{old!r} is not once in {path.name}: update the test"
    path.write_text(text.replace(old, new), encoding="utf-8", newline="")


def _editDescription(root: Path, change):
    path = root / extensionsindex.DESCRIPTION_FOLDER / DESCRIPTION.name
    metadata = json.loads(path.read_text(encoding="utf-8"))
    change(metadata)
    path.write_text(json.dumps(metadata, indent=2) + "\n", encoding="utf-8", newline="\n")


def test_copy_passes(repository):
    assert checkRepository(repository) == []


ICON_LINE = f'set(EXTENSION_ICONURL "{RAW}/Resources/Icons/Recon2Dto3D.png")'
SCREENSHOTS_END = 'FemurRegistration.png")'


def _cmake(old: str, new: str):
    return lambda root: _edit(root / "CMakeLists.txt", old, new)


def _description(change):
    return lambda root: _editDescription(root, change)


def _both(*edits):
    def edit(root):
        for each in edits:
            each(root)
    return edit


def _renameExtension(root: Path):
    folder = root / extensionsindex.DESCRIPTION_FOLDER
    (folder / DESCRIPTION.name).rename(folder / "SlicerRecon2Dto3D.json")
    _edit(root / "CMakeLists.txt", "project(Recon2Dto3D)", "project(SlicerRecon2Dto3D)")


BROKEN = {
    "multi-line EXTENSION_ICONURL": (
        _cmake(ICON_LINE, f'set(EXTENSION_ICONURL\n  "{RAW}/Resources/Icons/Recon2Dto3D.png"\n  )'), {"[iconurl]"}),
    "empty EXTENSION_SCREENSHOTURLS": (
        _cmake(extensionsindex.SCREENSHOT_URLS_PATTERN.search((ROOT / "CMakeLists.txt").read_text()).group(0),
               'set(EXTENSION_SCREENSHOTURLS "")'), {"[screenshoturls]"}),
    "space before ) of EXTENSION_SCREENSHOTURLS": (
        _cmake(SCREENSHOTS_END, 'FemurRegistration.png" )'), {"[screenshoturls]"}),
    "screenshot URL without an image extension": (
        _cmake(SCREENSHOTS_END, 'FemurRegistration.bmp")'), {"[screenshoturls]"}),
    "screenshot file missing": (
        lambda root: (root / "Resources" / "Screenshots" / "EchoRecon.png").unlink(), {"[screenshot-file]"}),
    "screenshot file not a PNG": (
        lambda root: (root / "Resources" / "Screenshots" / "EchoRecon.png").write_bytes(b"GIF89a"),
        {"[screenshot-file]"}),
    "icon URL into another repository": (
        _cmake(ICON_LINE, ICON_LINE.replace("SlicerRecon2Dto3D", "Recon2Dto3D")), {"[iconurl]"}),
    "category not accepted": (
        _both(_cmake('"Tomographic Reconstruction"', '"Reconstruction"'),
              _description(lambda metadata: metadata.update(category="Reconstruction"))), {"[category]"}),
    "category differs from EXTENSION_CATEGORY": (
        _description(lambda metadata: metadata.update(category="Registration")), {"[consistency]"}),
    "extension name starts with Slicer": (_renameExtension, {"[name]"}),
    "repository name does not start with Slicer": (
        _both(_cmake("github.com/recon2dto3d/SlicerRecon2Dto3D", "github.com/recon2dto3d/Recon2Dto3D"),
              _description(lambda metadata: metadata.update(
                  scm_url="https://github.com/recon2dto3d/Recon2Dto3D.git"))),
        {"[repository-name]", "[iconurl]", "[screenshoturls]"}),
    "scm_url and EXTENSION_HOMEPAGE name different repositories": (
        _description(lambda metadata: metadata.update(scm_url="https://github.com/other/SlicerRecon2Dto3D.git")),
        {"[consistency]"}),
    "scm_url scheme": (
        _description(lambda metadata: metadata.update(scm_url="ssh://git@github.com/recon2dto3d/SlicerRecon2Dto3D")),
        {"[scm_url]"}),
    "project() name is not the extension name": (
        _cmake("project(Recon2Dto3D)", "project(Recon2Dto3DExtension)"), {"[cmake-project]"}),
    "build_dependencies differ from EXTENSION_DEPENDS": (
        _description(lambda metadata: metadata.update(build_dependencies=[])), {"[consistency]"}),
    "no license file": (lambda root: (root / "LICENSE").unlink(), {"[license]"}),
    "schema: unknown key": (_description(lambda metadata: metadata.update(homepage="x")), {"[schema]"}),
    "schema: required key missing": (
        _description(lambda metadata: metadata.pop("$schema")), {"[schema]"}),
    "schema: tier out of range": (_description(lambda metadata: metadata.update(tier=7)), {"[schema]"}),
    "schema: tier not an integer": (_description(lambda metadata: metadata.update(tier=True)), {"[schema]"}),
    "schema: dicom_support_rule needs v1.0.2": (
        _description(lambda metadata: metadata.update(dicom_support_rule="Modality == 'XA'")), {"[schema]"}),
    "json: CRLF line endings": (
        lambda root: (root / extensionsindex.DESCRIPTION_FOLDER / DESCRIPTION.name).write_bytes(
            DESCRIPTION.read_bytes().replace(b"\n", b"\r\n")), {"[json]"}),
    "json: not formatted like the index": (
        lambda root: (root / extensionsindex.DESCRIPTION_FOLDER / DESCRIPTION.name).write_text(
            json.dumps(json.loads(DESCRIPTION.read_text())), encoding="utf-8"), {"[json]"}),
}


@pytest.mark.parametrize("name", list(BROKEN))
def test_rule_catches(repository, name):
    breakIt, expectedTags = BROKEN[name]
    breakIt(repository)
    problems = checkRepository(repository)
    assert _tags(problems) == expectedTags, problems


ALLOWED = {
    "spaces before ) of EXTENSION_ICONURL": _cmake(ICON_LINE, ICON_LINE[:-1] + "   )"),
    "dicom_support_rule with schema v1.0.2": _description(lambda metadata: metadata.update({
        "$schema": metadata["$schema"].replace("v1.0.1", "v1.0.2"), "dicom_support_rule": "Modality == 'XA'"})),
    "scm_url without .git, with the git scheme": _description(
        lambda metadata: metadata.update(scm_url="git://github.com/recon2dto3d/SlicerRecon2Dto3D")),
    "tier 3": _description(lambda metadata: metadata.update(tier=3)),
}


@pytest.mark.parametrize("name", list(ALLOWED))
def test_rule_allows(repository, name):
    ALLOWED[name](repository)
    assert checkRepository(repository) == []


def test_command_line(repository):
    script = ROOT / "Testing" / "extensionsindex.py"
    passing = subprocess.run([sys.executable, str(script), "--root", str(repository)], capture_output=True,
                             text=True, timeout=60)
    assert passing.returncode == 0, passing.stdout + passing.stderr
    (repository / "LICENSE").unlink()
    failing = subprocess.run([sys.executable, str(script), "--root", str(repository)], capture_output=True,
                             text=True, timeout=60)
    assert failing.returncode == 1
    assert failing.stdout.startswith("[license]")
