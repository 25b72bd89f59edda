"""What EchoRecon reads off a reconstruction: LV volumes, EF, LV mass, biplane Simpson's, per-view overlap.

Readouts (:func:`measure`): ``lv_edv_ml`` (closed LV cavity surface), ``lv_mass_g`` (LV myocardial volume, epicardial
minus cavity, x 1.05 g/mL), ``rv_edv_ml``, ``la_volume_ed_ml``, ``ra_volume_ed_ml``, ``simpson_edv_ml`` (biplane method
of disks on the network's A4C / A2C LV cavity segmentation), ``view_dice_<view>`` (Dice between the mesh cut by the
standard plane of the view, :func:`~.viewplanes.viewPlanes` on the predicted vertices, and the heart region, labels
1-6, of the network's segmentation of that image); with end-systole also ``lv_esv_ml``, ``lv_sv_ml``,
``lv_ef_percent``, ``rv_esv_ml``, ``la_volume_es_ml``, ``ra_volume_es_ml``, ``simpson_esv_ml``,
``simpson_ef_percent`` and ``view_dice_es_<view>``. Warnings: ESV above EDV, a view overlapping poorly (Dice <
:data:`LOW_VIEW_DICE`), biplane Simpson's far from the 3D volume.
"""

from __future__ import annotations

from .conventions import PHASE_NAMES, STRUCTURES, VIEWS
from .inputs import trainingPixelMm

#: Myocardial density (g/mL), the value of the ASE/EACVI LV mass formulas: LV mass = myocardial volume x 1.05.
MYOCARDIAL_DENSITY_G_PER_ML = 1.05
#: Below this overlap of a view's mesh cut with the image's segmented heart, a warning asks to check the view.
LOW_VIEW_DICE = 0.5
#: Relative difference between biplane Simpson's volume and the 3D LV cavity above which a warning is given.
SIMPSON_DISAGREEMENT = 0.3


def measure(result) -> None:
    """Fill the readouts of a :class:`~.pipeline.Reconstruction`: volumes, EF, mass, biplane Simpson's and the view
    overlaps (module docstring)."""
    from .simpson import biplaneSimpsonVolume, ejectionFractionPercent
    from .viewplanes import planeCutDice, viewPlanes

    readouts, template = result.readouts, result.template
    volumes = {phase: template.structureVolumesMl(result.vertices[phase]) for phase in result.phases}
    ed = volumes["ED"]
    if ed["LV cavity"] <= 0:
        raise ValueError(f"the reconstructed LV cavity has no volume ({ed['LV cavity']:.1f} mL)")
    readouts.set("lv_edv_ml", ed["LV cavity"])
    if "ES" in volumes:
        es = volumes["ES"]
        readouts.set("lv_esv_ml", es["LV cavity"])
        readouts.set("lv_sv_ml", ed["LV cavity"] - es["LV cavity"])
        readouts.set("lv_ef_percent", ejectionFractionPercent(ed["LV cavity"], es["LV cavity"]))
        if es["LV cavity"] > ed["LV cavity"]:
            readouts.warn(f"the end-systolic LV volume ({es['LV cavity']:.1f} mL) exceeds the end-diastolic one "
                          f"({ed['LV cavity']:.1f} mL): are the ED and ES images swapped?")
    readouts.set("lv_mass_g", (ed["LV myocardium"] - ed["LV cavity"]) * MYOCARDIAL_DENSITY_G_PER_ML)
    for key, structure in (("rv", "RV"), ("la", "LA"), ("ra", "RA")):
        for phase in result.phases:
            name = f"{key}_{phase.lower()}v_ml" if key == "rv" else f"{key}_volume_{phase.lower()}_ml"
            readouts.set(name, volumes[phase][structure])

    simpson = {}
    for phase in result.phases:
        masks = result.segmentations[phase] == STRUCTURES.index("LV cavity") + 1
        try:
            simpson[phase] = biplaneSimpsonVolume(masks[VIEWS.index("A4C")], masks[VIEWS.index("A2C")],
                                                  (trainingPixelMm("A4C"), trainingPixelMm("A2C")))
        except (ValueError, IndexError) as error:
            readouts.warn(f"biplane Simpson's {PHASE_NAMES[phase]} volume not computed: the 2D segmentation of "
                          f"A4C / A2C gives no usable LV cavity ({error})")
    if "ED" in simpson:
        readouts.set("simpson_edv_ml", simpson["ED"])
    if "ES" in simpson:
        readouts.set("simpson_esv_ml", simpson["ES"])
    if "ED" in simpson and "ES" in simpson and simpson["ED"] > 0:
        readouts.set("simpson_ef_percent", ejectionFractionPercent(simpson["ED"], simpson["ES"]))
        if simpson["ES"] > simpson["ED"]:
            readouts.warn(f"biplane Simpson's end-systolic volume ({simpson['ES']:.1f} mL) exceeds its end-diastolic "
                          f"volume ({simpson['ED']:.1f} mL): the 2D LV cavity segmentation of A4C / A2C is unreliable "
                          "here; simpson_* readouts should not be used")
    for phase, volume in simpson.items():
        meshVolume = volumes[phase]["LV cavity"]
        if abs(volume - meshVolume) > SIMPSON_DISAGREEMENT * meshVolume:
            readouts.warn(f"biplane Simpson's {PHASE_NAMES[phase]} volume ({volume:.1f} mL) differs from the 3D LV "
                          f"cavity ({meshVolume:.1f} mL) by more than {100 * SIMPSON_DISAGREEMENT:.0f} %: check the 2D "
                          "LV segmentation of A4C / A2C")

    for phase in result.phases:
        planes = viewPlanes(result.vertices[phase], template)
        for index, view in enumerate(VIEWS):
            dice = planeCutDice(result.vertices[phase], template, planes[view], result.segmentations[phase][index] > 0)
            readouts.set(f"view_dice_{view.lower()}" if phase == "ED" else f"view_dice_es_{view.lower()}", dice)
            if dice < LOW_VIEW_DICE:
                readouts.warn(f"{PHASE_NAMES[phase]} {view}: the reconstructed heart overlaps the image's heart "
                              f"poorly (Dice {dice:.2f}); check the view label and the image")
