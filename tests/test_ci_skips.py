"""The CI switch in conftest.py: with TACTFUL_CI_NO_SKIPS set, a skipped test that CI exists
to run (the model, Neovim, llama-server) fails the run; any other skip does not."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

REPO = Path(__file__).resolve().parents[1]
CONFTEST = Path(__file__).with_name("conftest.py")

TESTS = {
    "test_plain": """
import pytest

def test_runs():
    pass

@pytest.mark.skip(reason="nothing CI needs")
def test_an_ordinary_skip():
    pass
""",
    "test_needs_model": """
import pytest

@pytest.mark.model
@pytest.mark.skipif(True, reason="no model here")
def test_skipped_by_marker():
    pass

@pytest.mark.model
def test_skipped_inside():
    pytest.skip("the GGUF is missing")

@pytest.mark.model
def test_runs_with_the_model():
    pass
""",
    "test_nvim_e2e": """
import pytest

@pytest.mark.skip(reason="nvim is not on PATH")
def test_typing_in_neovim():
    pass
""",
}


@pytest.fixture
def project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """A tiny test folder that uses the real conftest.py."""
    monkeypatch.setenv("PYTHONPATH", str(REPO))
    pytester.makeconftest(CONFTEST.read_text())
    pytester.makeini("[pytest]\nmarkers =\n    model: needs the model\n")
    return pytester


def test_must_run_tests_that_skip_fail_the_ci_run(project: pytest.Pytester,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    project.makepyfile(**TESTS)
    monkeypatch.setenv("TACTFUL_CI_NO_SKIPS", "1")
    result = project.runpytest_subprocess("-rs")
    result.assert_outcomes(passed=2, skipped=4)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    listed = [line for line in result.outlines if line.startswith("test_") and "::" in line]
    assert sorted(listed) == [
        "test_needs_model.py::test_skipped_by_marker: no model here",
        "test_needs_model.py::test_skipped_inside: the GGUF is missing",
        "test_nvim_e2e.py::test_typing_in_neovim: nvim is not on PATH",
    ], result.stdout.str()
    result.stdout.fnmatch_lines(["*TACTFUL_CI_NO_SKIPS: tests that CI must run were skipped*"])


def test_without_the_switch_skips_pass_and_an_ordinary_skip_never_fails(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    project.makepyfile(**TESTS)
    monkeypatch.delenv("TACTFUL_CI_NO_SKIPS", raising=False)
    result = project.runpytest_subprocess()
    result.assert_outcomes(passed=2, skipped=4)
    assert result.ret == pytest.ExitCode.OK

    project.makepyfile(test_needs_model="def test_nothing_skipped():\n    pass\n")
    (project.path / "test_nvim_e2e.py").unlink()
    monkeypatch.setenv("TACTFUL_CI_NO_SKIPS", "1")
    result = project.runpytest_subprocess()
    result.assert_outcomes(passed=2, skipped=1)  # test_an_ordinary_skip: not one CI needs
    assert result.ret == pytest.ExitCode.OK


def test_a_failing_run_keeps_its_own_exit_status(project: pytest.Pytester,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    project.makepyfile(test_nvim_e2e="""
import pytest

@pytest.mark.skip(reason="no nvim")
def test_skipped():
    pass

def test_fails():
    assert False
""")
    monkeypatch.setenv("TACTFUL_CI_NO_SKIPS", "1")
    result = project.runpytest_subprocess()
    result.assert_outcomes(failed=1, skipped=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
