"""Development package of EchoRecon (never shipped into Slicer): the heart shape population (:mod:`heartshapes`), the
echo simulator (:mod:`echosim`), the build of the heart template (:mod:`templatebuilder`), the data set shards
(:mod:`dataset`), the S2MNet network (:mod:`network`), training (:mod:`train`), held-out evaluation (:mod:`evaluate`)
with the model card (:mod:`card`), the writer of the bundled sample patients and sample cines (:mod:`samples`)
and the DICOM US cine writer it and the tests use (:mod:`usdicom`)."""
