"""AngioRecon's centerline tree: what the lumen-scale reconstruction produces and the QCA reads.

A tree is a list of :class:`Branch`: 3D polylines in LPS mm (proximal end first) with the lumen radius at every
point, as seen in each view (the two semi-axes of an elliptical lumen) and their mean. Branches are numbered by
length ("branch 1" the longest) unless an anatomical name was found; ``parent`` names the branch a branch leaves
and ``parentIndex`` the point of the parent where it leaves, so the distance from the ostium is the parent's arc
length up to there plus the branch's own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np


@dataclass
class Branch:
    """One vessel of the reconstructed tree (arrays in LPS mm)."""

    name: str
    pointsLps: np.ndarray  # [N, 3], proximal end first
    radiiMm: np.ndarray  # [N] lumen radius: the mean of the two views' half widths
    radiiViewsMm: np.ndarray  # [N, 2] half width seen in view 1 and in view 2 (an elliptical lumen's semi-axes)
    parent: Optional[str] = None
    parentIndex: int = -1

    @property
    def diametersMm(self) -> np.ndarray:
        """[N] lumen diameter (mm): twice :attr:`radiiMm`."""
        return 2.0 * np.asarray(self.radiiMm, dtype=float)

    @property
    def arcMm(self) -> np.ndarray:
        """[N] arc length from the branch's first point (mm)."""
        return arcLength(self.pointsLps)

    @property
    def lengthMm(self) -> float:
        """Length of the branch (mm)."""
        arc = self.arcMm
        return float(arc[-1]) if len(arc) else 0.0


def arcLength(points: np.ndarray) -> np.ndarray:
    """[N] cumulative length along a polyline [N, D] (0 at its first point)."""
    points = np.asarray(points, dtype=float)
    if len(points) == 0:
        return np.zeros(0)
    return np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(points, axis=0), axis=1))])


def ostiumDistanceMm(branches: list[Branch], branch: Branch) -> float:
    """Arc length from the tree's ostium to ``branch``'s first point (mm): the parents' arcs up to where each child
    leaves (0 for a root branch)."""
    byName = {b.name: b for b in branches}
    distance, current, seen = 0.0, branch, set()
    while current.parent is not None and current.parent in byName and current.name not in seen:
        seen.add(current.name)
        parent = byName[current.parent]
        distance += float(parent.arcMm[max(current.parentIndex, 0)])
        current = parent
    return distance
