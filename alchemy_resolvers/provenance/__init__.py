"""Where each value of a job's config came from (issue #14, part 4).

- :mod:`.lines`: while config files load, which file (and, for Python, which line)
  set each key; a per-process table keyed by file, like the registry.
- :mod:`.attribute`: given a composed config's leaves, its overrides and the files it
  was composed from, one source a leaf (``unknown`` where unsure).
- :mod:`.report`: ``.hydra/provenance.yaml`` read/write and the tables the ``alchemy
  explain``/``alchemy diff`` commands print (:mod:`.diff` is ``alchemy diff``).

The Hydra side (the job callback, composing a config that has not run) is in
``hydra_plugins/alchemy_provenance``. Set ``HYDRA_ALCHEMY_PROVENANCE=0`` to turn it off.
"""
