# Inheritance: everything from the base, batch size doubled. The learning rate is a
# DEP in the base, so it doubles too.
from alchemy_resolvers import Config

cfg = Config(caps='alchemy/digits/base/cfg.py')

cfg.loader.batch_size = 128
