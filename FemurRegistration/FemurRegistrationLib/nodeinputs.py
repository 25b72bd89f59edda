"""What FemurRegistration's Slicer logic checks on the nodes a user selected before it allows Apply (headless: MRML
only)."""

from __future__ import annotations

from typing import Optional

from ReconCoreLib.nodefiles import frameCount, imageProblem


def inputsProblem(apRadiograph, latRadiograph) -> Optional[str]:
    """Why the two radiographs (volume nodes) cannot be registered, or None."""
    if apRadiograph is None or latRadiograph is None:
        return "Select both radiographs (AP and lateral)."
    if apRadiograph.GetID() == latRadiograph.GetID():
        return "The AP and lateral radiographs must be two different images."
    for node in (apRadiograph, latRadiograph):
        problem = imageProblem(node)
        if problem:
            return problem
        frames = frameCount(node)
        if frames > 1:
            return f"{node.GetName()} has {frames} frames: a radiograph is one image."
    return None
