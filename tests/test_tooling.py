"""The course's plumbing: environment files, notebooks, exercise generation, CLI, offline guard."""

import re
import socket
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import yaml

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: pytest depends on tomli there
    import tomli as tomllib

import netguard
from gm_helpers import notebooks

ROOT = Path(__file__).resolve().parent.parent
ALL_NOTEBOOKS = sorted(p for d in ("lectures", "solutions", "exercises") for p in (ROOT / d).glob("*.ipynb"))


def _names(requirements):
    return {re.split(r"[<>=!~\[ ;]", r, maxsplit=1)[0].lower().replace("_", "-") for r in requirements}


def test_environment_yml_matches_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = _names(project["dependencies"] + project["optional-dependencies"]["dev"])
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert _names(r for r in pip_section if not r.startswith("-e")) == declared
    assert "python=3.11" in env["dependencies"] and "-e ." in pip_section


def test_there_are_notebooks():
    assert {p.parent.name for p in ALL_NOTEBOOKS} == {"lectures", "solutions", "exercises"}


@pytest.mark.parametrize("path", ALL_NOTEBOOKS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_notebook_is_clean_and_has_parameters_cell(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in code), "commit without outputs"
    tagged = [i for i, c in enumerate(code) if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, "exactly one cell must be tagged 'parameters'"
    assert tagged[0] <= 2, "the parameters cell belongs near the top"
    assert "QUICK" in code[tagged[0]].source
    assert nb.metadata["kernelspec"]["name"] == "python3"


def test_exercises_are_in_step_with_solutions():
    assert notebooks.stale_exercises() == []


def test_exercise_generation_replaces_solution_blocks(tmp_path):
    (tmp_path / "solutions").mkdir()
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "language": "python", "display_name": "Python 3"}
    nb.cells = [
        nbformat.v4.new_code_cell(
            "def f(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION"
        ),
        nbformat.v4.new_code_cell("print(f(1))"),
    ]
    nbformat.write(nb, tmp_path / "solutions" / "99_demo.ipynb")
    (tmp_path / "exercises").mkdir()
    (tmp_path / "exercises" / "98_orphan.ipynb").write_text("{}")
    assert notebooks.stale_exercises(tmp_path)  # missing and orphan
    notebooks.generate_exercises(tmp_path)
    exercise = nbformat.read(tmp_path / "exercises" / "99_demo.ipynb", as_version=4)
    source = exercise.cells[0].source
    assert "return 2 * x" not in source and "raise NotImplementedError()" in source
    assert source.startswith("def f(x):\n    # YOUR CODE HERE")
    assert exercise.cells[1].source == "print(f(1))"
    assert not (tmp_path / "exercises" / "98_orphan.ipynb").exists()
    assert notebooks.stale_exercises(tmp_path) == []


def test_run_executes_with_quick_parameter_and_reports(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "language": "python", "display_name": "Python 3"}
    params = nbformat.v4.new_code_cell("QUICK = False")
    params.metadata["tags"] = ["parameters"]
    nb.cells = [
        params,
        nbformat.v4.new_code_cell("import os\nassert QUICK and os.environ['GM_QUICK'] == '1'"),
    ]
    good = tmp_path / "good.ipynb"
    nbformat.write(nb, good)
    nb.cells.append(nbformat.v4.new_code_cell("raise ValueError('broken on purpose')"))
    bad = tmp_path / "bad.ipynb"
    nbformat.write(nb, bad)
    runs = notebooks.run_notebooks([good, bad], quick=True, out_dir=tmp_path / "out")
    assert [r.status for r in runs][0] == "ok"
    assert runs[1].status.startswith("FAILED") and "broken on purpose" in runs[1].status
    assert (tmp_path / "out" / tmp_path.name / "good.ipynb").exists()
    table = notebooks.format_table(runs)
    assert "| notebook | status | seconds |" in table and "good.ipynb | ok |" in table


def test_find_notebooks_rejects_missing_path():
    with pytest.raises(FileNotFoundError, match="neither a notebook"):
        notebooks.find_notebooks(["no/such.ipynb"])


def test_doctor_tells_the_truth_about_this_machine():
    import torch

    out = subprocess.run(
        [sys.executable, "-m", "gm_helpers", "doctor"], capture_output=True, text=True, timeout=120, cwd=ROOT
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"torch         {torch.__version__.split('+')[0]}" in out.stdout
    assert "device        cpu" in out.stdout  # the tests pin GM_DEVICE=cpu
    assert "quick mode    True" in out.stdout
    assert ("gpu           none" in out.stdout) == (not torch.cuda.is_available())
    assert "mlxtend" in out.stdout and "all good" in out.stdout


def test_exercises_check_command_passes():
    out = subprocess.run(
        [sys.executable, "-m", "gm_helpers", "exercises", "--check"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert out.returncode == 0, out.stdout + out.stderr


def test_network_guard_blocks_remote_but_not_loopback(monkeypatch):
    calls = []
    guarded = netguard._guard(lambda sock, address, *a: calls.append(address))
    fake = type("FakeSocket", (), {"family": socket.AF_INET})()
    with pytest.raises(netguard.NetworkBlocked, match="offline"):
        guarded(fake, ("93.184.216.34", 80))
    guarded(fake, ("127.0.0.1", 8888))
    assert calls == [("127.0.0.1", 8888)]  # the remote address never reached the real connect
    assert getattr(socket.socket.connect, "_gm_guard", False)  # installed in this process
    with pytest.raises(netguard.NetworkBlocked, match="name lookup"):
        socket.getaddrinfo("example.com", 443)


def test_network_guard_is_installed_in_notebook_kernels(tmp_path):
    from nbclient import NotebookClient

    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell("import socket\nprint(getattr(socket.socket.connect, '_gm_guard', False))")
    ]
    NotebookClient(nb, kernel_name="python3", timeout=60).execute()
    assert nb.cells[0].outputs[0]["text"].strip() == "True"


def test_readme_names_the_test_command_that_ci_runs():
    assert "make test" in (ROOT / "README.md").read_text()
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def _jupyter_listing(*args: str) -> list[str]:
    jupyter = Path(sys.prefix) / "bin" / "jupyter"
    out = subprocess.run([str(jupyter), *args, "list"], capture_output=True, text=True, timeout=120)
    text = re.sub(r"\x1b\[[0-9;]*m", "", out.stdout + out.stderr)  # drop the colour codes
    return [line for line in text.splitlines() if "nbgrader" in line]


def test_participants_jupyterlab_shows_no_nbgrader_interface():
    # nbgrader generates the exercises; its menus and its "Validate" button (which calls an
    # unanswered exercise a success) must not reach participants
    for line in _jupyter_listing("labextension") + _jupyter_listing("server", "extension"):
        if "Validating" in line or re.search(r"\bOK\b", line) and "enabled" not in line:
            continue
        assert not re.search(r"(?<!dis)enabled", line), f"an nbgrader extension is enabled: {line.strip()}"
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert not any(
        d.startswith("nbgrader") for d in project["dependencies"] + project["optional-dependencies"]["dev"]
    )


@pytest.mark.parametrize("root", ["1", ""])
def test_make_lab_works_as_root_and_as_a_user(root):
    out = subprocess.run(["make", "-n", "lab", f"IS_ROOT={root}", "LAB_ARGS=--no-browser"], cwd=ROOT,
                         capture_output=True, text=True, check=True)  # fmt: skip
    command = next(line for line in out.stdout.splitlines() if "jupyter lab " in line)
    assert ("--allow-root" in command) == bool(root) and command.rstrip().endswith("--no-browser")


@pytest.fixture(scope="module")
def course_kernel_metadata():
    """What JupyterLab writes on opening a notebook: the kernelspec and the kernel's language_info."""
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import start_new_kernel

    spec = KernelSpecManager().get_kernel_spec("python3")
    manager, client = start_new_kernel(kernel_name="python3")
    try:
        info = client.kernel_info(reply=True, timeout=60)["content"]["language_info"]
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)
    return {"display_name": spec.display_name, "language": spec.language, "name": "python3"}, info


@pytest.mark.parametrize("path", ALL_NOTEBOOKS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_notebooks_open_clean_in_jupyterlab(path, course_kernel_metadata):
    kernelspec, language_info = course_kernel_metadata
    metadata = nbformat.read(path, as_version=4).metadata
    assert metadata["kernelspec"] == kernelspec, "run notebooks.as_jupyterlab_writes on it"

    # the Python version is the kernel's: a notebook written on 3.11 opens clean on 3.12
    def without_version(info):
        return {k: v for k, v in info.items() if k != "version"}

    assert without_version(metadata["language_info"]) == without_version(language_info), (
        "run notebooks.as_jupyterlab_writes on it"
    )


def test_the_hub_instructions_name_the_kernel_the_notebooks_ask_for():
    readme = (ROOT / "README.md").read_text()
    names = set(re.findall(r"ipykernel install[^\n`]*--name (\S+)", readme))
    assert names <= {"python3"}, f"the README registers kernels {names}; the notebooks ask for python3"
