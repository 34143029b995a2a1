"""Config files -> ``Config`` trees, every format behind one function:
:func:`alchemy_resolvers.loading.alchemy.load` (``load_tree``).

Modules, each importing only those listed before it (and ``authoring`` below):
``errors``; ``common`` (running a Python config file, ``file:line`` errors);
``yaml_loader`` (the one YAML loader, OmegaConf's rules); ``cycles`` (the one
inheritance-cycle check); ``annotate`` (``${dep:...}`` quoting and depth stamps);
``detect`` (which loader a ``.py`` needs); ``mmcv_support``, ``mmcv_read_base``,
``mmcv``; ``yacs``; ``foreign`` (``load_foreign``); ``alchemy`` (AlchemyCat files,
``caps``, ``find_config_path``, ``load``).
"""
