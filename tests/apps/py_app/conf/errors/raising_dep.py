from alchemy_resolvers import DEP, Config

cfg = Config()
cfg.n = 0
cfg.ratio = DEP(lambda c: 10 / c.n)
