import numpy as np
import pytest

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
    assert checks.check("tanh", _run(_reference)) is True
    assert "✅ tanh: correct" in capsys.readouterr().out
    assert checks.check("tanh", _run(_stub)) is False
    assert "not attempted" in capsys.readouterr().out
    assert checks.check("tanh", _run(_wrong), hint="multiply by scale") is False
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
