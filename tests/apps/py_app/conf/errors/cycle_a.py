from alchemy_resolvers import Config

cfg = Config(caps="cycle_b.py")
cfg.a = 1
