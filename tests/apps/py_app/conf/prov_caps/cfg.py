# Provenance tests: a Python primary config inheriting a YAML base through caps.
from alchemy_resolvers import Config

cfg = Config(caps="base.yaml")
cfg.opt.lr = 0.5
cfg.opt.scaled = "${dep:c.opt.lr * c.data.bs}"
