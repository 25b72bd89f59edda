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
    "AngioLeft-view1.dcm": "88808c0eb430a208edb6f5d2e326ed91532e63d4d1afc2f02e1239f5ad646bf8",
    "AngioLeft-view2.dcm": "7801dfbc6a514d87751b6de5fe302d32d70dd4c8c0a82ed270fb620e45486fe5",
    "AngioRight-view1.dcm": "f4a0a47e6c9f210d7c6ee9649bbc14e278daeee0eaa12b46b325d693908b8178",
    "AngioRight-view2.dcm": "6ca33a951085565829ef8baf9af590b9e7be5edf02c8986ebbbb50061105523d",
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
