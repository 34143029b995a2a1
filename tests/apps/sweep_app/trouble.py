"""Strings that no summary file holds as they are (#13); no Hydra import here, so the
tests can import it without touching Hydra's global state."""

TROUBLE = ["\ud800", "\udfff", "\ufffe", "\uffff", "\x00", "\x01\x07\x1b\x1f", "\u200f\u202e rtl",
           "tab\there", "line\nbreak", "x" * 40_000, "=1+1", "\U0001F600"]


def strange_metrics() -> dict:
    out = {f"m{i}{s[:20]}": s for i, s in enumerate(TROUBLE)}
    out["num\ud800"] = 1.5
    return out
