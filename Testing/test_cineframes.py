"""Cines read frame by frame and their frame chosen in two stages (ReconCoreLib.cineframes, through the X-ray
reader): which frames are decoded and scored, at which spacing in mm, with either pydicom (3, and 2.4 in Slicer 5.10).

AngioRecon's own scores on a synthetic cine: test_angio_units.py.
"""

import numpy as np
import pydicom
import pytest

from ReconCoreLib import cineframes, xrayio
from ReconCoreLib.cineframes import FrameChooser, blockMean, chooseFrame, coarseGeometry
from ReconCoreLib.xrayio import readXrayImage, saveDicom, writeXrayDicom
from xrayhelpers import carm, pattern, quantizationStep

CINE_FRAMES, CINE_SIZE = 12, 256
CINE_GEOMETRY = carm(rows=CINE_SIZE, columns=CINE_SIZE, spacing=(0.2, 0.2))  # 0.136 mm at the isocenter
#: Two scores by frame index: the quick one ranks frames 9, 4, 2 highest; of those the full one prefers 2; frame 6
#: has the highest full score of all but too low a quick one to be a candidate.
QUICK = [0, 1, 9, 2, 10, 3, 4, 5, 6, 11, 7, 8]
FULL = [0, 0, 5, 0, 3, 0, 99, 0, 0, 4, 0, 0]


def cineFrames():
    """Frames whose mean tells their index (10 grey levels per frame) over a small fixed pattern."""
    base = pattern(CINE_SIZE, CINE_SIZE)
    base = (base - base.min()) / (base.max() - base.min()) * 4  # 0..4
    return np.stack([base + 10.0 * index for index in range(CINE_FRAMES)])


def frameIndex(frame):
    return int(round((float(np.mean(frame)) - 2.0) / 10.0))


def recordingChooser(candidates=3):
    """A FrameChooser whose scores look the frame up in QUICK and FULL, recording what they were given."""
    calls = {"quick": [], "full": []}

    def quick(frame, geometry):
        calls["quick"].append((frameIndex(frame), frame.shape, geometry))
        return QUICK[frameIndex(frame)]

    def full(frame, geometry):
        calls["full"].append((frameIndex(frame), frame.shape, geometry))
        return FULL[frameIndex(frame)]

    return FrameChooser(quick, full, coarseSpacingMm=1.0, candidates=candidates), calls


def test_cine_frame_is_chosen_by_a_quick_score_of_every_frame_then_a_full_score_of_the_best(tmp_path):
    stack = cineFrames()
    path = writeXrayDicom(tmp_path / "cine.dcm", stack, CINE_GEOMETRY, uidSeed="cine")
    chooser, calls = recordingChooser(candidates=3)
    view = readXrayImage(path, frameScore=chooser)

    assert (view.frameIndex, view.numberOfFrames) == (2, CINE_FRAMES)
    assert np.abs(view.pixels - stack[2]).max() <= quantizationStep(stack)
    # every frame once, in order, block-averaged: 7 x 7 detector pixels = 0.955 mm at the isocenter
    assert [index for index, _, _ in calls["quick"]] == list(range(CINE_FRAMES))
    coarse = calls["quick"][0][2]
    assert {shape for _, shape, _ in calls["quick"]} == {(36, 36)} and (coarse.rows, coarse.columns) == (36, 36)
    assert coarse.pixelSpacingMm == pytest.approx((1.4, 1.4))
    assert coarse.pixelSpacingMm[0] / coarse.magnification == pytest.approx(0.9545, abs=1e-4)
    assert coarse.primaryAngleDeg == CINE_GEOMETRY.primaryAngleDeg
    assert coarse.sourceToDetectorMm == CINE_GEOMETRY.sourceToDetectorMm
    # the three best by the quick score, at full resolution with the view's geometry; frame 6 never a candidate
    assert sorted(index for index, _, _ in calls["full"]) == [2, 4, 9]
    assert all(shape == (CINE_SIZE, CINE_SIZE) and geometry == view.geometry for _, shape, geometry in calls["full"])


def test_a_cine_of_few_frames_gets_the_full_score_on_every_frame(tmp_path):
    path = writeXrayDicom(tmp_path / "cine.dcm", cineFrames()[:8], CINE_GEOMETRY, uidSeed="short")
    chooser, calls = recordingChooser(candidates=8)
    assert readXrayImage(path, frameScore=chooser).frameIndex == 6  # the best full score of all
    assert calls["quick"] == [] and sorted(index for index, _, _ in calls["full"]) == list(range(8))


def test_an_explicit_frame_is_decoded_alone_and_nothing_is_scored(tmp_path, monkeypatch):
    stack = cineFrames()
    path = writeXrayDicom(tmp_path / "cine.dcm", stack, CINE_GEOMETRY, uidSeed="cine")
    chooser, calls = recordingChooser()
    decoded = []
    iterFrames = xrayio.iterDicomFrames

    def recordingFrames(dataset, source, indices=None):
        for frame in iterFrames(dataset, source, indices):
            decoded.append(frame)  # as stored: 12-bit values
            yield frame

    monkeypatch.setattr(xrayio, "iterDicomFrames", recordingFrames)
    stored = pydicom.dcmread(str(path)).pixel_array
    view = readXrayImage(path, frame=5, frameScore=chooser)
    assert (view.frameIndex, len(decoded), calls) == (5, 1, {"quick": [], "full": []})
    assert np.array_equal(decoded[0], stored[5])
    assert np.abs(view.pixels - stack[5]).max() <= quantizationStep(stack)
    decoded.clear()
    assert readXrayImage(path, frameScore=chooser).frameIndex == 2
    assert np.array_equal(np.stack(decoded), stored)  # the choice decodes each frame once, in order


def test_a_cine_is_read_frame_by_frame_from_the_file(tmp_path):
    """With pydicom 3 the pixel data of a cine stay in the file (only their length is checked) and its frames are
    read from there; pydicom 2 (Slicer 5.10) reads them with the dataset. The frames are the same either way."""
    stack = cineFrames()
    path = writeXrayDicom(tmp_path / "cine.dcm", stack, CINE_GEOMETRY, uidSeed="cine")
    dataset = cineframes.readDicomDataset(path)
    assert cineframes._pixelDataDeferred(dataset) == (int(pydicom.__version__.split(".")[0]) >= 3)
    frames = list(cineframes.iterDicomFrames(dataset, path))
    assert [frame.dtype for frame in frames] == [np.uint16] * CINE_FRAMES
    assert np.array_equal(np.stack(frames), pydicom.dcmread(str(path)).pixel_array)
    assert np.array_equal(np.stack(list(cineframes.iterDicomFrames(dataset, path, [7, 3]))), np.stack(frames)[[7, 3]])
    assert np.abs(readXrayImage(path, 7).pixels - stack[7]).max() <= quantizationStep(stack)


def test_a_compressed_cine_is_decoded_frame_by_frame(tmp_path):
    from pydicom.uid import RLELossless

    stack = cineFrames()
    path = writeXrayDicom(tmp_path / "cine.dcm", stack, CINE_GEOMETRY, uidSeed="rle")
    dataset = pydicom.dcmread(str(path))
    dataset.compress(RLELossless)
    saveDicom(dataset, path)
    assert pydicom.dcmread(str(path)).file_meta.TransferSyntaxUID == RLELossless
    chooser, calls = recordingChooser(candidates=3)
    chosen = readXrayImage(path, frameScore=chooser)
    assert chosen.frameIndex == 2 and len(calls["quick"]) == CINE_FRAMES
    assert np.abs(chosen.pixels - stack[2]).max() <= quantizationStep(stack)
    assert np.abs(readXrayImage(path, 11).pixels - stack[11]).max() <= quantizationStep(stack)


def test_a_cine_whose_header_promises_more_frames_than_its_data_hold_is_refused(tmp_path):
    path = writeXrayDicom(tmp_path / "cine.dcm", cineFrames(), CINE_GEOMETRY, uidSeed="cine")
    dataset = pydicom.dcmread(str(path))
    dataset.NumberOfFrames = CINE_FRAMES + 1
    dataset.save_as(str(path))
    held, needed = CINE_SIZE ** 2 * 2 * CINE_FRAMES, CINE_SIZE ** 2 * 2 * (CINE_FRAMES + 1)
    with pytest.raises(ValueError, match=rf"cine.dcm: the pixel data hold {held} bytes but the header .* {needed}"):
        readXrayImage(path)


def test_block_mean_averages_whole_blocks_and_crops_evenly():
    image = np.arange(11 * 14, dtype=np.uint16).reshape(11, 14)
    means = blockMean(image, 3, 4)  # 3 x 3 blocks; 2 rows (1 above, 1 below) and 2 columns (1 and 1) left over
    assert means.dtype == np.float32 and means.shape == (3, 3)
    expected = image[1:10, 1:13].astype(float).reshape(3, 3, 3, 4).mean(axis=(1, 3))
    assert np.allclose(means, expected, atol=1e-4)
    assert np.array_equal(blockMean(image, 1, 1), image.astype(np.float32))


@pytest.mark.parametrize("size", [256, 512, 1024, 2048])
def test_coarse_spacing_is_in_mm_at_the_isocenter_whatever_the_pixel_count(size):
    """The same field (280 mm at the detector, 191 mm at the isocenter) at any pixel count: blocks of about 1 mm."""
    geometry = carm(rows=256, columns=256, spacing=(280 / 256, 280 / 256)).withImageSize(size, size)
    chooser = FrameChooser(cineframes.defaultFrameScore, cineframes.defaultFrameScore, coarseSpacingMm=1.0)
    factors = chooser.blockFactors(geometry)
    coarse = coarseGeometry(geometry, *factors)
    pixelMm = geometry.pixelSpacingMm[0] / geometry.magnification
    coarseMm = coarse.pixelSpacingMm[0] / coarse.magnification
    assert abs(coarseMm - 1.0) <= pixelMm / 2 + 1e-9  # whole pixels per block, the nearest to 1 mm
    assert coarse.rows == size // factors[0] and coarse.rows * coarseMm == pytest.approx(191, abs=coarseMm)


def test_choose_frame_takes_frames_in_memory_too():
    """pipeline.run's frames of a volume node: a list of float frames, nothing to rescale."""
    frames = list(cineFrames())
    chooser, calls = recordingChooser(candidates=3)
    chosen = cineframes.chooseFrame(frames, CINE_GEOMETRY, chooser)
    assert chosen.index == 2 and np.array_equal(chosen.frame, frames[2])
    assert chosen.fullScores == {2: 5.0, 4: 3.0, 9: 4.0}
    assert chooseFrame(frames, CINE_GEOMETRY, lambda frame, geometry: -abs(frameIndex(frame) - 7)).index == 7


def test_a_single_frame_is_taken_without_a_score():
    """AngioRecon's Slicer entry gives every volume to chooseFrame; one frame costs no vesselness."""
    def refuse(frame, geometry):
        raise AssertionError("a single frame was scored")

    frame = np.arange(64, dtype=np.float32).reshape(8, 8)
    chosen = chooseFrame([frame], CINE_GEOMETRY, FrameChooser(refuse, refuse))
    assert chosen.index == 0 and np.array_equal(chosen.frame, frame) and chosen.fullScores == {}
