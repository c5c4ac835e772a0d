"""The library's user-facing errors: each message written once, naming config fields, never a script's flags."""

import ast
import re

from support import REPO, SCRIPTS

ERRORS = ("UserInputError", "DataUnavailableError")


def _text(node) -> str | None:
    """A message's literal text, with each interpolated value as {}; None when it is not built from literals."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(part.value if isinstance(part, ast.Constant) else "{}" for part in node.values)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _text(node.left), _text(node.right)
        return None if left is None or right is None else left + right
    return None


def library_messages() -> dict[str, list[str]]:
    """Every literal message a UserInputError (or DataUnavailableError) of aesampling/ is raised with: text ->
    where it is written."""
    found = {}
    for path in sorted((REPO / "aesampling").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and node.args and \
                    getattr(node.func, "id", getattr(node.func, "attr", None)) in ERRORS:
                text = _text(node.args[0])
                if text is not None:
                    found.setdefault(text, []).append(f"{path.relative_to(REPO)}:{node.lineno}")
    return found


def test_the_scan_finds_the_library_s_messages():
    messages = library_messages()
    assert len(messages) > 100
    assert "`burn_in` (b) must lie in [0, R), R = {}: got {}" in messages
    assert "file not found: {}" in messages


def test_every_validation_message_is_written_once():
    repeated = {text: where for text, where in library_messages().items() if len(where) > 1}
    assert not repeated


def test_library_messages_name_fields_not_flags_or_make_variables():
    flagged = [text for text in library_messages() if re.search(r"--[a-z]|\bmake\b|[A-Z_]{4,}=", text)]
    assert not flagged


def test_scripts_show_a_field_as_their_own_flag(monkeypatch):
    monkeypatch.setenv("AESAMPLING_BACKEND_LOGS", "1")  # importing the scripts' helpers leaves stderr alone
    monkeypatch.syspath_prepend(str(SCRIPTS))
    import _common
    from absl import flags

    if not flags.FLAGS.is_parsed():
        flags.FLAGS.mark_as_parsed()
    if "chains" not in flags.FLAGS:
        _common.define_chain_flags()
    assert _common.as_flags("`num_chains` (B) must be an integer >= 1; see `collect`, `unknown_field`") == \
        "--chains (B) must be an integer >= 1; see --collect, `unknown_field`"
    assert _common.as_flags("`balance_patience` must be an integer >= 1") == "--balance_patience must be an integer >= 1"
