model = dict(hidden=64)
