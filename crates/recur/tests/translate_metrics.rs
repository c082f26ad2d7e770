//! BLEU and chrF against sacreBLEU 2.4.3: the committed fixtures of
//! `scripts/make_bleu_fixtures.py` hold sacreBLEU's statistics and scores for every corpus, at
//! corpus and sentence level, and `recur::translate` must give the same n-gram counts and
//! lengths exactly and the same scores to 1e-9.

use recur::translate::bleu::{corpus_bleu, sentence_bleu, BleuScore, BleuSettings};
use recur::translate::chrf::{corpus_chrf, sentence_chrf, ChrfSettings};
use recur::translate::tokenize_13a::{is_python_space, tokenize_13a, Tokenize};
use serde_json::Value;
use std::path::PathBuf;

const CORPORA: [&str; 11] = [
    "multi30k_de",
    "multi30k_en",
    "unicode_punctuation",
    "numbers",
    "no_matching_4gram",
    "short_lines",
    "identical",
    "all_empty_hypotheses",
    "empty_reference_line",
    "two_references",
    "single_line",
];

const VARIANTS: [(&str, bool, Tokenize); 4] = [
    ("13a", false, Tokenize::Tok13a),
    ("13a_lowercase", true, Tokenize::Tok13a),
    ("none", false, Tokenize::None),
    ("none_lowercase", true, Tokenize::None),
];

const TOLERANCE: f64 = 1e-9;

fn fixture(name: &str) -> Value {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("tests/fixtures/bleu/{name}.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

fn counts(v: &Value) -> [u64; 4] {
    let a: Vec<u64> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap())
        .collect();
    a.try_into().unwrap()
}

fn close(what: &str, ours: f64, theirs: &Value) {
    let theirs = theirs.as_f64().unwrap();
    assert!(
        (ours - theirs).abs() <= TOLERANCE,
        "{what}: recur {ours}, sacreBLEU {theirs}"
    );
}

/// Every figure of `ours` equals sacreBLEU's `theirs`: counts exactly, floats to 1e-9.
fn same_bleu(what: &str, ours: &BleuScore, theirs: &Value) {
    assert_eq!(ours.counts, counts(&theirs["counts"]), "{what}: counts");
    assert_eq!(ours.totals, counts(&theirs["totals"]), "{what}: totals");
    assert_eq!(
        ours.hyp_len,
        theirs["hyp_len"].as_u64().unwrap(),
        "{what}: hyp_len"
    );
    assert_eq!(
        ours.ref_len,
        theirs["ref_len"].as_u64().unwrap(),
        "{what}: ref_len"
    );
    close(&format!("{what}: score"), ours.score, &theirs["score"]);
    close(&format!("{what}: bp"), ours.bp, &theirs["bp"]);
    close(&format!("{what}: ratio"), ours.ratio, &theirs["ratio"]);
    for n in 0..4 {
        close(
            &format!("{what}: precision {}", n + 1),
            ours.precisions[n],
            &theirs["precisions"][n],
        );
    }
    if let Some(verbose) = theirs.get("verbose") {
        assert_eq!(ours.verbose(), verbose.as_str().unwrap(), "{what}: verbose");
    }
}

struct Corpus {
    hyps: Vec<String>,
    refs: Vec<Vec<String>>,
    expected: Value,
}

fn corpus(name: &str) -> Corpus {
    let expected = fixture(name);
    Corpus {
        hyps: strings(&expected["hyps"]),
        refs: expected["refs"]
            .as_array()
            .unwrap()
            .iter()
            .map(strings)
            .collect(),
        expected,
    }
}

#[test]
fn corpus_bleu_matches_sacrebleu_in_every_variant() {
    for name in CORPORA {
        let c = corpus(name);
        for (variant, lowercase, tokenize) in VARIANTS {
            let settings = BleuSettings {
                lowercase,
                tokenize,
            };
            let ours = corpus_bleu(&c.hyps, &c.refs, &settings).unwrap();
            same_bleu(
                &format!("{name} {variant}"),
                &ours,
                &c.expected["corpus"][variant],
            );
            let signature = c.expected["signature"][variant].as_str().unwrap();
            let without_version = signature.rsplit_once("|version:").unwrap().0;
            assert_eq!(settings.signature(c.refs.len(), false), without_version);
        }
    }
}

#[test]
fn sentence_bleu_matches_sacrebleu_in_every_variant() {
    for name in CORPORA {
        let c = corpus(name);
        for (variant, lowercase, tokenize) in VARIANTS {
            let settings = BleuSettings {
                lowercase,
                tokenize,
            };
            for (i, hyp) in c.hyps.iter().enumerate() {
                let refs: Vec<&str> = c.refs.iter().map(|r| r[i].as_str()).collect();
                let ours = sentence_bleu(hyp, &refs, &settings);
                let theirs = &c.expected["sentence"][variant][i];
                same_bleu(&format!("{name} {variant} line {}", i + 1), &ours, theirs);
            }
        }
    }
}

#[test]
fn chrf_matches_sacrebleu_at_corpus_and_sentence_level() {
    let chrf2 = ChrfSettings::default();
    let lower = ChrfSettings {
        lowercase: true,
        ..chrf2
    };
    let plus_plus = ChrfSettings {
        word_order: 2,
        ..chrf2
    };
    for name in CORPORA {
        let c = corpus(name);
        let expected = &c.expected["chrf"];
        for (settings, key) in [
            (chrf2, "corpus"),
            (lower, "corpus_lowercase"),
            (plus_plus, "corpus_plus_plus"),
        ] {
            let ours = corpus_chrf(&c.hyps, &c.refs, &settings).unwrap().score;
            close(&format!("{name} chrF {key}"), ours, &expected[key]);
        }
        let signature = expected["signature"].as_str().unwrap();
        assert_eq!(
            chrf2.signature(c.refs.len()),
            signature.rsplit_once("|version:").unwrap().0
        );
        for (settings, key) in [(chrf2, "sentence"), (plus_plus, "sentence_plus_plus")] {
            for (i, hyp) in c.hyps.iter().enumerate() {
                let refs: Vec<&str> = c.refs.iter().map(|r| r[i].as_str()).collect();
                let ours = sentence_chrf(hyp, &refs, &settings).unwrap().score;
                close(
                    &format!("{name} chrF {key} line {}", i + 1),
                    ours,
                    &expected[key][i],
                );
            }
        }
    }
}

#[test]
fn the_13a_tokeniser_matches_sacrebleu_on_random_strings() {
    let cases = fixture("tokenize_13a");
    let cases = cases["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 2000);
    for case in cases {
        let (input, expected) = (case[0].as_str().unwrap(), case[1].as_str().unwrap());
        assert_eq!(tokenize_13a(input), expected, "input {input:?}");
    }
}

#[test]
fn whitespace_is_what_python_splits_on() {
    let expected: Vec<u32> = fixture("python_whitespace")
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_u64().unwrap() as u32)
        .collect();
    let ours: Vec<u32> = (0..=0x10ffffu32)
        .filter(|&c| char::from_u32(c).is_some_and(is_python_space))
        .collect();
    assert_eq!(ours, expected);
}

#[test]
fn real_multi30k_scores_are_in_the_expected_range() {
    // A guard that the fixtures themselves are meaningful: perturbed references score well
    // below 100 and well above 0.
    for name in ["multi30k_de", "multi30k_en"] {
        let c = corpus(name);
        let bleu = corpus_bleu(&c.hyps, &c.refs, &BleuSettings::default()).unwrap();
        assert!(
            bleu.score > 40.0 && bleu.score < 90.0,
            "{name}: {}",
            bleu.score
        );
        assert!(bleu.hyp_len > 1000, "{name}: {}", bleu.hyp_len);
    }
}
