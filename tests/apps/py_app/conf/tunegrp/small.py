# A Cfg2Tune used as a group option (package `tunegrp`): the sweeper sweeps its axes.
from alchemy_resolvers import Cfg2Tune, Param2Tune

cfg = Cfg2Tune()
cfg.width = Param2Tune([8, 16])
