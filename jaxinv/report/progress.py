"""Progress bars for long stages: 'compiling' with the seconds so far until the first update,
then an ETA measured from the updates after compilation.

A :class:`Bar` is the engine's callback ``(done, last losses)``; it draws on stderr with tqdm.
The ETA is the remaining work at the rate seen since the first update, so the compile time of
the first chunk does not inflate it (tqdm's own ETA would count it).
"""

from __future__ import annotations

import sys
import threading
import time

import numpy as np

_FORMAT = "{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} {unit} [{elapsed}{postfix}]"


def eta_seconds(total: int, first: tuple[int, float], now: tuple[int, float]) -> float | None:
    """Seconds left for ``total`` units at the rate between the updates ``first`` and ``now``
    (each ``(units done, time)``); None before a second update."""
    (n0, t0), (n1, t1) = first, now
    if n1 <= n0 or t1 <= t0:
        return None
    return (total - n1) * (t1 - t0) / (n1 - n0)


class Bar:
    """``Bar(total, desc, unit, enabled)``; call it with ``(done, last)`` after each chunk
    (``last``: the batch's last losses, shown as their mean, or None; ``extra``: more named
    numbers to show); ``close()`` at the end. While nothing was done yet the postfix reads
    'compiling, N s', refreshed every second."""

    def __init__(self, total: int, desc: str, unit: str = "steps", enabled: bool = True,
                 tick: float = 1.0):
        from tqdm import tqdm

        self.total = int(total)
        self._bar = tqdm(total=self.total, desc=desc, unit=unit, file=sys.stderr,
                         disable=not enabled, bar_format=_FORMAT)
        self._start = time.monotonic()
        self._first = None
        self._started = threading.Event()
        self._ticker = None
        if enabled:
            self._bar.set_postfix_str("compiling")
            self._ticker = threading.Thread(target=self._tick, args=(tick,), daemon=True)
            self._ticker.start()

    def _tick(self, every: float) -> None:
        while not self._started.wait(every):
            self._bar.set_postfix_str(f"compiling, {time.monotonic() - self._start:.0f} s")

    def __call__(self, done: int, last=None, extra: dict | None = None) -> None:
        now = (int(done), time.monotonic())
        if self._first is None:
            self._first = now
            self._started.set()
        self._bar.update(now[0] - self._bar.n)
        parts = []
        if last is not None:
            parts.append(f"loss {float(np.mean(np.asarray(last, np.float64))):.4g}")
        parts += [f"{k} {float(v):.4g}" for k, v in (extra or {}).items()]
        eta = eta_seconds(self.total, self._first, now)
        if eta is not None:
            parts.append("ETA " + time.strftime("%H:%M:%S", time.gmtime(eta)))
        self._bar.set_postfix_str(", ".join(parts))

    def close(self) -> None:
        self._started.set()
        if self._ticker is not None:
            self._ticker.join()
        self._bar.close()


class ImageProgress:
    """For searches that run a batch one image at a time, in stages: reports a stage's progress
    to the runner's callback in the batch's units. Image b's work starts at ``offset``;
    ``at(start)`` is the ``(done, last loss)`` callback of a stage that starts ``start`` units
    into the image (None without a callback)."""

    def __init__(self, callback, offset: int, batch: int):
        self.callback, self.offset, self.batch = callback, offset, batch

    def at(self, start: int):
        if self.callback is None:
            return None
        return lambda done, last: self.callback(self.offset + start + done,
                                                np.full(self.batch, float(np.mean(last))))
