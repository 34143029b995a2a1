# @package _global_
# A Cfg2Tune used as a group option at the root (`+exp_tune=wide`).
from alchemy_resolvers import Cfg2Tune, Param2Tune

cfg = Cfg2Tune()
cfg.loader.batch_size = Param2Tune([16, 48])
