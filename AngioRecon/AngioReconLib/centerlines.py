"""AngioRecon's centerline tree: what the lumen-scale reconstruction produces and the QCA reads.

A tree is a list of :class:`Branch`: 3D polylines in LPS mm (proximal end first) with the lumen radius at every
point, as seen in each view (the two semi-axes of an elliptical lumen) and their mean. Branches are numbered by
length ("branch 1" the longest); ``parent`` names the branch a branch leaves and ``parentIndex`` the point of the
parent where it leaves (:func:`linkBranches`), so the distance from the ostium is the parents' arc lengths up to there
plus the branch's own.
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


def endDirection(points: np.ndarray, atEnd: bool) -> np.ndarray:
    """Unit direction leaving a polyline [N, 3] at its end (``atEnd``) or start, over its last/first 2 mm."""
    arc = arcLength(points)
    if atEnd:
        index = max(int(np.searchsorted(arc, arc[-1] - 2.0)) - 1, 0)
        vector = points[-1] - points[index]
    else:
        vector = points[0] - points[min(int(np.searchsorted(arc, 2.0)), len(points) - 1)]
    return vector / max(np.linalg.norm(vector), 1e-9)


#: A branch leaves another when its first (wider) point lies within LINK_DISTANCE_MM of the other's centerline and is
#: not wider there than LINK_WIDER_FACTOR x the other's radius (a child is not wider than its parent, Murray's law).
LINK_DISTANCE_MM = 3.0
LINK_WIDER_FACTOR = 1.2


def linkBranches(branches: list[Branch]) -> None:
    """Set each branch's ``parent`` and ``parentIndex``: the nearest point of another branch to its first point
    (:data:`LINK_DISTANCE_MM`, :data:`LINK_WIDER_FACTOR`), widest branches first, never closing a loop. Branches that
    leave none stay roots; the root whose first point is widest holds the ostium (:func:`ostiumBranch`)."""
    order = sorted(branches, key=lambda branch: -float(branch.radiiMm[0]))
    for branch in order:
        branch.parent, branch.parentIndex = None, -1
    for branch in order:
        start, best = branch.pointsLps[0], None
        for other in branches:
            if other is branch or _rootOf(branches, other) is branch:
                continue  # the other hangs from this branch already: linking would close a loop
            distances = np.linalg.norm(other.pointsLps - start, axis=1)
            index = int(np.argmin(distances))
            if (distances[index] <= LINK_DISTANCE_MM and branch.radiiMm[0] <= LINK_WIDER_FACTOR * other.radiiMm[index]
                    and (best is None or distances[index] < best[0])):
                best = (distances[index], other, index)
        if best is not None:
            branch.parent, branch.parentIndex = best[1].name, best[2]


def _rootOf(branches: list[Branch], branch: Branch) -> Branch:
    byName, current, seen = {b.name: b for b in branches}, branch, set()
    while current.parent is not None and current.parent in byName and current.name not in seen:
        seen.add(current.name)
        current = byName[current.parent]
    return current


def ostiumBranch(branches: list[Branch]):
    """The root branch whose first point is widest: where the tree's ostium is (None for no branches)."""
    roots = [branch for branch in branches if branch.parent is None]
    return max(roots, key=lambda branch: float(branch.radiiMm[0]), default=None)


def ostiumDistanceMm(branches: list[Branch], branch: Branch) -> float:
    """Arc length from the tree's ostium to ``branch``'s first point (mm): the parents' arcs up to where each child
    leaves (0 for the ostium's own branch). NaN when the branch's chain of parents does not reach the ostium's branch
    (:func:`ostiumBranch`; the tree was not found connected there): unknown, not a distance from elsewhere."""
    byName = {b.name: b for b in branches}
    distance, current, seen = 0.0, branch, set()
    while current.parent is not None and current.parent in byName and current.name not in seen:
        seen.add(current.name)
        parent = byName[current.parent]
        distance += float(parent.arcMm[max(current.parentIndex, 0)])
        current = parent
    return distance if current is ostiumBranch(branches) else float("nan")
