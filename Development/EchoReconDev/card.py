"""EchoRecon's model card and Bland-Altman plot, written from a held-out evaluation (:mod:`evaluate`)."""

from __future__ import annotations

import platform
from pathlib import Path

import numpy as np

from ReconCoreDev.training import modelFileLine, writeModelCard as writeCardFile


def blandAltman(estimate: np.ndarray, truth: np.ndarray) -> dict:
    difference = estimate - truth
    ok = np.isfinite(difference)
    bias, sd = float(np.mean(difference[ok])), float(np.std(difference[ok], ddof=1))
    return {"bias": round(bias, 2), "sd": round(sd, 2), "loa_low": round(bias - 1.96 * sd, 2),
            "loa_high": round(bias + 1.96 * sd, 2), "mae": round(float(np.mean(np.abs(difference[ok]))), 2),
            "median_ae": round(float(np.median(np.abs(difference[ok]))), 2),
            "r": round(float(np.corrcoef(estimate[ok], truth[ok])[0, 1]), 3), "n": int(ok.sum())}


def blandAltmanPlot(rows: list, path: Path) -> Path:
    """Two panels (this model, biplane Simpson's from the model's segmentation): EF difference vs mean."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    truth = np.array([row["ef_true"] for row in rows])
    figure, axes = plt.subplots(1, 2, figsize=(10, 4.2), sharey=True, dpi=100)
    for axis, key, title in ((axes[0], "ef", "EchoRecon (S2MNet) 3D EF"),
                             (axes[1], "ef_simpson", "Biplane Simpson's (model's A4C/A2C segmentation)")):
        estimate = np.array([row[key] for row in rows])
        ok = np.isfinite(estimate)
        mean, difference = (estimate[ok] + truth[ok]) / 2.0, estimate[ok] - truth[ok]
        stats = blandAltman(estimate, truth)
        axis.scatter(mean, difference, s=10, alpha=0.6, color="tab:blue" if key == "ef" else "tab:orange")
        for value, style in ((stats["bias"], "-"), (stats["loa_low"], "--"), (stats["loa_high"], "--")):
            axis.axhline(value, color="k", linestyle=style, linewidth=1)
        axis.set_title(f"{title}\nbias {stats['bias']:+.1f}, LoA {stats['loa_low']:+.1f} to {stats['loa_high']:+.1f}, "
                       f"MAE {stats['mae']:.1f}", fontsize=9)
        axis.set_xlabel("mean of estimate and true EF (%)")
        axis.grid(alpha=0.3)
    axes[0].set_ylabel("estimate - true EF (% points)")
    figure.suptitle(f"{len(rows)} held-out synthetic patients", fontsize=10)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    plt.close(figure)
    return path


def writeModelCard(metrics: dict, training: dict, modelPath: Path, cardPath: Path, plotPath: Path,
                   splits: dict | None = None, viewSets: dict | None = None) -> Path:
    """The model card of ``modelPath`` from the held-out ``metrics`` and the run's ``training.json``; ``splits``
    ({acquisition: metrics}, ``evaluate --also``) adds the section comparing the held-out splits, ``viewSets``
    (``viewsets-evaluation.json`` of :mod:`~.viewsets`) the section on fewer views."""
    from . import network, train
    from .templatebuilder import SOURCE_CITATION

    model = network.buildNetwork()
    m, t = metrics, training
    assdRows = "\n".join(
        f"| {name} | {value['mean']:.2f} | {value['median']:.2f} | {value['p95']:.2f} | "
        f"{m['vertex_mse_mm2_by_structure'][name]:.2f} | {m['segmentation_dice'][name]:.3f} |"
        for name, value in m["assd_mm"].items())
    yes = {True: "met", False: "**not met**"}
    met = m["targets_met"]
    card = CARD_TEMPLATE.format(
        fileLine=modelFileLine(modelPath, network.countParameters(model)),
        vertices=model.numberOfVertices, triangles=int(model.templateTriangles.shape[0]), m=m, t=t,
        weights=(train.WEIGHT_VERTEX, train.WEIGHT_VOLUME, train.WEIGHT_EF, train.WEIGHT_SEGMENTATION),
        lastTrain=t.get("training_patients", 0) - 1, growth=_cacheGrowth(t.get("log", [])),
        history=_history(t), fineTune=_fineTune(t), acquisition=m.get("acquisition", "standard"), heldOutEnd=m["seeds"][1], heldOutStart=m["seeds"][0],
        assdRows=assdRows, plot=plotPath.name, citation=SOURCE_CITATION, field=network.FIELD_SIZE,
        segmentationNote=_segmentationNote(m["segmentation_dice"]),
        met1=yes[met["lv_volume_median_abs_error_percent<=5"]], met2=yes[met["ef_mae_points<=4"]],
        met3=yes[met["ef_mae_below_simpson"]], met4=yes[met["assd_mm<=2_every_structure"]],
        cpu=platform.processor() or platform.machine(), splitsSection=splitsSection(m, splits),
        stage=3 if _viewDropout(t) else 2, inputNote=_inputNote(t),
        viewSetsSection=viewSetsSection(viewSets, modelPath), viewCheckSection=viewCheckSection(modelPath))
    return writeCardFile(cardPath, card)


CARD_TEMPLATE = """# EchoRecon network (S2MNet): model card

{fileLine} Traced.
Trained by `python -m EchoReconDev.train` (`make train-echo`); this card, the figures in it and the Bland-Altman plot
`{plot}` are written by `python -m EchoReconDev.evaluate` (`make evaluate-echo`) from the exported file.

## What it does
Input: the six standard views of one cardiac phase, `images` [B, 6, 128, 128] float in [0, 1], in the order A4C, A2C,
A3C, SAXB, SAXM, SAXA (sector apex at the top middle; apical views 180 mm deep, short-axis views 140 mm, as the
simulator of `EchoReconDev.echosim` makes them){inputNote}. Outputs: (1) the displacement [B, {vertices}, 3] (mm) of every
vertex of the labelled template heart (heart frame of `EchoReconLib.template`: origin mitral annulus centre, +z
along the LV long axis to the apex, +x toward the RV); template + displacement is the patient's heart with the
template's numbering and triangles (6 closed surfaces: LV cavity, LV myocardium (epicardium), RV, LA, RA, aortic root;
{triangles} triangles, stored in the model as buffers `templateVertices`, `templateTriangles`, `structureOfTriangle`).
(2) 2D segmentation logits [B, 6, 7, 128, 128] (0 background, 1..6 the structures) of every input image: the
LV cavity of A4C / A2C for biplane Simpson's, the heart region for the per-view overlay check. Run it once on
the end-diastolic and once on the end-systolic views: EDV, ESV (LV cavity volume by the divergence theorem) and EF.

Architecture after Gong et al., S2MNet (section 4.4, Fig. 2): a 2D encoder shared across the six views (MONAI
`ResNet`, resnet10 layout at half width, 8 input channels: the image and the 7 class probabilities of the
segmentation branch, a small MONAI 2D `UNet` (16-32-64-128) on every view) followed by three 2D convolutions;
the six views' 4 x 4 feature maps are fused in their fixed order by a bottleneck linear layer into a 4^3 volume and
one 3D convolution; a decoder of six 3D transposed convolutions (4^3 -> 8^3 -> 16^3) emits three coarse vector
fields; a weight generator (six 3D convolutions) gives per-voxel softmax weights of the fields; the weighted sum is
trilinearly upsampled to {field}^3 over the template's bounding box and sampled at the template vertices
(`grid_sample`). Departures from the paper: ResNet-10 at half width instead of ResNet-50 (CPU training budget); the
segmentation branch and its probabilities as encoder input (the paper has no 2D output; the pipeline needs one, and
dense 2D supervision trains the encoder much faster); the field has 3 channels per structure (each vertex reads
its own structure's), so the LV endocardium and the epicardium 6-16 mm away can move differently. The field heads
start at zero (an untrained model returns the template).

## Training data (generated; nothing is committed)
Template: {citation}; see `EchoRecon/Resources/Template/`. Patients: `EchoReconDev.heartshapes` (smooth one-to-one
deformations of the template: size, chamber ratios, random low-frequency field, LV dilation / sphericity for a
sampled EDV 70-300 mL, wall thickness 6-16 mm; end-systole by base descent, twist, radial contraction to a sampled
EF 15-75 %, incompressible myocardium; phenotypes normal / reduced / dilated / hypertrophic), seen in six jittered
standard views (tilt and probe rotation +-10 deg, in-plane +-5 deg, shift +-5 mm; the probe stays put between ED
and ES) by `EchoReconDev.echosim`. **The images come from a physically motivated ultrasound simulator (tissue
echogenicity, speckle from scatterers convolved with a point spread function, attenuation with time-gain
compensation, near-field clutter, dropouts, log compression, scan conversion), not from a CycleGAN trained on real
echocardiograms as in the paper** (there are none here). Training patients: seeds 0-{lastTrain} (both phases each){growth};
intensity augmentation (gamma, gain, noise). Cache: `EchoReconDev.dataset` shards in `runs/echo`.
{fineTune}

## Training
Command: `make train-echo MINUTES=100 ECHO_VIEWS_MINUTES={t[minutes_budget]:g}`: stages 1 and 2 of MINUTES each, a
generator process (`python -m EchoReconDev.dataset --work <folder> --cases 2000 [--acquisition varied]`) beside
`python -m EchoReconDev.train --work <folder> --minutes 100 --threads 1 --no-generate`, which picks up new shards as
they appear: stage 1 in `runs/echo` (standard views, exported to `runs/echo/EchoRecon-standard.pt`), stage 2 in
`runs/echo-varied` (`--lr 5e-4 --init runs/echo/EchoRecon-standard.pt`, exported to
`runs/echo-varied/EchoRecon-varied.pt`); stage 3 in `runs/echo-views` on stage 2's patients (`--data runs/echo-varied
--view-dropout 0.5 --lr 2.5e-4 --seed 1 --init runs/echo-varied/EchoRecon-varied.pt`, ECHO_VIEWS_MINUTES); then the
interval calibration and this evaluation. Each stage resumes from its folder's `checkpoint.pt`; CUDA when present,
`torchrun --nproc_per_node=N -m EchoReconDev.train ...` for several GPUs. The figures below are stage {stage}'s run.
Loss: {weights[0]} x vertex MSE (mm^2) + {weights[1]} x |relative LV cavity volume error| (divergence-theorem volume of
the predicted LV cavity, differentiable) + {weights[2]} x |EF error| (fraction; both phases of each patient in a batch)
+ {weights[3]} x (Dice + cross-entropy) of the 2D segmentation. Adam (lr {t[lr]}, cosine decay over the time budget to
5 %), {t[patients_per_batch]} patients x 2 phases per batch, gradient norm clipped at 5, seed {t[seed]}.
Run: {t[steps]} steps ({t[samples]} samples, {t[epochs]} epochs over the {t[training_patients]} training patients x 2
phases) in {t[minutes]} min on `{t[device]}` ({t[threads]} thread(s) of a CPU shared with other jobs; torch
{t[torch]}){history}. Loss curve: {t[curve]}.

## Held-out evaluation
{m[patients]} held-out synthetic patients (seeds {heldOutStart}-{heldOutEnd}, never seen in training), ED and ES,
images as simulated (no augmentation), acquired as `{acquisition}` (the other acquisitions: next section). Targets
of the issue in brackets.

| quantity | this model | baseline |
|---|---|---|
| LV volume (EDV and ESV) median absolute error [<= 5 %] ({met1}) | {m[lv_volume_median_abs_error_percent]:.1f} % | template alone: EDV {m[template_edv_median_abs_error_percent]:.1f} %; Simpson's EDV {m[simpson_edv_median_abs_error_percent]:.1f} % |
| EDV / ESV median absolute error | {m[edv_median_abs_error_percent]:.1f} % / {m[esv_median_abs_error_percent]:.1f} % | |
| EDV / ESV mean absolute error | {m[edv_mae_ml]:.1f} mL / {m[esv_mae_ml]:.1f} mL | |
| EF mean absolute error [<= 4 points] ({met2}) | {m[ef][mae]:.2f} points | biplane Simpson's on the model's A4C/A2C segmentation (LV cavity: largest component, holes filled): {m[ef_simpson][mae]:.2f} points ({met3}: lower than Simpson's) |
| EF bias, 95 % limits of agreement | {m[ef][bias]:+.2f} ({m[ef][loa_low]:+.1f} to {m[ef][loa_high]:+.1f}) | Simpson's: {m[ef_simpson][bias]:+.2f} ({m[ef_simpson][loa_low]:+.1f} to {m[ef_simpson][loa_high]:+.1f}) |
| EF correlation with truth (r) | {m[ef][r]:.3f} | Simpson's: {m[ef_simpson][r]:.3f} |
| Simpson's on the *true* label images (the method's own error with perfect tracings) | | EF MAE {m[ef_simpson_true_labels][mae]:.2f} points, bias {m[ef_simpson_true_labels][bias]:+.2f} |
| vertex MSE (squared distance per vertex) | {m[vertex_mse_mm2]:.2f} mm^2 (SD over patients {m[vertex_mse_mm2_sd_over_patients]:.2f}; RMS {m[vertex_rmse_mm]:.2f} mm) | template alone: {m[template_vertex_mse_mm2]:.1f} mm^2 |
| vertex MSE per coordinate in cm^2 (paper: 1.84e-2) | {m[vertex_mse_cm2_per_coordinate]:.2e} | uniform guess over the target range: {m[uniform_guess_vertex_mse_cm2_per_coordinate]:.1f} (paper: 27.7) |
| MSE / uniform-guess MSE (unit-free) | {m[mse_to_uniform_ratio]:.2e} | paper: {m[paper_mse_to_uniform_ratio]:.2e} |
| surface ASSD, worst structure's mean [<= 2 mm each] ({met4}) | {m[assd_mm_max_structure_mean]:.2f} mm | |
| 2D heart-region Dice (all views) | {m[heart_region_dice]:.3f} | |

The paper does not state the unit of its MSE; reading it as cm^2 per coordinate makes its uniform-guess baseline
(27.7) match a target range of about +-6.4 cm, the size of a heart, so the cm^2 row is our best like-for-like
figure; the unit-free ratio to the uniform guess does not depend on that reading.

Per structure (ED and ES pooled):

| structure | ASSD mean (mm) | ASSD median | ASSD 95th percentile | vertex MSE (mm^2) | 2D Dice |
|---|---|---|---|---|---|
{assdRows}

Bland-Altman plot of EF (this model and biplane Simpson's against the true EF): `{plot}`.
Inference: {m[inference_seconds_per_phase_cpu]:.2f} s per phase (six views; both network passes when views are moved,
below) on {m[threads]} CPU thread(s) ({cpu}).

## Each view placed on the heart
Every figure in this card is the runtime's: each study goes through `EchoReconLib.placement.placedForward`, as a
user's run does. The network's first pass segments the views; a view whose segmented heart lies more than 10 mm from
where the training generator puts it (its centre in each view over 200 training patients, `python -m
EchoReconDev.placement`) is moved so the heart sits there, cut to a sector as in training, and the network runs again.
The network was trained with the probe -8 to +20 mm deep and +-12 mm sideways; the out-of-distribution split's hearts
lie 20-26 mm deeper. Before this step (card at commit dbd47d2: the same model, the same held-out patients) the
network alone gave LV volume median error / EF MAE 3.3 % / 1.94 points (varied), 3.0 % / 1.53 (standard) and
21.0 % / 8.17 (out of distribution); the tables below give the figures with it.

What each out-of-distribution setting costs on its own, and what placement gives back (`python -m
EchoReconDev.placement --causes 40`: the first 40 held-out patients with the split's probe errors and otherwise the
training ranges, then one setting of the split at a time, then all; EF MAE in points / LV volume median error):

| setting | network alone | with placement |
|---|---|---|
| probe errors only (+-15 deg, +-10 mm) | 2.94 / 5.8 % | 2.58 / 5.8 % |
| the heart 20-26 mm deeper | 4.88 / 8.2 % | 2.92 / 6.4 % |
| the other renderer | 4.58 / 8.4 % | 4.54 / 8.8 % |
| wider, deeper and larger images | 3.73 / 6.2 % | 2.76 / 5.3 % |
| all (the split) | 7.92 / 21.0 % | 4.28 / 12.6 % |

Placement answers where the heart lies; what it leaves is the renderer: the image side has not been trained on
another look (issue 13, item 1).
{splitsSection}{viewSetsSection}{viewCheckSection}
## Limits
Trained and evaluated on synthetic hearts and simulated echo images only: **not validated on real
echocardiograms**, whose appearance (and the CycleGAN-translated images of the paper) differ from this simulator.
The views must be standard views (A4C and A2C at least) in the standard orientation, with about the simulator's depths;
the heart is reconstructed in its own heart frame (mitral annulus centre, long axis), not in scanner coordinates.
Shapes outside the generator's population (congenital disease, aneurysms, prosthetic valves) are not represented.
{segmentationNote}CPU training was limited to {t[minutes]} minutes on a shared CPU; longer training (e.g. on a GPU) is one command with a
larger `MINUTES`.
"""


def splitsTable(columns: dict) -> str:
    """Markdown table of held-out metrics ({column heading: :func:`~.evaluate.summarize` dict}), one column per
    split, one row per headline figure: the model's errors where the acquisition differs, side by side."""
    def simpson(m):
        failed = m.get("simpson_failures", 0)
        return f"{m['ef_simpson']['mae']:.2f}" + (f" ({failed} failed)" if failed else "")

    rows = (
        ("patients", lambda m: f"{m['patients']}"),
        ("LV volume (EDV and ESV) median absolute error", lambda m: f"{m['lv_volume_median_abs_error_percent']:.1f} %"),
        ("EDV / ESV mean absolute error (mL)", lambda m: f"{m['edv_mae_ml']:.1f} / {m['esv_mae_ml']:.1f}"),
        ("EF mean absolute error (points)", lambda m: f"{m['ef']['mae']:.2f}"),
        ("EF bias (95 % limits of agreement)",
         lambda m: f"{m['ef']['bias']:+.2f} ({m['ef']['loa_low']:+.1f} to {m['ef']['loa_high']:+.1f})"),
        ("biplane Simpson's EF MAE, model's segmentation (points)", simpson),
        ("surface ASSD, worst structure's mean (mm)", lambda m: f"{m['assd_mm_max_structure_mean']:.2f}"),
        ("2D heart-region Dice", lambda m: f"{m['heart_region_dice']:.3f}"),
        ("2D LV-cavity Dice", lambda m: f"{m['segmentation_dice']['LV cavity']:.3f}"),
        ("patients whose volumes or EF the runtime's gates refuse", lambda m: f"{m.get('refused_by_gates', '-')}"),
    )
    lines = ["| quantity | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]
    lines += [f"| {name} | " + " | ".join(cell(m) for m in columns.values()) + " |" for name, cell in rows]
    return "\n".join(lines)


def splitsSection(metrics: dict, splits: dict | None) -> str:
    """The card's "Other held-out splits" section: the held-out split above (its acquisition kind) and each
    ``evaluate --also`` split in one table, and the command that printed it (``metrics["command"]``); empty
    without other splits."""
    if not splits:
        return ""
    main = metrics.get("acquisition", "standard")
    columns = {f"{main} (above)": metrics, **splits}
    mixed = main == "standard" or "standard" in splits
    note = (" The standard split's label images keep the structures outside the imaging sector, the others' are"
            " cleared there, so its 2D Dice also counts what the image does not show." if mixed else "")
    command = metrics.get("command", "python -m EchoReconDev.evaluate")
    return (f"\n## Other held-out splits\nThe same model on the same held-out patients (seeds {metrics['seeds'][0]}-"
            f"{metrics['seeds'][1]}) acquired otherwise (`EchoReconDev.acquisition`: standard = the simulator's one "
            "geometry and renderer, varied = sector, depth, image size, probe position, renderer settings and "
            "burned-in annotations drawn per view, ood = beyond those ranges with a renderer never trained on).\n\n"
            f"{splitsTable(columns)}\n\nPrinted by `{command}`.{note}\n")


def _segmentationNote(dice: dict) -> str:
    weak = [name for name, value in dice.items() if value < 0.5]
    if not weak:
        return ""
    return (f"The 2D segmentation is light and coarse: it does not reliably find {', '.join(weak)} (2D Dice < 0.5 "
            "above); use it for the LV cavity and the heart region, as the pipeline does, not for those labels.\n")


def _history(training: dict) -> str:
    """The settings of each (re)start of the run, when it was resumed with other settings."""
    history = training.get("history", [])
    if len(history) < 2:
        return ""
    parts = []
    for index, entry in enumerate(history):
        end = history[index + 1]["from_step"] if index + 1 < len(history) else training.get("steps")
        minutes = (history[index + 1]["from_minutes"] if index + 1 < len(history) else training.get("minutes"))
        parts.append(f"steps {entry['from_step']}-{end} ({entry['from_minutes']:g}-{minutes:g} min, cosine schedule "
                     f"over {entry['minutes_budget']:g} min): segmentation weight {entry['segmentation_weight']:g}, "
                     f"Dice {'over the batch' if entry['dice_over_batch'] else 'per image'}")
    return "; the run was resumed with other settings: " + "; ".join(parts)


def _viewDropout(training: dict) -> float:
    return float((training.get("history") or [{}])[0].get("view_dropout", 0.0))


def _inputNote(training: dict) -> str:
    if not _viewDropout(training):
        return ""
    return ("; A4C and A2C always, each other view when the study has it: a view not given is a black image (zeros), "
            "as the network was trained with it (view dropout, stage 3 below)")


def _fineTune(training: dict) -> str:
    """The card's paragraphs on the fine-tuning stages, when the run started from another model's weights."""
    start = (training.get("history") or [{}])[0].get("init", "")
    if not start:
        return ""
    if _viewDropout(training):  # stage 3: its paragraph after stage 2's (which started from the model bundled then)
        return _stageTwo("EchoRecon/Resources/Models/EchoRecon.pt", "") + (
            f"\n**Stage 3 (the run described under Training): fine-tuned from stage 2's model** (`{start}`, the "
            "model bundled before, SHA-256 657a826c..., 100 min; its figures are in this card's version at commit "
            "2860d24) on the same patients with view dropout (`--view-dropout "
            f"{_viewDropout(training):g}`): that share of the patients in each batch keeps A4C and A2C and each other "
            "view with probability 0.5, in both phases; a dropped view is a black image with a background label "
            "image, as the runtime gives the network a view not given.\n")
    return _stageTwo(start, " (the run described under Training)")


def _stageTwo(start: str, described: str) -> str:
    from .acquisition import VARIED as v

    bundled = start.endswith("Resources/Models/EchoRecon.pt")  # this run started from the model bundled before
    stageOne = ("the model bundled before, SHA-256 ed309ccb..., trained 100 min on the data above; its run and "
                "figures are in this card's version at commit 4953bb4" if bundled else "trained on the data above")
    return (f"\n**Stage 2{described}: fine-tuned from `{start}`** ({stageOne}) on patients "
            "acquired as scanners vary them (`--acquisition varied`, `EchoReconDev.acquisition`), each view on its "
            f"own: sector {2 * v.halfAngleDeg[0]:g}-{2 * v.halfAngleDeg[1]:g} deg, depth {v.apicalDepthMm[0]:g}-"
            f"{v.apicalDepthMm[1]:g} mm (apical) and {v.shortAxisDepthMm[0]:g}-{v.shortAxisDepthMm[1]:g} mm (short "
            f"axis), {v.rows[0]}-{v.rows[1]} px, the probe moved {v.lateralShiftMm[0]:g} to "
            f"{v.lateralShiftMm[1]:+g} mm sideways and {v.depthShiftMm[0]:g} to {v.depthShiftMm[1]:+g} mm in depth, "
            "renderer settings drawn wider (gain, dynamic range, display map, TGC, tissue contrast, clutter, "
            "dropouts, speckle size x0.6-2), burned-in text, depth scale, focus marker and ECG trace in "
            f"{100 * v.annotations:.0f} % of views; every image read through the runtime's `networkInput` (resampled "
            "to the network's grid), its label image cleared where the sector shows nothing. Seeds 0-1999, cache "
            "`runs/echo-varied`.\n")


def viewSetsSection(viewSets: dict | None, modelPath: Path) -> str:
    """The card's "Fewer views" section: every view set on the held-out splits (:mod:`~.viewsets`), when evaluated
    for this model file."""
    from ReconCoreLib.models import sha256

    if not viewSets or viewSets.get("modelSha256") != sha256(modelPath):
        return ""
    splits = viewSets["splits"]
    names = list(splits["varied"])
    rows = []
    for name in sorted(names, key=lambda key: (len(key.split()), names.index(key))):
        v, o = splits["varied"][name], splits["ood"][name]
        rows.append(f"| {name} | {v['ef_mae_points']:.2f} ({v['ef_median_abs_points']:.1f}) | "
                    f"{v['lv_volume_median_abs_error_percent']:.1f} % | {v['refused_by_gates']} | "
                    f"+-{v['ef_half_width_points']:.1f} / +-{v['edv_half_width_percent']:.0f} % | "
                    f"{v['coverage_ef']:.2f} / {v['coverage_edv']:.2f} / {v['coverage_esv']:.2f} | "
                    f"{o['ef_mae_points']:.2f} ({o['ef_median_abs_points']:.1f}) | "
                    f"{o['lv_volume_median_abs_error_percent']:.1f} % | {o['refused_by_gates']} | "
                    f"{o['coverage_ef']:.2f} / {o['coverage_edv']:.2f} / {o['coverage_esv']:.2f} |")
    first = splits["varied"][names[0]]
    return f"""
## Fewer views
Every set of views a run may have (A4C and A2C with any of the other four), the views not in the set given to the
network as black images, on the held-out patients of the varied and the out-of-distribution splits
({first['patients']} each, ED and ES). The interval is the runtime's (`EchoReconLib.viewsets`): a conformal 90 %
half-width per view set, calibrated on 200 other patients of the training generator (varied acquisitions, seeds
2000000-2000199) by `python -m EchoReconDev.viewsets --calibrate`; coverage is the share of held-out patients whose
true EF / EDV / ESV lies inside it; "refused": patients whose volumes or EF the runtime's gates would stop (the
errors are over every patient, refused or not). Printed by `python -m EchoReconDev.viewsets --evaluate`. Target of
the issue for A4C + A2C alone: EF MAE <= 5 points.

| views | varied: EF MAE (median), points | LV volume median error | refused | interval half-width EF / EDV | coverage EF / EDV / ESV | ood: EF MAE (median) | LV volume median error | refused | coverage EF / EDV / ESV |
|---|---|---|---|---|---|---|---|---|---|
{chr(10).join(rows)}

The interval is calibrated on the training generator's patients: out of distribution it holds the truth less often
(the last column), as the errors there are larger.
"""


def viewCheckSection(modelPath: Path) -> str:
    """The card's "View labels" section: the view classifier's evaluation (``EchoReconDev.viewclassifier
    --evaluate``, stored in its resource), when it was fitted and evaluated for this model file."""
    from EchoReconLib import viewcheck
    from ReconCoreLib.models import sha256

    classifier = viewcheck.loadClassifier()
    if not classifier or classifier.get("modelSha256") != sha256(modelPath) or "evaluation" not in classifier:
        return ""
    rows = "\n".join(f"| {name} | {e['images']} | {e['accuracy']:.3f} | {100 * e['false_warnings']:.1f} % | "
                      f"{100 * e['mislabels_flagged']:.0f} % ({100 * e['mislabels_flagged_apical_short_axis']:.0f} %) |"
                      for name, e in classifier["evaluation"].items())
    return f"""
## View labels
Each image's view label is checked against a view classifier on the network's own 2D segmentation of it
(`EchoReconLib.viewcheck`: scale-free shares and positions of the segmented structures; a linear discriminant
fitted on {classifier['patients']} patients of the training generator, varied acquisitions, seeds
{classifier['seeds'][0]}-{classifier['seeds'][1]}, by `{classifier['command']}`).
It warns, and never stops a run, when the label's posterior is tiny and the image clearly looks like another view
or like the short-axis views together. On the held-out patients, both phases together (`python -m
EchoReconDev.viewclassifier --evaluate`; "mislabelled": each image under each of the five other labels, in brackets
an apical image under a short-axis label or the reverse):

| split | views | accuracy of the most probable view | correctly labelled views warned | mislabelled views warned |
|---|---|---|---|---|
{rows}

Out of distribution the network's 2D segmentation is poor, so the classifier reads many apical images as short-axis
ones: its warnings there say as much about the segmentation as about the label.
"""


def _cacheGrowth(log: list) -> str:
    counts = [entry["patients"] for entry in log if "patients" in entry]
    if not counts or counts[0] == counts[-1]:
        return ""
    return (f"; the generator ran beside the training, so the cache grew from {counts[0]} to {counts[-1]} patients "
            f"during the run (epochs below are counted against the final {counts[-1]})")


def lossCurve(log: list) -> str:
    """A one-line summary of the training log: loss terms at the start, middle and end, and validation."""
    entries = [entry for entry in log if "vertex_mse_mm2" in entry]
    checks = [entry for entry in log if "val_ef_mae" in entry]
    if not entries:
        return "no log"

    def describe(entry):
        return (f"step {entry['step']}: vertex MSE {entry['vertex_mse_mm2']:.1f} mm^2, volume error "
                f"{100 * entry['volume_rel']:.1f} %, EF error {100 * entry['ef_abs']:.1f} points, segmentation "
                f"{entry['segmentation']:.3f}")

    picks = [entries[0], entries[len(entries) // 2], entries[-1]]
    text = "; ".join(describe(entry) for entry in picks) + " (batch means over 25 steps)"
    if checks:
        last = checks[-1]
        text += (f"; last in-training check on 16 held-out patients (step {last['step']}): median LV volume error "
                 f"{100 * last['val_volume_median_rel']:.1f} %, EF MAE {last['val_ef_mae']:.1f} points")
    return text


