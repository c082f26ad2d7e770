//! Seeded fuzzing of the translation text side: mutated TSV and aligned files (byte flips,
//! truncations, inserted tabs, NUL, byte-order marks, CR and line ends), mutated vocabulary JSON,
//! and random hypothesis/reference text for BLEU and chrF. Readers return `Ok` or an `Err`,
//! never panic; what they accept is well-formed; scores stay within 0 to 100. Set
//! `RECUR_FUZZ_ROUNDS` for a longer run.

use recur::translate::bleu::{corpus_bleu, sentence_bleu, BleuSettings};
use recur::translate::chrf::{corpus_chrf, ChrfSettings};
use recur::translate::pairs::{read_aligned, read_tsv, PairOptions};
use recur::translate::subword::{Vocab, VocabSettings};
use recur::translate::tokenize_13a::Tokenize;
use recur::Rng;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;

const TSV: &str =
    "Go.\tVa !\tCC-BY 2.0\nHi there.\tSalut, toi.\r\n\u{00c4}rger\t\u{00e9}t\u{00e9} 1,5\n";
const INSERTS: &[&str] = &[
    "\t", "\n", "\r\n", "\r", "\0", "\u{feff}", " ", "\u{a0}", "\u{ff}", "",
];

fn rounds() -> usize {
    std::env::var("RECUR_FUZZ_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(400)
}

fn mutate(rng: &mut Rng, base: &[u8]) -> Vec<u8> {
    let mut b = base.to_vec();
    for _ in 0..1 + rng.below(4) {
        match rng.below(4) {
            0 if !b.is_empty() => {
                let i = rng.below(b.len());
                b[i] ^= 1 << rng.below(8);
            }
            1 => b.truncate(rng.below(b.len() + 1)),
            _ => {
                let i = rng.below(b.len() + 1);
                let s = INSERTS[rng.below(INSERTS.len())].as_bytes();
                b.splice(i..i, s.iter().copied());
            }
        }
    }
    b
}

/// Runs `f`, failing the test with the input if it panics.
fn no_panic(what: &str, bytes: &[u8], f: impl FnOnce()) {
    if catch_unwind(AssertUnwindSafe(f)).is_err() {
        panic!("{what} panicked on {:?}", String::from_utf8_lossy(bytes));
    }
}

#[test]
fn mutated_pair_files_never_panic_and_accepted_pairs_are_well_formed() {
    let dir = std::env::temp_dir().join(format!("recur-translate-fuzz-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut rng = Rng::new(2026);
    let (mut read, mut refused) = (0, 0);
    for round in 0..rounds() {
        let bytes = mutate(&mut rng, TSV.as_bytes());
        let tsv = dir.join(format!("m{round}.tsv"));
        std::fs::write(&tsv, &bytes).unwrap();
        let other = dir.join(format!("m{round}.txt"));
        std::fs::write(&other, mutate(&mut rng, b"one\ntwo\nthree\n")).unwrap();
        let options = PairOptions {
            skip_empty: round % 2 == 0,
        };
        no_panic("read_tsv/read_aligned", &bytes, || {
            for result in [read_tsv(&tsv, options), read_aligned(&tsv, &other, options)] {
                match result {
                    Ok(p) => {
                        read += 1;
                        assert!(!p.pairs.is_empty());
                        assert!(p.pairs.windows(2).all(|w| w[0].line < w[1].line));
                        for pair in &p.pairs {
                            assert!(
                                !pair.source.trim().is_empty() && !pair.target.trim().is_empty()
                            );
                            assert!(!pair.source.contains('\n') && !pair.target.contains('\n'));
                        }
                    }
                    Err(e) => {
                        refused += 1;
                        let m = e.to_string();
                        assert!(m.contains(".tsv") || m.contains(".txt"), "{m}");
                    }
                }
            }
        });
    }
    assert!(read > 0 && refused > 0, "read {read}, refused {refused}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn mutated_vocabulary_json_never_panics() {
    let lines = [
        "A dog runs.",
        "Zwei Hunde laufen.",
        "Un chien court, vite !",
    ];
    let settings = [VocabSettings::bpe(300), VocabSettings::words(1, true)];
    let mut rng = Rng::new(7);
    let mut loaded = 0;
    for s in settings {
        let json = Vocab::learn(lines, &s).unwrap().to_json().to_string();
        for _ in 0..rounds() {
            let bytes = mutate(&mut rng, json.as_bytes());
            let Ok(value) = serde_json::from_slice::<serde_json::Value>(&bytes) else {
                continue;
            };
            no_panic("Vocab::from_json", &bytes, || {
                if let Ok(v) = Vocab::from_json(&value, Path::new("config.json"), "vocab") {
                    loaded += 1;
                    if let Ok(ids) = v.encode("A dog, un chien.") {
                        let _ = v.decode(&ids);
                    }
                }
            });
        }
    }
    assert!(loaded > 0);
}

#[test]
fn random_text_scores_stay_between_0_and_100() {
    let alphabet: Vec<char> = "ab c.,-1 2'\"&;\u{a0}\u{1c}ÄßΣς€…😀\t".chars().collect();
    let mut rng = Rng::new(11);
    let text = |rng: &mut Rng| -> String {
        (0..rng.below(25))
            .map(|_| alphabet[rng.below(alphabet.len())])
            .collect()
    };
    for _ in 0..rounds() {
        let hyps: Vec<String> = (0..3).map(|_| text(&mut rng)).collect();
        let refs: Vec<Vec<String>> = (0..2)
            .map(|_| (0..3).map(|_| text(&mut rng)).collect())
            .collect();
        for (lowercase, tokenize) in [(false, Tokenize::Tok13a), (true, Tokenize::None)] {
            let settings = BleuSettings {
                lowercase,
                tokenize,
            };
            let b = corpus_bleu(&hyps, &refs, &settings).unwrap();
            assert!(
                (0.0..=100.0 + 1e-9).contains(&b.score),
                "{hyps:?} {refs:?}: {}",
                b.score
            );
            let s = sentence_bleu(&hyps[0], &[&refs[0][0], &refs[1][0]], &settings);
            assert!((0.0..=100.0 + 1e-9).contains(&s.score));
        }
        let c = corpus_chrf(&hyps, &refs, &ChrfSettings::default()).unwrap();
        assert!((0.0..=100.0 + 1e-9).contains(&c.score));
    }
}
