"""Exercise checks: run a participant's answer on fresh inputs and say pass, hint or 'not attempted'.

A check cell in a notebook looks like::

    gm.checks.check(
        "kl_divergence_hist",
        lambda: gm.checks.assert_same_function(kl_divergence_hist, reference, cases),
        hint="Normalize both histograms before taking the ratio.",
    )

The answer is 'not attempted' while the stub still raises ``NotImplementedError``; any other
exception or a failed comparison is 'wrong', with the message of the failed assertion (which
names the likely cause) and the general ``hint``. Checks compare values *and*, where the answer
must be differentiable, gradients (``assert_same_gradients``): a stray ``detach`` or a missing
``create_graph`` gives the right numbers and the wrong training.

A cell that needs earlier answers starts with ``if gm.checks.ready("name", ...):``: it runs only
once they pass (an answer replaced by its escape cell is checked again), and otherwise says what
is left to do instead of raising a traceback, so that "Run All" on an untouched exercise ends
with a clear to-do list (``gm.checks.summary()``).

With ``GM_STRICT_CHECKS=1`` (set by the test-suite and ``python -m gm_helpers run``) a check that
does not pass raises ``CheckFailed``, so a broken solution notebook fails CI instead of printing a
hint nobody reads.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence

import numpy as np
import torch

from gm_helpers.core import to_numpy

__all__ = [
    "CheckFailed",
    "assert_close",
    "assert_differentiable",
    "assert_same_function",
    "assert_same_gradients",
    "call_answer",
    "check",
    "passed",
    "ready",
    "strict",
    "summary",
]


class CheckFailed(AssertionError):
    """An exercise check did not pass while strict checking is on."""


# name -> {"test": the check, "hint": its hint, "status": "passed" | "todo" | "wrong"}, in the order run
_CHECKS: dict[str, dict] = {}


def strict() -> bool:
    """Whether checks raise instead of printing (``GM_STRICT_CHECKS`` is 1/true/yes)."""
    return os.environ.get("GM_STRICT_CHECKS", "").strip().lower() in {"1", "true", "yes"}


def _run(name: str, test: Callable[[], object], hint: str) -> tuple[str, str, BaseException | None]:
    try:
        test()
    except NotImplementedError:
        return (
            "todo",
            f"⏳ {name}: not attempted yet. Replace `raise NotImplementedError` with your code.",
            None,
        )
    except Exception as error:  # noqa: BLE001 - any error of the participant's code is feedback
        detail = str(error) or type(error).__name__
        if not isinstance(error, AssertionError):
            detail = f"your code raised {type(error).__name__}: {detail}"
        message = f"❌ {name}: {detail}"
        if hint:
            message += f"\n   Hint: {hint}"
        return "wrong", message, error
    return "passed", f"✅ {name}: correct.", None


def check(name: str, test: Callable[[], object], hint: str = "") -> None:
    """Run ``test()`` and report: ✅ passed, ⏳ not attempted, or ❌ wrong with ``hint``.

    ``test`` signals a wrong answer by raising (an ``AssertionError`` whose message names the
    cause, or any error of the participant's code). The result is remembered for ``ready``,
    ``passed`` and ``summary``; nothing is returned, so a check cell shows only its message.
    """
    status, message, error = _run(name, test, hint)
    _CHECKS[name] = {"test": test, "hint": hint, "status": status}
    print(message)
    if status != "passed" and strict():
        raise CheckFailed(message) from error


def passed(name: str) -> bool:
    """Whether the check ``name`` has run and passed."""
    return _CHECKS.get(name, {}).get("status") == "passed"


def ready(*names: str) -> bool:
    """Whether the answers ``names`` pass their checks; if not, say what is missing and return False.

    For the first line of a cell that uses earlier answers: ``if gm.checks.ready("train_step"):``.
    An answer that did not pass is checked again (quietly): its escape cell may have replaced it.
    """
    missing = []
    for name in names:
        entry = _CHECKS.get(name)
        if entry is None:
            missing.append(f"`{name}` (run its check cell first)")
            continue
        if entry["status"] != "passed":
            entry["status"] = _run(name, entry["test"], entry["hint"])[0]
        if entry["status"] != "passed":
            missing.append(
                f"`{name}` ({'not attempted yet' if entry['status'] == 'todo' else 'not correct yet'})"
            )
    if not missing:
        return True
    message = (
        f"⏳ skipped: this cell needs {', '.join(missing)}. Finish it, or run its escape cell, "
        "then run this cell again."
    )
    print(message)
    if strict():
        raise CheckFailed(message)
    return False


def summary() -> None:
    """Print every check run so far with its status: what is done, and what is left to do."""
    if not _CHECKS:
        print("No check has run yet.")
        return
    marks = {"passed": "✅ done", "todo": "⏳ to do", "wrong": "❌ not correct yet"}
    done = sum(entry["status"] == "passed" for entry in _CHECKS.values())
    print(f"{done} of {len(_CHECKS)} answers done.")
    for name, entry in _CHECKS.items():
        print(f"  {marks[entry['status']]:18s} {name}")


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0].rstrip(".") if text else type(error).__name__


def call_answer(
    function: Callable, args: tuple, what: str, cause: Callable[[BaseException], str], kwargs=None
):
    """Call the participant's code; its errors become an ``AssertionError`` naming ``cause(error)``,
    except ``NotImplementedError``, the untouched stub, which passes through as is."""
    try:
        return function(*args, **(kwargs or {}))
    except NotImplementedError:
        raise
    except Exception as error:  # noqa: BLE001 - the participant's error, reported with its cause
        raise AssertionError(
            f"{what} raised {type(error).__name__} ({_first_line(error)}): {cause(error)}"
        ) from error


def assert_differentiable(value, what: str = "the result") -> None:
    """Raise unless ``value`` is a tensor that carries a gradient (has an autograd graph)."""
    if not isinstance(value, torch.Tensor):
        raise AssertionError(f"{what} must be a torch tensor, got {type(value).__name__}")
    if not value.requires_grad:
        raise AssertionError(
            f"{what} carries no gradient: something cut it from the autograd graph "
            "(a .detach(), torch.no_grad(), .item() or .numpy() on the way, or a missing create_graph=True)"
        )


def assert_same_gradients(
    got,
    want,
    wrt: Mapping[str, torch.Tensor],
    what: str = "the result",
    rtol: float = 1e-5,
    atol: float = 1e-8,
) -> None:
    """Compare the gradients of ``got`` and ``want`` (computed from the same leaves ``wrt``).

    Both outputs are weighted by the same random tensor and summed, and the gradients with respect
    to each leaf (name -> tensor, e.g. the inputs and a network's parameters) must agree. A leaf the
    reference depends on but the answer does not is reported by name: a typical stray ``detach``.
    """
    assert_differentiable(got, what)
    got_t, want_t = torch.as_tensor(got), torch.as_tensor(want)
    if got_t.shape != want_t.shape:
        raise AssertionError(f"{what} has shape {tuple(got_t.shape)}, expected {tuple(want_t.shape)}")
    weights = torch.rand(want_t.shape, generator=torch.Generator().manual_seed(0), dtype=want_t.dtype)
    leaves = list(wrt.values())
    weights = weights.to(want_t.device)
    grads_got = torch.autograd.grad((got_t * weights).sum(), leaves, allow_unused=True, retain_graph=True)
    grads_want = torch.autograd.grad((want_t * weights).sum(), leaves, allow_unused=True, retain_graph=True)
    for name, g, w in zip(wrt, grads_got, grads_want, strict=True):
        if w is None or not torch.any(w != 0):
            continue
        if g is None or not torch.any(g != 0):
            raise AssertionError(
                f"{what} does not pass any gradient to {name}: something between them is cut from the "
                "graph (a .detach(), torch.no_grad(), or a value rebuilt from numbers)"
            )
        assert_close(g, w, f"the gradient of {what} with respect to {name}", rtol, atol)


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
