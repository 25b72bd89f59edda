"""FemurRegistration's plausibility gates and resolution independence (no torch: runs in both passes).

Input gates on the femur masks (sizes in mm at the isocenter, bone contrast, outline on bone edges, agreement of the
two views), output gates on the readouts, the laterality read from DICOM and sidecars, and the network's inputs
(virtual detector images, masks, mask proposals) at 256 to 2048 pixels across the same field.
"""

import dataclasses
import json
import re

import numpy as np
import pytest
from scipy.ndimage import map_coordinates

from femurhelpers import ISOCENTER
from FemurRegistrationLib import checks, proposal, radiographs
from FemurRegistrationLib.samples import SAMPLES, sampleFiles
from ReconCoreLib.plausibility import ImplausibleResult, keepingImplausible
from ReconCoreLib.readouts import Readouts
from ReconCoreLib.xrayio import XrayImage, readMaskImage, readXrayImage

#: The samples' mask figures (mm at the isocenter; measured once, rounded): shaft width, proximal width, height.
SAMPLE_FIGURES = {("FemurOrthogonal", "ap"): (27.4, 82.9, 152.1), ("FemurOrthogonal", "lat"): (25.2, 44.4, 152.1),
                  ("FemurOblique", "ap"): (28.1, 72.2, 161.3), ("FemurOblique", "lat"): (28.1, 52.2, 163.9),
                  ("FemurHipCentred", "ap"): (32.7, 99.9, 161.5), ("FemurHipCentred", "lat"): (30.0, 52.2, 152.6)}
#: Height ratio of the two views' masks: the hip-centred sample's field edge cuts the shaft, which runs at another
#: angle in each view (measured 1.058; the others see the whole phantom, 1.00-1.02).
HEIGHT_RATIO_MAX = {"FemurOrthogonal": 1.02, "FemurOblique": 1.02, "FemurHipCentred": 1.07}


def sampleCase(name):
    files = sampleFiles(name)
    views = [readXrayImage(files[key]) for key in ("ap", "lat")]
    masks = [readMaskImage(files[key]) > 0 for key in ("apMask", "latMask")]
    return views, masks, radiographs.resolveSide(None, [files["ap"]])


def withSpacing(view, factor):
    """The same pixels with the pixel spacing multiplied by ``factor`` (a wrong ImagerPixelSpacing)."""
    spacing = tuple(value * factor for value in view.geometry.pixelSpacingMm)
    return XrayImage(view.pixels, dataclasses.replace(view.geometry, pixelSpacingMm=spacing), view.sourcePath)


@pytest.mark.parametrize("name", list(SAMPLES))
def test_samples_pass_every_input_gate(name):
    views, masks, side = sampleCase(name)
    networkViews, _, _ = radiographs.prepareInputs(*views, *masks, side)
    figures = checks.checkMasks(networkViews)
    for key, measured in zip(("ap", "lat"), figures):
        shaft, proximal, height = SAMPLE_FIGURES[(name, key)]
        assert measured.shaftWidthMm == pytest.approx(shaft, abs=0.3)
        assert measured.proximalWidthMm == pytest.approx(proximal, abs=0.3)
        assert measured.heightMm == pytest.approx(height, abs=0.5)
        assert measured.boneContrast > 4 * checks.MIN_BONE_CONTRAST and measured.outlineOnEdges > 0.99
    limit = checks.heightAgreementLimit([view.geometry for view in views])
    assert checks.heightRatio(*figures) < HEIGHT_RATIO_MAX[name] < limit
    assert checks.heightAgreementLimit([views[0].geometry]) == pytest.approx(989 / 861 + 0.05, abs=1e-3)
    assert figures[0].proximalWidthMm / figures[1].proximalWidthMm > 1.3


@pytest.mark.parametrize("name", list(SAMPLES))
def test_swapped_masks_are_refused(name):
    views, masks, side = sampleCase(name)
    with pytest.raises(ImplausibleResult, match=r"outline_on_edges\) = 0.[678]"):
        radiographs.prepareInputs(*views, masks[1], masks[0], side)
    readouts = Readouts("FemurRegistration")
    with keepingImplausible():
        radiographs.prepareInputs(*views, masks[1], masks[0], side, readouts=readouts)
    assert any(re.search(r"proximal_width_ratio\) = 0.[57]", message) for message in readouts.failedChecks)


def test_a_pixel_spacing_off_by_two_is_refused():
    views, masks, side = sampleCase("FemurOrthogonal")
    with pytest.raises(ImplausibleResult, match=r"lateral femur mask .*\(shaft_width_mm\) = 50.\d mm is outside the "
                                                r"plausible range \[20, 40\] mm"):
        radiographs.prepareInputs(views[0], withSpacing(views[1], 2.0), *masks, side)
    with pytest.raises(ImplausibleResult, match=r"shaft_width_mm\) = 1[234](\.\d)? mm"):
        radiographs.prepareInputs(withSpacing(views[0], 0.5), withSpacing(views[1], 0.5), *masks, side)
    # Spacing doubled in both views: the views agree, the femur is twice an adult's.
    with pytest.raises(ImplausibleResult, match="shaft_width_mm"):
        radiographs.prepareInputs(withSpacing(views[0], 2.0), withSpacing(views[1], 2.0), *masks, side)


def test_height_agreement_between_the_views():
    views, masks, _ = sampleCase("FemurOrthogonal")
    figures = [checks.maskFigures(view.pixels, mask, view.geometry) for view, mask in zip(views, masks)]
    doubled = checks.maskFigures(views[1].pixels, masks[1], withSpacing(views[1], 2.0).geometry)
    # Within the field both see (the AP view's +-94.7 mm), the doubled view's femur is 189 mm high, the AP's 152 mm.
    assert checks.heightRatio(figures[0], doubled) == pytest.approx(189.4 / 152.1, abs=0.01)
    assert checks.heightRatio(figures[0], doubled) > checks.heightAgreementLimit([views[0].geometry])
    shortened = masks[1].copy()
    shortened[300:] = False  # the lateral mask stops 40 mm below the central ray
    with pytest.raises(ImplausibleResult, match="height_ratio"):
        checks.checkMasks([radiographs.workingView(view, mask, name) for view, mask, name in
                                       zip(views, (masks[0], shortened), ("AP", "lateral"))])


def test_a_mask_of_a_dark_region_is_refused_even_when_keeping():
    views, masks, side = sampleCase("FemurOrthogonal")
    dark = np.zeros_like(masks[0])
    dark[150:400, 20:40] = True  # air beside the body, inside the virtual detector's field
    with keepingImplausible(), pytest.raises(ImplausibleResult, match=r"AP femur mask on .*\(bone_contrast\) = \S+ is "
                                                                 r"outside the plausible range >= 0.03"):
        radiographs.prepareInputs(views[0], views[1], dark, masks[1], side, readouts=Readouts("FemurRegistration"))


def test_shifted_mask_fails_the_outline_gate_and_keeping_records_it():
    views, masks, side = sampleCase("FemurOrthogonal")
    shifted = np.roll(masks[0], 27, axis=1)  # 10 mm to the side
    with pytest.raises(ImplausibleResult, match=r"outline_on_edges\) = 0.5"):
        radiographs.prepareInputs(views[0], views[1], shifted, masks[1], side)
    readouts = Readouts("FemurRegistration")
    with keepingImplausible():
        radiographs.prepareInputs(views[0], views[1], shifted, masks[1], side, readouts=readouts)
    assert len(readouts.failedChecks) == 1 and "outline_on_edges" in readouts.failedChecks[0]


def test_output_gates():
    readouts = Readouts("FemurRegistration")
    sample = {"head_diameter_mm": 45.9, "neck_shaft_angle_deg": 125.5, "femur_volume_mm3": 179597.0,
              "ncc_ap": 0.168, "ncc_lat": 0.463}  # the bundled model on the samples (the lowest of each)
    for key, value in sample.items():
        readouts.set(key, value)
    checks.gateResult(readouts)
    assert readouts.failedChecks == []
    for key, value, fragment in (("head_diameter_mm", 70.0, r"\[35, 60\] mm"),
                                 ("neck_shaft_angle_deg", 95.0, r"\[100, 160\] deg"),
                                 ("femur_volume_mm3", 60000.0, r"\[90000, 350000\] mm3"),
                                 ("ncc_lat", -0.25, r"\[-0.05, 1\]")):
        bad = Readouts("FemurRegistration")
        for name, number in {**sample, key: value}.items():
            bad.set(name, number)
        with pytest.raises(ImplausibleResult, match=rf"{key}\) = .* is outside the plausible range {fragment}"):
            checks.gateResult(bad)
        with keepingImplausible():
            checks.gateResult(bad)
        assert len(bad.failedChecks) == 1 and key in bad.failedChecks[0]


def test_laterality_values(tmp_path):
    import pydicom

    from ReconCoreLib.xraygeometry import CArmGeometry
    from ReconCoreLib.xrayio import writeXrayDicom

    geometry = CArmGeometry(0.0, 0.0, 1000.0, 925.0, (0.4, 0.4), 16, 16)
    path = writeXrayDicom(tmp_path / "view.dcm", np.arange(256.0).reshape(16, 16), geometry, "DX", uidSeed="x")
    expected = {"L": "left", "R": "right", "U": None, "B": None, "": None}
    for value, side in expected.items():
        dataset = pydicom.dcmread(path)
        dataset.ImageLaterality = value
        dataset.save_as(path)
        assert radiographs.lateralityOfFile(path) == side, value
    dataset.ImageLaterality = ["L", "R"]
    dataset.save_as(path)
    with pytest.raises(ValueError, match="ImageLaterality must have one value, got 2") as error:
        radiographs.lateralityOfFile(path)
    assert "\n" not in str(error.value)
    dataset.ImageLaterality = "X"
    dataset.save_as(path)
    with pytest.raises(ValueError, match="ImageLaterality is 'X'; expected R, L, U or B"):
        radiographs.lateralityOfFile(path)
    image = tmp_path / "view.nrrd"
    image.write_bytes(b"")
    for value in (True, 1, ["L"]):
        (tmp_path / "view.json").write_text(json.dumps({"ImageLaterality": value}))
        with pytest.raises(ValueError, match=f"ImageLaterality must be the text \"L\" or \"R\", got "
                                             f"{json.dumps(value).replace('[', '.')}"):
            radiographs.lateralityOfFile(image)


# -- resolution independence ---------------------------------------------------------------------------------


def resized(view, mask, size):
    """The same field at ``size`` x ``size`` pixels: block means below the original size, bilinear above (masks
    repeated)."""
    count = view.geometry.rows
    if size < count:
        factor = count // size
        pixels = view.pixels.reshape(size, factor, size, factor).mean(axis=(1, 3))
        mask = mask.reshape(size, factor, size, factor).mean(axis=(1, 3)) >= 0.5
    elif size > count:
        factor = size // count
        centres = (np.arange(size) + 0.5) / factor - 0.5
        rows, columns = np.meshgrid(centres, centres, indexing="ij")
        pixels = map_coordinates(view.pixels, [rows, columns], order=1, mode="nearest")
        mask = np.repeat(np.repeat(mask, factor, axis=0), factor, axis=1)
    else:
        pixels = view.pixels
    return XrayImage(pixels.astype(np.float32), view.geometry.withImageSize(size, size), view.sourcePath), mask


def test_network_inputs_do_not_depend_on_the_pixel_count():
    """FemurOblique (a left femur, oblique views) at 256, 512, 1024 and 2048 pixels of the same 205 mm field.

    Measured: images within 0.45 % of their range (max), masks within 23 pixels of ~1,700 (256 px: the mask's own
    block mean moves its edge), proposals within 2 pixels, mask figures within 0.75 mm (tolerances: about 2x).
    """
    views, masks, side = sampleCase("FemurOblique")
    for name, view, mask in zip(("AP", "lateral"), views, masks):
        results = {}
        for size in (256, 512, 1024, 2048):
            image, sized = resized(view, mask, size)
            given = radiographs.prepareView(image, sized, side, name, ISOCENTER)
            proposed = radiographs.prepareView(image, proposal.proposeFemurMask(
                image.pixels, image.geometry.pixelSpacingMm), side, name, ISOCENTER)
            results[size] = given, proposed, checks.maskFigures(image.pixels, sized, image.geometry)
        reference, referenceProposal, referenceFigures = results[512]
        scale = float(reference.image.max() - reference.image.min())
        for size in (256, 1024, 2048):
            given, proposed, figures = results[size]
            assert np.abs(given.image - reference.image).max() < 0.01 * scale, (name, size)
            assert (given.mask != reference.mask).sum() <= 0.03 * reference.mask.sum(), (name, size)
            assert (proposed.mask != referenceProposal.mask).sum() <= 0.005 * referenceProposal.mask.sum()
            for key in ("topMm", "bottomMm", "shaftWidthMm", "proximalWidthMm"):
                assert getattr(figures, key) == pytest.approx(getattr(referenceFigures, key), abs=1.5), (key, size)
            assert figures.boneContrast == pytest.approx(referenceFigures.boneContrast, abs=0.01)
            assert figures.outlineOnEdges == pytest.approx(referenceFigures.outlineOnEdges, abs=0.02)


def test_anti_aliasing_gives_one_point_spread_in_mm():
    from ReconCoreLib.virtualdetector import antiAliasingSigmaPixels

    target, spread = 2.03, radiographs.DETECTOR_SIGMA_PIXELS
    for source in (0.1, 0.2, 0.4, 0.8):
        sigma = antiAliasingSigmaPixels(source, target, spread) * source
        total = np.sqrt(sigma ** 2 + source ** 2 / 4.0)
        assert total == pytest.approx(spread * target, rel=1e-9)
    assert antiAliasingSigmaPixels(2.0, target, spread) == 0.0  # coarse pixels blur enough already
