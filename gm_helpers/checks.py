"""Exercise checks: run a participant's answer on fresh inputs and say pass, hint or 'not attempted'.

A check cell in a notebook looks like::

    gm.checks.check(
        "kl_divergence_hist",
        lambda: gm.checks.assert_same_function(kl_divergence_hist, reference, cases),
        hint="Normalize both histograms before taking the ratio.",
    )

The answer is 'not attempted' while the stub still raises ``NotImplementedError``; any other
exception or a failed comparison is 'wrong' and the hint is shown. With ``GM_STRICT_CHECKS=1``
(set by the test-suite and ``python -m gm_helpers run``) a check that does not pass raises
``CheckFailed``, so a broken solution notebook fails CI instead of printing a hint nobody reads.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence

import numpy as np

from gm_helpers.core import to_numpy

__all__ = ["CheckFailed", "assert_close", "assert_same_function", "check", "strict"]


class CheckFailed(AssertionError):
    """An exercise check did not pass while strict checking is on."""


def strict() -> bool:
    """Whether checks raise instead of printing (``GM_STRICT_CHECKS`` is 1/true/yes)."""
    return os.environ.get("GM_STRICT_CHECKS", "").strip().lower() in {"1", "true", "yes"}


def check(name: str, test: Callable[[], object], hint: str = "") -> bool:
    """Run ``test()`` and report: ✅ passed, ⏳ not attempted, or ❌ wrong with ``hint``.

    Returns True when the test passes. ``test`` signals a wrong answer by raising (an
    ``AssertionError`` from ``assert_close`` or any error of the participant's code).
    """
    try:
        test()
    except NotImplementedError:
        message = f"⏳ {name}: not attempted yet. Replace `raise NotImplementedError` with your code."
        return _fail(name, message)
    except Exception as error:  # noqa: BLE001 - any error of the participant's code is feedback
        detail = str(error) or type(error).__name__
        if not isinstance(error, AssertionError):
            detail = f"your code raised {type(error).__name__}: {detail}"
        message = f"❌ {name}: {detail}"
        if hint:
            message += f"\n   Hint: {hint}"
        return _fail(name, message, error)
    print(f"✅ {name}: correct.")
    return True


def _fail(name: str, message: str, cause: BaseException | None = None) -> bool:
    print(message)
    if strict():
        raise CheckFailed(message) from cause
    return False


def _to_numpy(x) -> np.ndarray:
    return to_numpy(x).astype(np.float64)


def assert_close(actual, expected, what: str = "result", rtol: float = 1e-5, atol: float = 1e-8):
    """Raise an ``AssertionError`` that says what differs when ``actual`` is not close to ``expected``."""
    a, e = _to_numpy(actual), _to_numpy(expected)
    if a.shape != e.shape:
        raise AssertionError(f"{what} has shape {a.shape}, expected {e.shape}")
    if not np.all(np.isfinite(a)):
        raise AssertionError(f"{what} contains NaN or infinite values")
    if not np.allclose(a, e, rtol=rtol, atol=atol):
        worst = np.unravel_index(np.argmax(np.abs(a - e)), a.shape) if a.shape else ()
        raise AssertionError(
            f"{what} is {a[worst]:.6g} where {e[worst]:.6g} was expected"
            + (f" (at index {tuple(int(i) for i in worst)})" if worst else "")
        )


def assert_same_function(
    answer: Callable,
    reference: Callable,
    cases: Iterable[Sequence | dict],
    rtol: float = 1e-5,
    atol: float = 1e-8,
) -> None:
    """Call ``answer`` and ``reference`` on each case (positional tuple or keyword dict) and compare.

    Tuple outputs are compared element by element. Random functions must be seeded by the case.
    """
    for number, case in enumerate(cases, start=1):
        args, kwargs = ((), case) if isinstance(case, dict) else (tuple(case), {})
        got, want = answer(*args, **kwargs), reference(*args, **kwargs)
        if isinstance(want, tuple):
            if not isinstance(got, tuple) or len(got) != len(want):
                raise AssertionError(f"case {number}: expected a tuple of {len(want)} outputs")
            for k, (g, w) in enumerate(zip(got, want, strict=True)):
                assert_close(g, w, f"case {number}, output {k}", rtol, atol)
        else:
            assert_close(got, want, f"case {number}: the result", rtol, atol)
