# The AlchemyCat style: a Python config building the same tree as conf/config.yaml.
#   python3 example_app/train.py --config-name alchemy/digits/base/cfg
from alchemy_resolvers import DEP, Config

cfg = Config()

cfg.seed = 0

cfg.model.hidden = 64

cfg.loader.batch_size = 64

cfg.opt.base_lr = 0.1
cfg.opt.lr = DEP(lambda c: c.opt.base_lr * c.loader.batch_size / 64)  # linear scaling rule
cfg.opt.momentum = 0.9
cfg.opt.weight_decay = 1e-4

# Composition: mount the addon's tree; its DEPs keep computing from `cfg.sched`.
cfg.sched = Config('alchemy/addons/warm_cos_sched.py')
