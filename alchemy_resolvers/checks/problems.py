"""Problems found by the checks before launch, and the one error that lists them all.

A sweep of 100,000 jobs with one bad ``${dep}`` value has the same problem in 10,000
combinations; the user needs it once, with the first combination that shows it and how
many more do, so identical problems (same key, file, message and fix) are folded.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence, Tuple

from alchemy_resolvers.errors import SettingsError

__all__ = ["Problem", "SweepCheckError", "render_problems", "MAX_SHOWN"]

#: Distinct problems listed in one message; beyond that, a count.
MAX_SHOWN = 50


@dataclass(frozen=True)
class Problem:
    """One thing that would fail a job: where (``combination``: the job folder the sweep
    would make; ``key``: the dotted config key; ``file``: the config file the key came
    from), what (``message``) and the fix (``hint``)."""

    combination: str
    key: str
    file: Optional[str]
    message: str
    hint: Optional[str] = None

    def identity(self) -> Tuple[str, Optional[str], str, Optional[str]]:
        """What makes two problems the same one, whatever combination showed them."""
        return (self.key, self.file, self.message, self.hint)

    def render(self, more: int = 0) -> str:
        where = f" ({self.file})" if self.file else ""
        text = f"  [{self.combination}] {self.key}{where}: {self.message}"
        if self.hint:
            text += f"\n      fix: {self.hint}"
        if more > 0:
            text += f"\n      and {more} more combination{'s' if more != 1 else ''}"
        return text


def render_problems(problems: Sequence[Tuple[Problem, int]]) -> str:
    """The problems, one block each (``(problem, more combinations)``), at most
    :data:`MAX_SHOWN` of them."""
    lines = [p.render(more) for p, more in problems[:MAX_SHOWN]]
    if len(problems) > MAX_SHOWN:
        lines.append(f"  ... and {len(problems) - MAX_SHOWN} more problem(s)")
    return "\n".join(lines)


class SweepCheckError(SettingsError):
    """Jobs of the sweep would fail on their config: found before any job started.

    ``problems`` holds every distinct problem with the number of further combinations
    that have it; ``file``/``key``/``hint`` are those of the first, so a caller that
    reads one problem gets the most important one.
    """

    def __init__(self, heading: str, problems: Sequence[Tuple[Problem, int]], footer: str = "") -> None:
        self.problems = list(problems)
        first = self.problems[0][0] if self.problems else None
        text = heading + "\n" + render_problems(self.problems) + (f"\n{footer}" if footer else "")
        super().__init__(text, file=first.file if first else None, key=first.key if first else None)
