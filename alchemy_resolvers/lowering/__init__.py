"""Loaded trees -> plain OmegaConf trees, and what the ``alchemy://`` source serves.

``tuned_caps`` (the hidden group of a tunable ``caps``); ``lower`` (Python values ->
interpolations and their resolvers, ``load_for_hydra``, ``load_config``);
``config_dir`` (files of a config dir, the per-process cache, tunable configs'
multirun guard and sweeper choice).
"""
