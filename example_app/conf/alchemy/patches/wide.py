# A patch: a few entries to add on top of any base (`caps=(base, patch)`).
from alchemy_resolvers import Config

cfg = Config()

cfg.model.override()  # replace the base's `model` subtree whole instead of merging
cfg.model.hidden = 256
