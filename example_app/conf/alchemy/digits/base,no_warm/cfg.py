# Deleting during inheritance: `empty_leaf()` replaces the base's `sched.warm` with an
# empty subtree, which the task reads as "no warm-up".
from alchemy_resolvers import DEP, Config

cfg = Config(caps='alchemy/digits/base/cfg.py')

cfg.sched.warm.empty_leaf()
cfg.sched.warm_epochs = 0  # a plain value replaces the base's DEP
cfg.sched.main.epochs = DEP(lambda c: c.sched.epochs)  # every epoch is a cosine epoch
