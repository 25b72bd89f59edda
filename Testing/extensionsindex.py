"""Offline check of this extension against the rules of the Slicer Extensions Index.

The index (https://github.com/Slicer/ExtensionsIndex) runs ``scripts/check_description_files.py`` on every pull
request that adds or changes an extension description file. That script clones the repository named in the
description file and checks the description, the top-level CMakeLists.txt and the license file. This module
re-implements those rules so that they can be checked here, without a network, before the description file
(``Resources/ExtensionsIndex/Recon2Dto3D.json``) is submitted:

- the description file: valid JSON with LF line endings, formatted like the index's pre-commit (prettier) formats
  it, and matching the catalog-entry schema (required keys, allowed keys, value types);
- the extension name (the description file name) does not start with "Slicer";
- the category is one of the accepted categories, and equals EXTENSION_CATEGORY in CMakeLists.txt;
- scm_url uses the git or https scheme and the repository name starts with "Slicer" (EXTENSION_HOMEPAGE too, and
  both name the same repository);
- the first ``project()`` name in CMakeLists.txt equals the extension name;
- EXTENSION_ICONURL and EXTENSION_SCREENSHOTURLS are set the way the index's regular expressions read them (one
  quoted string; no space before the screenshot list's closing parenthesis), every URL starts with http and ends
  with an image extension, and a raw.githubusercontent.com URL of this repository names an image file that exists
  in this checkout (problems tagged ``[screenshot-file]`` are missing or invalid screenshot files);
- build_dependencies equal EXTENSION_DEPENDS;
- a license file is at the repository root;
- the repository is under the index's size limit (estimate: tracked files plus the packed history).

Not checked here (they need the network): the GitHub topic ``3d-slicer-extension`` on the repository, the
Content-Type the image URLs are served with, and the clone at scm_revision.

Usage: ``python Testing/extensionsindex.py [--root PATH] [--description PATH]`` prints the problems and exits 1
if there are any; ``checkRepository(root)`` returns them as a list of strings, each starting with ``[rule]``.
"""

import argparse
import json
import posixpath
import re
import subprocess
import sys
import urllib.parse
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: Where the description file to submit to the index lives (one ``<ExtensionName>.json``).
DESCRIPTION_FOLDER = Path("Resources") / "ExtensionsIndex"

#: The rules below were read from Slicer/ExtensionsIndex at this commit (branch main, 2026-08-07).
INDEX_COMMIT = "07f1d1b2781c7dd9f6e2a9f5521b3ed43631724c"
INDEX_SOURCE = f"https://github.com/Slicer/ExtensionsIndex/blob/{INDEX_COMMIT}"
CHECKER_SOURCE = f"{INDEX_SOURCE}/scripts/check_description_files.py"

#: ACCEPTED_EXTENSION_CATEGORIES, check_description_files.py lines 802-864 (check_category, line 168).
#: Source: https://github.com/Slicer/ExtensionsIndex/blob/07f1d1b2781c7dd9f6e2a9f5521b3ed43631724c/scripts/check_description_files.py#L802-L864
ACCEPTED_CATEGORIES = (
    "Active Learning", "Analysis", "Auto3dgm", "BigImage", "Cardiac", "Chest Imaging Platform", "Conda",
    "Converters", "DICOM", "DSCI", "Developer Tools", "Diffusion", "Examples", "Exporter", "FTV Segmentation",
    "Filtering", "Filtering.Morphology", "Filtering.Vesselness", "Holographic Display", "Image Synthesis", "IGT",
    "Informatics", "Netstim", "Neuroimaging", "Nuclear Medicine", "Orthodontics", "Osteotomy Planning",
    "Otolaryngology", "Photogrammetry", "Pipelines", "Planning", "Printing", "Quantification", "Radiotherapy",
    "Registration", "Remote", "Rendering", "SPHARM", "Segmentation", "Sequences", "Shape Analysis",
    "Shape Regression", "Shape Visualization", "Simulation", "SlicerCMF", "SlicerMorph", "Spectral Imaging",
    "Supervisely", "Surface Models", "SurfaceLearner", "Tomographic Reconstruction", "Tracking", "Tractography",
    "Training", "Ultrasound", "Utilities", "Vascular Modeling Toolkit", "Virtual Reality", "VisSimTools",
    "Web System Tools", "Wizards",
)
#: check_git_repository_name (lines 205-234): the repository name (last path part of scm_url, extension removed)
#: must start with one of these (case-sensitive). The index's exception list (lines 675-733) is for old extensions.
REPOSITORY_NAME_PREFIXES = ("Slicer", "Slicer-", "Slicer_", "SlicerExtension-", "SlicerExtension_")
#: check_scm_url_syntax (lines 175-187).
SCM_URL_SCHEMES = ("git", "https")
#: check_license_file (lines 486-507): the first of these found at the repository root.
LICENSE_FILE_NAMES = ("LICENSE", "LICENCE", "License.txt", "license.txt", "LICENSE.txt", "COPYING", "COPYING.txt")
#: validate_image_url (lines 274-305): image URLs start with http; the image file extensions it accepts.
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif")
#: check_repository_size (lines 463-483): size of the cloned repository folder, .git included.
REPOSITORY_SIZE_LIMIT_MB = 100

#: check_cmakelists_content (lines 369-460): how the index reads the top-level CMakeLists.txt. The first
#: ``project(`` name (case-insensitive, anywhere in the text, quotes stripped), else ``set(EXTENSION_NAME ...)``;
#: EXTENSION_ICONURL: one quoted string, then only spaces before ``)`` (so the call fits on one line);
#: EXTENSION_SCREENSHOTURLS: one non-empty quoted string immediately followed by ``)``; URLs split on whitespace.
PROJECT_PATTERN = re.compile(r"project\s*\(\s*([^\s)]+)", re.IGNORECASE)
EXTENSION_NAME_PATTERN = re.compile(r"set\(EXTENSION_NAME\s+([^\s)]+)\)", re.IGNORECASE)
ICON_URL_PATTERN = re.compile(r'set\s*\(EXTENSION_ICONURL\s*"([^"]+)" *\)', re.IGNORECASE)
SCREENSHOT_URLS_PATTERN = re.compile(r'set\s*\(EXTENSION_SCREENSHOTURLS\s*"([^"]+)"\)', re.IGNORECASE)

#: The catalog-entry schema the index validates against (check_json_schema, lines 116-165, downloads the file
#: named in "$schema"; the index's pre-commit uses its copy in schemas/). Re-stated here, no jsonschema needed.
#: Source: https://github.com/Slicer/ExtensionsIndex/blob/07f1d1b2781c7dd9f6e2a9f5521b3ed43631724c/schemas/slicer-extension-catalog-entry-schema-v1.0.2.json
SCHEMA_URL_PATTERN = re.compile(
    r"https://raw\.githubusercontent\.com/Slicer/Slicer/main/Schemas/"
    r"slicer-extension-catalog-entry-schema-v(\d+\.\d+\.\d+)\.json#?")
SCHEMA_VERSIONS = ("1.0.1", "1.0.2")  # the versions in the index's schemas/ folder
SCHEMA_REQUIRED = ("$schema", "category", "scm_url")
#: Property -> JSON type ("additionalProperties": false). dicom_support_rule appeared in v1.0.2.
SCHEMA_PROPERTIES = {
    "$schema": "string", "category": "string", "scm_url": "string", "scm_revision": "string",
    "scm_type": "string", "build_dependencies": "array", "build_subdirectory": "string", "enabled": "boolean",
    "tier": "integer",
}
SCHEMA_PROPERTIES_SINCE = {"dicom_support_rule": ("1.0.2", "string")}
SCM_TYPES = ("git", "local")
TIER_RANGE = (1, 5)

#: File signatures of the image types (a raw.githubusercontent.com URL serves the committed bytes).
IMAGE_SIGNATURES = {".png": (b"\x89PNG\r\n\x1a\n",), ".jpg": (b"\xff\xd8\xff",), ".jpeg": (b"\xff\xd8\xff",),
                    ".gif": (b"GIF87a", b"GIF89a")}


# -- the description file -------------------------------------------------------------------------------------------


def _jsonTypeMatches(value, jsonType: str) -> bool:
    if jsonType == "string":
        return isinstance(value, str)
    if jsonType == "boolean":
        return isinstance(value, bool)
    if jsonType == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if jsonType == "array":
        return isinstance(value, list)
    raise ValueError(jsonType)


def schemaProblems(metadata) -> list[str]:
    """The catalog-entry schema, checked by hand: object, required keys, no other keys, value types and ranges."""
    if not isinstance(metadata, dict):
        return ["[schema] the description must be a JSON object"]
    problems = [f"[schema] required key {key!r} is missing" for key in SCHEMA_REQUIRED if key not in metadata]
    properties = dict(SCHEMA_PROPERTIES)
    schemaUrl = metadata.get("$schema")
    if isinstance(schemaUrl, str):
        match = SCHEMA_URL_PATTERN.fullmatch(schemaUrl)
        if match is None or match.group(1) not in SCHEMA_VERSIONS:
            problems.append(f"[schema] $schema {schemaUrl!r} is not one of the catalog-entry schemas the index "
                            f"keeps (versions {', '.join(SCHEMA_VERSIONS)})")
        else:
            version = tuple(int(part) for part in match.group(1).split("."))
            for key, (since, jsonType) in SCHEMA_PROPERTIES_SINCE.items():
                if version >= tuple(int(part) for part in since.split(".")):
                    properties[key] = jsonType
    for key, value in metadata.items():
        if key not in properties:
            problems.append(f"[schema] key {key!r} is not allowed (additionalProperties is false)")
        elif not _jsonTypeMatches(value, properties[key]):
            problems.append(f"[schema] {key!r} must be of type {properties[key]}, not {type(value).__name__}")
    if isinstance(metadata.get("scm_type"), str) and metadata["scm_type"] not in SCM_TYPES:
        problems.append(f"[schema] scm_type must be one of {SCM_TYPES}, not {metadata['scm_type']!r}")
    tier = metadata.get("tier")
    if _jsonTypeMatches(tier, "integer") and not TIER_RANGE[0] <= tier <= TIER_RANGE[1]:
        problems.append(f"[schema] tier must be in {TIER_RANGE[0]}..{TIER_RANGE[1]}, not {tier}")
    dependencies = metadata.get("build_dependencies")
    if isinstance(dependencies, list) and not all(isinstance(item, str) for item in dependencies):
        problems.append("[schema] build_dependencies must be a list of strings")
    return problems


def descriptionFileProblems(path: Path) -> tuple[dict | None, list[str]]:
    """(metadata or None, problems) of a description file: JSON, LF line endings, the index's formatting."""
    data = path.read_bytes()
    try:
        metadata = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        return None, [f"[json] {path.name} is not valid UTF-8 JSON: {error}"]
    problems = []
    if b"\r" in data:
        problems.append(f"[json] {path.name} has CR or CRLF line endings; the index requires LF only")
    # The index's pre-commit runs prettier (multiline arrays, wrap threshold 0) and end-of-file-fixer: 2-space
    # indentation, one array item per line, a final newline. json.dumps(indent=2) writes the same for these files.
    expected = json.dumps(metadata, indent=2, ensure_ascii=False) + "\n"
    if data.decode("utf-8").replace("\r\n", "\n") != expected:
        problems.append(f"[json] {path.name} is not formatted as the index's pre-commit formats it (2-space indent, "
                        "one array item per line, final newline)")
    return metadata, problems


def repositoryName(url: str) -> str:
    """The repository name the index derives from a URL: the last path part, file extension (.git) removed."""
    lastPart = urllib.parse.urlsplit(url.strip().strip("/")).path.split("/")[-1]
    return posixpath.splitext(lastPart)[0]


def _ownerAndRepository(url: str) -> tuple[str, str] | None:
    """(owner, repository) of a github.com URL, in lower case (GitHub names are case-insensitive); else None."""
    parts = urllib.parse.urlsplit(url.strip())
    if parts.netloc.lower() not in ("github.com", "www.github.com"):
        return None
    segments = [segment for segment in parts.path.split("/") if segment]
    if len(segments) < 2:
        return None
    repository = segments[1][:-4] if segments[1].lower().endswith(".git") else segments[1]
    return segments[0].lower(), repository.lower()


def _repositoryNameProblems(url: str, where: str) -> list[str]:
    name = repositoryName(url)
    if not name:
        return [f"[repository-name] cannot read a repository name from {where} {url!r}"]
    if not name.startswith(REPOSITORY_NAME_PREFIXES):
        return [f"[repository-name] the git repository name must start with 'Slicer' ({where} names {name!r}); "
                "the extension name must not"]
    return []


def descriptionProblems(extensionName: str, metadata: dict) -> list[str]:
    """Rules on the description alone: schema, extension name, category, scm_url scheme, repository name."""
    problems = schemaProblems(metadata)
    if not isinstance(metadata, dict):
        return problems
    if extensionName.lower().startswith("slicer"):
        problems.append(f"[name] the extension name {extensionName!r} must not start with 'Slicer' "
                        "(the git repository name should)")
    category = metadata.get("category")
    if category is not None and category not in ACCEPTED_CATEGORIES:
        problems.append(f"[category] {category!r} is not an accepted category of the index")
    scmUrl = metadata.get("scm_url")
    if isinstance(scmUrl, str):
        scheme = urllib.parse.urlsplit(scmUrl).scheme
        if "://" not in scmUrl:
            problems.append(f"[scm_url] {scmUrl!r} does not match scheme://host/path")
        elif scheme not in SCM_URL_SCHEMES:
            problems.append(f"[scm_url] scheme {scheme!r} of {scmUrl!r} is not one of {SCM_URL_SCHEMES}")
        problems += _repositoryNameProblems(scmUrl, "scm_url")
    return problems


# -- the top-level CMakeLists.txt -----------------------------------------------------------------------------------


def _withoutComments(text: str) -> str:
    """CMake text with ``#`` line comments removed (a ``#`` inside a quoted argument is kept)."""
    lines = []
    for line in text.splitlines():
        quoted, kept = False, []
        for character in line:
            if character == '"':
                quoted = not quoted
            elif character == "#" and not quoted:
                break
            kept.append(character)
        lines.append("".join(kept))
    return "\n".join(lines)


def cmakeSetArguments(text: str, variable: str) -> list[str] | None:
    """The values of the first ``set(variable ...)`` (quotes removed), or None if there is none."""
    match = re.search(rf"\bset\s*\(\s*{re.escape(variable)}(\s[^)]*)?\)", _withoutComments(text), re.IGNORECASE)
    if match is None:
        return None
    return [quoted if quoted or not bare else bare
            for quoted, bare in re.findall(r'"([^"]*)"|([^\s"]+)', match.group(1) or "")]


def _rawGitHubPath(url: str) -> tuple[tuple[str, str], str] | None:
    """((owner, repository), path in the repository) of a raw.githubusercontent.com URL, else None."""
    parts = urllib.parse.urlsplit(url)
    if parts.netloc.lower() != "raw.githubusercontent.com":
        return None
    segments = [urllib.parse.unquote(segment) for segment in parts.path.split("/") if segment]
    if len(segments) >= 5 and segments[2:4] == ["refs", "heads"]:
        segments = segments[:2] + segments[4:]
    if len(segments) < 4:
        return None
    return (segments[0].lower(), segments[1].lower()), "/".join(segments[3:])


def _imageUrlProblems(url: str, tag: str, fileTag: str, root: Path, repository: tuple[str, str] | None) -> list[str]:
    """An image URL: starts with http, has an image extension; a raw URL of this repository names an image file."""
    if not url.startswith("http"):
        return [f"[{tag}] {url!r} must be a URL starting with 'http'"]
    suffix = Path(urllib.parse.urlsplit(url).path).suffix.lower()
    if suffix not in IMAGE_SUFFIXES:
        return [f"[{tag}] {url!r} does not end with an image file extension {IMAGE_SUFFIXES}"]
    raw = _rawGitHubPath(url)
    if raw is None or repository is None:
        return []
    rawRepository, relativePath = raw
    if rawRepository != repository:
        return [f"[{tag}] {url!r} points into {'/'.join(rawRepository)}, not into the repository of "
                f"EXTENSION_HOMEPAGE ({'/'.join(repository)})"]
    path = root / relativePath
    if not path.is_file():
        return [f"[{fileTag}] {url!r} names {relativePath}, which is missing in this checkout"]
    with path.open("rb") as stream:
        head = stream.read(16)
    if not head.startswith(IMAGE_SIGNATURES[suffix]):
        return [f"[{fileTag}] {relativePath} is not a {suffix[1:].upper()} image"]
    return []


def cmakeProblems(extensionName: str, text: str, root: Path, metadata: dict | None = None) -> list[str]:
    """Rules on the top-level CMakeLists.txt text, and its consistency with the description's metadata."""
    problems = []
    names = PROJECT_PATTERN.findall(text) or EXTENSION_NAME_PATTERN.findall(text)
    if not names:
        problems.append("[cmake-project] no project() declaration in CMakeLists.txt")
    elif names[0].strip("\"'") != extensionName:
        problems.append(f"[cmake-project] the first project() name {names[0].strip(chr(34) + chr(39))!r} is not "
                        f"the extension name {extensionName!r} (the description file name)")

    homepage = (cmakeSetArguments(text, "EXTENSION_HOMEPAGE") or [""])[0]
    repository = _ownerAndRepository(homepage) if homepage else None
    if not homepage:
        problems.append("[repository-name] EXTENSION_HOMEPAGE is not set")
    elif repository is not None:
        problems += _repositoryNameProblems(homepage, "EXTENSION_HOMEPAGE")

    icon = ICON_URL_PATTERN.findall(text)
    if not icon:
        problems.append('[iconurl] no EXTENSION_ICONURL the index can read: write set(EXTENSION_ICONURL "<url>") '
                        "on one line")
    else:
        problems += _imageUrlProblems(icon[0].strip(), "iconurl", "iconurl", root, repository)

    screenshots = SCREENSHOT_URLS_PATTERN.findall(text)
    urls = screenshots[0].split() if screenshots else []
    if not urls:
        problems.append('[screenshoturls] no EXTENSION_SCREENSHOTURLS the index can read: write '
                        'set(EXTENSION_SCREENSHOTURLS "<url> <url> ...") with at least one URL and ")" right after '
                        "the closing quote")
    for url in urls:
        problems += _imageUrlProblems(url, "screenshoturls", "screenshot-file", root, repository)

    if metadata is None or not isinstance(metadata, dict):
        return problems
    category = cmakeSetArguments(text, "EXTENSION_CATEGORY")
    if category is None or " ".join(category) != metadata.get("category"):
        problems.append(f"[consistency] EXTENSION_CATEGORY {category and ' '.join(category)!r} is not the "
                        f"description's category {metadata.get('category')!r}")
    depends = cmakeSetArguments(text, "EXTENSION_DEPENDS") or []
    depends = {name for value in depends for name in re.split(r"[\s;]+", value) if name and name != "NA"}
    dependencies = metadata.get("build_dependencies", [])
    if isinstance(dependencies, list) and depends != {name for name in dependencies if isinstance(name, str)}:
        problems.append(f"[consistency] EXTENSION_DEPENDS {sorted(depends)} is not the description's "
                        f"build_dependencies {sorted(dependencies, key=str)}")
    scmUrl = metadata.get("scm_url")
    scmRepository = _ownerAndRepository(scmUrl) if isinstance(scmUrl, str) else None
    if repository is not None and scmRepository is not None and repository != scmRepository:
        problems.append(f"[consistency] scm_url {scmUrl!r} and EXTENSION_HOMEPAGE {homepage!r} name different "
                        "repositories")
    return problems


# -- the repository -------------------------------------------------------------------------------------------------


def licenseProblems(root: Path) -> list[str]:
    if any((root / name).is_file() for name in LICENSE_FILE_NAMES):
        return []
    return [f"[license] no license file at the repository root (one of {', '.join(LICENSE_FILE_NAMES)})"]


def repositorySizeProblems(root: Path, limitMB: float = REPOSITORY_SIZE_LIMIT_MB) -> list[str]:
    """Estimated size of a fresh clone (tracked files + the pack a clone receives) against the index's limit.

    The objects are measured as git packs them for a clone (every object reachable from a ref, delta-compressed),
    not as this checkout happens to store them: loose objects, a copied .git or extra packs would count some objects
    twice or undeltified, so the same history could pass in one checkout and fail in another.
    Nothing is checked outside a git work tree or without git.
    """
    if not (root / ".git").exists():
        return []
    try:
        def git(*arguments):
            return subprocess.run(["git", "-C", str(root), *arguments], capture_output=True, check=True,
                                  stdin=subprocess.DEVNULL, timeout=300).stdout
        tracked = git("ls-files", "-z").split(b"\0")
        packed = len(git("pack-objects", "--revs", "--all", "--stdout", "-q"))
    except (OSError, subprocess.SubprocessError):
        return []
    files = (root / name.decode("utf-8", "surrogateescape") for name in tracked if name)
    size = sum(path.stat().st_size for path in files if path.is_file()) + packed
    if size > limitMB * 1024 * 1024:
        return [f"[size] a clone would be about {size / 2**20:.1f} MB (tracked files and the packed history), over "
                f"the index's limit of {limitMB:g} MB"]
    return []


def findDescriptionFile(root: Path) -> Path | None:
    """The one ``*.json`` file under Resources/ExtensionsIndex, or None."""
    files = sorted((root / DESCRIPTION_FOLDER).glob("*.json"))
    return files[0] if len(files) == 1 else None


def checkRepository(root: Path = ROOT, description: Path | None = None) -> list[str]:
    """Every problem the index's rules find in the checkout at ``root`` with the description file ``description``
    (default: the one under Resources/ExtensionsIndex). An empty list means the checks pass."""
    root = Path(root)
    description = Path(description) if description is not None else findDescriptionFile(root)
    if description is None or not description.is_file():
        return [f"[json] no description file: expected exactly one <ExtensionName>.json in {DESCRIPTION_FOLDER}"]
    extensionName = description.stem
    metadata, problems = descriptionFileProblems(description)
    if metadata is not None:
        problems += descriptionProblems(extensionName, metadata)
    cmakeFile = root / "CMakeLists.txt"
    if cmakeFile.is_file():
        problems += cmakeProblems(extensionName, cmakeFile.read_text(encoding="utf-8", errors="ignore"), root,
                                  metadata)
    else:
        problems.append("[cmake-project] no CMakeLists.txt at the repository root")
    problems += licenseProblems(root)
    problems += repositorySizeProblems(root)
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, default=ROOT, help="repository checkout (default: this one)")
    parser.add_argument("--description", type=Path, help=f"description file (default: the one in {DESCRIPTION_FOLDER})")
    arguments = parser.parse_args(argv)
    problems = checkRepository(arguments.root, arguments.description)
    for problem in problems:
        print(problem)
    if problems:
        print(f"{len(problems)} problem(s) with the Extensions Index rules ({CHECKER_SOURCE})")
        return 1
    print(f"Passes the offline Extensions Index checks (rules of Slicer/ExtensionsIndex@{INDEX_COMMIT[:8]}); "
          "not checked offline: the '3d-slicer-extension' GitHub topic and the image URLs' Content-Type")
    return 0


if __name__ == "__main__":
    sys.exit(main())
