# Multiple inheritance: base -> patch -> this file, later ones win.
from alchemy_resolvers import Config

cfg = Config(caps=('alchemy/digits/base/cfg.py', 'alchemy/patches/wide.py'))

cfg.opt.weight_decay = 5e-4  # a wider net gets a little more weight decay
