# A group option written in Python: `c` of its rel DEPs is where it is mounted.
import collections

from alchemy_resolvers import DEP, Config

cfg = Config()
cfg.depth = 18
cfg.width = 64
cfg.out_channels = DEP(lambda c: c.width * 8)
cfg.name = DEP(lambda c: f"resnet{c.depth}")
cfg.total = DEP(lambda c: c.loader.batch_size * 2, rel=False)  # c: the whole config
cfg.norm = collections.OrderedDict
