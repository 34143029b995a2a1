# The YACS style: a defaults file (a CfgNode named _C), experiments merged onto it.
from yacs.config import CfgNode as CN

_C = CN()
_C.seed = 0

_C.model = CN()
_C.model.hidden = 32

_C.loader = CN()
_C.loader.batch_size = 32

_C.opt = CN()
_C.opt.lr = 0.05
_C.opt.momentum = 0.0
_C.opt.weight_decay = 0.0

_C.sched = CN()
_C.sched.epochs = 10
_C.sched.warm_epochs = 0
_C.sched.warm = CN()
_C.sched.warm.epochs = 0
_C.sched.warm.start_factor = 1.0
_C.sched.main = CN()
_C.sched.main.epochs = 10
_C.sched.main.min_lr_factor = 1.0


def get_cfg_defaults():
    return _C.clone()
