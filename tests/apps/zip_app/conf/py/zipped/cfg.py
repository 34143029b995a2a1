# A Cfg2Tune whose learning rate and warm-up advance together (one row per job), with
# a plain axis beside them and a row constraint that drops the last row.
from alchemy_resolvers import Cfg2Tune, Param2Tune

cfg = Cfg2Tune()

cfg.seed = Param2Tune([0, 1])

cfg.opt.lr, cfg.sched.warmup = Param2Tune.zip(
    [(0.1, 100), (0.01, 1000), (0.001, 10000)],
    subject_to=lambda row: row[1] < 10000,
    optional_value_names=[("fast", "short"), ("mid", "mid"), ("slow", "long")],
    priority=-1,
)
