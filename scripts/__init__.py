"""The scripts as installed commands: `pip install .` installs this folder as the package `aesampling_scripts`,
and each public script x.py as the command `aesampling-x` (setup.cfg), which runs it as `python scripts/x.py` does.

A script imports its helpers (_common, ...) as top-level modules, from the folder it lies in; a command puts this
folder first on sys.path likewise, then runs the script as __main__, which parses its flags through absl.
"""

import importlib.util
import os
import sys

FOLDER = os.path.dirname(os.path.abspath(__file__))


def run(script: str) -> None:
    """Runs <script>.py of this folder as the program, under the command's name (sys.argv[0])."""
    sys.path.insert(0, FOLDER)
    spec = importlib.util.spec_from_file_location("__main__", os.path.join(FOLDER, f"{script}.py"))
    module = importlib.util.module_from_spec(spec)
    sys.modules["__main__"] = module  # absl's --help shows the script's docstring
    spec.loader.exec_module(module)


def __getattr__(name: str):
    """`aesampling_scripts:<name>`, the entry point of the command that runs the public script <name>.py."""
    if name.startswith("_") or not os.path.isfile(os.path.join(FOLDER, f"{name}.py")):
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return lambda: run(name)
