#!/usr/bin/env python3
"""Writes the librosa fixtures that `crates/recur/tests/audio_features.rs` checks recur's speech
features (`recur::audio::Features`) against: for one recording and several settings, the
log-mel spectrogram or MFCCs (with deltas) exactly as librosa computes them, as JSON
(`frames x dims`, frame by frame).

The recording `7_george_1.wav` is from the Free Spoken Digit Dataset (CC BY-SA 4.0,
github.com/Jakobovski/free-spoken-digit-dataset).

Run (librosa pinned so that the fixtures are reproducible):
    python3 -m venv ~/audio-venv
    ~/audio-venv/bin/pip install librosa==0.11.0 numpy==2.4.6 scipy==1.17.1 soundfile==0.14.0
    ~/audio-venv/bin/python scripts/make_audio_fixtures.py
"""
import json
import pathlib

import librosa
import numpy as np
import soundfile

LIBROSA_VERSION = "0.11.0"
OUT = pathlib.Path(__file__).resolve().parent.parent / "crates" / "recur" / "tests" / "fixtures" / "audio"

# Each case: recur's FeatureConfig fields (cmvn off: CMVN is not a librosa step).
CASES = {
    "mfcc_default": dict(kind="mfcc", sample_rate=8000, frame_ms=25.0, hop_ms=10.0, window="hann",
                         n_mels=40, n_mfcc=13, fmin=20.0, fmax=None, htk=False, pre_emphasis=0.97,
                         top_db=80.0, deltas=2, delta_width=9, cmvn=False),
    "logmel_htk_hamming": dict(kind="log-mel", sample_rate=8000, frame_ms=30.0, hop_ms=15.0,
                               window="hamming", n_mels=26, n_mfcc=13, fmin=0.0, fmax=3000.0, htk=True,
                               pre_emphasis=0.0, top_db=None, deltas=0, delta_width=9, cmvn=False),
    "mfcc_wide_deltas5": dict(kind="mfcc", sample_rate=8000, frame_ms=32.0, hop_ms=8.0, window="hann",
                              n_mels=64, n_mfcc=20, fmin=60.0, fmax=3800.0, htk=False, pre_emphasis=0.5,
                              top_db=60.0, deltas=1, delta_width=5, cmvn=False),
}


def features(y, c):
    sr = c["sample_rate"]
    win = int(round(c["frame_ms"] * sr / 1000))
    hop = int(round(c["hop_ms"] * sr / 1000))
    n_fft = 1 << (win - 1).bit_length()
    if c["pre_emphasis"] > 0:
        y = librosa.effects.preemphasis(y, coef=c["pre_emphasis"], zi=[0.0])
    spec = librosa.stft(y, n_fft=n_fft, hop_length=hop, win_length=win, window=c["window"],
                        center=True, pad_mode="constant")
    power = np.abs(spec) ** 2
    mel = librosa.feature.melspectrogram(S=power, sr=sr, n_fft=n_fft, n_mels=c["n_mels"],
                                         fmin=c["fmin"], fmax=c["fmax"], htk=c["htk"], norm="slaney")
    db = librosa.power_to_db(mel, ref=1.0, amin=1e-10, top_db=c["top_db"])
    if c["kind"] == "mfcc":
        base = librosa.feature.mfcc(S=db, n_mfcc=c["n_mfcc"], dct_type=2, norm="ortho", lifter=0)
    else:
        base = db
    parts = [base]
    for order in range(1, c["deltas"] + 1):
        parts.append(librosa.feature.delta(base, width=c["delta_width"], order=order, mode="interp"))
    return np.concatenate(parts, axis=0).T  # frames x dims


def main():
    assert librosa.__version__ == LIBROSA_VERSION, librosa.__version__
    wav = OUT / "7_george_1.wav"
    y, sr = soundfile.read(wav, dtype="float64")
    assert sr == 8000
    for name, c in CASES.items():
        f = features(y, c)
        doc = {"librosa": LIBROSA_VERSION, "wav": wav.name, "config": c,
               "frames": f.shape[0], "dims": f.shape[1], "values": [float(v) for v in f.reshape(-1)]}
        (OUT / f"{name}.json").write_text(json.dumps(doc) + "\n")
        print(name, f.shape)


if __name__ == "__main__":
    main()
