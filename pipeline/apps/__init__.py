"""Applications built on the evaluated models: the HTML report of a run (:mod:`.report`)."""
