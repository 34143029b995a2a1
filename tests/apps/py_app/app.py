"""Reports what a task sees of its Python-defined config: JSON with objects as reprs."""
import collections
import json
import os
import sys

import hydra
from omegaconf import DictConfig, OmegaConf


def emit(line: str) -> None:
    # One write(2) a line: parallel jobs (joblib, submitit) share this stdout, and a
    # line must never be interleaved with another job's.
    sys.stdout.flush()
    os.write(sys.stdout.fileno(), (line + "\n").encode())


def _plain(value):
    return value if isinstance(value, (int, float, str, bool, type(None))) else f"<object {getattr(value, '__name__', repr(value))}>"


@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def main(cfg: DictConfig) -> None:
    if os.environ.get("PY_APP_READ_NOTHING"):
        emit("TASK RAN")
        return
    resolved = OmegaConf.to_container(cfg, resolve=True)
    emit("RESOLVED " + json.dumps(resolved, sort_keys=True, default=_plain))
    checks = {}
    if OmegaConf.select(cfg, "opt.cls") is not None:
        checks["opt_cls_is_ordered_dict"] = cfg.opt.cls is collections.OrderedDict
    emit("CHECKS " + json.dumps(checks))
    emit("PID " + str(os.getpid()))


if __name__ == "__main__":
    main()
