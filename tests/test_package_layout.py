"""The package's shape: subpackages that say their job, no module importing its mirror, a documented public API,
and the README's Python snippet, run as written."""

import ast
import os
import re

import numpy as np

import aesampling
from support import REPO

PACKAGE = REPO / "aesampling"
SUFFIXES = ("ion", "ing", "er", "e", "s")


def _word_root(word: str) -> str:
    for suffix in SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 4:
            return word[: -len(suffix)]
    return word


def mirrored(a: str, b: str) -> bool:
    """Whether two module names are forms of the same name: 'sample' and 'sampling', 'search' and 'lambda_search'."""
    words_a = {_word_root(w) for w in a.split("_")}
    words_b = {_word_root(w) for w in b.split("_")}
    return words_a <= words_b or words_b <= words_a


def test_mirrored_names_are_recognised():
    for a, b in [("sample", "sampling"), ("train", "training"), ("evaluate", "evaluation"), ("report", "reporting"),
                 ("search", "lambda_search"), ("seed_spread", "seed_spread"), ("label", "labeling")]:
        assert mirrored(a, b), (a, b)
    for a, b in [("sample", "reinjection"), ("train", "fitting"), ("choose_lambda", "lambda_search"),
                 ("seed_spread", "seed_summary"), ("label", "teacher"), ("report", "tables")]:
        assert not mirrored(a, b), (a, b)


def _modules():
    """(dotted name, short name, path) of every module of the package; a package's __init__ goes by its folder."""
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(REPO).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        yield ".".join(parts), parts[-1], path


MODULES = {dotted: short for dotted, short, _ in _modules()}


def _imported_modules(path) -> set[str]:
    """The package's modules that a file imports (`from aesampling.x import y` counts y when y is a module)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name in MODULES}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("aesampling"):
            for alias in node.names:
                candidate = f"{node.module}.{alias.name}"
                found.add(candidate if candidate in MODULES else node.module)
    return found & set(MODULES)


def test_no_module_imports_a_module_that_mirrors_its_name():
    offenders = [(dotted, imported) for dotted, short, path in _modules() for imported in _imported_modules(path)
                 if imported != dotted and short != "aesampling" and mirrored(short, MODULES[imported])]
    assert not offenders


def test_every_subpackage_says_its_job_in_a_line_or_two():
    packages = sorted(p.parent for p in PACKAGE.glob("*/__init__.py"))
    assert {p.name for p in packages} >= {"sampling", "selection", "quality", "data", "models", "evaluation",
                                          "experiments", "reporting", "io"}
    for package in packages:
        tree = ast.parse((package / "__init__.py").read_text())
        doc = ast.get_docstring(tree)
        assert doc, package.name
        first_paragraph = doc.split("\n\n")[0]
        assert len(first_paragraph.splitlines()) <= 2, package.name


def test_the_public_api_is_exported_and_documented():
    assert sorted(aesampling.__all__) == sorted(set(aesampling.__all__))
    for name in aesampling.__all__:
        assert hasattr(aesampling, name), name
        assert re.search(rf"\b{name}\b", aesampling.__doc__), f"{name} missing from the package docstring"


def test_the_readme_python_snippet_runs_as_written(tmp_path, digits):
    """The README's snippet, with the two model files it names trained (tiny) on digits beside it."""
    from aesampling.models import builders, fitting
    from aesampling.models.presets import ClassifierPreset

    snippet = re.search(r"```python\n(.*?)```", (REPO / "README.md").read_text(), re.DOTALL).group(1)
    assert 'load_model("autoencoder.keras")' in snippet and 'load_model("classifier.keras")' in snippet
    classifier = fitting.build_classifier_from_preset(ClassifierPreset((16,), "relu", 1, 64), 64, 10)
    fitting.fit_classifier(classifier, digits, epochs=1, batch_size=64, verbose=0)
    aesampling.save_model(classifier, tmp_path / "classifier.keras")
    autoencoder = builders.build_autoencoder(64, [8], "tanh")
    autoencoder.fit(digits.x_train, digits.x_train, epochs=1, batch_size=128, verbose=0)
    aesampling.save_model(autoencoder, tmp_path / "autoencoder.keras")
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        namespace = {}
        exec(compile(snippet, "README.md", "exec"), namespace)
    finally:
        os.chdir(cwd)
    x, soft, hard = namespace["x"], namespace["soft"], namespace["hard"]
    assert x.shape == (40_000, 64) and soft.shape == (40_000, 10) and hard.shape == (40_000,)
    assert np.all(np.isfinite(x)) and np.array_equal(hard, soft.argmax(axis=1))


def test_no_flat_module_is_left_beside_the_subpackages():
    """The package's top level holds only subpackages and the few modules every layer uses."""
    top = sorted(p.stem for p in PACKAGE.glob("*.py") if p.stem != "__init__")
    assert top == ["backend", "benchmark", "errors", "reproducibility"]


def test_jax_is_chosen_where_tensorflow_is_not_installed(tmp_path):
    """KERAS_BACKEND unset, keras.json naming TensorFlow (Keras writes it so on its first import), TensorFlow not
    installed (find_spec finds none), JAX installed: aesampling sets KERAS_BACKEND=jax before Keras is imported."""
    import json
    import subprocess
    import sys

    (tmp_path / "keras.json").write_text(json.dumps({"backend": "tensorflow"}))
    program = ("import importlib.util as u\n"
               "real = u.find_spec\n"
               "u.find_spec = lambda name, *a: None if name == 'tensorflow' else real(name, *a)\n"
               "import aesampling, keras\n"
               "print(keras.backend.backend())\n")
    env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    env.update(KERAS_HOME=str(tmp_path), PYTHONPATH=f"{REPO / 'tests' / 'without_tensorflow'}:{REPO}")
    result = subprocess.run([sys.executable, "-c", program], env=env, capture_output=True, text=True, timeout=300)
    assert result.stdout.split()[-1:] == ["jax"], result.stderr[-2000:]
    # Where TensorFlow is installed, Keras's own choice stands.
    env["PYTHONPATH"] = str(REPO)
    result = subprocess.run([sys.executable, "-c", "import aesampling, keras; print(keras.backend.backend())"],
                            env=env, capture_output=True, text=True, timeout=300)
    assert result.stdout.split()[-1:] == ["tensorflow"], result.stderr[-2000:]
