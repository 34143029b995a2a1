# A Python config that notes every run of itself: one line (the running process's pid)
# appended to $LAUNCHER_APP_EXEC_LOG. The launcher must run it in the sweep's process only.
import os
import threading

from alchemy_resolvers import DEP, Config

with open(os.environ["LAUNCHER_APP_EXEC_LOG"], "a") as log:
    log.write(f"{os.getpid()}\n")


def triple(v):
    return 3 * v


cfg = Config()
cfg.x = 1
cfg.double = DEP(lambda c: c.x * 2)
cfg.fn = triple  # a Python object: reaches the job through the registry
if os.environ.get("LAUNCHER_APP_UNPICKLABLE"):
    cfg.lock = threading.Lock()
