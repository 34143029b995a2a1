"""Targets for the check_app's configs."""


class MLP:
    def __init__(self, hidden: int, depth: int = 2, *, act: str = "relu") -> None:
        self.hidden, self.depth, self.act = hidden, depth, act


def make_opt(lr: float, **extra: object) -> dict:
    return {"lr": lr, **extra}
