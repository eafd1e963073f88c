"""Training: options (:mod:`.options`), recipes (:mod:`.recipes`), the run (:mod:`.engine`), its epoch loop
(:mod:`.loop`), resumable state (:mod:`.state`, :mod:`.checkpoint`) and memory fitting (:mod:`.memory`)."""
