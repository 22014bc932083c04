"""Test-wide settings: quick mode, strict exercise checks, a headless backend, and no network,
neither in the pytest process nor in the Jupyter kernels that nbval starts."""

import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT / "tests"))

import matplotlib  # noqa: E402

import netguard  # noqa: E402

matplotlib.use("Agg")  # this process only: kernels keep the inline backend, so figures render


def _kernels_offline() -> None:
    """Give every kernel started by the tests an IPython startup file that installs the guard.

    Done at import time: nbval starts a notebook's kernel before any fixture runs."""
    startup = Path(tempfile.mkdtemp(prefix="gm-ipython-")) / "profile_default" / "startup"
    startup.mkdir(parents=True)
    (startup / "00-netguard.py").write_text(
        f"import sys\nsys.path.insert(0, {str(ROOT / 'tests')!r})\nimport netguard\nnetguard.install()\n"
    )
    os.environ["IPYTHONDIR"] = str(startup.parent.parent)


os.environ["GM_QUICK"] = "1"
# pytest-xdist runs two workers on two cores: one thread each, or they trample each other
# (kernels started by nbval inherit this).
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ["GM_STRICT_CHECKS"] = "1"
os.environ.setdefault("GM_DEVICE", "cpu")
netguard.install()
_kernels_offline()
