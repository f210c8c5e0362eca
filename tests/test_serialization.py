"""Saving and loading (``minitorch_ag/serialization.py``): names by attribute path, round trips,
atomic writes that survive a crash, refusal of pickled files, and clear mismatch errors."""

from __future__ import annotations

import os
import pickle
import zipfile

import numpy as np
import pytest

import minitorch_ag as ag
import minitorch_ag.nn
from minitorch_ag import serialization


class Layer:
    def __init__(self, nin, nout, rng):
        self.w = ag.Param(rng.standard_normal((nout, nin)).astype(np.float32))
        self.b = ag.Param(np.zeros(nout, np.float32))


class Norm:
    state_buffers = ("running_mean",)

    def __init__(self, n):
        self.gamma = ag.Param(np.ones(n))
        self.running_mean = np.zeros(n)


class Model:
    def __init__(self, seed=0):
        rng = np.random.default_rng(seed)
        self.layers = [Layer(3, 4, rng), Layer(4, 2, rng)]
        self.heads = {"out": ag.Param(rng.standard_normal(2))}
        self.norm = Norm(2)
        self.tied = self.layers[0].w  # the same Param twice: saved once, under its first name


def _values(model):
    return {k: v.copy() for k, v in ag.state_dict(model).items()}


def test_state_dict_names_and_copies():
    m = Model()
    state = ag.state_dict(m)
    assert list(state) == ["layers.0.w", "layers.0.b", "layers.1.w", "layers.1.b", "heads.out",
                           "norm.running_mean", "norm.gamma"]
    assert state["layers.0.w"].dtype == np.float32
    state["layers.0.w"][...] = 7  # a copy: the model is untouched
    assert not np.any(m.layers[0].w.value == 7)
    assert len(ag.params(m)) == len(state) - 1  # every Param, plus the buffer


def test_state_dict_of_closures_and_layers():
    w = ag.Param(np.ones(2))

    def predict(x):
        return x * w

    assert list(ag.state_dict(predict)) == ["w"]
    lstm = ag.nn.LSTM(2, 3, rng=0)
    assert list(ag.state_dict({"rnn": lstm})) == [
        "rnn.weight_ih_l0", "rnn.weight_hh_l0", "rnn.bias_ih_l0", "rnn.bias_hh_l0"]


def test_round_trip(tmp_path):
    a, b = Model(0), Model(1)
    a.norm.running_mean[...] = [0.5, -1.0]
    path = tmp_path / "model.npz"
    ag.save(path, a)
    before = _values(b)
    assert ag.load(path, b) is b
    for k, v in ag.state_dict(b).items():
        np.testing.assert_array_equal(v, ag.state_dict(a)[k])
        assert v.dtype == before[k].dtype
    assert b.tied is b.layers[0].w
    np.testing.assert_array_equal(b.norm.running_mean, [0.5, -1.0])
    # Params are updated in place: references (optimizer state, tied weights) stay valid.
    loaded = ag.load(path)
    assert set(loaded) == set(before)
    assert all(type(v) is np.ndarray for v in loaded.values())


def test_round_trip_compressed_and_plain_state(tmp_path):
    a, b = Model(0), Model(1)
    ag.save(tmp_path / "c.npz", a, compress=True)
    ag.load(tmp_path / "c.npz", b)
    np.testing.assert_array_equal(b.heads["out"].value, a.heads["out"].value)
    ag.save(tmp_path / "s.npz", ag.state_dict(a))  # a dict of plain arrays is a state already
    assert set(ag.load(tmp_path / "s.npz")) == set(ag.state_dict(a))


def test_load_state_dict_in_memory():
    a, b = Model(0), Model(1)
    ag.load_state_dict(b, ag.state_dict(a))
    np.testing.assert_array_equal(b.layers[1].w.value, a.layers[1].w.value)


def test_file_is_a_plain_npz(tmp_path):
    path = tmp_path / "m.npz"
    ag.save(path, Model())
    with np.load(path, allow_pickle=False) as f:
        assert "layers.1.b" in f.files
    assert not [p for p in os.listdir(tmp_path) if p != "m.npz"]  # no temporary file left


# -- atomic writes -------------------------------------------------------------------------------


def test_crash_while_writing_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "ckpt.npz"
    old = Model(0)
    ag.save(path, old)
    old_bytes = path.read_bytes()
    real = np.lib.format.write_array
    calls = []

    def crash_midway(f, arr, *args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            f.write(b"partial")
            raise OSError("simulated crash: disk full")
        return real(f, arr, *args, **kwargs)

    monkeypatch.setattr(np.lib.format, "write_array", crash_midway)
    with pytest.raises(OSError, match="simulated crash"):
        ag.save(path, Model(1))
    monkeypatch.undo()
    assert path.read_bytes() == old_bytes
    assert os.listdir(tmp_path) == ["ckpt.npz"]  # the temporary file was removed
    fresh = Model(2)
    ag.load(path, fresh)
    np.testing.assert_array_equal(fresh.layers[0].w.value, old.layers[0].w.value)


def test_failed_verification_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "ckpt.npz"
    ag.save(path, Model(0))
    old_bytes = path.read_bytes()
    monkeypatch.setattr(serialization, "_same", lambda a, b: False)
    with pytest.raises(OSError, match="does not read back as written"):
        ag.save(path, Model(1))
    assert path.read_bytes() == old_bytes
    assert os.listdir(tmp_path) == ["ckpt.npz"]


def test_interrupt_before_rename_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "ckpt.npz"
    ag.save(path, Model(0))
    old_bytes = path.read_bytes()

    def interrupted(src, dst):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        ag.save(path, Model(1))
    monkeypatch.undo()
    assert path.read_bytes() == old_bytes
    assert os.listdir(tmp_path) == ["ckpt.npz"]


# -- refusing files that could run code, and damaged ones ----------------------------------------


class _Payload:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def test_refuses_pickled_file(tmp_path):
    path = tmp_path / "evil.npz"
    with open(path, "wb") as f:
        pickle.dump({"w": _Payload()}, f)
    with pytest.raises(ValueError, match="pickled Python objects; it is refused"):
        ag.load(path, Model())
    np.save(tmp_path / "p.npy", np.array([_Payload()], dtype=object), allow_pickle=True)
    os.replace(tmp_path / "p.npy", tmp_path / "p.npz")
    with pytest.raises(ValueError, match="pickled Python objects"):
        ag.load(tmp_path / "p.npz")


def test_refuses_object_array_entry(tmp_path):
    path = tmp_path / "obj.npz"
    np.savez(path, w=np.array([_Payload(), 1], dtype=object))
    with pytest.raises(ValueError, match="entry 'w' .* object array"):
        ag.load(path)


def test_refuses_damaged_and_foreign_files(tmp_path):
    path = tmp_path / "m.npz"
    ag.save(path, Model())
    data = bytearray(path.read_bytes())
    data[len(data) // 3] ^= 0xFF  # flip bits inside an entry: the zip's CRC catches it
    (tmp_path / "bad.npz").write_bytes(bytes(data))
    with pytest.raises(ValueError, match="damaged"):
        ag.load(tmp_path / "bad.npz")
    (tmp_path / "empty.npz").write_bytes(b"")
    with pytest.raises(ValueError, match="empty or damaged|not an .npz"):
        ag.load(tmp_path / "empty.npz")
    np.save(tmp_path / "one.npy", np.ones(3))
    with pytest.raises(ValueError, match="single array"):
        ag.load(tmp_path / "one.npy")
    with zipfile.ZipFile(tmp_path / "z.npz", "w") as z:
        z.writestr("w.npy", b"not an array")
    with pytest.raises(ValueError):
        ag.load(tmp_path / "z.npz")


# -- mismatches ----------------------------------------------------------------------------------


def test_mismatches_name_the_parameter_and_change_nothing():
    m = Model()
    good = ag.state_dict(m)
    before = _values(m)

    bad_shape = dict(good, **{"layers.1.w": np.zeros((3, 3), np.float32)})
    with pytest.raises(ValueError, match=r"'layers.1.w': the model has shape \(2, 4\), float32, "
                                         r"the state shape \(3, 3\), float32"):
        ag.load_state_dict(m, bad_shape)

    bad_dtype = dict(good, **{"heads.out": good["heads.out"].astype(np.float32)})
    with pytest.raises(ValueError, match=r"'heads.out': the model has shape \(2,\), float64, "
                                         r"the state shape \(2,\), float32"):
        ag.load_state_dict(m, bad_dtype)

    missing = {k: v for k, v in good.items() if k != "norm.gamma"}
    with pytest.raises(ValueError, match=r"'norm.gamma' \(shape \(2,\), float64\) is missing"):
        ag.load_state_dict(m, missing)

    extra = dict(good, **{"layers.2.w": np.zeros(1)})
    with pytest.raises(ValueError, match="'layers.2.w' in the state is not in the model"):
        ag.load_state_dict(m, extra)

    mixed = dict(bad_shape, **{"layers.0.b": np.full(4, 9, np.float32)})
    with pytest.raises(ValueError, match="nothing was loaded"):
        ag.load_state_dict(m, mixed)
    for k, v in ag.state_dict(m).items():
        np.testing.assert_array_equal(v, before[k])  # nothing was written

    ag.load_state_dict(m, dict(missing, **{"layers.2.w": np.zeros(1)}), strict=False)


def test_mismatch_on_load_from_file(tmp_path):
    path = tmp_path / "m.npz"
    ag.save(path, Model())
    with pytest.raises(ValueError, match="'layers.0.c' .* is missing.*'heads.out' in the state"):
        ag.load(path, {"layers": [{"w": ag.Param(np.zeros((4, 3), np.float32)),
                                   "b": ag.Param(np.zeros(4, np.float32)),
                                   "c": ag.Param(np.zeros(1))}]})


def test_scalar_params_and_unnameable_models(tmp_path):
    s = ag.Param(1.5)
    m = {"s": s, "v": ag.Param(np.zeros(2))}
    ag.save(tmp_path / "s.npz", m)
    s.value = 0.0
    ag.load(tmp_path / "s.npz", m)
    assert s.value == 1.5 and isinstance(s.value, float)
    with pytest.raises(ValueError, match="reachable only through a set"):
        ag.state_dict({"group": {ag.Param(np.zeros(1))}})
    with pytest.raises(ValueError, match="same name '1'"):
        ag.state_dict({1: ag.Param(np.zeros(1)), "1": ag.Param(np.zeros(1))})
    with pytest.raises(ValueError, match="bare Param"):
        ag.state_dict(ag.Param(np.zeros(1)))
    with pytest.raises(TypeError, match="only numeric arrays"):
        ag.save(tmp_path / "x.npz", {"names": np.array(["a", "b"])})


class _FakeGpuArray:
    """Stands in for a CuPy array: recognised by its module and name, copied with .get()."""

    def __init__(self, a):
        self._a = a
        self.gets = 0

    def get(self):
        self.gets += 1
        return self._a.copy()

    @property
    def shape(self):
        return self._a.shape

    @property
    def dtype(self):
        return self._a.dtype


_FakeGpuArray.__module__ = "cupy"
_FakeGpuArray.__name__ = _FakeGpuArray.__qualname__ = "ndarray"


def test_gpu_arrays_are_saved_as_host_arrays(tmp_path):
    gpu = _FakeGpuArray(np.arange(4.0, dtype=np.float32))
    model = {"w": ag.Param(gpu)}
    state = ag.state_dict(model)
    assert type(state["w"]) is np.ndarray and gpu.gets == 1
    ag.save(tmp_path / "g.npz", model)
    np.testing.assert_array_equal(ag.load(tmp_path / "g.npz")["w"], np.arange(4.0))


def test_file_permissions(tmp_path):
    path = tmp_path / "m.npz"
    ag.save(path, Model())
    umask = serialization._umask()
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask
    os.chmod(path, 0o600)
    ag.save(path, Model(1))  # replacing keeps the old file's permissions
    assert path.stat().st_mode & 0o777 == 0o600
