"""Fit the reconstructed heart to what the six views show: each view's plane pose and a smooth deformation.

The network (S2MNet) predicts the heart from what it learned of its training population; this step makes the
result follow the images (issue 13, item 2; after Chen et al. 2025, who fit a mesh to six planes). For each view
the network also segments the image; the mesh cut by that view's plane should lie on the segmented region's
borders. The fit moves

- each view's plane (rotation about its pivot, translation; one pose per view shared by end-diastole and
  end-systole: the probe stays put during a cine): the probe is never exactly where the standard view puts it,
  and the heart may lie anywhere in the sector;
- the mesh, by a smooth displacement field per structure and phase (trilinear on a coarse control grid over the
  heart, :data:`GRID_NODES` nodes per axis), so chamber sizes and shapes follow the borders seen.

Loss (mm, :func:`fitToViews`): for the LV cavity, the LV epicardium, the RV and the LA (the structures the 2D
segmentation finds; RA and aortic root are left to the network), the squared distance (Huber, :data:`HUBER_MM`) of
every point where the structure's surface crosses the plane to the segmented region's border, and of the region's
border to the nearest crossing point (so a cut cannot shrink onto part of the border), both only where the sector
shows tissue; plus priors: smoothness and size of the displacement fields, a plane pose close to the standard one
(:data:`ROTATION_SIGMA_DEG`, :data:`OUT_OF_PLANE_SIGMA_MM`; the in-plane shift is free up to
:data:`IN_PLANE_SIGMA_MM`: where the heart sits in the sector is not known), and the myocardium's volume equal at
end-diastole and end-systole (it is incompressible). Adam, :data:`ITERATIONS` steps, on the CPU in about a second.

Each view's residual (:attr:`ViewFit.residualMm`, mean distance of the fitted cut to the segmented borders, mm) is
its quality readout: a view whose borders the heart cannot meet is a view that is not what its label says, or an
image the network could not segment.

Why hand-written: the differentiable plane cut of a triangle mesh (edge crossings interpolated by signed distance)
is a few lines on top of torch; no library in Slicer's Python (VTK, ITK, MONAI) offers a differentiable one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

import numpy as np

from .conventions import IMAGE_SIZE, STRUCTURES, VIEWS
from .inputs import trainingPixelMm

#: Structures fitted and the 2D labels (1..6 = STRUCTURES) whose union is each one's region in a view.
FITTED = {"LV cavity": (1,), "LV myocardium": (1, 2), "RV": (3,), "LA": (4,)}
GRID_NODES = 6
ITERATIONS = 150
POSE_ITERATIONS = 30
HUBER_MM = 3.0
ROTATION_SIGMA_DEG = 8.0
OUT_OF_PLANE_SIGMA_MM = 6.0
IN_PLANE_SIGMA_MM = 20.0
#: Smallest region (pixels) of a structure in a view for its borders to be fitted.
MIN_REGION_PIXELS = 40
#: Border pixels per region and view used for the coverage term (a regular subsample).
MAX_BORDER_POINTS = 160
WEIGHT_SMOOTH, WEIGHT_SIZE, WEIGHT_POSE, WEIGHT_MYOCARDIUM = 0.5, 0.002, 1.0, 50.0


@dataclass
class ViewFit:
    """What the fit returns: fitted vertices per phase (heart frame, mm), the fitted planes, per-view residuals."""

    vertices: dict  #: phase -> [V, 3]
    planes: dict  #: view -> ViewPlane (fitted pose)
    residualMm: dict  #: phase -> {view: mean border distance (mm), NaN when nothing could be fitted}
    initialResidualMm: dict  #: the same before fitting
    moveMm: dict = field(default_factory=dict)  #: phase -> RMS vertex displacement of the fit (mm)


def _regionTargets(labels: np.ndarray, visible: np.ndarray, view: str):
    """Per fitted structure: (signed distance map in mm [H, W], border points (column, row) [N, 2]) of its region in
    one view, or None when the region is too small; the border where the region meets the end of the visible sector
    is not a border of the structure and is left out."""
    from scipy import ndimage

    pixelMm = trainingPixelMm(view)
    inner = ndimage.binary_erosion(visible, iterations=2)
    targets = {}
    for structure, wanted in FITTED.items():
        region = np.isin(labels, wanted)
        if region.sum() < MIN_REGION_PIXELS:
            targets[structure] = None
            continue
        signed = (ndimage.distance_transform_edt(~region) - ndimage.distance_transform_edt(region)) * pixelMm
        border = region & ~ndimage.binary_erosion(region) & inner
        rows, columns = np.nonzero(border)
        step = max(1, len(rows) // MAX_BORDER_POINTS)
        points = np.stack([columns[::step], rows[::step]], 1).astype(np.float32)
        targets[structure] = (signed.astype(np.float32), points)
    return targets


def _uniqueEdges(triangles: np.ndarray) -> np.ndarray:
    edges = np.concatenate([triangles[:, [0, 1]], triangles[:, [1, 2]], triangles[:, [2, 0]]])
    return np.unique(np.sort(edges, axis=1), axis=0)


def _rotation(vector):
    """Rotation matrices (torch) of rotation vectors [..., 3] (Rodrigues)."""
    import torch

    angle = vector.norm(dim=-1, keepdim=True).clamp(min=1e-9)
    axis = vector / angle
    zero = torch.zeros_like(axis[..., 0])
    k = torch.stack([zero, -axis[..., 2], axis[..., 1], axis[..., 2], zero, -axis[..., 0],
                     -axis[..., 1], axis[..., 0], zero], -1).reshape(*axis.shape[:-1], 3, 3)
    angle = angle[..., None]
    return torch.eye(3, dtype=vector.dtype) + torch.sin(angle) * k + (1 - torch.cos(angle)) * (k @ k)


def _trilinearWeights(points: np.ndarray, low: np.ndarray, high: np.ndarray, nodes: int) -> tuple:
    """Trilinear interpolation of a field on nodes^3 nodes over the box low..high at ``points`` [N, 3]: (node indices
    [N, 8], weights [N, 8])."""
    position = np.clip((points - low) / (high - low) * (nodes - 1), 0.0, nodes - 1 - 1e-6)
    base = np.floor(position).astype(np.int64)
    fraction = position - base
    indices, weights = [], []
    for corner in range(8):
        offset = np.array([(corner >> axis) & 1 for axis in range(3)])
        weights.append(np.prod(np.where(offset, fraction, 1.0 - fraction), axis=1))
        indices.append(((base[:, 0] + offset[0]) * nodes + base[:, 1] + offset[1]) * nodes + base[:, 2] + offset[2])
    return np.stack(indices, 1), np.stack(weights, 1)


def _huber(distance, delta: float):
    import torch

    absolute = distance.abs()
    return torch.where(absolute < delta, 0.5 * distance ** 2, delta * (absolute - 0.5 * delta))


def fitToViews(vertices: Mapping[str, np.ndarray], segmentations: Mapping[str, np.ndarray],
               inputs: Mapping[str, np.ndarray], template, deform: bool = True,
               iterations: int | None = None) -> ViewFit:
    """Fit (module docstring) the predicted ``vertices`` (phase -> [V, 3], heart frame mm) to the network's 2D
    ``segmentations`` (phase -> uint8 [6, 128, 128]) of its ``inputs`` (phase -> float [6, 128, 128]; where they are
    zero the sector shows nothing). The planes start at the standard views of the end-diastolic prediction.
    ``deform=False`` fits the plane poses only (the mesh stays the network's; :data:`POSE_ITERATIONS` steps): the
    residuals then measure how far the network's heart is from its own segmentation of each view.

    All (phase, view, structure) borders are evaluated at once: the signed distance maps stacked as the depth of one
    volume (one ``grid_sample`` call), the border-to-cut distances as one batched ``cdist`` over padded groups."""
    import torch

    from .template import enclosedVolumeTensor
    from .viewplanes import ViewPlane, viewPlanes

    phases = list(vertices)
    dtype = torch.float32
    planes0 = viewPlanes(np.asarray(vertices[phases[0]], float), template)
    problem = _Problem(phases, segmentations, inputs, template)
    if not problem.groups:
        raise ValueError("the 2D segmentation shows none of the LV, RV or LA in any view: nothing to fit to")
    allPoints = np.concatenate([np.asarray(vertices[phase], float) for phase in phases])
    low, high = allPoints.min(0) - 10.0, allPoints.max(0) + 10.0
    vertexGroups = [template.structureVertexIndices(index) for index in range(len(STRUCTURES))]
    order = torch.as_tensor(np.argsort(np.concatenate(vertexGroups)))
    base = {phase: torch.as_tensor(np.asarray(vertices[phase], np.float32)) for phase in phases}
    interpolation = {phase: [tuple(torch.as_tensor(array) for array in _trilinearWeights(
        np.asarray(vertices[phase], float)[group], low, high, GRID_NODES)) for group in vertexGroups]
        for phase in phases}
    fields = {phase: torch.zeros(len(STRUCTURES), GRID_NODES ** 3, 3, dtype=dtype, requires_grad=deform)
              for phase in phases}
    rotations = torch.zeros(len(VIEWS), 3, dtype=dtype, requires_grad=True)
    shifts = torch.zeros(len(VIEWS), 3, dtype=dtype, requires_grad=True)
    origin0 = torch.as_tensor(np.stack([planes0[view].origin for view in VIEWS]), dtype=dtype)
    axes0 = torch.as_tensor(np.stack([np.stack([planes0[view].u, planes0[view].v, planes0[view].normal])
                                      for view in VIEWS]), dtype=dtype)  # [6, 3 (u, v, n), 3]
    pivots = torch.as_tensor(np.stack([planes0[view].pivot for view in VIEWS]), dtype=dtype)
    myocardium = torch.as_tensor(template.structureTriangles("LV myocardium"))
    cavity = torch.as_tensor(template.structureTriangles("LV cavity"))

    def deformed(phase):  # each vertex moved by its own structure's field
        moves = [(weight.to(dtype)[..., None] * fields[phase][structure][index]).sum(1)
                 for structure, (index, weight) in enumerate(interpolation[phase])]
        return base[phase] + torch.cat(moves)[order]

    def posedPlanes():
        matrix = _rotation(rotations)  # [6, 3, 3]
        axes = axes0 @ matrix.transpose(1, 2)
        origin = pivots + ((origin0 - pivots)[:, None, :] @ matrix.transpose(1, 2)).squeeze(1) + shifts
        return origin, axes

    def priors(meshes):
        loss = 0.0
        for phase in phases:
            grid = fields[phase].reshape(len(STRUCTURES), GRID_NODES, GRID_NODES, GRID_NODES, 3)
            smooth = sum((grid.diff(dim=axis) ** 2).mean() for axis in (1, 2, 3))
            loss = loss + WEIGHT_SMOOTH * smooth + WEIGHT_SIZE * (grid ** 2).mean()
        along = torch.einsum("vk,vak->va", shifts, axes0)  # each view's shift along its u, v, n
        pose = ((rotations.norm(dim=1) / np.radians(ROTATION_SIGMA_DEG)) ** 2).mean() \
            + ((along[:, 2] / OUT_OF_PLANE_SIGMA_MM) ** 2).mean() + ((along[:, :2] / IN_PLANE_SIGMA_MM) ** 2).mean()
        loss = loss + WEIGHT_POSE * pose
        if len(phases) == 2:
            wall = [enclosedVolumeTensor(meshes[phase], myocardium) - enclosedVolumeTensor(meshes[phase], cavity)
                    for phase in phases]
            loss = loss + WEIGHT_MYOCARDIUM * ((wall[1] - wall[0]) / wall[0]) ** 2
        return loss

    with torch.no_grad():
        initialResidual = problem.residuals(base, *posedPlanes())
    rates = [(rotations, 0.01), (shifts, 1.0)] + ([(field, 0.5) for field in fields.values()] if deform else [])
    optimizer = _Adam(rates)
    steps = iterations or (ITERATIONS if deform else POSE_ITERATIONS)
    for step in range(steps):
        meshes = {phase: deformed(phase) for phase in phases} if deform else base
        loss = problem.loss(meshes, *posedPlanes()) + priors(meshes)
        optimizer.zeroGrad()
        loss.backward()
        optimizer.step(1.0 - 0.9 * step / steps)  # large steps first (a probe may sit 10-20 mm off), then settle
    with torch.no_grad():
        meshes = {phase: deformed(phase) for phase in phases}
        origin, axes = posedPlanes()
        residual = problem.residuals(meshes, origin, axes)
    planes = {view: ViewPlane(view, origin[index].double().numpy(), axes[index, 0].double().numpy(),
                              axes[index, 1].double().numpy(), planes0[view].pixelMm, planes0[view].size,
                              planes0[view].halfAngleDeg, pivot=planes0[view].pivot)
              for index, view in enumerate(VIEWS)}
    fitted = {phase: meshes[phase].double().numpy() if deform else np.asarray(vertices[phase], float)
              for phase in phases}
    move = {phase: float(np.sqrt(np.mean(np.sum((fitted[phase] - np.asarray(vertices[phase])) ** 2, axis=1))))
            for phase in phases}
    return ViewFit(fitted, planes, residual, initialResidual, move)


class _Adam:
    """Adam (Kingma and Ba 2015) on a few tensors, each with its learning rate. Hand-written because constructing
    any ``torch.optim`` optimizer imports ``torch._dynamo``: 0.9 s more for every run's first fit."""

    def __init__(self, rates, betas=(0.9, 0.999), epsilon=1e-8):
        import torch

        self.rates, self.betas, self.epsilon, self.count = list(rates), betas, epsilon, 0
        self.moments = [(torch.zeros_like(tensor), torch.zeros_like(tensor)) for tensor, _ in self.rates]

    def zeroGrad(self):
        for tensor, _ in self.rates:
            tensor.grad = None

    def step(self, scale: float = 1.0):
        import torch

        self.count += 1
        first, second = self.betas
        with torch.no_grad():
            for (tensor, rate), (mean, square) in zip(self.rates, self.moments):
                if tensor.grad is None:
                    continue
                mean.mul_(first).add_(tensor.grad, alpha=1 - first)
                square.mul_(second).addcmul_(tensor.grad, tensor.grad, value=1 - second)
                corrected = square / (1 - second ** self.count)
                tensor.sub_(scale * rate * (mean / (1 - first ** self.count)) / (corrected.sqrt() + self.epsilon))


class _Problem:
    """The data term of the fit: every (phase, view, structure) with a segmented region (a "group"), its signed
    distance map and border points, evaluated for all groups at once."""

    def __init__(self, phases, segmentations, inputs, template):
        import torch
        from scipy import ndimage

        self.phases = phases
        self.groups, signed, visibleMaps, borders = [], [], [], []
        for phase in phases:
            for viewIndex, view in enumerate(VIEWS):
                visible = ndimage.binary_fill_holes(np.asarray(inputs[phase][viewIndex]) > 0)
                visible = ndimage.binary_opening(visible, iterations=2)
                if not visible.any():  # a view not given (a black image): nothing to fit, no residual
                    continue
                regions = _regionTargets(np.asarray(segmentations[phase][viewIndex]), visible, view)
                for name, target in regions.items():
                    if target is not None:
                        self.groups.append((phase, viewIndex, name))
                        signed.append(target[0])
                        visibleMaps.append(visible.astype(np.float32))
                        borders.append(target[1])
        count = len(self.groups)
        if not count:
            return
        self.signed = torch.as_tensor(np.stack(signed))[None, None]  # [1, 1, G, H, W]
        self.visible = torch.as_tensor(np.stack(visibleMaps))[None, None]
        longest = max(len(border) for border in borders)
        self.border = torch.full((count, longest, 2), np.nan)
        for index, border in enumerate(borders):
            self.border[index, :len(border)] = torch.as_tensor(border)
        self.borderMask = ~torch.isnan(self.border[..., 0])
        self.border = torch.nan_to_num(self.border)
        self.pixelMm = torch.as_tensor([trainingPixelMm(VIEWS[viewIndex]) for _, viewIndex, _ in self.groups])
        # per (phase, structure): the groups (views) that fit it, and the structure's unique edges
        self.byPhaseStructure = {}
        for index, (phase, viewIndex, name) in enumerate(self.groups):
            self.byPhaseStructure.setdefault((phase, name), []).append((index, viewIndex))
        self.vertexIndices, self.edges = {}, {}
        for name in FITTED:  # each structure's own vertices, its edges numbered among them
            indices = template.structureVertexIndices(name)
            local = np.full(template.numberOfVertices, -1)
            local[indices] = np.arange(len(indices))
            self.vertexIndices[name] = torch.as_tensor(indices)
            self.edges[name] = torch.as_tensor(local[_uniqueEdges(template.structureTriangles(name))])

    def crossings(self, meshes, origin, axes):
        """Every crossing point of every group: (group index [K], pixel (column, row) [K, 2])."""
        import torch

        groupIndex, pixels = [], []
        for (phase, name), members in self.byPhaseStructure.items():
            groups = torch.as_tensor([index for index, _ in members])
            views = torch.as_tensor([viewIndex for _, viewIndex in members])
            pair = self.edges[name]
            points = meshes[phase][self.vertexIndices[name]]
            with torch.no_grad():  # which edges cross which plane (the gradient flows through the crossings only)
                normal = ((points[None] - origin[views][:, None]) * axes[views, 2][:, None]).sum(-1)  # [n, V]
                which, edge = torch.nonzero((normal[:, pair[:, 0]] >= 0) != (normal[:, pair[:, 1]] >= 0),
                                            as_tuple=True)
            view = views[which]
            first = points[pair[edge, 0]] - origin[view]  # edge ends relative to the plane's origin
            second = points[pair[edge, 1]] - origin[view]
            da, db = (first * axes[view, 2]).sum(-1), (second * axes[view, 2]).sum(-1)
            crossing = first + (da / (da - db)).unsqueeze(1) * (second - first)
            pixelMm = self.pixelMm[groups[which]].unsqueeze(1)
            column = (crossing * axes[view, 0]).sum(-1, keepdim=True) / pixelMm + (IMAGE_SIZE - 1) / 2.0
            row = (crossing * axes[view, 1]).sum(-1, keepdim=True) / pixelMm
            groupIndex.append(groups[which])
            pixels.append(torch.cat([column, row], 1))
        return torch.cat(groupIndex), torch.cat(pixels)

    def distances(self, meshes, origin, axes):
        """(group [K], distance of each crossing to its region's border (mm) [K], visibility [K], distance of each
        border point to its group's nearest crossing (mm) [G, B], border mask [G, B])."""
        import torch

        group, pixels = self.crossings(meshes, origin, axes)
        count = len(self.groups)
        scale = 2.0 / (IMAGE_SIZE - 1)
        depth = group.to(pixels.dtype) * (2.0 / max(count - 1, 1)) - 1.0 if count > 1 else torch.zeros_like(group)
        grid = torch.stack([pixels[:, 0] * scale - 1, pixels[:, 1] * scale - 1, depth.to(pixels.dtype)], -1)
        grid = grid[None, None, None]  # [1, 1, 1, K, 3]
        sample = torch.nn.functional.grid_sample
        distance = sample(self.signed, grid, align_corners=True, padding_mode="border")[0, 0, 0, 0]
        visible = sample(self.visible, grid, align_corners=True, padding_mode="zeros")[0, 0, 0, 0]
        # crossings padded per group for one batched cdist with the border points
        counts = torch.bincount(group, minlength=count)
        order = torch.argsort(group, stable=True)
        start = torch.cumsum(counts, 0) - counts
        position = torch.arange(len(group)) - start[group[order]]
        padded = torch.full((count, int(counts.max()) if len(group) else 1, 2), 1e4, dtype=pixels.dtype)
        padded = padded.index_put((group[order], position), pixels[order])
        with torch.no_grad():  # the nearest crossing of each border point; the gradient flows through its distance
            closest = torch.cdist(self.border, padded).argmin(dim=2)  # [G, B]
        offset = self.border - padded[torch.arange(count)[:, None], closest]
        nearest = torch.sqrt((offset ** 2).sum(-1) + 1e-12) * self.pixelMm[:, None]
        return group, distance, visible, nearest

    def _groupMeans(self, meshes, origin, axes, penalty):
        """Per group: the mean ``penalty`` of its crossings' border distances (visible ones) and of its border points'
        distances to the nearest crossing; and the crossings' group indices."""
        import torch

        group, distance, visible, nearest = self.distances(meshes, origin, axes)
        count = len(self.groups)
        onCut = torch.zeros(count).index_add(0, group, visible * penalty(distance))
        onCut = onCut / torch.zeros(count).index_add(0, group, visible).clamp(min=1.0)
        coverage = (penalty(nearest) * self.borderMask).sum(1) / self.borderMask.sum(1).clamp(min=1)
        return onCut, coverage, group

    def loss(self, meshes, origin, axes):
        onCut, coverage, _ = self._groupMeans(meshes, origin, axes, lambda distance: _huber(distance, HUBER_MM))
        return (onCut + coverage).mean()

    def residuals(self, meshes, origin, axes) -> dict:
        """phase -> {view: mean of the two border distances (mm) over the view's structures; NaN when none}."""
        import torch

        onCut, coverage, group = self._groupMeans(meshes, origin, axes, torch.abs)
        count = len(self.groups)
        crossed = torch.bincount(group, minlength=count) > 0
        perGroup = torch.where(crossed, 0.5 * (onCut + coverage), torch.nan).tolist()  # no crossing: not measured
        result = {phase: {view: [] for view in VIEWS} for phase in self.phases}
        for value, (phase, viewIndex, _) in zip(perGroup, self.groups):
            result[phase][VIEWS[viewIndex]].append(value)
        return {phase: {view: float(np.nanmean(values)) if np.any(np.isfinite(values)) else float("nan")
                        for view, values in byView.items()} for phase, byView in result.items()}
