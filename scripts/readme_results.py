"""The README's results tables, generated from the committed reports.

    python scripts/readme_results.py            # rewrite every generated block of the READMEs
    python scripts/readme_results.py --check    # exit 1 when a block differs from its report (make test runs it)

A block sits between `<!-- results:<folder> -->` and `<!-- /results -->`
and is made from `<folder>/metrics.json` and `<folder>/config.json`
(scripts/_readme_tables.py). The block between `<!-- table_one -->` and
`<!-- /table_one -->` sets the paper's Table I beside the committed reports
results/<dataset>/ (the paper's recipe) and results/<dataset>_recommended/ (also
scripts/_readme_tables.py). Text outside the blocks is left
as written.
"""

import re
from pathlib import Path

import _common
import _readme_tables
from absl import flags

from aesampling.io import storage

flags.DEFINE_list("readme", None, "The READMEs to fill in (default: README.md and every results/*/README.md; "
                  "a study's README names its own folder as `<!-- results:. -->`).")
flags.DEFINE_boolean("check", False, "Only check that every block matches its report.")
FLAGS = flags.FLAGS

BLOCK = re.compile(r"<!-- results:(?P<folder>\S+) -->\n(?P<body>.*?)<!-- /results -->", re.DOTALL)
TABLE_ONE = re.compile(r"<!-- table_one -->\n.*?<!-- /table_one -->", re.DOTALL)
REPORTS = "results"


def _report(root: Path, folder: str) -> tuple[dict, dict] | None:
    """(metrics.json, config.json) of the report in `folder`, or None when it has neither."""
    paths = [root / folder / name for name in ("metrics.json", "config.json")]
    present = [path.is_file() for path in paths]
    if not any(present):
        return None
    if not all(present):
        raise _common.UserInputError(f"{root / folder} holds only one of metrics.json and config.json")
    return storage.read_json(paths[0]), storage.read_json(paths[1])


def filled(text: str, root: Path) -> str:
    """`text` with every block regenerated from the reports under `root`."""
    def block(match: re.Match) -> str:
        folder = match["folder"]
        for name in ("metrics.json", "config.json"):
            if not (root / folder / name).is_file():
                raise _common.UserInputError(f"README block results:{folder}: {root / folder / name} not found")
        metrics, config = storage.read_json(root / folder / "metrics.json"), storage.read_json(root / folder / "config.json")
        if "seed_spread" in config:
            render = _readme_tables.seed_spread_block
        elif "tasks" in metrics:
            render = _readme_tables.class_incremental_block
        else:
            render = _readme_tables.report_block
        body = render(metrics, config, folder)
        return f"<!-- results:{folder} -->\n{body}\n<!-- /results -->"

    def paper_table(match: re.Match) -> str:
        folders = {dataset: f"{REPORTS}/{dataset}" for dataset in _readme_tables.PAPER}
        reports = {dataset: _report(root, folder) for dataset, folder in folders.items()}
        # The recommended recipe's reports sit where make publishes them (the Makefile's reference_folder).
        recommended_folders = {dataset: f"{REPORTS}/{dataset}_recommended" for dataset in _readme_tables.PAPER}
        recommended = {dataset: _report(root, folder) for dataset, folder in recommended_folders.items()}
        table = _readme_tables.paper_comparison(reports, folders, recommended, recommended_folders)
        return f"<!-- table_one -->\n{table}\n<!-- /table_one -->"

    return TABLE_ONE.sub(paper_table, BLOCK.sub(block, text))


def _readmes() -> list[Path]:
    if FLAGS.readme:
        return [Path(name) for name in FLAGS.readme]
    return [Path("README.md"), *sorted(Path(REPORTS).glob("*/README.md"))]


def main():
    for path in _readmes():
        if not path.is_file():
            raise _common.UserInputError(f"{path} not found")
        text = path.read_text()
        blocks = [m["folder"] for m in BLOCK.finditer(text)]
        new = filled(text, path.parent)
        if FLAGS.check:
            if new != text:
                raise _common.UserInputError(f"{path}'s results differ from the reports; "
                                             "run python scripts/readme_results.py")
            print(f"{path}: {len(blocks)} results blocks match their reports ({', '.join(blocks)})")
            continue
        if new != text:
            storage.write_text(path, new)
        print(f"{path}: {len(blocks)} results blocks written ({', '.join(blocks)})")


if __name__ == "__main__":
    _common.run(main)
