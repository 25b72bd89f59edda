"""A cine's R waves from the ECG in its DICOM Waveform Sequence (ReconCoreLib.ecgwaveform), the second source after R
Wave Pointer (ReconCoreLib.cineframes.rWaveFrames): synthetic ECGs whose R waves are known, mapped to known frames.

Frames at i * 66.7 ms (FrameTime, as writeXrayDicom writes it); 30 frames span 0-1934.3 ms, accepted R waves -33.35
to 1967.65 ms. At 72 bpm the R waves at 280 + 833.3 k ms fall at frames 4.20, 16.69 and 29.19: frames 4, 17, 29
(each at least 12 ms from the halfway point between two frames; the detection is within a few ms).
"""

import logging

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from ReconCoreLib import cineframes, ecgwaveform
from ReconCoreLib.cineframes import ECG_WAVEFORM, R_WAVE_POINTER, frameChoice, rWaveFrames
from ReconCoreLib.ecgwaveform import ecgFrames, framesAt
from ReconCoreLib.xrayio import readXrayImage, saveDicom, writeXrayDicom
from xrayhelpers import carm, pattern

FRAMES, FRAME_MS = 30, 66.7
SAMPLING_HZ = 500.0
RR_MS = 60000.0 / 72
R_TIMES_MS = 280.0 + RR_MS * np.arange(12)  # 10 s of ECG from the start of the cine
R_FRAMES = [4, 17, 29]
#: One beat (P, Q, R, S, T): (mV, width ms, ms from the R wave).
BEAT = [(0.15, 25.0, -160.0), (-0.1, 8.0, -30.0), (1.0, 10.0, 0.0), (-0.25, 10.0, 30.0), (0.3, 40.0, 250.0)]
SENSITIVITY = 0.005  # mV per stored unit


def ecgTrace(rTimesMs=R_TIMES_MS, seconds=10.0, polarity=1.0, samplingHz=SAMPLING_HZ, noise=0.03, seed=0):
    """An ECG (mV) with narrow QRS complexes at ``rTimesMs`` (from its first sample), noise and baseline wander."""
    timesMs = np.arange(int(seconds * samplingHz)) * 1000.0 / samplingHz
    trace = np.zeros_like(timesMs)
    for rMs in rTimesMs:
        near = np.abs(timesMs - rMs) < 400.0
        for amplitude, widthMs, shiftMs in BEAT:
            trace[near] += amplitude * np.exp(-0.5 * ((timesMs[near] - rMs - shiftMs) / widthMs) ** 2)
    wander = 0.3 * np.sin(2 * np.pi * 0.25 * timesMs / 1000.0)
    return polarity * trace + wander + noise * np.random.default_rng(seed).standard_normal(timesMs.size)


def pressureTrace(seconds=10.0, samplingHz=SAMPLING_HZ):
    """An arterial pressure curve (mmHg, scaled to the mV channels' units): smooth, one hump per beat."""
    timesMs = np.arange(int(seconds * samplingHz)) * 1000.0 / samplingHz
    return (90.0 + 30.0 * np.sin(2 * np.pi * timesMs / RR_MS)) * 0.05


def channel(label, meaning, values):
    return {"label": label, "meaning": meaning, "values": np.asarray(values, dtype=np.float64)}


def waveformGroup(channels, offsetMs=None, samplingHz=SAMPLING_HZ):
    """A multiplex group of signed 16-bit channels, ``SENSITIVITY`` mV per unit."""
    group = Dataset()
    group.MultiplexGroupLabel = "ECG"
    group.SamplingFrequency = samplingHz
    group.NumberOfWaveformChannels = len(channels)
    group.NumberOfWaveformSamples = len(channels[0]["values"])
    group.WaveformBitsAllocated = 16
    group.WaveformSampleInterpretation = "SS"
    if offsetMs is not None:
        group.MultiplexGroupTimeOffset = offsetMs
    definitions = []
    for item in channels:
        definition = Dataset()
        if item["label"] is not None:
            definition.ChannelLabel = item["label"]
        source = Dataset()
        source.CodeValue, source.CodingSchemeDesignator, source.CodeMeaning = "0", "99TEST", item["meaning"]
        definition.ChannelSourceSequence = Sequence([source])
        definition.ChannelSensitivity = SENSITIVITY
        definition.ChannelSensitivityCorrectionFactor = 1
        definition.ChannelBaseline = 0
        definition.WaveformBitsStored = 16
        definitions.append(definition)
    group.ChannelDefinitionSequence = Sequence(definitions)
    stored = np.round(np.stack([item["values"] for item in channels], axis=1) / SENSITIVITY)
    group.WaveformData = stored.astype("<i2").tobytes()
    return group


def cineHeader(groups, frameTime=FRAME_MS, frameTimeVector=None, rWavePointer=None):
    dataset = Dataset()
    dataset.NumberOfFrames = FRAMES
    if frameTime is not None:
        dataset.FrameTime = frameTime
    if frameTimeVector is not None:
        dataset.FrameTimeVector = list(frameTimeVector)
    if rWavePointer is not None:
        dataset.add_new((0x0028, 0x6040), "US", rWavePointer)
    if groups:
        dataset.WaveformSequence = Sequence(groups)
    return dataset


def leadII(**trace):
    return channel("II", "Lead II", ecgTrace(**trace))


def test_the_r_waves_of_a_lead_give_the_frames_nearest_to_them():
    dataset = cineHeader([waveformGroup([leadII()])])
    assert ecgFrames(dataset, FRAMES) == R_FRAMES
    times = ecgwaveform.rPeakTimesMs(dataset)
    assert len(times) == len(R_TIMES_MS) and np.abs(times - R_TIMES_MS).max() <= 4.0
    assert rWaveFrames(dataset, "cine", FRAMES) == (R_FRAMES, ECG_WAVEFORM)


def test_an_inverted_lead_found_by_its_code_after_a_pressure_channel_gives_the_same_frames():
    pressure = channel("Pressure", "Arterial pressure", pressureTrace())
    inverted = channel(None, "Lead aVR", ecgTrace(polarity=-1.0, seed=3))
    dataset = cineHeader([waveformGroup([pressure]), waveformGroup([pressure, inverted])])
    assert ecgwaveform.ecgChannel(dataset) == (1, 1)
    assert ecgFrames(dataset, FRAMES) == R_FRAMES


def test_the_multiplex_group_time_offset_shifts_the_r_waves_and_their_frames():
    """The ECG starts 200 ms after the cine: R waves at 480 and 1313.3 ms, frames 7.20 and 19.69; 2146.7 ms is after
    the cine. 150 ms before it: 130, 963.3 and 1796.7 ms, frames 1.95, 14.44 and 26.94."""
    assert ecgFrames(cineHeader([waveformGroup([leadII()], offsetMs=200.0)]), FRAMES) == [7, 20]
    assert ecgFrames(cineHeader([waveformGroup([leadII()], offsetMs=-150.0)]), FRAMES) == [2, 14, 27]


def test_the_frame_time_vector_wins_over_the_frame_time():
    """Ten frames 33.3 ms apart, then 66.7 ms: frames at 0-333 ms, then 333 + 66.7 (i - 10). R waves at 280 ms (frame
    8.41) and 1113.3 ms (frame 21.70); 1946.7 ms is after the cine's 1600.3 + 33.35 ms."""
    vector = [0.0] + [33.3] * 10 + [66.7] * (FRAMES - 11)
    dataset = cineHeader([waveformGroup([leadII()])], frameTimeVector=vector)
    assert ecgFrames(dataset, FRAMES) == [8, 22]
    assert ecgwaveform.frameTimesMs(dataset, FRAMES)[[10, 11, 29]] == pytest.approx([333.0, 399.7, 1600.3])


def test_r_waves_map_to_frames_only_within_half_a_frame_of_the_cine():
    times = np.arange(FRAMES) * FRAME_MS
    assert framesAt([-40.0, -20.0, 1000.0, 1001.0, 1960.0, 1970.0], times) == [0, 15, 29]


def test_a_file_without_an_ecg_channel_has_no_r_waves(caplog):
    pressure = channel("Pressure", "Arterial pressure", pressureTrace())
    with caplog.at_level(logging.WARNING):
        assert ecgFrames(cineHeader([waveformGroup([pressure])]), FRAMES) == []
        assert rWaveFrames(cineHeader([]), "cine", FRAMES) == ([], "")
    assert caplog.records == []  # nothing to say: no ECG
    assert [ecgwaveform.namesEcgLead(name) for name in ("Lead I (Einthoven)", "ECG", "v5", "aVF", "Pressure", "",
                                                        None, "Left ventricle")] == [True] * 4 + [False] * 4


@pytest.mark.parametrize("name, trace, reason", [
    ("flat", np.full(5000, 0.2), "flat trace"),
    ("white noise", 0.5 * np.random.default_rng(1).standard_normal(5000), "noise"),
    ("mains hum", np.sin(2 * np.pi * 50 * np.arange(5000) / SAMPLING_HZ)
     + 0.05 * np.random.default_rng(2).standard_normal(5000), "noise"),
    ("one beat", ecgTrace(rTimesMs=[1500.0], seconds=3.0), "1 beat"),
    ("25 bpm", ecgTrace(rTimesMs=280.0 + 2400.0 * np.arange(5)), "heart rate 25 bpm"),
])
def test_a_trace_without_trustworthy_beats_gives_no_frames_and_says_why(name, trace, reason, caplog):
    dataset = cineHeader([waveformGroup([channel("II", "Lead II", trace)])])
    with caplog.at_level(logging.WARNING, logger="ReconCoreLib.ecgwaveform"):
        assert rWaveFrames(dataset, "cine.dcm", FRAMES) == ([], "")
    assert len(caplog.records) == 1 and caplog.records[0].levelno == logging.WARNING
    assert caplog.records[0].getMessage().startswith("cine.dcm: ECG waveform not used for the R waves (")
    assert reason in caplog.records[0].getMessage()


def test_no_frame_timing_gives_no_frames(caplog):
    with caplog.at_level(logging.WARNING, logger="ReconCoreLib.ecgwaveform"):
        assert ecgFrames(cineHeader([waveformGroup([leadII()])], frameTime=None), FRAMES) == []
    assert "no FrameTime or FrameTimeVector" in caplog.text


def test_the_r_wave_pointer_wins_over_the_waveform_and_a_bad_one_is_still_refused():
    dataset = cineHeader([waveformGroup([leadII()])], rWavePointer=[3, 10])
    assert rWaveFrames(dataset, "cine", FRAMES) == ([2, 9], R_WAVE_POINTER)
    assert "DICOM RWavePointer" in frameChoice([2, 9], FRAMES)  # the default origin
    with pytest.raises(ValueError, match=r"cine: RWavePointer 40 is not a frame of the file \(1-30\)"):
        rWaveFrames(cineHeader([waveformGroup([leadII()])], rWavePointer=[3, 40]), "cine", FRAMES)


def test_the_xa_reader_chooses_among_the_ecg_r_wave_frames_and_says_so(tmp_path):
    """A written XA cine whose frames are brightest at frame 20, then with a 12-lead ECG at 1 kHz added (its waveform
    data larger than the reader leaves in the file with pydicom 3): the brightest of frames 4, 17 and 29."""
    frames = np.stack([pattern() + 10.0 * (FRAMES - abs(index - 20)) for index in range(FRAMES)])
    path = writeXrayDicom(tmp_path / "cine.dcm", frames, carm(), uidSeed="ecg")

    def brightness(frame, geometry):
        return float(np.mean(frame))

    plain = readXrayImage(path, frameScore=brightness)
    assert (plain.frameIndex, plain.frameChoice) == (20, "strongest of all 30 frames (no ECG R waves in the file)")
    leads = ["I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6"]
    channels = [channel(lead, f"Lead {lead}", ecgTrace(seconds=12.0, samplingHz=1000.0, seed=index,
                                                       polarity=-1.0 if lead == "aVR" else 1.0))
                for index, lead in enumerate(leads)]
    dataset = pydicom.dcmread(str(path))
    dataset.WaveformSequence = Sequence([waveformGroup(channels, samplingHz=1000.0)])
    assert len(dataset.WaveformSequence[0].WaveformData) > cineframes.DEFERRED_ELEMENT_BYTES
    saveDicom(dataset, path)
    view = readXrayImage(path, frameScore=brightness)
    assert view.frameIndex == 17 and view.frameIndex in R_FRAMES
    assert view.frameChoice == "strongest of the 3 R-wave frames (end-diastole, DICOM ECG waveform)"
    assert "R-wave" in view.frameChoice  # what AngioRecon's mixed-phase warning looks for
    assert cineframes.rWaveFramesOfFile(path, FRAMES) == (R_FRAMES, ECG_WAVEFORM)
    assert readXrayImage(path, 3, frameScore=brightness).frameChoice == "given"
