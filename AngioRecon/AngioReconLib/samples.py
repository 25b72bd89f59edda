"""AngioRecon's bundled sample cases: names, files and checksums (standard library only: read while Slicer starts).

Two synthetic patients as multi-frame DICOM XA files, with the true vessel masks of the fully opacified frame
(PNG) and the true 3D label (``.nrrd``, the network's cube). The development package writes them
(``python -m AngioReconDev.samples``).
"""

from __future__ import annotations

from pathlib import Path

SAMPLE_DIRECTORY = Path(__file__).resolve().parents[1] / "Resources" / "SampleData"
#: Sample case -> the coronary tree its views show.
SAMPLES = {"AngioLeft": "left", "AngioRight": "right"}
#: SHA-256 of the bundled sample files (checked by the tests and by Slicer's SampleData module).
SAMPLE_SHA256 = {
    "AngioLeft-view1.dcm": "15c26c17398ac5cba0ea69890d4e64e0921eaa29605de50824cec5f6f6d96084",
    "AngioLeft-view2.dcm": "863c1afcc3e777569e4c2101ad1f8002494c04491192668f03565dbe8ce0849a",
    "AngioRight-view1.dcm": "6dc453546e5e61a6bc547bb0db1ec537635a44d2813b97190eb227a5313a2696",
    "AngioRight-view2.dcm": "3cde5fc846c882868fba86ac20791dc83d55724b60f390a60aca5d2f2e740219",
}


def sampleFiles(name: str, directory: Path = SAMPLE_DIRECTORY) -> dict[str, Path]:
    """The files of one sample case: ``view1``, ``view2`` (DICOM XA), ``mask1``, ``mask2`` (true vessel masks),
    ``label`` (true 3D label)."""
    return {"view1": directory / f"{name}-view1.dcm", "view2": directory / f"{name}-view2.dcm",
            "mask1": directory / f"{name}-view1-mask.png", "mask2": directory / f"{name}-view2-mask.png",
            "label": directory / f"{name}-label.nrrd"}


def sampleDataSources() -> list[dict]:
    """Slicer SampleData sources (``registerCustomSampleDataSource`` arguments other than category, URIs and
    thumbnail): both views of each case."""
    sources = []
    for name, tree in SAMPLES.items():
        fileNames = [f"{name}-view1.dcm", f"{name}-view2.dcm"]
        sources.append({"sampleName": name, "fileNames": fileNames,
                        "nodeNames": [f"{name} {tree} view 1", f"{name} {tree} view 2"],
                        "loadFileTypes": ["VolumeFile", "VolumeFile"],  # not the DICOM importer (no node)
                        "checksums": [f"SHA256:{SAMPLE_SHA256[fileName]}" for fileName in fileNames]})
    return sources
