"""Development package of FemurRegistration (never shipped into Slicer): femur shapes from the shape model
(:mod:`shapemodel`) and the build of its resource (:mod:`shapemodelbuilder`), CT-like phantoms (:mod:`phantom`), the
atlas (:mod:`atlas`), simulated radiographs and the case cache (:mod:`dataset`), the network (:mod:`network`),
training (:mod:`train`), held-out evaluation with the model card (:mod:`evaluate`), and the writer of the bundled
sample cases (:mod:`samples`)."""
