from alchemy_resolvers import Cfg2Tune, Param2Tune

cfg = Cfg2Tune()
cfg.loader.batch_size = Param2Tune([64, 128])
cfg.note = "the task may never read the tuned entry"
