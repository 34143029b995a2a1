# YACS defaults + a YAML experiment, combined by `caps` (YACS's merge_from_file):
#   python3 example_app/train.py --config-name yacs/digits/cfg
from alchemy_resolvers import Config

cfg = Config(caps=('yacs/defaults.py', 'yacs/mlp_64.yaml'))
