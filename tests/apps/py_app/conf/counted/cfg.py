# A tunable config that records each time it is executed (the test counts the lines):
# a sweep must run it once, however many jobs it has.
import os

from alchemy_resolvers import Cfg2Tune, Param2Tune

_log = os.environ.get("ALCHEMY_EXEC_LOG")
if _log:
    with open(_log, "a", encoding="utf-8") as f:
        f.write(f"{os.getpid()}\n")

cfg = Cfg2Tune()
cfg.loader.batch_size = Param2Tune([32, 64, 128])
cfg.sched.epochs = Param2Tune([1, 2, 3, 4])
