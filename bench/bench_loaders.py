"""Config loading: ours against the anchors, in one run.

Loads the same OpenMMLab-style config (a chain of ``_base_`` files) with
``alchemy_resolvers.loading.mmcv.load_mmcv`` and with mmengine's ``Config.fromfile``,
and an AlchemyCat-style experiment (caps chain + composed addon + DEPs) with
``alchemy_resolvers.lowering.lower.load_config`` (DEPs computed) and ``lower.load_for_hydra``
(what Hydra gets). Prints mean milliseconds per load and the ratio to mmengine.

With ``--corpus N`` it also loads N real configs per project (the released configs
of mmdet, mmsegmentation, mmpretrain, mmaction2 and mmagic, fetched like the
differential suite does; and the detectron2- and HRNet-style YACS trees of the test
fixtures) with the native tool and with ours, and prints the ratios: the loader alone
(``load_tree``, what the config source runs), ``load_config`` (loader, lowering and
OmegaConf resolution) and a whole Hydra compose (``hydra.compose``, first compose of
the file in the process). "cold" clears every cache of ours before each file; "warm"
loads each file again, as every job of a sweep does.

    python bench/bench_loaders.py [--repeat N] [--corpus N]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Callable, List

REPO = Path(__file__).resolve().parents[1]
MMCV_CONFIG = REPO / "tests" / "fixtures" / "mmcv" / "retinanet_r101_fpn_2x_coco.py"
ALCHEMY_ROOT = REPO / "tests" / "fixtures" / "alchemy"
ALCHEMY_CONFIG = ALCHEMY_ROOT / "configs" / "mnist" / "base,sched_from_addon,2xbs,2÷epo" / "cfg.py"


def timed(fn: Callable[[], object], repeat: int) -> List[float]:
    fn()  # warm caches (imports, parsed bases) once, as a long-running process would
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--corpus", type=int, default=0, help="real configs per project (0: skip)")
    args = parser.parse_args()
    if args.corpus:
        from bench_corpus import run_corpus  # bench/bench_corpus.py

        run_corpus(args.corpus)

    from alchemy_resolvers.loading.mmcv import load_mmcv
    from alchemy_resolvers.lowering.lower import load_config, load_for_hydra

    rows = [("hydra-alchemy load_mmcv", timed(lambda: load_mmcv(MMCV_CONFIG), args.repeat))]
    try:
        from mmengine import Config as MMConfig
    except ImportError:
        print("mmengine not installed: pip install mmengine", file=sys.stderr)
        mm = None
    else:
        mm = timed(lambda: MMConfig.fromfile(str(MMCV_CONFIG)).to_dict(), args.repeat)
        rows.append(("mmengine Config.fromfile", mm))
    os.chdir(ALCHEMY_ROOT)  # AlchemyCat caps paths are written from the project root
    rows.append(("hydra-alchemy load_config (AlchemyCat)", timed(lambda: load_config(ALCHEMY_CONFIG), args.repeat)))
    rows.append(("hydra-alchemy load_for_hydra (AlchemyCat)", timed(lambda: load_for_hydra(str(ALCHEMY_CONFIG)), args.repeat)))

    print(f"{'loader':45s} {'mean ms':>9s} {'stdev':>7s} {'vs mmengine':>12s}")
    base = statistics.mean(mm) if mm else None
    for name, samples in rows:
        mean = statistics.mean(samples)
        ratio = f"{mean / base:.2f}x" if base else "-"
        print(f"{name:45s} {mean:9.2f} {statistics.pstdev(samples):7.2f} {ratio:>12s}")


if __name__ == "__main__":
    main()
