"""Reports what a task sees of its Python-defined config: JSON with objects as reprs."""
import collections
import json
import os

import hydra
from omegaconf import DictConfig, OmegaConf


def _plain(value):
    return value if isinstance(value, (int, float, str, bool, type(None))) else f"<object {getattr(value, '__name__', repr(value))}>"


@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def main(cfg: DictConfig) -> None:
    if os.environ.get("PY_APP_READ_NOTHING"):
        print("TASK RAN", flush=True)
        return
    resolved = OmegaConf.to_container(cfg, resolve=True)
    print("RESOLVED " + json.dumps(resolved, sort_keys=True, default=_plain), flush=True)
    checks = {}
    if OmegaConf.select(cfg, "opt.cls") is not None:
        checks["opt_cls_is_ordered_dict"] = cfg.opt.cls is collections.OrderedDict
    print("CHECKS " + json.dumps(checks), flush=True)
    print("PID " + str(os.getpid()), flush=True)


if __name__ == "__main__":
    main()
