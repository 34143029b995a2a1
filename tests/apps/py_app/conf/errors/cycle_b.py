from alchemy_resolvers import Config

cfg = Config(caps="cycle_a.py")
cfg.b = 1
