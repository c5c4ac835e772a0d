"""Atomic writes and the streamed .npz writer/reader."""

import numpy as np
import pytest

from aesampling.io import storage
from aesampling.io import npz
from aesampling.errors import UserInputError


def test_stream_writer_matches_the_concatenated_arrays(tmp_path):
    rng = np.random.default_rng(0)
    chunks = [rng.random((n, 3)).astype(np.float32) for n in (4, 1, 5)]
    labels = [rng.integers(0, 9, n) for n in (4, 1, 5)]
    path = tmp_path / "out.npz"
    with npz.NpzStreamWriter(path, {"x": ((3,), np.float32), "labels": ((), np.int64)}, 10) as writer:
        for x, y in zip(chunks, labels):
            writer.append(x=x, labels=y)
    arrays = npz.load_npz(path, required=("x", "labels"))
    np.testing.assert_array_equal(arrays["x"], np.concatenate(chunks))
    np.testing.assert_array_equal(arrays["labels"], np.concatenate(labels))
    rows = list(npz.iter_npz_rows(path, "x", 3))
    assert [len(r) for r in rows] == [3, 3, 3, 1]
    np.testing.assert_array_equal(np.concatenate(rows), arrays["x"])
    assert npz.npz_array_shape(path, "x") == ((10, 3), np.dtype(np.float32))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.npz"]


def test_incomplete_or_failed_writes_leave_nothing(tmp_path):
    path = tmp_path / "out.npz"
    with pytest.raises(ValueError, match="missing rows"):
        with npz.NpzStreamWriter(path, {"x": ((2,), np.float32)}, 5) as writer:
            writer.append(x=np.zeros((3, 2)))
    with pytest.raises(RuntimeError):
        with npz.NpzStreamWriter(path, {"x": ((2,), np.float32)}, 5) as writer:
            writer.append(x=np.zeros((3, 2)))
            raise RuntimeError("interrupted")
    with pytest.raises(RuntimeError):
        with storage.atomic_path(tmp_path / "table.md") as tmp:
            tmp.write_text("half")
            raise RuntimeError("interrupted")
    assert list(tmp_path.iterdir()) == []


def test_existing_output_survives_a_failed_rewrite(tmp_path):
    path = tmp_path / "config.json"
    storage.write_json(path, {"a": 1})
    with pytest.raises(TypeError):
        storage.write_json(path, {"a": object()})
    assert storage.read_json(path) == {"a": 1}


def test_bad_files_are_user_errors(tmp_path):
    (tmp_path / "junk.npz").write_text("not a zip")
    with pytest.raises(UserInputError, match="cannot read"):
        npz.load_npz(tmp_path / "junk.npz")
    with pytest.raises(UserInputError, match="not found"):
        storage.load_model(tmp_path / "missing.keras")
    (tmp_path / "junk.keras").write_text("not a model")
    with pytest.raises(UserInputError, match="not a Keras"):
        storage.load_model(tmp_path / "junk.keras")


@pytest.mark.parametrize("writer", ["atomic_path", "npz_stream"])
def test_a_stop_just_after_the_temporary_is_created_leaves_nothing(tmp_path, monkeypatch, writer):
    """SIGTERM delivered the moment mkstemp returns (the scripts' handler raises at once) is held back until the
    temporary is guarded by its cleanup, then raised: no temporary is left behind."""
    import os
    import signal
    import tempfile

    from aesampling.io import interruption, npz

    monkeypatch.setattr(interruption, "_requested_signal", None)
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: interruption.request(signum))
    real_mkstemp = tempfile.mkstemp

    def mkstemp_then_stop(*args, **kwargs):
        created = real_mkstemp(*args, **kwargs)
        os.kill(os.getpid(), signal.SIGTERM)
        return created

    monkeypatch.setattr(tempfile, "mkstemp", mkstemp_then_stop)
    try:
        with pytest.raises(interruption.Interrupted):
            if writer == "atomic_path":
                with storage.atomic_path(tmp_path / "out.json") as tmp:
                    tmp.write_text("{}")
            else:
                with npz.NpzStreamWriter(tmp_path / "s.npz", {"x": ((2,), np.float32)}, 2) as stream:
                    stream.append(x=np.zeros((2, 2), np.float32))
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert list(tmp_path.iterdir()) == []
