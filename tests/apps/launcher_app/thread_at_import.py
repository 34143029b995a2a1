"""Imported by thread_app.py: starts a thread when imported (as some libraries do), so
forking the process that imported it is unsafe."""
import threading
import time

WATCHER = threading.Thread(target=time.sleep, args=(3600,), name="watcher-at-import", daemon=True)
WATCHER.start()
