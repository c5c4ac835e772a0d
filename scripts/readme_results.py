"""The README's results tables, generated from the committed reports.

    python scripts/readme_results.py            # rewrite every generated block of README.md
    python scripts/readme_results.py --check    # exit 1 when a block differs from its report (make test runs it)

A block sits between `<!-- results:<folder> -->` and `<!-- /results -->`
and is made from `<folder>/metrics.json` and `<folder>/config.json`
(reporting.readme_results). Text outside the blocks is left as written.
"""

import re
from pathlib import Path

import _common
from absl import flags

from aesampling import io, reporting

flags.DEFINE_string("readme", "README.md", "The README to fill in.")
flags.DEFINE_boolean("check", False, "Only check that every block matches its report.")
FLAGS = flags.FLAGS

BLOCK = re.compile(r"<!-- results:(?P<folder>\S+) -->\n(?P<body>.*?)<!-- /results -->", re.DOTALL)


def filled(text: str, root: Path) -> str:
    """`text` with every block regenerated from the reports under `root`."""
    def block(match: re.Match) -> str:
        folder = match["folder"]
        for name in ("metrics.json", "config.json"):
            if not (root / folder / name).is_file():
                raise _common.UserInputError(f"README block results:{folder}: {root / folder / name} not found")
        body = reporting.readme_results(io.read_json(root / folder / "metrics.json"),
                                        io.read_json(root / folder / "config.json"), folder)
        return f"<!-- results:{folder} -->\n{body}\n<!-- /results -->"

    return BLOCK.sub(block, text)


def main():
    path = Path(FLAGS.readme)
    if not path.is_file():
        raise _common.UserInputError(f"{path} not found")
    text = path.read_text()
    blocks = [m["folder"] for m in BLOCK.finditer(text)]
    new = filled(text, path.parent)
    if FLAGS.check:
        if new != text:
            raise _common.UserInputError(f"{path}'s results differ from the reports; run python scripts/readme_results.py")
        print(f"{path}: {len(blocks)} results blocks match their reports ({', '.join(blocks)})")
        return
    if new != text:
        io.write_text(path, new)
    print(f"{path}: {len(blocks)} results blocks written ({', '.join(blocks)})")


if __name__ == "__main__":
    _common.run(main)
