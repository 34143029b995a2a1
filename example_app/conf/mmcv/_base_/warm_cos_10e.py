# An MMCV-style schedule: plain numbers, no dependencies between them.
sched = dict(
    epochs=10,
    warm_epochs=1,
    warm=dict(epochs=1, start_factor=0.01),
    main=dict(epochs=9, min_lr_factor=0.01),
)
