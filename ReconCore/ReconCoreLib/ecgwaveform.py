"""The frames of a cine at the R waves of an ECG stored with it as a DICOM waveform.

An X-ray angiography cine (XA multi-frame) often carries the patient's ECG not as R Wave Pointer (0028,6040) but in
its Waveform Sequence (5400,0100). :func:`ecgFrames` turns that ECG into zero-based frames at its R waves
(end-diastole), or [] when the file has none that can be trusted.

Conventions used:

- The ECG is the first channel, in the order of the multiplex groups and of their channels, whose ChannelLabel or
  ChannelSourceSequence CodeMeaning names an ECG lead: contains "lead", "ECG" or "EKG", or is a lead name (I, II,
  III, aVR, aVL, aVF, V1-V6; "Lead II" also counts). Other channels (pressure, respiration) are never read.
- Its samples are decoded by pydicom (``Dataset.waveform_array``: channel sensitivity, correction and baseline
  applied); nothing here reads the bytes.
- Sample k is at MultiplexGroupTimeOffset (0018,1068; ms, 0 when absent) + 1000 k / SamplingFrequency (Hz) ms. Frame
  i is at the sum of the first i + 1 values of FrameTimeVector (0018,1065; ms, its first value 0) when present, else
  at i * FrameTime (0018,1063; ms). Both are taken to count from the same instant, the start of the cine; without
  frame timing there is no result.
- R waves: the trace is band-passed (its 12 ms moving mean minus its 100 ms moving mean: baseline wander and most
  of the T wave removed), turned so that its larger deflection from the median points up (an inverted lead or a
  deep S wave gives that wave's peaks), and its peaks found at least 250 ms apart (240 bpm) with a prominence of at
  least half the trace's 2nd-98th percentile range. The beats are those of at least half the prominence of the
  strong ones (the 75th percentile). The ECG is refused, never guessed from, when there are fewer than 2 beats,
  the median R-R interval is outside 30-240 bpm, peaks of that prominence closer than 250 ms are more than half as
  many again as the beats (noise, mains hum), or the beats are wider than 100 ms at half their prominence (slow
  drift).
- Each R wave goes to the nearest frame when it lies within the cine's time span widened by half a frame interval
  at each end; the frames are sorted, each once.

The detection is written here with scipy's peak finder: the ECG packages that do it (NeuroKit2, BioSPPy, wfdb) are
not among the packages Slicer bundles, and an R wave in one lead of a cine's ECG needs only this much.

Not handled: an ECG in another file or another SOP instance (a separate waveform object, Curve Data of old files),
time references other than the one above (Acquisition DateTime or Content Time synchronisation, Frame Delay
(0018,1066), Trigger Time), WaveformPaddingValue samples, mu-law and A-law samples (pydicom does not expand them),
and ECGs whose noise resembles QRS complexes in shape and rate: these checks catch a flat lead, white noise, mains
hum and slow drift, not every artefact.
"""

from __future__ import annotations

import logging
import re
from typing import Optional, Sequence

import numpy as np

log = logging.getLogger(__name__)

#: Lead names that, as a whole ChannelLabel or CodeMeaning (with or without "Lead "), name an ECG lead.
LEAD_NAMES = frozenset(["I", "II", "III", "AVR", "AVL", "AVF", "V1", "V2", "V3", "V4", "V5", "V6"])
#: Shortest R-R interval (ms): 240 bpm.
MIN_RR_MS = 250.0
#: Plausible heart rates (bpm) from the median R-R interval.
HEART_RATE_BPM = (30.0, 240.0)
#: Band-pass of the trace before peaks are looked for: a moving mean of the first length minus one of the second (ms).
SMOOTHING_MS, BASELINE_MS = 12.0, 100.0
#: Least prominence of a candidate peak, as a fraction of the band-passed trace's 2nd-98th percentile range.
PROMINENCE_OF_RANGE = 0.5
#: Least prominence of a beat, as a fraction of the 75th percentile of the candidates' prominences.
PROMINENCE_OF_BEATS = 0.5
#: Most peaks of a beat's prominence at any distance, per beat, before the trace counts as noise.
MAX_PEAKS_PER_BEAT = 1.5
#: Widest beat (ms) at half its prominence.
MAX_BEAT_WIDTH_MS = 100.0


class EcgNotUsable(ValueError):
    """An ECG channel was found but gives no R waves that can be trusted; the message says why."""


def namesEcgLead(text) -> bool:
    """True when a ChannelLabel or CodeMeaning names an ECG lead (see the module's conventions)."""
    words = str(text or "").strip().upper()
    if re.search(r"LEAD|ECG|EKG", words):
        return True
    return words in LEAD_NAMES


def ecgChannel(dataset) -> Optional[tuple[int, int]]:
    """(multiplex group, channel) indices of the first ECG channel of a dataset's Waveform Sequence; None without."""
    for group, item in enumerate(dataset.get("WaveformSequence") or []):
        for channel, definition in enumerate(item.get("ChannelDefinitionSequence") or []):
            names = [definition.get("ChannelLabel")]
            names += [code.get("CodeMeaning") for code in definition.get("ChannelSourceSequence") or []]
            if any(namesEcgLead(name) for name in names):
                return group, channel
    return None


def _movingMean(values: np.ndarray, samples: int) -> np.ndarray:
    """Centred moving mean over an odd number of samples (at least ``samples``), the ends padded with their value."""
    from scipy.ndimage import uniform_filter1d

    return uniform_filter1d(values, max(1, int(samples)) | 1, mode="nearest")


def rPeakSamples(signal: Sequence[float], samplingHz: float) -> np.ndarray:
    """Sample indices of the R waves of one ECG trace sampled at ``samplingHz``, in order (see the module's
    conventions for the detection and its checks).

    :raises EcgNotUsable: a trace with no trustworthy beats (flat, noise, too few beats, implausible rate).
    """
    from scipy.signal import find_peaks, peak_widths

    trace = np.asarray(signal, dtype=np.float64).ravel()
    if not samplingHz > 0:
        raise EcgNotUsable(f"sampling frequency {samplingHz!r} Hz")
    if trace.size < 3 or not np.all(np.isfinite(trace)):
        raise EcgNotUsable("too few or non-finite samples")
    samplesPerMs = samplingHz / 1000.0
    trace = (_movingMean(trace, round(SMOOTHING_MS * samplesPerMs))
             - _movingMean(trace, round(BASELINE_MS * samplesPerMs)))
    low, high = np.percentile(trace, [2, 98])
    if not high - low > 0:
        raise EcgNotUsable("flat trace")
    median = np.median(trace)
    if median - trace.min() > trace.max() - median:
        trace = -trace
    distance = max(1, int(round(MIN_RR_MS * samplesPerMs)))
    peaks, properties = find_peaks(trace, distance=distance, prominence=PROMINENCE_OF_RANGE * (high - low))
    if len(peaks) < 2:
        raise EcgNotUsable(f"{len(peaks)} beat{'' if len(peaks) == 1 else 's'}")
    least = PROMINENCE_OF_BEATS * np.percentile(properties["prominences"], 75)
    peaks = peaks[properties["prominences"] >= least]
    if len(peaks) < 2:
        raise EcgNotUsable(f"{len(peaks)} beat")
    rivals = len(find_peaks(trace, prominence=least)[0])
    if rivals > MAX_PEAKS_PER_BEAT * len(peaks):
        raise EcgNotUsable(f"{rivals} peaks as strong as its {len(peaks)} beats: noise")
    widthMs = float(np.median(peak_widths(trace, peaks, rel_height=0.5)[0])) / samplesPerMs
    if widthMs > MAX_BEAT_WIDTH_MS:
        raise EcgNotUsable(f"beats {widthMs:.0f} ms wide at half their height: drift")
    rateBpm = 60000.0 / (np.median(np.diff(peaks)) / samplesPerMs)
    if not HEART_RATE_BPM[0] <= rateBpm <= HEART_RATE_BPM[1]:
        raise EcgNotUsable(f"heart rate {rateBpm:.0f} bpm")
    return peaks


def rPeakTimesMs(dataset) -> Optional[np.ndarray]:
    """Times (ms, on the waveform's clock: MultiplexGroupTimeOffset + sample time) of the R waves of a dataset's
    first ECG channel; None when the dataset has no ECG channel.

    :raises EcgNotUsable: an ECG channel that cannot be decoded or gives no trustworthy beats.
    """
    found = ecgChannel(dataset)
    if found is None:
        return None
    group, channel = found
    item = dataset.WaveformSequence[group]
    try:
        samplingHz = float(item.get("SamplingFrequency"))
        offsetMs = float(item.get("MultiplexGroupTimeOffset") or 0.0)
        samples = dataset.waveform_array(group)[:, channel]
    except (AttributeError, KeyError, IndexError, TypeError, ValueError) as error:
        raise EcgNotUsable(f"waveform not decoded: {error}") from None
    return offsetMs + 1000.0 * rPeakSamples(samples, samplingHz) / samplingHz


def frameTimesMs(dataset, frames: int, source: str = "") -> np.ndarray:
    """Time (ms) of each of a cine's ``frames`` frames: cumulative FrameTimeVector, else i * FrameTime.

    :raises EcgNotUsable: neither present, a vector of another length, times that do not increase.
    """
    from .dicomvalues import number, numbers

    try:
        vector = numbers(dataset, "FrameTimeVector", frames, source, required=False)
        frameTime = None if vector is not None else number(dataset, "FrameTime", source, required=False)
    except ValueError as error:
        raise EcgNotUsable(str(error)) from None
    if vector is not None:
        times = np.cumsum(np.asarray(vector, dtype=np.float64))
    elif frameTime is not None:
        times = np.arange(frames) * float(frameTime)
    else:
        raise EcgNotUsable("no FrameTime or FrameTimeVector")
    if not np.all(np.diff(times) > 0):
        raise EcgNotUsable("frame times that do not increase")
    return times


def framesAt(timesMs: Sequence[float], frameTimes: Sequence[float]) -> list[int]:
    """Zero-based frames nearest to ``timesMs``, for the times within the frames' span widened by half a frame
    interval at each end; sorted, each once. ``frameTimes``: increasing, at least two."""
    frameTimes = np.asarray(frameTimes, dtype=np.float64)
    first = frameTimes[0] - (frameTimes[1] - frameTimes[0]) / 2
    last = frameTimes[-1] + (frameTimes[-1] - frameTimes[-2]) / 2
    found = set()
    for time in np.asarray(timesMs, dtype=np.float64):
        if first <= time <= last:
            found.add(int(np.argmin(np.abs(frameTimes - time))))
    return sorted(found)


def ecgFrames(dataset, frames: int, source: str = "") -> list[int]:
    """Zero-based frames of a cine of ``frames`` frames at the R waves of the ECG in its Waveform Sequence; [] when
    it has none, or one that gives no trustworthy R waves (logged: the cine's frames are then all candidates), and
    for a single frame."""
    if frames < 2:
        return []
    try:
        times = rPeakTimesMs(dataset)
        if times is None:
            return []
        return framesAt(times, frameTimesMs(dataset, frames, source))
    except EcgNotUsable as error:
        where = f"{source}: " if source else ""
        log.warning("%sECG waveform not used for the R waves (%s); all frames are candidates", where, error)
        return []
