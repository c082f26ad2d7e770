"""recur.RNN / LSTM / GRU against PyTorch's outputs (committed fixtures), state dicts and
errors."""

import json

import numpy as np
import pytest

import recur
from conftest import FIXTURES

CASES = sorted(p.stem for p in FIXTURES.glob("*.npz"))


def load_case(name):
    data = np.load(FIXTURES / f"{name}.npz")
    config = json.loads(str(data["config"]))
    state = {k[len("param."):]: data[k] for k in data.files if k.startswith("param.")}
    return config, state, data


def build(config, state):
    kwargs = {k: config[k] for k in ("num_layers", "bias", "batch_first", "bidirectional", "nonlinearity") if k in config}
    module = getattr(recur, config["mode"])(config["input_size"], config["hidden_size"], dtype=config["dtype"], **kwargs)
    module.load_state_dict(state)
    return module


def test_there_are_fixtures_for_every_cell():
    assert len(CASES) >= 8
    assert {c.split("_")[0] for c in CASES} == {"lstm", "gru", "rnn"}


@pytest.mark.parametrize("name", CASES)
def test_forward_matches_pytorch(name):
    config, state, data = load_case(name)
    module = build(config, state)
    hx = None
    if "h0" in data.files:
        hx = (data["h0"], data["c0"]) if config["mode"] == "LSTM" else data["h0"]
    lengths = data["lengths"] if "lengths" in data.files else None
    output, states = module(data["x"], hx, lengths=lengths)
    tol = 1e-12 if config["dtype"] == "float64" else 2e-6
    assert output.dtype == np.dtype(config["dtype"])
    np.testing.assert_allclose(output, data["output"], rtol=tol, atol=tol)
    if config["mode"] == "LSTM":
        h_n, c_n = states
        np.testing.assert_allclose(c_n, data["c_n"], rtol=tol, atol=tol)
    else:
        h_n = states
    np.testing.assert_allclose(h_n, data["h_n"], rtol=tol, atol=tol)
    if lengths is not None:
        steps_axis = 1 if config.get("batch_first") else 0
        for b, n in enumerate(lengths):
            tail = np.take(np.take(output, [b], axis=1 - steps_axis), range(n, output.shape[steps_axis]), axis=steps_axis)
            assert not tail.any(), "outputs past a sequence's end are zero"


def test_state_dict_has_pytorchs_names_shapes_and_order():
    lstm = recur.LSTM(3, 4, num_layers=2, bidirectional=True, seed=0)
    sd = lstm.state_dict()
    assert list(sd)[:5] == ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0", "weight_ih_l0_reverse"]
    assert sd["weight_ih_l0"].shape == (16, 3)
    assert sd["weight_ih_l1"].shape == (16, 8)
    assert sd["bias_hh_l1_reverse"].shape == (16,)
    assert len(sd) == 16
    bound = 1 / np.sqrt(4)
    assert all(np.abs(v).max() <= bound for v in sd.values())


def test_state_dict_round_trip_and_copies():
    a, b = recur.GRU(3, 4, seed=1), recur.GRU(3, 4, seed=2)
    x = np.random.default_rng(0).standard_normal((5, 2, 3)).astype(np.float32)
    assert not np.array_equal(a(x)[0], b(x)[0])
    b.load_state_dict(a.state_dict())
    np.testing.assert_array_equal(a(x)[0], b(x)[0])
    sd = a.state_dict()
    sd["weight_ih_l0"][:] = 0  # a copy: the module is unchanged
    np.testing.assert_array_equal(a(x)[0], b(x)[0])


def test_load_state_dict_takes_anything_with_array_interface():
    class Wrapped:  # what a torch tensor offers
        def __init__(self, a):
            self.a = a

        def __array__(self, dtype=None, copy=None):
            return self.a if dtype is None else self.a.astype(dtype)

    src = recur.RNN(2, 3, seed=3, dtype=np.float64)
    dst = recur.RNN(2, 3, seed=4)
    dst.load_state_dict({k: Wrapped(v) for k, v in src.state_dict().items()})
    np.testing.assert_allclose(dst.state_dict()["weight_hh_l0"], src.state_dict()["weight_hh_l0"], rtol=1e-7)


def test_float64_is_kept_in_float64():
    gru = recur.GRU(3, 4, dtype=np.float64, seed=0)
    out, h = gru(np.ones((2, 1, 3)))
    assert out.dtype == np.float64 and h.dtype == np.float64
    assert gru.state_dict()["weight_ih_l0"].dtype == np.float64


def test_unbatched_input_as_pytorch():
    lstm = recur.LSTM(3, 4, seed=5)
    x = np.random.default_rng(1).standard_normal((6, 3)).astype(np.float32)
    out, (h, c) = lstm(x)
    assert out.shape == (6, 4) and h.shape == (1, 4) and c.shape == (1, 4)
    batched, (hb, cb) = lstm(x[:, None, :])
    np.testing.assert_array_equal(out, batched[:, 0])
    np.testing.assert_array_equal(h, hb[:, 0])


def test_the_thread_count_does_not_change_results():
    lstm = recur.LSTM(16, 32, num_layers=2, seed=6)
    x = np.random.default_rng(2).standard_normal((20, 8, 16)).astype(np.float32)
    before = recur.get_num_threads()
    try:
        recur.set_num_threads(1)
        one = lstm(x)[0]
        recur.set_num_threads(2)
        assert recur.get_num_threads() == 2
        two = lstm(x)[0]
    finally:
        recur.set_num_threads(before)
    np.testing.assert_array_equal(one, two)


def test_threads_run_forward_passes_concurrently_with_the_same_results():
    from concurrent.futures import ThreadPoolExecutor

    gru = recur.GRU(8, 16, seed=7)
    xs = [np.full((10, 2, 8), i / 10, dtype=np.float32) for i in range(6)]
    alone = [gru(x)[0] for x in xs]
    with ThreadPoolExecutor(3) as pool:
        together = list(pool.map(lambda x: gru(x)[0], xs))
    for a, b in zip(alone, together):
        np.testing.assert_array_equal(a, b)


# Errors: ValueError naming the argument and both shapes.


def test_wrong_input_width_names_x_and_both_shapes():
    lstm = recur.LSTM(3, 4)
    with pytest.raises(ValueError, match=r"x: expected shape \(T, B, 3\).*got \(5, 2, 7\)"):
        lstm(np.zeros((5, 2, 7), np.float32))


def test_wrong_initial_state_names_hx_and_both_shapes():
    gru = recur.GRU(3, 4, num_layers=2)
    with pytest.raises(ValueError, match=r"hx: expected shape \(2, 5, 4\).*got \(1, 5, 4\)"):
        gru(np.zeros((6, 5, 3), np.float32), np.zeros((1, 5, 4), np.float32))
    lstm = recur.LSTM(3, 4)
    with pytest.raises(ValueError, match=r"c_0.*expected shape \(1, 5, 4\).*got \(1, 5, 3\)"):
        lstm(np.zeros((6, 5, 3)), (np.zeros((1, 5, 4)), np.zeros((1, 5, 3))))
    with pytest.raises(ValueError, match="pair"):
        lstm(np.zeros((6, 5, 3)), np.zeros((1, 5, 4)))


def test_bad_lengths_are_named():
    rnn = recur.RNN(3, 4)
    x = np.zeros((6, 2, 3), np.float32)
    with pytest.raises(ValueError, match=r"lengths: expected shape \(2,\).*got \(3,\)"):
        rnn(x, lengths=[1, 2, 3])
    with pytest.raises(ValueError, match=r"lengths\[1\]: expected a length in \[1, 6\].*got 7"):
        rnn(x, lengths=[1, 7])
    with pytest.raises(ValueError, match=r"lengths\[0\].*got 0"):
        rnn(x, lengths=[0, 1])


def test_state_dict_errors_name_the_parameter_and_shapes():
    lstm = recur.LSTM(3, 4)
    sd = lstm.state_dict()
    sd["weight_hh_l0"] = np.zeros((16, 5))
    with pytest.raises(ValueError, match=r"state_dict\['weight_hh_l0'\]: expected shape \(16, 4\), got \(16, 5\)"):
        lstm.load_state_dict(sd)
    with pytest.raises(ValueError, match=r"missing keys \['bias_hh_l0'\]"):
        lstm.load_state_dict({k: v for k, v in lstm.state_dict().items() if k != "bias_hh_l0"})
    keys = lstm.load_state_dict({"extra": np.zeros(1)}, strict=False)
    assert keys.unexpected_keys == ["extra"] and len(keys.missing_keys) == 4


def test_bad_constructor_arguments():
    with pytest.raises(ValueError, match="dropout"):
        recur.GRU(3, 4, dropout=1.5)
    with pytest.raises(ValueError, match="nonlinearity"):
        recur.RNN(3, 4, nonlinearity="sigmoid")
    with pytest.raises(ValueError, match="dtype"):
        recur.LSTM(3, 4, dtype=np.int32)
    with pytest.raises(ValueError, match="hidden_size"):
        recur.LSTM(3, 0)
    with pytest.raises(ValueError, match="n: the number of threads"):
        recur.set_num_threads(0)


def test_the_gil_is_released_during_a_forward_pass():
    import threading
    import time

    lstm = recur.LSTM(64, 256, num_layers=2, seed=8)
    x = np.ones((400, 8, 64), np.float32)
    window = {}

    def run():
        window["start"] = time.perf_counter()
        lstm(x)
        window["end"] = time.perf_counter()

    worker = threading.Thread(target=run)
    stamps = []
    worker.start()
    while worker.is_alive():
        stamps.append(time.perf_counter())
    worker.join()
    start, end = window["start"], window["end"]
    margin = (end - start) * 0.1
    inside = [t for t in stamps if start + margin < t < end - margin]
    assert inside, f"no Python ran during the {end - start:.3f} s pass"
