"""FemurRegistration's bundled sample cases: names, files and checksums (standard library only: read while Slicer
starts).

Three synthetic hips as DICOM DX radiographs (512 x 512, 0.4 mm pixels, 0.6 mm for the hip-centred one, all
geometry attributes, ImageLaterality):
``FemurOrthogonal`` (right femur, AP 0 deg + lateral -90 deg), ``FemurOblique`` (left femur, -15 deg and +110 deg)
and ``FemurHipCentred`` (right femur, AP 0 deg + lateral -90 deg, the femoral head on the central ray as a
hip-centred radiograph is taken; the other two leave it 51 and 58 mm off, where the phantoms put it); beside each, the
true femur masks, a reference segmentation and the true hip measurements. The development package writes them
(``python -m FemurRegistrationDev.samples``).
"""

from __future__ import annotations

from pathlib import Path

SAMPLE_DIRECTORY = Path(__file__).resolve().parents[1] / "Resources" / "SampleData"
#: Sample case -> the side of its femur.
SAMPLES = {"FemurOrthogonal": "right", "FemurOblique": "left", "FemurHipCentred": "right"}
#: SHA-256 of the bundled sample files (checked by the tests and by Slicer's SampleData module).
SAMPLE_SHA256 = {
    "FemurOrthogonal-ap.dcm": "eeb111554893cf81410117ebb41ebef1694d84395299dc85aeedbd58e81916c8",
    "FemurOrthogonal-ap-mask.png": "3639667e7a9a70cd863a8df397a6e9cd7c2f3d1322d2a702f97a067a39293134",
    "FemurOrthogonal-lat.dcm": "76ac046a73dd70b60c62205640b94f355dbaf4143d32f9174d9623b416677dc8",
    "FemurOrthogonal-lat-mask.png": "0435f270c94896fbf13e49c1568f3788350b7c446ec5f0345a31fb767005da55",
    "FemurOrthogonal-reference.seg.nrrd": "e0d5616866001b3dafa799f7168b1fe02f13e1f6cab47e0b25d0cbd356c5f4c5",
    "FemurOrthogonal-truth.json": "fa7e26b321d1aa7e74165a4195e3f8f511cd9b2628f21a9811fb0bdec47bcd12",
    "FemurOblique-ap.dcm": "6a2237a4757e8cdb1eaf9cda6dad6f44ec6e0c29f9abbf59a8ecd1f9b6f4d1a3",
    "FemurOblique-ap-mask.png": "d4defcbe8108f0ba6a2c2c6335c95f56cc02da7dd42917e5b07e477712f75cfd",
    "FemurOblique-lat.dcm": "5f9691615d37c500922cc9b617d8fb80c17391ed45fdc5136ebbc33f6e82245c",
    "FemurOblique-lat-mask.png": "ecfcabc59cda3f95b516310404060f28041bbc0bf7fdb8603b33a1cac916b50f",
    "FemurOblique-reference.seg.nrrd": "e10e33a426ae1ff68b09e3896816d056b4e603f4c2836f9250d01a320e32176e",
    "FemurOblique-truth.json": "82aa075ff00fcb329ed406d9f331d83873a2d79c5b17522c4dc1d28dcf739979",
    "FemurHipCentred-ap.dcm": "4712cf56236aa4bc5f0bf52dddb31ab6d867ca371ab96e0f1224cc8098da1d3b",
    "FemurHipCentred-ap-mask.png": "320b4d14ef29792b5d2d9000998e15d8cc826ab1c962d17b6ab81d2614264f12",
    "FemurHipCentred-lat.dcm": "0f78435eb7eb5e7991e9e6374361810ad0c3ae1282547c707988942285e67192",
    "FemurHipCentred-lat-mask.png": "59b1bd54dd928904ac0c4483ecf5de6b96f64cd4b04d98e236833c723511acb2",
    "FemurHipCentred-reference.seg.nrrd": "158c0e8522cbd24483ee2d510514355354c82812f9917405ac42468b117b13ee",
    "FemurHipCentred-truth.json": "ac41514b30c858a7ddeec28a24fb41daf1f3a5d05e529042fa6b7258954677c0",
}


def sampleFiles(name: str, directory: Path = SAMPLE_DIRECTORY) -> dict[str, Path]:
    """The files of one sample case: ``ap``, ``lat`` (DICOM DX), ``apMask``, ``latMask`` (true femur masks),
    ``reference`` (reference femur segmentation), ``truth`` (true hip measurements)."""
    return {"ap": directory / f"{name}-ap.dcm", "lat": directory / f"{name}-lat.dcm",
            "apMask": directory / f"{name}-ap-mask.png", "latMask": directory / f"{name}-lat-mask.png",
            "reference": directory / f"{name}-reference.seg.nrrd", "truth": directory / f"{name}-truth.json"}


def sampleDataSources() -> list[dict]:
    """Slicer SampleData sources (``registerCustomSampleDataSource`` arguments other than category, URIs and
    thumbnail): both radiographs and the reference segmentation of each case."""
    sources = []
    for name, side in SAMPLES.items():
        fileNames = [f"{name}-ap.dcm", f"{name}-lat.dcm", f"{name}-reference.seg.nrrd"]
        sources.append({"sampleName": name, "fileNames": fileNames,
                        "nodeNames": [f"{name} {side} AP", f"{name} {side} lateral", f"{name} reference femur"],
                        "checksums": [f"SHA256:{SAMPLE_SHA256[fileName]}" for fileName in fileNames],
                        "loadFileTypes": ["VolumeFile", "VolumeFile", "SegmentationFile"]})
    return sources
