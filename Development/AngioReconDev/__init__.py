"""Development package of AngioRecon (never shipped into Slicer): the synthetic coronary trees and their images
(:mod:`coronaryanatomy`, :mod:`coronarytree`, :mod:`coronaryimages`), the training data set (:mod:`dataset`), the
generator and critic networks (:mod:`network`), training with the model card (:mod:`train`), and the writer of
the bundled sample cases (:mod:`samples`)."""
