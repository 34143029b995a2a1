from alchemy_resolvers import Config

cfg = Config(caps="no_such_base.py")
