# Launchers hydra/launcher=alchemy (local_launcher.py) and alchemy_slurm; see config.py.
