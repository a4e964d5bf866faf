"""A script in the parent folder of a clone named ``hpo/`` imports the installed package, not the
clone folder as a namespace package (issue 14; the mechanism is explained in pyproject.toml under
``[tool.setuptools]``).  This checks the interpreter's real installation: run it after
``pip install -e .``."""
from __future__ import annotations

import importlib.metadata
import os
import subprocess

import pytest

from conftest import PY, ROOT

SCRIPT = "import hpo, sys\nprint(getattr(hpo, '__file__', None))\nsys.exit(0 if hasattr(hpo, 'tune') else 3)\n"


def test_script_beside_a_clone_named_hpo_imports_the_package(tmp_path):
    try:
        importlib.metadata.distribution("hpo")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("hpo is not installed in this interpreter (pip install -e . first)")
    parent = tmp_path / "work"
    parent.mkdir()
    (parent / "hpo").symlink_to(ROOT, target_is_directory=True)  # the clone, named like the package
    (parent / "my_study.py").write_text(SCRIPT)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run([PY, "my_study.py"], cwd=parent, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, (
        f"`import hpo` from {parent} gave {proc.stdout.strip()!r} without hpo.tune (rc {proc.returncode}): the "
        f"clone folder shadows the install; reinstall with `pip install -e .`\n{proc.stderr[-2000:]}")
    assert proc.stdout.strip().endswith(os.path.join("hpo", "__init__.py"))
