"""Figures whose layout depends on what a run measured."""

import pytest
from PIL import Image

from aesampling.reporting import plots
from aesampling.reporting import tables
from aesampling.reporting.sources import Source


def test_the_lambda_figure_draws_only_the_measured_panels(tmp_path):
    """Under the FD criterion no student is trained: the figure has the FD and class TV panels, not an empty one."""
    fd_only = [{"lam": lam, "collect": "clean", "burn_in": 2, "score": None, "fd": 10 / lam, "class_tv": 0.1,
                "burn_in_from": "mixing"} for lam in (0.01, 0.1)]
    both = [{**row, "score": 0.5} for row in fd_only]
    widths = {}
    for name, grid in (("fd_only", fd_only), ("both", both)):
        plots.plot_lambda_search(grid, {"fd": fd_only[1]}, tmp_path / f"{name}.png", title=name)
        widths[name] = Image.open(tmp_path / f"{name}.png").size[0]
    assert widths == {"fd_only": 1000, "both": 1500}  # 5 inches per panel at 100 dpi


def test_a_balanced_source_mixing_like_its_plain_one_is_drawn_once():
    steps = [{"t": 1, "fd": 10.0, "class_tv": 0.5}]
    mixing = {"deep_ae_fd": steps, "deep_ae_fd_balanced": list(steps), "shallow_ae_fd_balanced": steps}
    assert list(tables.distinct_mixing(mixing)) == ["deep_ae_fd", "shallow_ae_fd_balanced"]


@pytest.mark.parametrize("name, base, choice, balanced", [
    ("deep_ae", "deep_ae", "student", False), ("deep_ae_fd", "deep_ae", "fd", False),
    ("shallow_dae_fd_balanced", "shallow_dae", "fd", True), ("my_ae_balanced", "my_ae", "student", True),
    ("lower_bound", "lower_bound", "student", False)])
def test_a_source_name_is_read_in_one_place_and_written_back_alike(name, base, choice, balanced):
    source = Source.parse(name)
    assert (source.base, source.choice, source.balanced) == (base, choice, balanced) and source.name == name
    assert source.is_bound == (name == "lower_bound")
