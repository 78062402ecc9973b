"""The cost bound of running a compiled network: a small command must not allocate
unbounded memory.

:func:`check_run_values` refuses a simulation that would hold more than ``max_run_values``
values at once (steps x samples x values recorded per step; default
:data:`MAX_RUN_VALUES`), before anything is allocated. ``Compiled.run``, ``snnc.simulate``,
``snnc.verify`` and ``run_sweep`` take ``max_run_values=N``; ``snnc run``, ``verify`` and
``sweep`` take ``--max-run-values N``. The model readers' limits are
:mod:`snnc.frontend.limits`. This module imports only :mod:`snnc.errors`, so every layer
that runs networks (codegen, the simulator, verify, sweep) may use it.
"""

from __future__ import annotations

import numpy as np

from snnc.errors import SnncError

#: default of ``max_run_values``: the values a simulation may hold at once (see
#: :func:`check_run_values`). 100 million float64 values are 800 MB; the readout's running
#: mean needs as much again. Ordinary runs are far below it (10,000 samples x 50 steps x 10
#: outputs is 5 million), and a run that only reports the value after the last step holds
#: the per-step values of one chunk of samples at a time.
MAX_RUN_VALUES = 100_000_000

#: the run-cost limit's CLI option (``snnc run``, ``verify``, ``sweep``)
RUN_OPTIONS: dict[str, tuple[str, str]] = {
    "max_run_values": (
        "--max-run-values",
        "most values a simulation may hold at once: steps x samples x values recorded per "
        f"step (outputs, and the probed neurons of verify / sweep) (default {MAX_RUN_VALUES})",
    ),
}


class RunLimitError(SnncError):
    """A simulation would hold more values than ``max_run_values`` allows (its
    ``steps x samples x recorded values``). ``found`` is that count, ``limit`` the bound."""

    def __init__(self, where: str, what: str, found: int, limit: int):
        self.limit = limit
        self.found = found
        super().__init__(
            f"{where}: {what} is {found:,} values (expected at most {limit:,}; limit "
            "max_run_values)",
            hint="use fewer steps or samples, or raise the limit if the memory is there: "
            f"{RUN_OPTIONS['max_run_values'][0]} N on the command line, max_run_values=N from "
            "Python (Compiled.run, snnc.simulate, snnc.verify, run_sweep)",
        )


def run_values_limit(value, where: str = "max_run_values") -> int:
    """The run-cost limit to apply: ``value`` (a positive int), or :data:`MAX_RUN_VALUES`
    for None.

    Raises:
        SnncError: anything but None or a positive int.
    """
    if value is None:
        return MAX_RUN_VALUES
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise SnncError(
            f"{where}: must be a positive integer (got {value!r})",
            hint=f"e.g. max_run_values={MAX_RUN_VALUES * 10}",
        )
    return int(value)


def check_run_values(where: str, what: str, found: int, limit=None) -> None:
    """Raise :class:`RunLimitError` when a simulation would hold ``found`` values at once
    and that exceeds ``limit`` (None: :data:`MAX_RUN_VALUES`). Called before anything is
    allocated, so ``--steps 1000000000`` is refused at once instead of asking for 238 GiB."""
    limit = run_values_limit(limit)
    if found > limit:
        raise RunLimitError(where, what, found, limit)


def check_steps(steps, where: str) -> int:
    """``steps`` as an int, if it is an integer >= 1 (not a bool, a float or a string).

    Raises:
        SnncError: naming ``where``.
    """
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 1:
        raise SnncError(f"{where}: steps must be an integer >= 1 (got {steps!r})")
    return int(steps)
