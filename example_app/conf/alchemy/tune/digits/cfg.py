# A tunable config: the grid the alchemy sweeper runs, one job per combination.
#   python3 example_app/train.py -m --config-name alchemy/tune/digits/cfg
# A Cfg2Tune picks hydra/sweeper=alchemy by itself; this one also picks the alchemy
# launcher (one fresh process per job, GPUs when there are idle ones) below.
from alchemy_resolvers import P_DEP, Cfg2Tune, Param2Tune

cfg = Cfg2Tune(caps='alchemy/digits/base/cfg.py')

# Hydra's defaults list, as in a YAML config (groups absolute: this file is in a subdir).
cfg.defaults = ['_self_', {'override /hydra/launcher': 'alchemy'}]

# Outer loop (priority 0): the batch size.
cfg.loader.batch_size = Param2Tune([32, 128], priority=0)

# Constraint: at most as many SGD steps as 5 epochs at batch size 32
# (`subject_to` reads params that come earlier in the order through `.cur_val`).
cfg.sched.epochs = Param2Tune(
    [5, 20],
    subject_to=lambda e: e * 32 <= 5 * cfg.loader.batch_size.cur_val,
    priority=1,
)

# Readable value names for folders and the metric frame's index.
cfg.model.hidden = Param2Tune([32, 128], optional_value_names=['narrow', 'wide'], priority=2)

# Computed per job from the tuned batch size, before the job starts; the job's saved
# config shows the number, not a formula.
cfg.opt.lr = P_DEP(lambda c: c.opt.base_lr * c.loader.batch_size / 64)
