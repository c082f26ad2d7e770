"""The tasks from Python: a character model trained, sampled, evaluated, saved and loaded, and
checkpoints written by the `recur` command (character model, classifier, forecaster,
translation model) loaded and used."""

import json

import numpy as np
import pytest

import recur
from conftest import REPO

TEXT = "the cat sat on the mat. the dog sat on the log. " * 40


@pytest.fixture(scope="module")
def small_model():
    reports = []
    lm = recur.CharLM.train(TEXT, cell="gru", hidden_size=32, embed_dim=8, batch_size=4, seq_len=16,
                            steps=60, progress=reports.append, report_every=20)
    return lm, reports


def test_training_reports_progress_and_learns(small_model):
    lm, reports = small_model
    steps = [r["step"] for r in reports if "loss" in r]
    assert steps == [20, 40, 60]
    assert reports[0]["total_steps"] == 60
    assert reports[-1]["val_loss"] is not None
    assert reports[-1]["val_loss"] < np.log(len(lm.vocab)), "better than uniform"
    assert sorted(lm.vocab) == sorted(set(TEXT))


def test_sample_is_reproducible_and_from_the_vocabulary(small_model):
    lm, _ = small_model
    a = lm.sample(200, prime="the ", seed=3)
    assert len(a) == 200 and set(a) <= set(TEXT)
    assert lm.sample(200, prime="the ", seed=3) == a
    assert lm.sample(50, prime="the ", argmax=True) == lm.sample(50, prime="the ", argmax=True, seed=9)


def test_evaluate_reports_the_contracts_figures(small_model):
    lm, _ = small_model
    r = lm.evaluate(TEXT[:500])
    assert set(r) == {"loss", "bpc", "perplexity", "accuracy", "tokens"}
    assert r["tokens"] == 499
    assert r["bpc"] == pytest.approx(r["loss"] / np.log(2))
    assert r["perplexity"] == pytest.approx(np.exp(r["loss"]))


def test_save_and_load_round_trip(small_model, tmp_path):
    lm, _ = small_model
    lm.save(tmp_path / "lm")
    config = json.loads((tmp_path / "lm" / "config.json").read_text())
    assert config["task"] == "char-lm" and config["model"]["cell"] == "gru"
    again = recur.load(tmp_path / "lm")
    assert isinstance(again, recur.CharLM)
    assert again.sample(100, prime="the ", seed=5) == lm.sample(100, prime="the ", seed=5)
    assert again.evaluate(TEXT[:300]) == lm.evaluate(TEXT[:300])
    with pytest.raises(FileExistsError):
        lm.save(tmp_path / "lm")
    lm.save(tmp_path / "lm", overwrite=True)


def test_task_errors_are_clear(small_model, tmp_path):
    lm, _ = small_model
    with pytest.raises(ValueError, match="temperature"):
        lm.sample(10, temperature=0)
    with pytest.raises(ValueError, match="prime"):
        lm.sample(10, prime="")
    with pytest.raises(ValueError, match="steps, time_budget"):
        recur.CharLM.train(TEXT, steps=1, time_budget=1.0, progress=False)
    with pytest.raises(ValueError, match="cell"):
        recur.CharLM.train(TEXT, cell="transformer", steps=1, progress=False)
    with pytest.raises(ValueError, match="no such checkpoint directory"):
        recur.load(tmp_path / "absent")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "config.json").write_text("{not json")
    with pytest.raises(ValueError, match="config.json: not JSON"):
        recur.load(tmp_path / "bad")


def test_time_budget_stops_training():
    reports = []
    recur.CharLM.train(TEXT, hidden_size=16, embed_dim=4, batch_size=2, seq_len=8, time_budget=0.3,
                       progress=reports.append, report_every=1)
    assert 0 < reports[-2]["seconds"] < 5
    assert reports[-2]["budget_fraction"] == pytest.approx(1.0, abs=0.5)


def test_character_model_of_the_command(recur_cli, tmp_path):
    text = tmp_path / "text.txt"
    text.write_text(TEXT)
    recur_cli("train", "--text", text, "--cell", "lstm", "--hidden", "24", "--embed", "8",
              "--batch-size", "4", "--seq-len", "16", "--steps", "20", "--out", tmp_path / "run", "--quiet")
    lm = recur.load(tmp_path / "run")
    assert lm.config["cell"] == "lstm" and lm.config["hidden_size"] == 24
    ours = lm.sample(80, prime="the ", argmax=True)
    theirs = recur_cli("sample", "--checkpoint", tmp_path / "run", "--prime", "the ", "--length", "80",
                       "--argmax").stdout
    assert ours in theirs
    figures = json.loads(recur_cli("eval", "--checkpoint", tmp_path / "run", "--text", text, "--json").stdout)
    assert lm.evaluate(TEXT)["loss"] == pytest.approx(figures["loss"], rel=1e-9)


def test_classifier_of_the_command(recur_cli, tmp_path):
    data = REPO / "data" / "sequences" / "JapaneseVowels_TRAIN.ts"
    recur_cli("classify", "train", "--data", data, "--epochs", "1", "--hidden", "8", "--out", tmp_path / "run",
              "--quiet")
    clf = recur.load(tmp_path / "run")
    assert isinstance(clf, recur.Classifier) and not clf.is_regressor
    assert clf.input_features == 12 and len(clf.classes) == 9
    seqs = [np.random.default_rng(i).standard_normal((15, 12)).astype(np.float32) for i in range(3)]
    probs = clf.predict(seqs)
    assert probs.shape == (3, 9)
    np.testing.assert_allclose(probs.sum(axis=1), 1, rtol=1e-5)
    with pytest.raises(ValueError, match=r"sequences\[0\]: expected shape \(T, 12\)"):
        clf.predict([np.zeros((5, 3), np.float32)])
    with pytest.raises(ValueError, match="reads numbers"):
        clf.predict(["some text"])


def test_forecaster_of_the_command(recur_cli, tmp_path):
    csv = REPO / "data" / "timeseries" / "airline_passengers_monthly.csv"
    recur_cli("forecast", "--csv", csv, "--target", "Passengers", "--epochs", "3", "--hidden", "8", "--no-ets",
              "--out", tmp_path / "run")
    fc = recur.load(tmp_path / "run")
    assert isinstance(fc, recur.Forecaster)
    history = np.loadtxt(csv, delimiter=",", skiprows=1, usecols=1)
    values, intervals = fc.forecast(history)
    assert values.shape == (fc.horizon,) and np.isfinite(values).all()
    for lower, upper in intervals.values():
        assert (lower <= values + 1e-9).all() and (values <= upper + 1e-9).all()


def test_translator_of_the_command(recur_cli, tmp_path):
    fixtures = REPO / "crates" / "recur" / "tests" / "fixtures" / "multi30k"
    for lang in ("de", "en"):
        lines = (fixtures / f"val.{lang}").read_text().splitlines()[:300]
        (tmp_path / f"head.{lang}").write_text("\n".join(lines) + "\n")
    recur_cli("translate", "train", "--src", tmp_path / "head.de", "--tgt", tmp_path / "head.en",
              "--vocab-size", "400", "--embed", "16", "--hidden", "32", "--batch-size", "16", "--steps", "10",
              "--validate-every", "10", "--bleu-sentences", "5", "--quiet", "--out", tmp_path / "run")
    tr = recur.load(tmp_path / "run")
    assert isinstance(tr, recur.Translator)
    out = tr.translate(["ein Hund läuft.", "zwei Männer"], beam=2)
    assert len(out) == 2 and all(isinstance(s, str) for s in out)
    with pytest.raises(ValueError, match="beam"):
        tr.translate(["ein Hund"], beam=0)


def test_progress_goes_to_tqdm_when_installed(monkeypatch):
    import sys
    import types

    bars = []

    class FakeBar:
        def __init__(self, total, **kwargs):
            self.total, self.n, self.postfixes, self.closed = total, 0, [], False
            bars.append(self)

        def set_postfix(self, **kwargs):
            self.postfixes.append(kwargs)

        def refresh(self):
            pass

        def close(self):
            self.closed = True

    auto = types.ModuleType("tqdm.auto")
    auto.tqdm = FakeBar
    monkeypatch.setitem(sys.modules, "tqdm", types.ModuleType("tqdm"))
    monkeypatch.setitem(sys.modules, "tqdm.auto", auto)
    recur.CharLM.train(TEXT, hidden_size=16, embed_dim=4, batch_size=2, seq_len=8, steps=20, report_every=5)
    (bar,) = bars
    assert bar.n == bar.total == 1000 and bar.closed
    assert [p["step"] for p in bar.postfixes if "step" in p] == [5, 10, 15, 20]
    assert "val_loss" in bar.postfixes[-1]
    bars.clear()
    recur.CharLM.train(TEXT, hidden_size=16, embed_dim=4, batch_size=2, seq_len=8, steps=5, progress=False)
    assert bars == []


def test_text_classifier_of_the_command_predicts_as_the_command(recur_cli, tmp_path):
    good, bad, filler = ["great", "superb", "moving", "fun"], ["dull", "awful", "boring", "mess"], ["the", "film", "is", "a"]
    with open(tmp_path / "r.jsonl", "w") as f:
        for i in range(80):
            words = good if i % 2 == 0 else bad
            text = f"{filler[i % 4]} {words[i % 4]} {filler[(i // 2) % 4]} {words[(i // 3) % 4]} !"
            f.write(json.dumps({"text": text, "label": "pos" if i % 2 == 0 else "neg"}) + "\n")
    recur_cli("classify", "train", "--data", tmp_path / "r.jsonl", "--hidden", "8", "--embed", "8", "--steps", "100",
              "--out", tmp_path / "run", "--quiet")
    texts = ["SUPERB great FUN moving never-seen-word", "awful dull mess", "the film"]
    with open(tmp_path / "new.jsonl", "w") as f:
        for t in texts:
            f.write(json.dumps({"text": t}) + "\n")
    recur_cli("classify", "predict", "--checkpoint", tmp_path / "run", "--data", tmp_path / "new.jsonl",
              "--output", tmp_path / "p.csv")
    rows = [line.split(",") for line in (tmp_path / "p.csv").read_text().splitlines()]
    header, rows = rows[0], rows[1:]
    clf = recur.load(tmp_path / "run")
    assert clf.input_features == 0
    assert header[2:] == [f"p_{c}" for c in clf.classes]
    probs = clf.predict(texts)
    np.testing.assert_allclose(probs, np.array([[float(v) for v in r[2:]] for r in rows]), atol=1e-4)
    assert [clf.classes[i] for i in probs.argmax(axis=1)] == [r[1] for r in rows]
    with pytest.raises(ValueError, match="reads text"):
        clf.predict([np.zeros((3, 2), np.float32)])
