# SPDX-License-Identifier: LGPL-2.1-or-later
"""The package installs offline as the docs say (pip with --no-build-isolation, Debian's
setuptools as the backend, no package index) and is importable from where it went.

    /usr/bin/python3 clients/python/tests/test_install.py -v
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import unittest

SRC = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))


class Install(unittest.TestCase):
    def test_pip_install_offline(self):
        with tempfile.TemporaryDirectory(prefix="alk-py-install-") as tmp:
            # a copy: building writes build/ and *.egg-info beside the sources
            src = os.path.join(tmp, "src")
            shutil.copytree(SRC, src, ignore=shutil.ignore_patterns("__pycache__", "build",
                                                                    "*.egg-info"))
            target = os.path.join(tmp, "site")
            env = dict(os.environ, PIP_ROOT_USER_ACTION="ignore", PIP_NO_INPUT="1")
            env.pop("PYTHONPATH", None)
            subprocess.run([sys.executable, "-m", "pip", "install", "--no-build-isolation",
                            "--no-index", "--no-cache-dir", "--disable-pip-version-check", "--quiet",
                            "--target", target, src], check=True, env=env, cwd=tmp)
            out = subprocess.run(
                [sys.executable, "-c", "import airlock, os; print(airlock.__file__); "
                 "print(airlock.__version__); print(os.path.exists(os.path.join("
                 "os.path.dirname(airlock.__file__), 'py.typed')))"],
                check=True, capture_output=True, text=True, cwd=tmp,
                env=dict(env, PYTHONPATH=target)).stdout.split()
            self.assertEqual(out, [os.path.join(target, "airlock", "__init__.py"), "0.1.0",
                                   "True"])


if __name__ == "__main__":
    unittest.main()
