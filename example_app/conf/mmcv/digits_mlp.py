# @package _global_
# The MMCV / MMEngine style: `_base_` files merged depth-first, this file wins.
#   python3 example_app/train.py --config-name mmcv/digits_mlp
_base_ = ['./_base_/mlp.py', './_base_/warm_cos_10e.py', './_base_/default_runtime.py']

loader = dict(batch_size=64)

opt = dict(
    base_lr=0.1,
    # A string that is exactly one `${dep:...}` is a dependency: served through
    # hydra-alchemy, this file gets dependencies that MMCV itself does not have (any
    # other `${...}` in a string is text, as in MMCV).
    lr='${dep:c.opt.base_lr * c.loader.batch_size / 64}',
    momentum=0.9,
    weight_decay=0.0001,
)

# `{{_base_.x}}` reads a base's value (here: keep the base's seed under another name).
data_seed = '{{_base_.seed}}'
