#!/usr/bin/env python3
"""Writes the sacreBLEU fixtures that `crates/recur/tests/translate_metrics.rs` checks
`recur::translate::{bleu, chrf}` against: hypothesis and reference corpora, and sacreBLEU's
corpus and sentence BLEU (13a and none tokenisation, cased and lower-cased, 'exp' smoothing) and
chrF (chrF2, and chrF++) for each, with the n-gram statistics; plus the 13a tokenisation of
random strings and the characters Python counts as whitespace.

Run (sacreBLEU pinned so that the fixtures are reproducible):
    python3 -m venv ~/torch-venv && ~/torch-venv/bin/pip install sacrebleu==2.4.3
    ~/torch-venv/bin/python scripts/make_bleu_fixtures.py [MULTI30K_DIR]

MULTI30K_DIR holds Multi30k task 1 (`test_2016_flickr.{de,en}`; default
/work/shared/data/translation/multi30k). Multi30k: Elliott et al. 2016, "Multi30K: Multilingual
English-German Image Descriptions" (github.com/multi30k/dataset); research data, cited here as
its authors ask. The fixtures copy its first lines as references and perturb them as hypotheses.
"""
import json
import pathlib
import random
import sys

import sacrebleu
from sacrebleu.metrics import BLEU, CHRF
from sacrebleu.tokenizers.tokenizer_13a import Tokenizer13a

SACREBLEU_VERSION = "2.4.3"
assert sacrebleu.__version__ == SACREBLEU_VERSION, sacrebleu.__version__

ROOT = pathlib.Path(__file__).resolve().parent.parent
OUT = ROOT / "crates" / "recur" / "tests" / "fixtures" / "bleu"
MULTI30K = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "/work/shared/data/translation/multi30k")
CREDIT = "Multi30k task 1 (Elliott et al. 2016), test_2016_flickr; first lines, hypotheses perturbed"

VARIANTS = {
    "13a": dict(tokenize="13a", lowercase=False),
    "13a_lowercase": dict(tokenize="13a", lowercase=True),
    "none": dict(tokenize="none", lowercase=False),
    "none_lowercase": dict(tokenize="none", lowercase=True),
}


def bleu_json(s, verbose=True):
    d = {
        "score": s.score,
        "counts": list(s.counts),
        "totals": list(s.totals),
        "precisions": list(s.precisions),
        "bp": s.bp,
        "ratio": s.ratio,
        "hyp_len": s.sys_len,
        "ref_len": s.ref_len,
    }
    if verbose:
        d["verbose"] = s._verbose
    return d


def scores(hyps, refs):
    """sacreBLEU's figures for hypotheses `hyps` against reference streams `refs`."""
    out = {"corpus": {}, "sentence": {}, "signature": {}}
    for name, kw in VARIANTS.items():
        metric = BLEU(**kw)
        out["corpus"][name] = bleu_json(metric.corpus_score(hyps, refs))
        out["signature"][name] = str(metric.get_signature())
        out["sentence"][name] = [
            bleu_json(sacrebleu.sentence_bleu(h, [r[i] for r in refs], **kw), verbose=False)
            for i, h in enumerate(hyps)
        ]
    chrf = CHRF()
    out["chrf"] = {
        "corpus": chrf.corpus_score(hyps, refs).score,
        "signature": str(chrf.get_signature()),
        "corpus_lowercase": CHRF(lowercase=True).corpus_score(hyps, refs).score,
        "corpus_plus_plus": CHRF(word_order=2).corpus_score(hyps, refs).score,
        "sentence": [
            CHRF().sentence_score(h, [r[i] for r in refs]).score for i, h in enumerate(hyps)
        ],
        "sentence_plus_plus": [
            CHRF(word_order=2).sentence_score(h, [r[i] for r in refs]).score
            for i, h in enumerate(hyps)
        ],
    }
    return out


def perturb(line, rng, words):
    """A plausible system output: the reference with a few edits of a seeded choice."""
    toks = line.split()
    kind = rng.randrange(9)
    if kind == 0 or len(toks) < 3:
        return line
    if kind == 1:
        del toks[rng.randrange(len(toks))]
    elif kind == 2:
        i = rng.randrange(len(toks) - 1)
        toks[i], toks[i + 1] = toks[i + 1], toks[i]
    elif kind == 3:
        toks[rng.randrange(len(toks))] = rng.choice(words)
    elif kind == 4:
        toks = toks[: len(toks) // 2]
    elif kind == 5:
        toks[0] = toks[0].lower()
        toks.insert(rng.randrange(len(toks)), rng.choice(words))
    elif kind == 6:
        rng.shuffle(toks)
    elif kind == 7:
        return ""
    else:
        toks = toks + [rng.choice(words) for _ in range(3)]
    return " ".join(toks)


def multi30k(lang, n, seed):
    lines = (MULTI30K / f"test_2016_flickr.{lang}").read_text(encoding="utf-8").splitlines()[:n]
    words = sorted({w for line in lines for w in line.split()})
    rng = random.Random(seed)
    return [perturb(line, rng, words) for line in lines], [lines]


def hand_cases():
    unicode_refs = [
        "„Guten Tag“, sagte sie — und ging…",
        "«Bonjour», dit-il ; puis : « au revoir ! »",
        "¿Qué tal? ¡Muy bien!",
        "ΟΔΟΣ ΚΑΙ ΣΟΦΙΑ, ὁδός.",
        "İstanbul'da ŞEHİR ve Straße.",
        "Tabs\there,\u00a0no-break\u2009thin  and   many spaces   ",
        "Tom &amp; Jerry &quot;run&quot; &lt;fast&gt; <skipped> now",
        "東京は大きい。 emoji 😀 ok",
        "He said: \u201cit\u2019s fine\u201d (really) [yes] {no} ~x~ a/b \\c",
        "\u2028line\u2029para\u3000wide\u0085next\x1cfs\x1funit",
    ]
    unicode_hyps = [
        "„Guten Tag“ sagte sie — und ging …",
        "« Bonjour », dit-il; puis: «au revoir!»",
        "¿Que tal? ¡Muy bien !",
        "οδος και σοφια, ὁδός.",
        "istanbul'da şehir ve STRASSE.",
        "Tabs here, no-break thin and many spaces",
        "Tom & Jerry \"run\" <fast> now",
        "東京は大きい 。 emoji 😀 OK",
        "He said: \u201cit's fine\u201d (really) [yes] {no} ~x~ a / b \\ c",
        "line para wide next fs unit",
    ]
    number_refs = [
        "It costs 1,000.50 dollars, i.e. 3.14 times more.",
        "The years 1990-2000 and 10 - 20 people; 1,2,3 go.",
        "U.S.A. e.g. etc. a.b 5. .5 5,- x-ray -5",
        "1.000,00 € at 12:30, 99.9% of 2,5 kg.",
        "Version 2.4.3, pages 3-5,7 and 8.",
    ]
    number_hyps = [
        "It costs 1,000.50 dollars , i.e. 3.14 times more .",
        "The years 1990 - 2000 and 10-20 people ; 1, 2, 3 go.",
        "USA e.g. etc a.b 5 . . 5 5,- x - ray - 5",
        "1.000,00 € at 12:30 , 99.9 % of 2,5kg.",
        "Version 2.4.3 , pages 3-5, 7 and 8",
    ]
    no_four_refs = [
        "the quick brown fox jumps over the lazy dog",
        "a man is riding a horse on the beach",
        "two dogs play in the snow",
    ]
    no_four_hyps = [
        "the quick fox brown over jumps lazy the dog",
        "a man riding horse a beach on the",
        "dogs two snow",
    ]
    short_refs = ["yes", "no way", "ok then go", "a b c d e"]
    short_hyps = ["yes", "no", "ok go then", "a b x d e"]
    identical = [
        "A dog runs through the grass.",
        "Two children are playing soccer in a park.",
    ]
    multi_ref_hyps = [
        "A man in a blue shirt is standing on a ladder.",
        "Children play in the water fountain.",
        "",
    ]
    multi_ref_refs = [
        [
            "A man in a blue shirt is standing on a ladder cleaning windows.",
            "Kids are playing in a fountain.",
            "A woman sings.",
        ],
        [
            "A man wearing blue stands on a ladder.",
            "Children are playing in the water of a fountain.",
            "Somebody sings a song.",
        ],
    ]
    return {
        "unicode_punctuation": (unicode_hyps, [unicode_refs]),
        "numbers": (number_hyps, [number_refs]),
        "no_matching_4gram": (no_four_hyps, [no_four_refs]),
        "short_lines": (short_hyps, [short_refs]),
        "identical": (identical, [identical]),
        "all_empty_hypotheses": (["", "", ""], [no_four_refs]),
        "empty_reference_line": (["a cat sits", "something", ""], [["a cat sits", "", ""]]),
        "two_references": (multi_ref_hyps, multi_ref_refs),
        "single_line": (["The cat sat on the mat ."], [["The cat sat on a mat."]]),
    }


def tokenizer_cases():
    """13a on random strings over the characters its rules treat specially."""
    rng = random.Random(13)
    alphabet = list("0123456789.,-'&;:!?/()[]{}<>@#$%^*+=_~`|\\\"") + list("abcXYZ") + [
        " ", " ", "\t", "\u00a0", "\u2009", "é", "ß", "—", "…", "«", "»", "&amp;", "&quot;",
        "&lt;", "&gt;", "<skipped>", "٣", "１", "\x1c", "\u3000",
    ]
    tok = Tokenizer13a()
    cases = []
    for _ in range(2000):
        s = "".join(rng.choice(alphabet) for _ in range(rng.randrange(1, 30)))
        cases.append([s, tok(s)])
    return cases


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    corpora = {
        "multi30k_de": multi30k("de", 100, 1),
        "multi30k_en": multi30k("en", 100, 2),
    }
    corpora.update(hand_cases())
    for name, (hyps, refs) in corpora.items():
        case = {
            "sacrebleu": SACREBLEU_VERSION,
            "source": CREDIT if name.startswith("multi30k") else "written for this test",
            "hyps": hyps,
            "refs": refs,
        }
        case.update(scores(hyps, refs))
        text = json.dumps(case, ensure_ascii=False, indent=1)
        (OUT / f"{name}.json").write_text(text + "\n", encoding="utf-8")
    tok = {"sacrebleu": SACREBLEU_VERSION, "cases": tokenizer_cases()}
    (OUT / "tokenize_13a.json").write_text(
        json.dumps(tok, ensure_ascii=False, indent=0) + "\n", encoding="utf-8"
    )
    spaces = [c for c in range(0x110000) if chr(c).isspace()]
    (OUT / "python_whitespace.json").write_text(json.dumps(spaces) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
