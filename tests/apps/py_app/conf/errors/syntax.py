from alchemy_resolvers import Config

cfg = Config()
cfg.a = (1,
cfg.b = 2
