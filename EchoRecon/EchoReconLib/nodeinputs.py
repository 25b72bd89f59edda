"""What EchoRecon's Slicer logic checks on the nodes a user selected before it allows Apply (headless: MRML only)."""

from __future__ import annotations

from typing import Optional

from ReconCoreLib.nodefiles import frameCount, imageProblem

from .conventions import REQUIRED_VIEWS, VIEWS

PHASE_NAMES = {"ED": "end-diastolic", "ES": "end-systolic"}


def inputsProblem(phases: dict, frames: dict) -> Optional[str]:
    """Why the views cannot be reconstructed, or None.

    :param phases: {"ED": {view: volume node or None}, "ES": ...} for the phases to reconstruct (ES absent when only
        end-diastole is); each view of a phase is its own image, and a cine (several slices, or a sequence proxy from
        the DICOM module) may serve both phases, each with its own frame.
    :param frames: {phase: {view: frame index}} for the cines.
    """
    given = {}
    for phase, views in phases.items():
        name = PHASE_NAMES[phase]
        missing = [view for view in REQUIRED_VIEWS if views.get(view) is None]
        if missing:
            reason = f"Select the {name} frame of these views: {', '.join(missing)} (the other views are optional)."
            if phase == "ES":
                reason += " Or untick 'Use end-systole' to reconstruct end-diastole only."
            return reason
        given[phase] = [view for view in VIEWS if views.get(view) is not None]
        if phase != "ED" and "ED" in given and given[phase] != given["ED"]:
            differ = [view for view in VIEWS if (view in given[phase]) != (view in given["ED"])]
            return (f"Select the same views for both phases: {', '.join(differ)} is given for one phase only "
                    "(a view missing in one phase cannot be used in the other).")
        seen = {}
        for view in given[phase]:
            node = views[view]
            problem = imageProblem(node)
            if problem:
                return f"The {name} {view} view: {problem}"
            count = frameCount(node)
            frame = frames.get(phase, {}).get(view, 0)
            if count > 1 and not 0 <= frame < count:
                return (f"The {name} {view} cine has {count} frames: choose a frame from 0 to {count - 1}.")
            if node.GetID() in seen:
                return f"The {name} {seen[node.GetID()]} and {view} views are the same image: each view is its own."
            seen[node.GetID()] = view
    return None
