# @package elsewhere.sched
from alchemy_resolvers import DEP, Config

cfg = Config()
cfg.epochs = 10
cfg.warm_epochs = DEP(lambda c: round(0.1 * c.epochs))
