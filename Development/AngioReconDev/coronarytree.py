"""Synthetic coronary artery trees, deterministic by seed (training data for AngioRecon).

The anatomy (ranges and their sources, heart model, frames) is described in :mod:`coronaryanatomy`; this module
builds the vessels of a left or right tree on the heart (:func:`generateCase`) and augments a tree as the paper
does (:func:`augment`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .coronaryanatomy import (
    AORTIC_SINUS_RADIUS_MM,
    AUGMENT_ROTATION_DEG,
    AUGMENT_SCALE_PERCENT,
    AV_GROOVE_THETA,
    BRANCH_COUNT,
    BRANCH_RADIUS_RATIO,
    CENTRE_JITTER_MM,
    CoronaryCase,
    DISTAL_DIAMETER_MM,
    FIRST_SEPTAL_LENGTH_MM,
    FIT_HALF_EXTENT_MM,
    LAD_CUBE_SHARE,
    LEFT_MAIN_DIAMETER_MM,
    LEFT_MAIN_LENGTH_MM,
    MIN_BRANCH_RADIUS_MM,
    PDA_CUBE_SHARE,
    RCA_CRUX_RADIUS_FACTOR,
    RCA_DIAMETER_MM,
    SEPTAL_LENGTH_MM,
    STENOSIS_COUNT_PROBABILITIES,
    STENOSIS_LENGTH_MM,
    STENOSIS_PERCENT,
    STENOSIS_VESSELS,
    TAPER_EXPONENT,
    TORTUOSITY_AMPLITUDE_MM,
    TORTUOSITY_WAVELENGTH_MM,
    Vessel,
    _Heart,
    _TREE_CODES,
    _arcLength,
    _drawHeart,
    _normalize,
    _resample,
    _rotationAbout,
    _smoothstep,
    _tangents,
    normalizedHeartRadius,
)

__all__ = ["CoronaryCase", "Vessel", "augment", "generateCase", "normalizedHeartRadius"]


# ------------------------------------------------------------------------------------------------------
# Tree construction
@dataclass
class _Draft:
    name: str
    parent: str | None
    points: np.ndarray
    parentIndex: int = -1  # index of the branch point on the parent (-1 for a root)
    ratio: float = 0.0  # side branch: child/parent radius ratio; terminal branch: share of r**3
    terminal: bool = False  # starts at its parent's last point (terminal bifurcation)
    endFactor: float | None = None  # r_end / r_0 for a vessel that ends in a terminal bifurcation
    rootRadius: float | None = None


def _tortuous(heart: _Heart, dense: np.ndarray, rng: np.random.Generator, amplitudeMm: float) -> np.ndarray:
    """Smooth low-frequency lateral displacement on the surface (zero at the vessel's origin), re-projected."""
    arc = _arcLength(dense)
    lateral = _normalize(np.cross(_tangents(dense), heart.normal(dense)))
    offset = np.zeros(len(dense))
    for _ in range(2):
        amplitude = rng.uniform(0.0, amplitudeMm)
        wavelength = rng.uniform(*TORTUOSITY_WAVELENGTH_MM)
        phase = rng.uniform(0.0, 2 * math.pi)
        offset += amplitude * np.sin(2 * math.pi * arc / wavelength + phase)
    offset = (offset - offset[0]) * _smoothstep(arc / 6.0)
    return heart.project(dense + offset[:, None] * lateral)


def _surfaceVessel(heart: _Heart, theta: np.ndarray, phi: np.ndarray, rng: np.random.Generator,
                   amplitudeMm: float, start: np.ndarray | None = None) -> np.ndarray:
    dense = _tortuous(heart, heart.surface(theta, phi), rng, amplitudeMm)
    points = _resample(dense)
    if start is not None:
        points[0] = start
    return points


def _pickIndices(arc: np.ndarray, mask: np.ndarray, count: int, minSpacingMm: float, taken: list[float],
                 rng: np.random.Generator) -> list[int]:
    """Up to ``count`` random indices where ``mask``, >= ``minSpacingMm`` of arc from each other and ``taken``."""
    candidates = np.flatnonzero(mask)
    chosen = []
    if len(candidates) == 0:
        return chosen
    for _ in range(count):
        for _attempt in range(60):
            index = int(candidates[rng.integers(len(candidates))])
            if all(abs(arc[index] - other) >= minSpacingMm for other in taken):
                taken.append(float(arc[index]))
                chosen.append(index)
                break
    return sorted(chosen)


def _branchPath(heart: _Heart, parent: np.ndarray, index: int, thetaEnd: float, phiEndOffset: float,
                rng: np.random.Generator) -> np.ndarray:
    """Epicardial branch from ``parent[index]`` to (thetaEnd, phi_start + phiEndOffset) with a random bend."""
    theta0, phi0 = (float(v) for v in heart.angles(parent[index]))
    t = np.linspace(0.0, 1.0, 800)
    bend = rng.uniform(-0.3, 0.6)
    theta = theta0 + (thetaEnd - theta0) * t
    phi = phi0 + phiEndOffset * (t + bend * t * (1.0 - t))
    return _surfaceVessel(heart, theta, phi, rng, TORTUOSITY_AMPLITUDE_MM["branch"], start=parent[index])


def _septal(heart: _Heart, parent: np.ndarray, index: int, lengthMm: float, rng: np.random.Generator) -> np.ndarray:
    """Septal perforator: from the LAD into the septum (inwards and towards the apex), below the surface."""
    start = parent[index]
    normal = heart.normal(start)
    tangent = _tangents(parent)[index]
    tangent = _normalize(tangent - (tangent @ normal) * normal)
    beta = math.radians(rng.uniform(20.0, 50.0))
    direction = -math.cos(beta) * normal + math.sin(beta) * tangent
    bend = rng.uniform(0.002, 0.012)  # 1/mm: curves on towards the apex
    s = np.arange(0.0, lengthMm + 1e-9, 0.1)
    dense = start + s[:, None] * direction + (bend * s ** 2)[:, None] * tangent
    radius = heart.normalizedRadius(dense)
    outside = np.flatnonzero((s > 1.5) & (radius > 0.985))  # never re-emerge through the epicardium
    if len(outside):
        dense = dense[: max(outside[0], 20)]
    points = _resample(dense)
    points[0] = start
    return points


def _leftMain(heart: _Heart, thetaGroove: float, rng: np.random.Generator) -> dict:
    """Left main and aortic root: the LM bifurcation on the base ring near the anterior IV groove, the LM
    running back from it (inwards, upwards, towards +phi) to the left-sinus ostium, and the aortic root
    centre one sinus radius further on (the LM leaves the root perpendicular to its wall)."""
    thetaBif = min(thetaGroove - rng.uniform(0.0, 0.04), -0.005)  # at/above the base plane: LM stays outside
    phiBif = -math.radians(rng.uniform(12.0, 30.0))
    bifurcation = heart.surface(thetaBif, phiBif)
    normal = heart.normal(bifurcation)
    tangentPhi = _normalize(heart.surface(thetaBif, phiBif + 1e-3) - bifurcation)
    length = rng.uniform(*LEFT_MAIN_LENGTH_MM)
    direction = _normalize(rng.uniform(0.4, 0.9) * normal - rng.uniform(0.3, 0.8) * tangentPhi
                           + rng.uniform(0.15, 0.5) * heart.axis)
    ostium = bifurcation - length * direction
    aortaRadius = rng.uniform(*AORTIC_SINUS_RADIUS_MM)
    horizontal = _normalize(direction - (direction @ heart.axis) * heart.axis)
    return {"thetaBif": thetaBif, "phiBif": phiBif, "bifurcation": bifurcation, "ostium": ostium,
            "aortaRadius": aortaRadius, "aortaCentre": ostium - aortaRadius * horizontal, "leftSinus": horizontal}


def _buildLeft(heart: _Heart, rng: np.random.Generator) -> tuple[list[_Draft], dict]:
    thetaGroove = rng.uniform(*AV_GROOVE_THETA)
    root = _leftMain(heart, thetaGroove, rng)
    thetaBif, phiBif, bifurcation, ostium = root["thetaBif"], root["phiBif"], root["bifurcation"], root["ostium"]
    lm = _resample(np.linspace(ostium, bifurcation, 200))
    drafts = [_Draft("LM", None, lm, endFactor=rng.uniform(0.97, 1.0),
                     rootRadius=rng.uniform(*LEFT_MAIN_DIAMETER_MM) / 2)]
    ladShare = rng.uniform(*LAD_CUBE_SHARE)

    # LAD: from the bifurcation into the anterior IV groove (phi ~ 0), down to and around the apex.
    thetaEnd = math.pi / 2 + rng.uniform(0.05, 0.45)
    theta = np.linspace(thetaBif, thetaEnd, 2000)
    width, drift = rng.uniform(0.12, 0.25), rng.uniform(-0.08, 0.08)
    phi = phiBif * np.exp(-(theta - thetaBif) / width) + drift * (theta - thetaBif)
    lad = _surfaceVessel(heart, theta, phi, rng, TORTUOSITY_AMPLITUDE_MM["main"], start=bifurcation)
    drafts.append(_Draft("LAD", "LM", lad, parentIndex=len(lm) - 1, ratio=ladShare, terminal=True))

    # LCx: along the left AV groove towards the posterior (right dominant: stops before the crux).
    phiEnd = -math.radians(rng.uniform(100.0, 140.0))
    phi = np.linspace(phiBif, phiEnd, 1500)
    sag = rng.uniform(0.0, 0.04)
    progress = (phi - phiBif) / (phiEnd - phiBif)
    theta = thetaGroove + (thetaBif - thetaGroove) * np.exp(-np.abs(phi - phiBif) / 0.15) + sag * np.sin(
        math.pi * progress)
    lcx = _surfaceVessel(heart, theta, phi, rng, TORTUOSITY_AMPLITUDE_MM["main"], start=bifurcation)
    drafts.append(_Draft("LCx", "LM", lcx, parentIndex=len(lm) - 1, ratio=1.0 - ladShare, terminal=True))

    # Diagonals: from the proximal 2/3 of the LAD to the anterolateral wall.
    arc = _arcLength(lad)
    taken: list[float] = []
    count = int(rng.integers(BRANCH_COUNT["D"][0], BRANCH_COUNT["D"][1] + 1))
    mask = (arc > 0.06 * arc[-1]) & (arc < 0.6 * arc[-1])
    for number, index in enumerate(_pickIndices(arc, mask, count, 8.0, taken, rng), start=1):
        theta0, phi0 = (float(v) for v in heart.angles(lad[index]))
        phiTarget = -math.radians(rng.uniform(35.0, 75.0))  # absolute: the anterolateral LV wall
        path = _branchPath(heart, lad, index, min(theta0 + rng.uniform(0.3, 0.6), 1.35), phiTarget - phi0, rng)
        drafts.append(_Draft(f"D{number}", "LAD", path, parentIndex=index,
                             ratio=rng.uniform(*BRANCH_RADIUS_RATIO["D"])))

    # Septals: short perforators from the LAD (once in the groove) into the septum.
    phiLad = np.abs(heart.angles(lad)[1])
    count = int(rng.integers(BRANCH_COUNT["S"][0], BRANCH_COUNT["S"][1] + 1))
    mask = (arc > 0.08 * arc[-1]) & (arc < 0.6 * arc[-1]) & (phiLad < math.radians(12.0))
    for number, index in enumerate(_pickIndices(arc, mask, count, 4.0, taken, rng), start=1):
        key = "S1" if number == 1 else "S"
        length = rng.uniform(*(FIRST_SEPTAL_LENGTH_MM if number == 1 else SEPTAL_LENGTH_MM))
        drafts.append(_Draft(f"S{number}", "LAD", _septal(heart, lad, index, length, rng), parentIndex=index,
                             ratio=rng.uniform(*BRANCH_RADIUS_RATIO[key])))

    # Obtuse marginals: from the LCx on the lateral wall, down towards the apex.
    arc = _arcLength(lcx)
    phiLcx = heart.angles(lcx)[1]
    count = int(rng.integers(BRANCH_COUNT["OM"][0], BRANCH_COUNT["OM"][1] + 1))
    mask = (phiLcx < -math.radians(45.0)) & (arc > 6.0) & (arc < arc[-1] - 3.0)
    for number, index in enumerate(_pickIndices(arc, mask, count, 10.0, [], rng), start=1):
        path = _branchPath(heart, lcx, index, rng.uniform(0.85, 1.25), math.radians(rng.uniform(-10.0, 15.0)), rng)
        drafts.append(_Draft(f"OM{number}", "LCx", path, parentIndex=index,
                             ratio=rng.uniform(*BRANCH_RADIUS_RATIO["OM"])))

    landmarks = {"aortaCenterLps": root["aortaCentre"], "aortaRadiusMm": root["aortaRadius"], "ostiumLps": ostium}
    return drafts, landmarks


def _buildRight(heart: _Heart, rng: np.random.Generator) -> tuple[list[_Draft], dict]:
    # The aortic root is built as for the left tree; the right ostium sits on its anterior-right sinus,
    # 120-160 deg around the root from the left one (towards the right ventricle), slightly lower.
    thetaGroove = rng.uniform(*AV_GROOVE_THETA)
    root = _leftMain(heart, rng.uniform(*AV_GROOVE_THETA), rng)
    aortaCentre, aortaRadius = root["aortaCentre"], root["aortaRadius"]
    turn = math.radians(rng.uniform(120.0, 160.0))  # +turn increases phi (rotation from g towards y)
    sinusDirection = max((_rotationAbout(heart.axis, sign * turn) @ root["leftSinus"] for sign in (1.0, -1.0)),
                         key=lambda direction: direction @ heart.frame[:, 2])
    ostium = aortaCentre + aortaRadius * sinusDirection + rng.uniform(0.0, 4.0) * heart.axis
    ostium = ostium - max(heart.height(ostium) + 0.5, 0.0) * heart.axis  # stay above the base plane

    # Entry into the right AV groove, then along it to the crux (phi = 180 deg).
    phiOstium = float(heart.angles(ostium)[1])
    phiEntry = float(np.clip(phiOstium + math.radians(rng.uniform(5.0, 30.0)), math.radians(15.0),
                             math.radians(90.0)))
    phi = np.linspace(phiEntry, math.pi, 1800)
    dip = rng.uniform(0.0, 0.06)
    theta = thetaGroove + dip * np.sin(math.pi * (phi - phiEntry) / (math.pi - phiEntry))
    groove = _tortuous(heart, heart.surface(theta, phi), rng, TORTUOSITY_AMPLITUDE_MM["main"])
    entry = groove[0]
    scale = 1.2 * np.linalg.norm(entry - ostium)
    tangentOut, tangentIn = sinusDirection * scale, _tangents(groove[:20])[0] * scale
    t = np.linspace(0.0, 1.0, 300)[:, None]
    hermite = ((2 * t ** 3 - 3 * t ** 2 + 1) * ostium + (t ** 3 - 2 * t ** 2 + t) * tangentOut
               + (-2 * t ** 3 + 3 * t ** 2) * entry + (t ** 3 - t ** 2) * tangentIn)
    rca = _resample(heart.keepOutside(np.concatenate([hermite[:-1], groove])))
    cruxIndex = len(rca) - 1
    proximalArc = _arcLength(hermite).max()
    drafts = [_Draft("RCA", None, rca, endFactor=rng.uniform(*RCA_CRUX_RADIUS_FACTOR),
                     rootRadius=rng.uniform(*RCA_DIAMETER_MM) / 2)]
    pdaShare = rng.uniform(*PDA_CUBE_SHARE)
    crux = rca[-1]
    thetaCrux, phiCrux = (float(v) for v in heart.angles(crux))

    # PDA: down the posterior IV groove towards the apex.
    theta = np.linspace(thetaCrux, rng.uniform(0.95, 1.35), 1500)
    phi = phiCrux + rng.uniform(-0.1, 0.1) * (theta - thetaCrux)
    pda = _surfaceVessel(heart, theta, phi, rng, TORTUOSITY_AMPLITUDE_MM["main"], start=crux)
    drafts.append(_Draft("PDA", "RCA", pda, parentIndex=cruxIndex, ratio=pdaShare, terminal=True))

    # PLB: beyond the crux along the left AV groove, giving posterolateral branches to the LV inferior wall.
    phi = np.linspace(phiCrux, phiCrux + math.radians(rng.uniform(25.0, 55.0)), 800)
    theta = thetaCrux + rng.uniform(0.0, 0.05) * np.sin(math.pi * np.linspace(0.0, 1.0, len(phi)))
    plb = _surfaceVessel(heart, theta, phi, rng, TORTUOSITY_AMPLITUDE_MM["branch"], start=crux)
    drafts.append(_Draft("PLB", "RCA", plb, parentIndex=cruxIndex, ratio=1.0 - pdaShare, terminal=True))

    # Acute marginals: from the RCA's groove part down the RV free wall.
    arc = _arcLength(rca)
    phiRca = heart.angles(rca)[1]
    count = int(rng.integers(BRANCH_COUNT["AM"][0], BRANCH_COUNT["AM"][1] + 1))
    mask = (arc > proximalArc + 3.0) & (phiRca > math.radians(65.0)) & (phiRca < math.radians(150.0))
    for number, index in enumerate(_pickIndices(arc, mask, count, 10.0, [], rng), start=1):
        path = _branchPath(heart, rca, index, rng.uniform(0.5, 1.0), math.radians(rng.uniform(-15.0, 15.0)), rng)
        drafts.append(_Draft(f"AM{number}", "RCA", path, parentIndex=index,
                             ratio=rng.uniform(*BRANCH_RADIUS_RATIO["AM"])))

    arc = _arcLength(plb)
    count = int(rng.integers(BRANCH_COUNT["PL"][0], BRANCH_COUNT["PL"][1] + 1))
    mask = (arc > 4.0) & (arc < arc[-1] - 1.0)
    for number, index in enumerate(_pickIndices(arc, mask, count, 6.0, [], rng), start=1):
        path = _branchPath(heart, plb, index, rng.uniform(0.5, 0.95), math.radians(rng.uniform(0.0, 20.0)), rng)
        drafts.append(_Draft(f"PL{number}", "PLB", path, parentIndex=index,
                             ratio=rng.uniform(*BRANCH_RADIUS_RATIO["PL"])))

    landmarks = {"aortaCenterLps": aortaCentre, "aortaRadiusMm": aortaRadius, "ostiumLps": ostium}
    return drafts, landmarks


def _radiusProfile(arc: np.ndarray, r0: float, rEnd: float, branches: list[tuple[int, float]], exponent: float):
    """Taper from r0 to rEnd with Murray steps at side branches (index, child/parent radius ratio).

    ``log r`` falls by the branch steps plus a continuous part ``~ (s / S) ** exponent`` (exponent > 1:
    most of the continuous narrowing is distal, as in Dodge et al. 1992 where proximal and mid segments
    differ less than mid and distal). The branch drops are scaled down if they would take more than 80 %
    of the total log-decrease, so a vessel never widens. Returns (radii, child start radii).
    """
    total = math.log(r0 / rEnd)
    drops = np.array([-math.log(1.0 - ratio ** 3) / 3.0 for _, ratio in branches])
    if drops.sum() > 0.8 * total:
        drops *= 0.8 * total / drops.sum()
    continuous = (total - drops.sum()) * (arc / max(arc[-1], 1e-9)) ** exponent
    steps = np.zeros(len(arc))
    for (index, _), drop in zip(branches, drops):
        steps[index + 1:] += drop
        continuous[index + 1] = continuous[index]  # the step is exactly Murray's (no taper across it)
    radii = r0 * np.exp(-continuous - steps)
    children = [radii[index] * (1.0 - math.exp(-3.0 * drop)) ** (1.0 / 3.0)
                for (index, _), drop in zip(branches, drops)]
    return radii, children


def _assignRadii(drafts: list[_Draft], rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Radii top-down (parents before children); see the module docstring."""
    radii: dict[str, np.ndarray] = {}
    startRadius: dict[str, float] = {}
    for draft in drafts:
        r0 = draft.rootRadius if draft.parent is None else startRadius[draft.name]
        arc = _arcLength(draft.points)
        children = [d for d in drafts if d.parent == draft.name]
        side = [d for d in children if not d.terminal]
        terminal = [d for d in children if d.terminal]
        if terminal:
            rEnd = r0 * draft.endFactor
        else:
            rEnd = min(rng.uniform(*DISTAL_DIAMETER_MM) / 2, 0.85 * r0)
        ratios = [d.ratio for d in side]
        exponent = rng.uniform(*TAPER_EXPONENT)
        profile, childRadii = _radiusProfile(arc, r0, rEnd, [(d.parentIndex, q) for d, q in zip(side, ratios)],
                                             exponent)
        # widen branches that would start below MIN_BRANCH_RADIUS_MM, then recompute once
        widened = [max(q, min(MIN_BRANCH_RADIUS_MM / profile[d.parentIndex], 0.9)) for d, q in zip(side, ratios)]
        if widened != ratios:
            profile, childRadii = _radiusProfile(arc, r0, rEnd, [(d.parentIndex, q) for d, q in zip(side, widened)],
                                                 exponent)
        radii[draft.name] = profile
        for d, radius in zip(side, childRadii):
            startRadius[d.name] = float(radius)
        for d in terminal:
            startRadius[d.name] = float(profile[-1] * d.ratio ** (1.0 / 3.0))
    return radii


def _addStenoses(case: CoronaryCase, drafts: list[_Draft], rng: np.random.Generator) -> None:
    count = int(rng.choice(3, p=STENOSIS_COUNT_PROBABILITIES))
    names = [name for name in STENOSIS_VESSELS[case.tree] if any(v.name == name for v in case.vessels)]
    for _ in range(count):
        vessel = case.vessel(names[int(rng.integers(len(names)))])
        percent = rng.uniform(*STENOSIS_PERCENT)
        length = rng.uniform(*STENOSIS_LENGTH_MM)
        arc = _arcLength(vessel.pointsLps)
        margin = length / 2 + 1.5  # the lesion stays clear of branch points (Murray steps) and vessel ends
        mask = (vessel.radiiMm >= 0.75) & (arc > margin) & (arc < arc[-1] - margin)
        for draft in drafts:
            if draft.parent == vessel.name:
                mask &= np.abs(arc - arc[draft.parentIndex]) > margin
        for other in case.stenoses:
            if other["vessel"] == vessel.name:
                mask &= np.abs(arc - other["arcMm"]) > margin + other["lengthMm"] / 2
        candidates = np.flatnonzero(mask)
        if len(candidates) == 0:
            continue
        index = int(candidates[rng.integers(len(candidates))])
        distance = np.abs(arc - arc[index])
        bump = np.where(distance < length / 2, 0.5 * (1.0 + np.cos(2 * math.pi * distance / length)), 0.0)
        vessel.radiiMm = vessel.radiiMm * (1.0 - percent / 100.0 * bump)
        case.stenoses.append({"vessel": vessel.name, "arcMm": float(arc[index]), "percent": float(percent),
                              "lengthMm": float(length)})


def generateCase(seed: int, tree: str) -> CoronaryCase:
    """Synthetic coronary tree, deterministic by (``seed``, ``tree``).

    :param seed: any non-negative integer.
    :param tree: ``"left"`` (LM, LAD, LCx and branches) or ``"right"`` (RCA, PDA, PLB and branches).
    :returns: the case, centred on the isocenter (bounding box centre within +-3 mm of the origin, all
        points within +-:data:`FIT_HALF_EXTENT_MM` mm), LPS mm.
    """
    if tree not in _TREE_CODES:
        raise ValueError(f"tree must be 'left' or 'right', got {tree!r}")
    rng = np.random.default_rng([int(seed), _TREE_CODES[tree], 20200326])
    build = _buildLeft if tree == "left" else _buildRight
    for _attempt in range(100):
        heart, info = _drawHeart(rng)
        drafts, landmarks = build(heart, rng)
        points = np.concatenate([d.points for d in drafts])
        low, high = points.min(axis=0), points.max(axis=0)
        halfExtent = (high - low) / 2
        if halfExtent.max() <= FIT_HALF_EXTENT_MM:
            break
    else:  # pragma: no cover - never seen; a deterministic fallback that shrinks the last draw
        factor = FIT_HALF_EXTENT_MM / halfExtent.max()
        heart.semiAxes *= factor
        for draft in drafts:
            draft.points = draft.points * factor
        landmarks = {k: (v * factor) for k, v in landmarks.items()}
        points = np.concatenate([d.points for d in drafts])
        low, high = points.min(axis=0), points.max(axis=0)
        halfExtent = (high - low) / 2
    room = np.minimum(CENTRE_JITTER_MM, FIT_HALF_EXTENT_MM - halfExtent)
    shift = -(low + high) / 2 + rng.uniform(-1.0, 1.0, size=3) * room
    for draft in drafts:
        draft.points = draft.points + shift
    heart.centre = heart.centre + shift
    radii = _assignRadii(drafts, rng)
    vessels = [Vessel(d.name, d.points, radii[d.name], d.parent) for d in drafts]
    heartDict = heart.toDict() | info | {
        "aortaCenterLps": (landmarks["aortaCenterLps"] + shift).tolist(),
        "aortaRadiusMm": float(landmarks["aortaRadiusMm"]),
        "ostiumLps": (landmarks["ostiumLps"] + shift).tolist(),
    }
    case = CoronaryCase(tree=tree, seed=int(seed), vessels=vessels, heart=heartDict)
    _addStenoses(case, drafts, rng)
    return case


# ------------------------------------------------------------------------------------------------------
# Augmentation (paper, section IV.A)
def augment(case: CoronaryCase, rng: np.random.Generator, rotationDeg: tuple = AUGMENT_ROTATION_DEG,
            scalePercent: tuple = AUGMENT_SCALE_PERCENT) -> CoronaryCase:
    """Random rotation (5-15 deg about a uniformly random axis through the isocenter) and scaling by 3-10 %
    up or down (other ``rotationDeg``, ``scalePercent`` ranges: the out-of-distribution check's), applied to points
    (LPS mm, about the origin), radii, the heart model and stenosis lengths.

    :returns: a new case (the input is not modified); ``augmentation`` gains the parameters used.
    """
    axis = _normalize(rng.standard_normal(3))
    angle = rng.uniform(*rotationDeg)
    sign = 1.0 if rng.random() < 0.5 else -1.0
    scale = 1.0 + sign * rng.uniform(*scalePercent) / 100.0
    rotation = _rotationAbout(axis, math.radians(angle))
    vessels = [Vessel(v.name, scale * v.pointsLps @ rotation.T, scale * v.radiiMm, v.parent) for v in case.vessels]
    heart = dict(case.heart)
    for key in ("centerLps", "aortaCenterLps", "ostiumLps"):
        if key in heart:
            heart[key] = (scale * rotation @ np.asarray(heart[key])).tolist()
    for key in ("longAxisLps", "anteriorGrooveLps", "rightVentricleLps"):
        if key in heart:
            heart[key] = (rotation @ np.asarray(heart[key])).tolist()
    for key in ("longAxisMm", "aortaRadiusMm"):
        if key in heart:
            heart[key] = heart[key] * scale
    if "shortAxisMm" in heart:
        heart["shortAxisMm"] = [value * scale for value in heart["shortAxisMm"]]
    stenoses = [s | {"arcMm": s["arcMm"] * scale, "lengthMm": s["lengthMm"] * scale} for s in case.stenoses]
    record = {"rotationAxis": axis.tolist(), "rotationDeg": float(angle), "scale": float(scale)}
    return CoronaryCase(case.tree, case.seed, vessels, stenoses, heart, case.augmentation + [record])


def translate(case: CoronaryCase, offsetMm) -> CoronaryCase:
    """The case moved by ``offsetMm`` (LPS mm): points and the heart model's positions (a heart off the isocenter)."""
    offset = np.asarray(offsetMm, dtype=float)
    vessels = [Vessel(v.name, v.pointsLps + offset, v.radiiMm, v.parent) for v in case.vessels]
    heart = dict(case.heart)
    for key in ("centerLps", "aortaCenterLps", "ostiumLps"):
        if key in heart:
            heart[key] = (np.asarray(heart[key]) + offset).tolist()
    return CoronaryCase(case.tree, case.seed, vessels, case.stenoses, heart, case.augmentation)
