# A Cfg2Tune with a P_DEP that reads a tuned value, and values that are Python objects.
import collections

from alchemy_resolvers import Cfg2Tune, P_DEP, Param2Tune

cfg = Cfg2Tune()

cfg.loader.ini.batch_size = Param2Tune([128, 256])

cfg.model.cls = Param2Tune([collections.OrderedDict, (1, 2), None], priority=-1)

cfg.opt.lr = P_DEP(lambda c: c.loader.ini.batch_size / 1280)
