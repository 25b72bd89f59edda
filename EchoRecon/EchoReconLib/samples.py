"""EchoRecon's bundled sample patients: names, files and checksums (standard library only: read while Slicer starts).

Two synthetic patients, **EchoNormal** (EDV 120 mL, EF 60 %) and **EchoDilated** (dilated cardiomyopathy, EDV 250 mL,
EF 25 %), as PNG views with JSON sidecars (view, phase, pixel spacing, true volumes) at end-diastole and
end-systole; and **EchoNormalCine**, the EchoNormal patient as a scanner stores a study: one DICOM Ultrasound
Multi-frame file per view, a cardiac cycle each (its end-diastolic and end-systolic frames are found by the run,
:mod:`~.cinephases`; the true frames and volumes are in ``EchoNormalCine.json``). The development package writes
them (``python -m EchoReconDev.samples``).
"""

from __future__ import annotations

from pathlib import Path

from .conventions import PHASES, VIEWS

SAMPLE_DIRECTORY = Path(__file__).resolve().parents[1] / "Resources" / "SampleData"
SAMPLE_PATIENTS = ("EchoNormal", "EchoDilated")
#: Sample cine case -> the sample patient its cines show.
SAMPLE_CINES = {"EchoNormalCine": "EchoNormal"}
#: SHA-256 of the bundled sample files (checked by the tests and by Slicer's SampleData module).
SAMPLE_SHA256 = {
    "EchoDilated_ED_A2C.json": "aeed0a0ffbcaccf620457d5c7fdd2eaae92f5d2bd6c7d67ff7656e33ce1c6a9a",
    "EchoDilated_ED_A2C.png": "4fb3b52721a29555965e27adccbc3698b8542f14c53556a93c5943fd14893308",
    "EchoDilated_ED_A3C.json": "7c01439559fa9a8a320bc7705fb5e019af51f91cd0d9b7ab5f1cfc68aca17fee",
    "EchoDilated_ED_A3C.png": "382528b1a6d0c0796e6ef80c82b97f3549faa3df26a9ac53acbf21a4d494b9f8",
    "EchoDilated_ED_A4C.json": "3d48b86abc34241792823400fbde9048b3ba4e82f26a2d93149623db2dbdbbe1",
    "EchoDilated_ED_A4C.png": "d9505bf9086ad016071c883676c76484bf82c74463e4106e641914ff31462a8d",
    "EchoDilated_ED_SAXA.json": "b87f848726a6d1e4e651e7ebdf2ad6acd5b8300f18ce174f34a9aab094ea2951",
    "EchoDilated_ED_SAXA.png": "782df4542747f699caa33feebca2b8e62e8660c4ad6cb8153bf6a827f5346712",
    "EchoDilated_ED_SAXB.json": "e8f34caa30c41a6ca5dc087a2cd193bff285eb77b9951ba8424ede0bbd615855",
    "EchoDilated_ED_SAXB.png": "4a453640ca7975d0e374c66c8dcde4c39f160f5ab7ac568da6d5936780e292f8",
    "EchoDilated_ED_SAXM.json": "cb6e399a7cac48ea00d7ded651f3d7856fb1d0299576483c3f81913ec078f84f",
    "EchoDilated_ED_SAXM.png": "44e366d7b23738e464875f99aa72e218069fefb0981151d6f555ccd6965b5977",
    "EchoDilated_ES_A2C.json": "02a48288ce37ddd2a6bf8b461e8181739abf053fa713bfa670c04148934005dc",
    "EchoDilated_ES_A2C.png": "c1688db0d67554dedbc7bffbbaf3a6abb2f92170ab6b625c2d366a6a17f55ac4",
    "EchoDilated_ES_A3C.json": "bc249dd12e0a2f42b20af52adcbe1f01a085b0ce9cbd3502f976b9c398bc4cb9",
    "EchoDilated_ES_A3C.png": "9664be5e8c1ced8934ad6844d081f11b27b1a4ac3d78c42b56c1ac42fd073372",
    "EchoDilated_ES_A4C.json": "e1726d622a5af8b16d25d3e70fbec3dcc3370e7905d260abd1428d5459719731",
    "EchoDilated_ES_A4C.png": "1e461693677236ad0ef1266095dcccb1c80b2b69b97e008633696931627f2a7f",
    "EchoDilated_ES_SAXA.json": "ff4a7797657bf1cad6d16333d26d2ff62ad79bda76b5af8fd90ea6243888fc5d",
    "EchoDilated_ES_SAXA.png": "831751f2e4d5e039ba396faec22790eed4482fa60ea6aad0ea2305b2aee0c586",
    "EchoDilated_ES_SAXB.json": "907b74a6b7f9676718f87f78cfab2c48e22e35644d1fcb4d237187f0bcbc9bb5",
    "EchoDilated_ES_SAXB.png": "75e89871346b15d4ec745359026d37cf1f9d0ca5f02f803ddabcd7774fadd7ad",
    "EchoDilated_ES_SAXM.json": "215798274f15e04742119daa23c1054bdcc790d1d716f1eb45fcdcc8e5e70306",
    "EchoDilated_ES_SAXM.png": "d3bdf93d4fba0771db38d1c3e8ac0c98a414e6a861fba653106c848a300b16d0",
    "EchoNormalCine.json": "5fd35f97525cf15242963d046484aaafb71a86a250651baabd8c0bc27032236e",
    "EchoNormalCine_A2C.dcm": "2512e95aaf55347dda39da51ec9710f3945ef48a2cbb2709eaa75d5072ff3c4d",
    "EchoNormalCine_A3C.dcm": "aff8a2f26584c34c0461c8feab3b08bfd1ad4aeec75b0b253a0de4297069ef33",
    "EchoNormalCine_A4C.dcm": "d287573c128163d998740ba3fe8b0c9a16426c9f4775ce89f87a8693321246aa",
    "EchoNormalCine_SAXA.dcm": "eb3e461afe33e44f2888421c6d43e71a7b6238be0bd9652503da6ddf701c2874",
    "EchoNormalCine_SAXB.dcm": "2af4f67e7711a685ccd21863566946687db78473d2a82c6a9902762372cabe30",
    "EchoNormalCine_SAXM.dcm": "b75b499762eb140af3ad4e5f277d438129050b33399395a3505f5c8fda363e72",
    "EchoNormal_ED_A2C.json": "53ebd037730c25e7d3b5a950b3bfa164ea1aa0186f8274bedb75e5e221aba520",
    "EchoNormal_ED_A2C.png": "c479d4ca80ef323b30bbbc1c75e9e4e1a81018534b5b7f38e4adfddc0d79cf8d",
    "EchoNormal_ED_A3C.json": "fec0104d10ab9e9603eda4cda0f2a398073e896050f923f1e6cafd111408e878",
    "EchoNormal_ED_A3C.png": "3fbe5c204ffd8c3a38e68c0d72780a2560281526988ec2ccb281adef4a25b512",
    "EchoNormal_ED_A4C.json": "2c054a6230e8e387c0f8efd1773885895ced0c4666af92283b33153d2b3a4082",
    "EchoNormal_ED_A4C.png": "f273d8e9e442b60caead2ad98383eb27bbac29d2b5e1d29a74364fc81a19a5ae",
    "EchoNormal_ED_SAXA.json": "0142bf1f0c288fcd631da2e3089f39e21756bb1710c0ed1a67c0036d11604b8b",
    "EchoNormal_ED_SAXA.png": "1c17609693e035f1f8222755ca5ab6be81d9d2a93af79d91bffb837e146c6e08",
    "EchoNormal_ED_SAXB.json": "5aef09d0b9366c51af693758236ab569bb9e4f75e86228612abeacd68e02e661",
    "EchoNormal_ED_SAXB.png": "d3d8b276e3de1931f4da0fa79fc9f1ba058bb452549df8c56850afb7025d49de",
    "EchoNormal_ED_SAXM.json": "67cb6c1f37bbcf8762032ebcf7f29fb5127d440961d74aae671ffb474d4779d6",
    "EchoNormal_ED_SAXM.png": "bc44fc9ad72405c854cb039e5c8588b28b80e406e8ef1d22f4ec0369d5fdf558",
    "EchoNormal_ES_A2C.json": "c53ca34462b9506eb35fe98c15bca691aa58b708fba017d80a419c6cf8b3c549",
    "EchoNormal_ES_A2C.png": "7d33e057790706cd75da2660414d5b30ed962328e6a50ad4c1c106bca1d232a2",
    "EchoNormal_ES_A3C.json": "0c6c3d8b07c8846fa7592f65a25cc78e4873be0d1e562da495645878f1f9b4f1",
    "EchoNormal_ES_A3C.png": "041a65639cd4724e21635083e190dd5833289e28b16c28b27ea8824e7c6a1b94",
    "EchoNormal_ES_A4C.json": "8caf9d03d821d76fb874c7092cff6913c25b5e894071d7e22d46ef256ec278a5",
    "EchoNormal_ES_A4C.png": "dbbc5a7e8d22fd60647fdb5ecb8e44d20173b445534acef132ed55d6bed1e1d9",
    "EchoNormal_ES_SAXA.json": "1aeef7fabade34e291237be1175a0f1ffcfde57b306ce1245a43720ad0e71271",
    "EchoNormal_ES_SAXA.png": "e37403f3eac612a9464c43e3ad78048ae525c81ee2a2ee0e1ed7b40569fff944",
    "EchoNormal_ES_SAXB.json": "b8dcd5ff89e94be1a235e7f85d64838e2a83a1f3bb68e992465c07014e14c4c8",
    "EchoNormal_ES_SAXB.png": "1e102bb4775d8c8837092beb0ad18547d35e5d4bcf7a3f8b5fcabc48dece4c8e",
    "EchoNormal_ES_SAXM.json": "4a43d08857ecd054c7cfb631aacf1e53424924c7b2ffded32b90de76daacfd46",
    "EchoNormal_ES_SAXM.png": "01ec1d7a2ed7a298d8395c7f2f7755ed9949330190aede3c62cce51e055e256c",
}


def sampleFiles(patient: str, directory: Path = SAMPLE_DIRECTORY) -> dict[str, dict[str, Path]]:
    """{phase: {view: PNG path}} of one sample patient (each PNG's JSON sidecar lies beside it)."""
    return {phase: {view: directory / f"{patient}_{phase}_{view}.png" for view in VIEWS} for phase in PHASES}


def cineFiles(case: str, directory: Path = SAMPLE_DIRECTORY) -> dict[str, Path]:
    """{view: DICOM US cine} of one sample cine case (its ground truth: :func:`cineTruthFile`)."""
    return {view: directory / f"{case}_{view}.dcm" for view in VIEWS}


def cineTruthFile(case: str, directory: Path = SAMPLE_DIRECTORY) -> Path:
    """The JSON of a sample cine case: ``PatientID``, ``NumberOfFrames``, ``GroundTruth`` (LV EDV, ESV, EF, LV mass,
    the true end-diastolic and end-systolic frames ``edFrame``, ``esFrame``, zero-based)."""
    return directory / f"{case}.json"


def sampleDataSources() -> list[dict]:
    """Slicer SampleData sources (``registerCustomSampleDataSource`` arguments other than category, URIs and
    thumbnail): the twelve images of each patient, their sidecars downloaded beside them first; the six cines of
    each cine case, each loaded as a volume of its frames (the volume reader, not the DICOM importer)."""
    sources = []
    for patient in SAMPLE_PATIENTS:
        images = [path for views in sampleFiles(patient).values() for path in views.values()]
        files = [path.with_suffix(".json") for path in images] + images
        sources.append({"sampleName": patient, "fileNames": [path.name for path in files],
                        "nodeNames": [None] * len(images) + [path.stem.replace("_", " ") for path in images],
                        "checksums": [f"SHA256:{SAMPLE_SHA256[path.name]}" for path in files],
                        "loadFiles": [False] * len(images) + [True] * len(images),
                        "loadFileTypes": [None] * len(images) + ["VolumeFile"] * len(images)})
    for case in SAMPLE_CINES:
        cines = list(cineFiles(case).values())
        sources.append({"sampleName": case, "fileNames": [path.name for path in cines],
                        "nodeNames": [path.stem.replace("_", " ") for path in cines],
                        "checksums": [f"SHA256:{SAMPLE_SHA256[path.name]}" for path in cines],
                        "loadFileTypes": ["VolumeFile"] * len(cines)})
    return sources
