"""What AngioRecon's Slicer logic checks on the nodes a user selected before it allows Apply (headless: MRML only)."""

from __future__ import annotations

from typing import Optional

from ReconCoreLib.nodefiles import imageProblem

from .conventions import TREES


def inputsProblem(view1, view2) -> Optional[str]:
    """Why the two angiograms (volume nodes; a cine as one slice per frame or a sequence proxy) cannot be
    reconstructed, or None."""
    if view1 is None or view2 is None:
        return "Select both angiograms (view 1 and view 2)."
    if view1.GetID() == view2.GetID():
        return "View 1 and view 2 must be two different images."
    return imageProblem(view1) or imageProblem(view2)


def treeProblem(tree: Optional[str]) -> Optional[str]:
    """Why ``tree`` cannot be reconstructed (not chosen, or not one of :data:`~.conventions.TREES`), or None: the
    network reconstructs the tree it is told, so it is never assumed."""
    if not tree:
        return "Choose the coronary tree the views show (left or right)."
    if tree not in TREES:
        return f"The coronary tree must be left or right, got {tree!r}."
    return None
