"""``${dep:...}`` resolution cost: chains and diamonds of dependencies.

Resolution must be linear in the entries read: a chain of n entries costs n
evaluations, and a diamond (each entry reading the previous one twice) costs n too,
not 2**n. Prints, per shape and size, the seconds for one read of the last entry and
the number of dependencies evaluated.

    python bench/bench_deps.py [--sizes 16,200,1000]
"""
from __future__ import annotations

import argparse
import time
from typing import Any, Dict, Tuple


def build(shape: str, n: int) -> Dict[str, Any]:
    step = {"chain": "c.a{p} + 1", "diamond": "c.a{p} + c.a{p} - c.a{p}"}[shape]
    tree: Dict[str, Any] = {"a0": 1}
    for i in range(1, n + 1):
        tree[f"a{i}"] = "${dep:" + step.format(p=i - 1) + "}"
    return tree


def measure(shape: str, n: int) -> Tuple[float, int]:
    from omegaconf import OmegaConf

    import alchemy_resolvers  # noqa: F401 - registers the resolvers
    from alchemy_resolvers.deps.resolution import evaluation_count
    from alchemy_resolvers.loading.annotate import annotate_tree

    cfg = OmegaConf.create(annotate_tree(build(shape, n)))
    before = evaluation_count()
    start = time.perf_counter()
    value = cfg[f"a{n}"]
    seconds = time.perf_counter() - start
    assert value == (n + 1 if shape == "chain" else 1), value
    return seconds, evaluation_count() - before


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="16,200,1000")
    args = parser.parse_args()
    print(f"{'shape':8s} {'entries':>8s} {'seconds':>9s} {'evaluations':>12s}")
    for shape in ("chain", "diamond"):
        for n in (int(s) for s in args.sizes.split(",")):
            seconds, count = measure(shape, n)
            print(f"{shape:8s} {n:8d} {seconds:9.3f} {count:12d}")


if __name__ == "__main__":
    main()
