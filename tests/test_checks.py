import numpy as np
import pytest
import torch

from gm_helpers import checks


def _reference(x, scale=1.0):
    return np.tanh(x) * scale


def _wrong(x, scale=1.0):
    return np.tanh(x)


def _stub(x, scale=1.0):
    raise NotImplementedError


CASES = [(np.linspace(-2, 2, 5),), {"x": np.ones(3), "scale": 2.0}]


def _run(answer):
    return lambda: checks.assert_same_function(answer, _reference, CASES)


def test_pass_not_attempted_and_wrong_are_told_apart(monkeypatch, capsys):
    monkeypatch.setenv("GM_STRICT_CHECKS", "0")
    assert checks.check("tanh", _run(_reference)) is None  # nothing for a notebook cell to echo
    assert "✅ tanh: correct" in capsys.readouterr().out and checks.passed("tanh")
    checks.check("tanh", _run(_stub))
    assert "not attempted" in capsys.readouterr().out and not checks.passed("tanh")
    checks.check("tanh", _run(_wrong), hint="multiply by scale")
    out = capsys.readouterr().out
    assert "❌ tanh: case 2" in out and "Hint: multiply by scale" in out


def test_strict_mode_raises(monkeypatch):
    monkeypatch.setenv("GM_STRICT_CHECKS", "1")
    with pytest.raises(checks.CheckFailed, match="case 2"):
        checks.check("tanh", _run(_wrong))
    with pytest.raises(checks.CheckFailed, match="not attempted"):
        checks.check("tanh", _run(_stub))


def test_errors_in_the_answer_are_reported(monkeypatch, capsys):
    monkeypatch.setenv("GM_STRICT_CHECKS", "0")
    checks.check("boom", lambda: 1 / 0)
    assert "raised ZeroDivisionError" in capsys.readouterr().out


def test_assert_close_messages():
    with pytest.raises(AssertionError, match=r"shape \(2,\), expected \(3,\)"):
        checks.assert_close(np.zeros(2), np.zeros(3))
    with pytest.raises(AssertionError, match="NaN"):
        checks.assert_close(np.array([np.nan]), np.zeros(1))
    with pytest.raises(AssertionError, match="at index"):
        checks.assert_close(np.array([0.0, 1.0]), np.zeros(2))


def test_ready_waits_for_an_answer_and_rechecks_after_an_escape(monkeypatch, capsys):
    monkeypatch.setenv("GM_STRICT_CHECKS", "0")
    answer = {"f": _stub}
    checks.check("double", lambda: checks.assert_same_function(answer["f"], _reference, CASES))
    capsys.readouterr()
    assert checks.ready("double", "never run") is False
    out = capsys.readouterr().out
    assert (
        "⏳ skipped" in out and "`double` (not attempted yet)" in out and "`never run` (run its check" in out
    )
    answer["f"] = _reference  # what an escape cell does
    assert checks.ready("double") is True and checks.passed("double")
    checks.summary()
    assert "✅ done" in capsys.readouterr().out


def test_ready_raises_in_strict_mode(monkeypatch):
    monkeypatch.setenv("GM_STRICT_CHECKS", "1")
    with pytest.raises(checks.CheckFailed, match="skipped"):
        checks.ready("a check that never ran")


def test_gradient_comparison_names_a_detached_input():
    x = torch.randn(5, requires_grad=True)
    w = torch.randn(3, 5, requires_grad=True)
    want = torch.tanh(w @ x)
    checks.assert_same_gradients(torch.tanh(w @ x), want, {"x": x, "w": w})
    with pytest.raises(AssertionError, match="does not pass any gradient to x"):
        checks.assert_same_gradients(torch.tanh(w @ x.detach()), want, {"x": x, "w": w})
    with pytest.raises(AssertionError, match="carries no gradient"):
        checks.assert_same_gradients(torch.tanh(w @ x).detach(), want, {"x": x, "w": w})
    with pytest.raises(AssertionError, match="gradient of the result with respect to w"):
        checks.assert_same_gradients(
            torch.tanh(w @ x) + 0.1 * w.sum().detach() + 0.01 * w.sum(), want, {"w": w}
        )
