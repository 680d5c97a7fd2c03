"""Progress bars (tqdm, optional) for long calls: reading logs, aggregating and scoring
Parquet files, scoring large tables.

A leaf module: it imports nothing of vigil. ``progress=None`` (the default of every caller)
shows a bar in a terminal or a notebook and stays quiet when output is not a terminal (a
log file, a pipe, CI); ``True`` always shows it, ``False`` never; without tqdm there is none.
"""

from __future__ import annotations

from typing import Any, Optional


class Progress:
    """A tqdm bar driven by ``(done, total)`` reports, or nothing.

    Use as a context manager; :attr:`callback` is what the native side calls (None when no
    bar is shown, so that compute never re-takes the GIL for nothing)."""

    def __init__(self, enabled: Optional[bool], desc: str, unit: str = "rows", total: Optional[int] = None) -> None:
        self._bar: Any = None
        if enabled is False:
            return
        try:
            from tqdm.auto import tqdm
        except ImportError:
            return
        bar = tqdm(total=total, desc=desc, unit=unit, unit_scale=True,
                   unit_divisor=1024 if unit == "B" else 1000,
                   disable=None if enabled is None else False, leave=False)
        if getattr(bar, "disable", False):
            bar.close()
            return
        self._bar = bar

    @property
    def active(self) -> bool:
        """Whether a bar is shown."""
        return self._bar is not None

    @property
    def callback(self) -> Optional["Progress"]:
        """``self`` when a bar is shown, else None."""
        return self if self._bar is not None else None

    def __call__(self, done: int, total: int) -> None:
        """Moves the bar to ``done`` of ``total``."""
        bar = self._bar
        if bar is None:
            return
        if total and bar.total != total:
            bar.total = total
        bar.update(done - bar.n)

    def advance(self, n: int) -> None:
        """Moves the bar on by ``n``."""
        if self._bar is not None:
            self._bar.update(n)

    def close(self) -> None:
        """Removes the bar."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
