"""Train a small MLP on scikit-learn's digits; every config style in conf/ drives it.

    python3 example_app/train.py                                    # conf/config.yaml
    python3 example_app/train.py --config-name alchemy/digits/base/cfg   # a Python config
    python3 example_app/train.py -m hydra/sweeper=alchemy ...       # a tuned sweep

The task returns its validation metrics: Hydra's basic sweeper drops them, the
``alchemy`` sweeper puts them into ``metric_frame.xlsx``.
"""
from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Dict

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

sys.path.insert(0, str(Path(__file__).resolve().parent))  # digits_mlp beside this file

from digits_mlp import Hparams, train  # noqa: E402

log = logging.getLogger(__name__)


def hparams(cfg: DictConfig) -> Hparams:
    """The entries the task reads: the schema every config style must produce.

    An empty (or absent) ``sched.warm`` means no warm-up, AlchemyCat-style: an empty
    subtree is false (see ``alchemy/digits/base,no_warm/cfg.py``, which deletes the
    base's warm-up with ``empty_leaf()``).
    """
    warm = cfg.sched.get("warm")
    return Hparams(
        seed=int(cfg.seed),
        hidden=int(cfg.model.hidden),
        batch_size=int(cfg.loader.batch_size),
        lr=float(cfg.opt.lr),
        momentum=float(cfg.opt.momentum),
        weight_decay=float(cfg.opt.weight_decay),
        epochs=int(cfg.sched.epochs),
        warm_epochs=int(warm.epochs) if warm else 0,
        warm_start_factor=float(warm.start_factor) if warm else 1.0,
        main_epochs=int(cfg.sched.main.epochs),
        min_lr_factor=float(cfg.sched.main.min_lr_factor),
    )


@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def main(cfg: DictConfig) -> Dict[str, float]:
    hp = hparams(cfg)
    log.info("hparams: %s", json.dumps(hp.__dict__, sort_keys=True))
    metrics = train(hp)
    log.info("metrics: %s", json.dumps(metrics, sort_keys=True))
    # Also on disk, so a run can be inspected (and tested) without the sweeper.
    out = Path(HydraConfig.get().runtime.output_dir)
    (out / "metrics.json").write_text(
        json.dumps({"hparams": hp.__dict__, "metrics": metrics}, indent=1, sort_keys=True)
    )
    return metrics


if __name__ == "__main__":
    main()
