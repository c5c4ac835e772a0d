"""Choosing a DAE's noise levels from its candidates' λ searches (scripts/choose_noise.py)."""

import json

import pytest

from aesampling.io import storage
from aesampling import experiments
from aesampling.errors import UserInputError
from support import assert_no_outputs, assert_one_line_error, run_script


def _candidate(folder, tag, *, salt_pepper_rate, scores, dataset="fashion_mnist"):
    """A candidate DAE (its bytes stand in for a model), its training record and its λ search result."""
    model = folder / f"deep_dae_{tag}.keras"
    model.write_bytes(f"model {tag}".encode())
    storage.write_json(storage.sidecar_path(model), {
        "wall_seconds": 100.0, "preset": {"gaussian_noise_std": 0.5, "salt_pepper_rate": salt_pepper_rate}})
    grid = [{"lam": lam, "collect": "noisy", "burn_in": 2, "reinjections": 10, "score": score}
            for lam, score in zip((0.01, 0.1), scores)]
    best = max(grid, key=lambda row: row["score"])
    search = folder / f"deep_dae_{tag}.search.json"
    storage.write_json(search, {"best": {k: best[k] for k in ("lam", "collect", "burn_in", "reinjections")},
                           "grid": grid, "wall_seconds": 50.0,
                           "config": {"autoencoder": str(model), "data": {"dataset": dataset}}})
    return str(search)


def test_the_candidate_with_the_best_validation_score_is_copied_with_every_candidate_recorded(tmp_path):
    searches = (_candidate(tmp_path, "preset", salt_pepper_rate=0.5, scores=(0.40, 0.43)),
                _candidate(tmp_path, "sp0.1", salt_pepper_rate=0.1, scores=(0.65, 0.61)))
    record = experiments.run_choose_noise(experiments.NoiseChoiceConfig(
        searches=searches, model_output=str(tmp_path / "models" / "deep_dae.keras"),
        search_output=str(tmp_path / "lambda" / "deep_dae.json")))
    assert (tmp_path / "models" / "deep_dae.keras").read_bytes() == b"model sp0.1"
    assert storage.read_json(tmp_path / "models" / "deep_dae.json")["preset"]["salt_pepper_rate"] == 0.1
    written = storage.read_json(tmp_path / "lambda" / "deep_dae.json")
    assert written == json.loads(json.dumps(record))
    assert written["best"] == {"lam": 0.01, "collect": "noisy", "burn_in": 2, "reinjections": 10}
    choice = written["noise_choice"]
    assert choice["chosen"] == 1
    assert [(c["salt_pepper_rate"], c["best_score"]) for c in choice["candidates"]] == [(0.5, 0.43), (0.1, 0.65)]
    assert choice["candidates"][0]["train_seconds"] == 100.0 and choice["candidates"][0]["search_seconds"] == 50.0
    # The search result may not overwrite the chosen model's training record.
    with pytest.raises(UserInputError, match="the record of the chosen model and the chosen search result would both be written"):
        experiments.run_choose_noise(experiments.NoiseChoiceConfig(
            searches=searches, model_output=str(tmp_path / "x.keras"), search_output=str(tmp_path / "x.json")))


def test_a_tie_keeps_the_first_candidate(tmp_path):
    searches = (_candidate(tmp_path, "preset", salt_pepper_rate=0.5, scores=(0.5, 0.6)),
                _candidate(tmp_path, "sp0.1", salt_pepper_rate=0.1, scores=(0.6, 0.2)))
    experiments.run_choose_noise(experiments.NoiseChoiceConfig(
        searches=searches, model_output=str(tmp_path / "chosen.keras"), search_output=str(tmp_path / "search.json")))
    assert (tmp_path / "chosen.keras").read_bytes() == b"model preset"


def test_candidates_from_other_datasets_are_refused(tmp_path):
    searches = (_candidate(tmp_path, "preset", salt_pepper_rate=0.5, scores=(0.5, 0.6)),
                _candidate(tmp_path, "sp0.1", salt_pepper_rate=0.1, scores=(0.6, 0.2), dataset="mnist"))
    with pytest.raises(UserInputError, match="different datasets"):
        experiments.run_choose_noise(experiments.NoiseChoiceConfig(
            searches=searches, model_output=str(tmp_path / "m.keras"), search_output=str(tmp_path / "s.json")))
    assert_no_outputs(tmp_path, "m.keras", "s.json")


@pytest.mark.parametrize("damage, message", [
    (lambda search, model: search.write_text(json.dumps({"grid": []})), "is not a λ search result"),
    (lambda search, model: model.unlink(), "is missing"),
    (lambda search, model: search.write_text("{"), "not valid JSON"),
])
def test_bad_candidates_give_one_line_errors_and_no_outputs(tmp_path, damage, message):
    good = _candidate(tmp_path, "preset", salt_pepper_rate=0.5, scores=(0.5, 0.6))
    bad = _candidate(tmp_path, "sp0.1", salt_pepper_rate=0.1, scores=(0.6, 0.2))
    damage(tmp_path / "deep_dae_sp0.1.search.json", tmp_path / "deep_dae_sp0.1.keras")
    out = tmp_path / "out"
    result = run_script("choose_noise", f"--searches={good},{bad}", f"--model_output={out / 'deep_dae.keras'}",
                        f"--search_output={out / 'search.json'}", check=False)
    assert_one_line_error(result, message)
    assert not out.exists() or not any(out.iterdir())
