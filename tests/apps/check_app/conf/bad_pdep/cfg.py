# A P_DEP that divides by (x - 2): it fails for x=2 only.
from alchemy_resolvers import P_DEP, Cfg2Tune, Param2Tune

cfg = Cfg2Tune()

cfg.x = Param2Tune([1, 2, 3])
cfg.y = 10
cfg.ratio = P_DEP(lambda c: c.y / (c.x - 2))
