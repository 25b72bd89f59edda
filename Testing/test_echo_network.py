"""EchoRecon network (S2MNet): shapes, start at the template, field sampling, volume, export, data, bundled model."""

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="needs torch: the pass with Slicer's packages runs without it")

from EchoReconDev import dataset, network, train
from EchoReconLib.conventions import STRUCTURES
from EchoReconLib.template import HeartTemplate, enclosedVolumeTensor


@pytest.fixture(scope="module")
def template():
    return HeartTemplate.load()


@pytest.fixture(scope="module")
def net(template):
    torch.manual_seed(0)
    return network.buildNetwork(template).eval()


def perturbedCopy(net):
    """A copy whose field heads are not zero (so the output depends on the input)."""
    torch.manual_seed(1)
    copy = network.buildNetwork()
    copy.load_state_dict(net.state_dict())
    for head in (copy.decoder6, copy.fieldHead1, copy.fieldHead2):
        torch.nn.init.normal_(head.weight, std=0.05)
        torch.nn.init.normal_(head.bias, std=0.1)
    return copy.eval()


def test_output_shapes_and_untrained_network_returns_the_template(net, template):
    images = torch.rand(2, 6, 128, 128)
    with torch.no_grad():
        displacement, logits = net(images)
    assert displacement.shape == (2, template.numberOfVertices, 3)
    assert logits.shape == (2, 6, 7, 128, 128)
    assert torch.count_nonzero(displacement) == 0  # zero-initialised field heads: identity (the template)
    assert torch.allclose(net.templateVertices, torch.as_tensor(template.vertices, dtype=torch.float32))
    assert net.templateTriangles.shape == (len(template.triangles), 3)
    # the six views go through the segmenter one by one: a view's logits do not depend on the other views
    changed = images.clone()
    changed[:, 3] = torch.rand(2, 128, 128)
    with torch.no_grad():
        _, changedLogits = net(changed)
    assert torch.allclose(changedLogits[:, 0], logits[:, 0], atol=1e-5)


def test_field_sampling_reads_each_vertex_position_and_its_own_structure(net, template):
    grid = net.fieldGridMm()  # [D, H, W, 3] mm
    # a linear field (reproduced exactly by trilinear interpolation): structure s holds position + 100 s
    field = torch.cat([(grid + 100.0 * index).permute(3, 0, 1, 2) for index in range(len(STRUCTURES))])[None]
    sampled = net.sampleField(field)[0].double().numpy()
    expected = template.vertices + 100.0 * template.structureOfVertex[:, None]
    assert np.abs(sampled - expected).max() < 1e-2
    # the field box holds every template vertex
    low, high = net.fieldBoxMm.numpy()
    assert np.all(template.vertices > low) and np.all(template.vertices < high)


def icosphere(subdivisions: int, radius: float = 1.0):
    t = (1.0 + 5.0 ** 0.5) / 2.0
    vertices = [[-1, t, 0], [1, t, 0], [-1, -t, 0], [1, -t, 0], [0, -1, t], [0, 1, t], [0, -1, -t], [0, 1, -t],
                [t, 0, -1], [t, 0, 1], [-t, 0, -1], [-t, 0, 1]]
    faces = [[0, 11, 5], [0, 5, 1], [0, 1, 7], [0, 7, 10], [0, 10, 11], [1, 5, 9], [5, 11, 4], [11, 10, 2],
             [10, 7, 6], [7, 1, 8], [3, 9, 4], [3, 4, 2], [3, 2, 6], [3, 6, 8], [3, 8, 9], [4, 9, 5], [2, 4, 11],
             [6, 2, 10], [8, 6, 7], [9, 8, 1]]
    vertices = [np.array(v, float) / np.linalg.norm(v) for v in vertices]
    for _ in range(subdivisions):
        cache, refined = {}, []

        def middle(a, b):
            key = (min(a, b), max(a, b))
            if key not in cache:
                point = vertices[a] + vertices[b]
                vertices.append(point / np.linalg.norm(point))
                cache[key] = len(vertices) - 1
            return cache[key]

        for a, b, c in faces:
            ab, bc, ca = middle(a, b), middle(b, c), middle(c, a)
            refined += [[a, ab, ca], [b, bc, ab], [c, ca, bc], [ab, bc, ca]]
        faces = refined
    return np.array(vertices) * radius, np.array(faces)


def test_enclosed_volume_against_analytic_shapes_and_its_gradient(template):
    # a unit cube, exactly; any translation gives the same volume (divergence theorem on a closed surface)
    cube = np.array([[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0], [0, 0, 1], [1, 0, 1], [1, 1, 1], [0, 1, 1]], float)
    faces = np.array([[0, 2, 1], [0, 3, 2], [4, 5, 6], [4, 6, 7], [0, 1, 5], [0, 5, 4], [1, 2, 6], [1, 6, 5],
                      [2, 3, 7], [2, 7, 6], [3, 0, 4], [3, 4, 7]])
    volume = enclosedVolumeTensor(torch.as_tensor(cube * 30.0 + 7.0)[None], torch.as_tensor(faces))
    assert abs(float(volume) - 27000.0) < 1e-6
    # an icosphere converges to 4/3 pi r^3 from below (inscribed polyhedron)
    vertices, faces = icosphere(4, 40.0)
    volume = float(enclosedVolumeTensor(torch.as_tensor(vertices)[None], torch.as_tensor(faces)))
    sphere = 4.0 / 3.0 * np.pi * 40.0 ** 3
    assert 0.99 * sphere < volume < sphere
    # d V(s x) / ds = 3 V at s = 1 (autograd through the volume, as in the training loss)
    scale = torch.ones((), dtype=torch.float64, requires_grad=True)
    enclosedVolumeTensor(scale * torch.as_tensor(vertices)[None], torch.as_tensor(faces)).sum().backward()
    assert abs(float(scale.grad) - 3.0 * volume) < 1e-6 * volume
    # the template's LV cavity: the same as the data generator's numpy volume
    lv = template.structureTriangles("LV cavity")
    expected = template.structureVolumesMl()["LV cavity"] * 1000.0
    got = float(enclosedVolumeTensor(torch.as_tensor(template.vertices)[None], torch.as_tensor(lv)))
    assert abs(got - expected) < 1e-6 * expected


def test_losses_vanish_for_a_perfect_prediction(net, template):
    losses = train.Losses(net)
    truth = torch.as_tensor(template.vertices, dtype=torch.float32)[None].repeat(2, 1, 1)
    truth[1] *= 0.9  # "end-systole"
    displacement = truth - net.templateVertices
    labels = torch.zeros(2, 6, 128, 128, dtype=torch.long)
    logits = torch.full((2, 6, 7, 128, 128), -20.0)
    logits[:, :, 0] = 20.0
    total, terms = losses(displacement, logits, {"vertices": truth, "labels": labels})
    assert terms["vertex_mse_mm2"] < 1e-8 and terms["volume_rel"] < 1e-6 and terms["ef_abs"] < 1e-6
    shifted, shiftedTerms = losses(displacement + 1.0, logits, {"vertices": truth, "labels": labels})
    assert abs(shiftedTerms["vertex_mse_mm2"] - 3.0) < 1e-3  # 1 mm along each axis: 3 mm^2 per vertex
    assert shiftedTerms["volume_rel"] < 1e-4  # a translation keeps the volume


def test_trace_export_matches_eager_on_another_input(net, tmp_path):
    model = perturbedCopy(net)
    path = train.export(model, tmp_path / "EchoRecon.pt")  # raises if the saved file != eager (batch 2, other input)
    extra = {"metadata.json": ""}
    loaded = torch.jit.load(str(path), _extra_files=extra)
    metadata = json.loads(extra["metadata.json"])
    assert metadata["views"] == ["A4C", "A2C", "A3C", "SAXB", "SAXM", "SAXA"]
    assert {parameter.dtype for parameter in loaded.parameters()} == {torch.float16}  # half weights: half the file
    assert loaded.templateVertices.dtype == torch.float32  # the template keeps its precision
    from ReconCoreLib.models import ModelFile

    loaded = ModelFile(path).load("cpu")  # the runtime's loader: float32 computation
    images = torch.rand(3, 6, 128, 128, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        eager, traced = model(images), loaded(images)
    assert eager[0].abs().max() > 0.1  # the perturbed heads move the template
    # half-precision weights: displacements within 0.05 mm, logits within 0.05
    for a, b in zip(eager, traced):
        assert a.shape == b.shape and b.dtype == torch.float32 and torch.allclose(a, b, atol=0.05, rtol=0.01)


def test_dataset_sample_and_batch(template):
    sample = dataset.makeSample(7)
    assert sample["images"].shape == (2, 6, 128, 128) and sample["images"].dtype == np.uint8
    assert sample["labels"].shape == (2, 6, 128, 128) and sample["labels"].max() <= 6
    assert sample["vertices"].shape == (2, template.numberOfVertices, 3)
    lv = template.structureTriangles("LV cavity")
    volumes = [float(enclosedVolumeTensor(torch.as_tensor(sample["vertices"][phase])[None], torch.as_tensor(lv)))
               for phase in (0, 1)]
    assert np.allclose(np.array(volumes) / 1000.0, sample["volumesMl"], rtol=1e-3)
    data = {key: np.stack([value, value]) for key, value in sample.items()}
    batch = train.pairBatch(data, np.array([0, 1]), np.random.default_rng(0))
    assert batch["images"].shape == (4, 6, 128, 128) and batch["images"].dtype == np.float32
    assert batch["labels"].shape == (4, 6, 128, 128) and batch["vertices"].shape == (4, template.numberOfVertices, 3)
    assert np.allclose(batch["volumesMl"], np.tile(sample["volumesMl"], 2))
    outside = sample["images"][0] == 0
    assert np.all(batch["images"][0][outside] == 0) and batch["images"].min() >= 0 and batch["images"].max() <= 1


def test_bundled_model_predicts_the_sample_patient_volumes(template):
    from ReconCoreLib.models import ModelFile, findBundledModel

    path = findBundledModel("EchoRecon")
    if path is None:
        pytest.skip("no bundled EchoRecon model")
    from EchoReconDev.echosim import makeCase
    from EchoReconDev.samples import SAMPLE_SETTINGS

    settings = dict(SAMPLE_SETTINGS["EchoNormal"])
    case = makeCase(settings.pop("seed"), phenotype=settings.pop("phenotype"), **settings)
    model = ModelFile(path).load("cpu")
    with torch.no_grad():
        displacement, logits = model(torch.as_tensor(case["images"]))  # ED and ES as a batch of two
    assert displacement.shape == (2, template.numberOfVertices, 3) and logits.shape == (2, 6, 7, 128, 128)
    lv = template.structureTriangles("LV cavity")
    vertices = torch.as_tensor(template.vertices)[None] + displacement.double()
    edv, esv = (enclosedVolumeTensor(vertices, torch.as_tensor(lv)) / 1000.0).tolist()
    assert abs(edv - case["edvMl"]) < 0.15 * case["edvMl"]
    assert abs(100 * (1 - esv / edv) - case["efPercent"]) < 10.0
    # the segmentation finds the LV cavity of the A4C view
    predicted, truth = logits[0, 0].argmax(0).numpy() == 1, case["labels"][0, 0] == 1
    assert 2 * np.sum(predicted & truth) / (predicted.sum() + truth.sum()) > 0.6  # bundled model: 0.81


def test_assd_of_concentric_spheres_and_lv_mask_cleanup():
    from EchoReconDev.evaluate import assdMm, lvCavityMask

    vertices, faces = icosphere(3, 40.0)
    assert assdMm(vertices, vertices, faces) < 1e-6
    assert abs(assdMm(vertices * 1.05, vertices, faces) - 2.0) < 0.1  # radii 40 and 42 mm
    labels = np.zeros((40, 40), np.uint8)
    labels[5:25, 5:20] = 1
    labels[10:12, 10:12] = 2  # a hole inside the cavity
    labels[30:33, 30:33] = 1  # a stray blob
    mask = lvCavityMask(labels)
    assert mask[5:25, 5:20].all() and mask.sum() == 20 * 15
