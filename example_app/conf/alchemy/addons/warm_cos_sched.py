# An addon: a config subtree meant to be mounted (`cfg.sched = Config(...)`).
# `c` in its DEPs is this subtree wherever it is mounted: `c.epochs` is
# `cfg.sched.epochs` in the final config.
from alchemy_resolvers import DEP, Config

cfg = Config()

cfg.epochs = 10


@cfg.set_DEP(priority=0)  # warm-up: 10% of the epochs (at least 1 when there are 2+)
def warm_epochs(c):
    return max(1, round(0.1 * c.epochs)) if c.epochs > 1 else 0


cfg.warm.epochs = DEP(lambda c: c.warm_epochs, priority=1)
cfg.warm.start_factor = 0.01

cfg.main.epochs = DEP(lambda c: c.epochs - c.warm.epochs, priority=2)
cfg.main.min_lr_factor = 0.01
