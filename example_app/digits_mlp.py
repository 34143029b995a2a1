"""A small MLP trained on scikit-learn's bundled digits: the example app's real work.

Nothing here knows about Hydra or config files: ``train`` takes plain numbers, so the
same function serves every config style and the tests. Arrays go through an array
module ``xp`` (numpy on CPU, cupy when ``CUDA_VISIBLE_DEVICES`` names a GPU and cupy is
importable), which is all it takes for the launcher's GPU assignment to matter.
"""
from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass
from typing import Any, Dict, Tuple

import numpy as np

log = logging.getLogger(__name__)

#: The validation split is fixed (not drawn from ``seed``), so runs that differ only in
#: their seed or hyper-parameters are scored on the same images.
SPLIT_SEED = 0
VAL_FRACTION = 0.25


@dataclass(frozen=True)
class Hparams:
    """What one training run needs; every config style fills exactly these."""

    seed: int
    hidden: int
    batch_size: int
    lr: float
    momentum: float
    weight_decay: float
    epochs: int
    warm_epochs: int
    warm_start_factor: float
    main_epochs: int
    min_lr_factor: float

    def __post_init__(self) -> None:
        for name in ("hidden", "batch_size", "epochs"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.warm_epochs < 0 or self.main_epochs < 0:
            raise ValueError(
                f"warm_epochs ({self.warm_epochs}) and main_epochs ({self.main_epochs}) "
                "must be >= 0"
            )
        if self.warm_epochs + self.main_epochs != self.epochs:
            raise ValueError(
                f"warm epochs ({self.warm_epochs}) + main epochs ({self.main_epochs}) "
                f"must add up to epochs ({self.epochs})"
            )


def array_module() -> Tuple[Any, str]:
    """(xp, device description): cupy on the first visible GPU when one is named and
    cupy imports, numpy otherwise. An empty or ``-1`` CUDA_VISIBLE_DEVICES means CPU."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES", "").strip()
    if visible and visible not in ("-1", "none", "NoDevFiles"):
        try:
            import cupy  # type: ignore[import-not-found]

            cupy.cuda.Device(0).use()
            return cupy, f"cuda:0 (cupy; CUDA_VISIBLE_DEVICES={visible})"
        except Exception as e:  # noqa: BLE001 - any cupy/CUDA failure falls back to CPU
            log.warning("CUDA_VISIBLE_DEVICES=%s but cupy is unusable (%s): using CPU", visible, e)
            return np, f"cpu (numpy; cupy unusable with CUDA_VISIBLE_DEVICES={visible})"
    return np, "cpu (numpy)"


def load_digits_arrays() -> Tuple[np.ndarray, np.ndarray]:
    """(images as 1797x64 floats in 0..16, labels) from the copy scikit-learn ships.

    Reads the very file ``sklearn.datasets.load_digits`` reads, without importing
    scikit-learn (about 2 s of imports, paid by every job of a sweep); falls back to
    ``load_digits`` if the file is not where scikit-learn keeps it.
    """
    import importlib.util

    spec = importlib.util.find_spec("sklearn")
    if spec is not None and spec.submodule_search_locations:
        for root in spec.submodule_search_locations:
            path = os.path.join(root, "datasets", "data", "digits.csv.gz")
            if os.path.isfile(path):
                table = np.loadtxt(path, delimiter=",")
                return table[:, :-1], table[:, -1].astype(np.int64)
    from sklearn.datasets import load_digits

    digits = load_digits()
    return digits.data, digits.target.astype(np.int64)


def load_split() -> Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Train and validation arrays: pixels scaled to [0, 1], a fixed 75/25 split."""
    data, target = load_digits_arrays()
    x = (data / 16.0).astype(np.float32)
    y = target
    order = np.random.default_rng(SPLIT_SEED).permutation(len(y))
    n_val = int(round(VAL_FRACTION * len(y)))
    val, tr = order[:n_val], order[n_val:]
    return x[tr], y[tr], x[val], y[val]


def lr_at(step: int, steps_per_epoch: int, hp: Hparams) -> float:
    """Linear warm-up from ``warm_start_factor * lr`` to ``lr``, then cosine decay to
    ``min_lr_factor * lr``; stepped per minibatch."""
    warm_steps = hp.warm_epochs * steps_per_epoch
    if step < warm_steps:
        frac = step / warm_steps
        return hp.lr * (hp.warm_start_factor + (1.0 - hp.warm_start_factor) * frac)
    main_steps = max(1, hp.main_epochs * steps_per_epoch)
    t = min(1.0, (step - warm_steps) / main_steps)
    low = hp.min_lr_factor * hp.lr
    return low + 0.5 * (hp.lr - low) * (1.0 + math.cos(math.pi * t))


def _forward(xp: Any, params: Dict[str, Any], x: Any) -> Tuple[Any, Any]:
    h = xp.maximum(x @ params["w1"] + params["b1"], 0.0)
    return h, h @ params["w2"] + params["b2"]


def _softmax_xent(xp: Any, logits: Any, y: Any) -> Tuple[float, Any]:
    """Mean cross-entropy and its gradient w.r.t. the logits."""
    z = logits - logits.max(axis=1, keepdims=True)
    p = xp.exp(z)
    p /= p.sum(axis=1, keepdims=True)
    n = logits.shape[0]
    idx = xp.arange(n)
    loss = float(-xp.log(p[idx, y] + 1e-12).mean())
    p[idx, y] -= 1.0
    return loss, p / n


def evaluate(xp: Any, params: Dict[str, Any], x: Any, y: Any) -> Tuple[float, float]:
    """(loss, accuracy) over the whole set."""
    _, logits = _forward(xp, params, x)
    loss, _ = _softmax_xent(xp, logits, y)
    acc = float((logits.argmax(axis=1) == y).mean())
    return loss, acc


def train(hp: Hparams) -> Dict[str, float]:
    """Train once and return the metrics the sweeper tabulates."""
    xp, device = array_module()
    log.info("device: %s", device)
    x_tr, y_tr, x_val, y_val = (xp.asarray(a) for a in load_split())
    n_in, n_cls = x_tr.shape[1], 10

    rng = np.random.default_rng(hp.seed)
    params = {
        "w1": xp.asarray(rng.normal(0, math.sqrt(2.0 / n_in), (n_in, hp.hidden)).astype(np.float32)),
        "b1": xp.zeros(hp.hidden, dtype=xp.float32),
        "w2": xp.asarray(rng.normal(0, math.sqrt(1.0 / hp.hidden), (hp.hidden, n_cls)).astype(np.float32)),
        "b2": xp.zeros(n_cls, dtype=xp.float32),
    }
    velocity = {k: xp.zeros_like(v) for k, v in params.items()}

    n = int(x_tr.shape[0])
    steps_per_epoch = math.ceil(n / hp.batch_size)
    step = 0
    train_loss = float("nan")
    for epoch in range(1, hp.epochs + 1):
        order = xp.asarray(rng.permutation(n))
        losses = []
        for start in range(0, n, hp.batch_size):
            idx = order[start:start + hp.batch_size]
            xb, yb = x_tr[idx], y_tr[idx]
            h, logits = _forward(xp, params, xb)
            loss, dlogits = _softmax_xent(xp, logits, yb)
            losses.append(loss)
            dh = (dlogits @ params["w2"].T) * (h > 0)
            grads = {
                "w2": h.T @ dlogits,
                "b2": dlogits.sum(axis=0),
                "w1": xb.T @ dh,
                "b1": dh.sum(axis=0),
            }
            lr = lr_at(step, steps_per_epoch, hp)
            for k, g in grads.items():
                if k.startswith("w"):  # weight decay on weights, not biases
                    g = g + hp.weight_decay * params[k]
                velocity[k] = hp.momentum * velocity[k] + g
                params[k] -= lr * velocity[k]
            step += 1
        train_loss = float(np.mean(losses))
        val_loss, val_acc = evaluate(xp, params, x_val, y_val)
        log.info(
            "epoch %d/%d lr=%.4g train_loss=%.4f val_loss=%.4f val_acc=%.4f",
            epoch, hp.epochs, lr, train_loss, val_loss, val_acc,
        )
    val_loss, val_acc = evaluate(xp, params, x_val, y_val)
    return {"val_acc": round(val_acc, 6), "val_loss": round(val_loss, 6), "train_loss": round(train_loss, 6)}
