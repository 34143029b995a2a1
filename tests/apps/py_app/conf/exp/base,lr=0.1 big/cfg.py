import collections

from alchemy_resolvers import DEP, Config

cfg = Config()
cfg.defaults = ["/model/vit", "_self_"]
cfg.loader.batch_size = 64
cfg.opt.cls = collections.OrderedDict
cfg.opt.lr = DEP(lambda c: 0.1 * c.loader.batch_size / 64)
