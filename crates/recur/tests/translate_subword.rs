//! Subword vocabularies on real text: Multi30k's validation sentences in German, English and
//! French (`tests/fixtures/multi30k`, credited there) encode and decode back to exactly
//! themselves; learning is deterministic; the JSON form survives a round trip and corrupt JSON
//! is refused with the field named.

use recur::translate::pairs::{parse_aligned, PairOptions};
use recur::translate::subword::{Units, Vocab, VocabSettings, BOS, EOS, PAD, SPECIAL_TOKENS, UNK};
use recur::translate::vocabularies::Vocabularies;
use std::path::{Path, PathBuf};

fn multi30k(lang: &str) -> Vec<String> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join(format!("tests/fixtures/multi30k/val.{lang}"));
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<String> = text.lines().map(String::from).collect();
    assert_eq!(lines.len(), 1014, "{}", path.display());
    lines
}

fn learn(lines: &[String], settings: &VocabSettings) -> Vocab {
    Vocab::learn(lines.iter().map(String::as_str), settings).unwrap()
}

#[test]
fn every_validation_sentence_round_trips_exactly() {
    let all: Vec<String> = ["de", "en", "fr"]
        .iter()
        .flat_map(|l| multi30k(l))
        .collect();
    let vocab = learn(&all, &VocabSettings::bpe(4000));
    assert_eq!(vocab.size(), 4000);
    assert_eq!(vocab.units(), Units::Bpe);
    let mut tokens = 0;
    for line in &all {
        let ids = vocab.encode(line).unwrap();
        assert!(ids.iter().all(|&id| id > UNK), "{line:?}: {ids:?}");
        assert_eq!(&vocab.decode(&ids).unwrap(), line);
        tokens += ids.len();
    }
    // Subwords, not bytes: far fewer tokens than characters.
    let chars: usize = all.iter().map(|l| l.chars().count()).sum();
    assert!(tokens * 3 < chars, "{tokens} tokens for {chars} characters");
}

#[test]
fn text_never_seen_in_training_round_trips_too() {
    let vocab = learn(&multi30k("en"), &VocabSettings::bpe(1000));
    for line in multi30k("de").iter().chain(&multi30k("fr")) {
        assert_eq!(&vocab.decode(&vocab.encode(line).unwrap()).unwrap(), line);
    }
    for text in [
        "  two leading spaces, tabs\tand a trailing space ",
        "日本語のテキスト 😀 and \u{200b}zero-width",
        "<s> spelled out </s> <pad> <unk> is text",
        "",
    ] {
        let ids = vocab.encode(text).unwrap();
        assert!(ids.iter().all(|&id| id > UNK), "{text:?}: {ids:?}");
        assert_eq!(vocab.decode(&ids).unwrap(), text);
    }
}

#[test]
fn special_tokens_come_first_and_decoding_leaves_them_out() {
    let vocab = learn(&multi30k("en"), &VocabSettings::bpe(600));
    for (id, token) in SPECIAL_TOKENS.iter().enumerate() {
        assert_eq!(vocab.id(token), Some(id as u32));
        assert_eq!(vocab.token(id as u32).as_deref(), Some(*token));
    }
    let mut ids = vec![BOS];
    ids.extend(vocab.encode("A dog runs.").unwrap());
    ids.extend([EOS, PAD, PAD]);
    assert_eq!(vocab.decode(&ids).unwrap(), "A dog runs.");
    let e = vocab.decode(&[600]).unwrap_err().to_string();
    assert_eq!(e, "token id 600 is outside the vocabulary of 600 tokens");
}

#[test]
fn learning_is_deterministic() {
    let lines = multi30k("de");
    for settings in [VocabSettings::bpe(1500), VocabSettings::words(2, true)] {
        let a = learn(&lines, &settings).to_json().to_string();
        let b = learn(&lines, &settings).to_json().to_string();
        assert!(
            a == b,
            "{settings:?}: two vocabularies from the same text differ"
        );
    }
}

#[test]
fn json_and_files_round_trip() {
    let lines = multi30k("fr");
    let vocab = learn(&lines, &VocabSettings::bpe(800));
    let again = Vocab::from_json(&vocab.to_json(), Path::new("config.json"), "vocab").unwrap();
    assert_eq!(again.to_json(), vocab.to_json());
    let dir = std::env::temp_dir().join(format!("recur-subword-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("vocab.json");
    vocab.save(&path).unwrap();
    let loaded = Vocab::load(&path).unwrap();
    for line in lines.iter().take(50) {
        assert_eq!(loaded.encode(line).unwrap(), vocab.encode(line).unwrap());
    }
    std::fs::write(&path, "{not json").unwrap();
    let e = Vocab::load(&path).unwrap_err().to_string();
    assert!(e.contains("vocab.json: not JSON"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn corrupt_json_is_refused_naming_the_field() {
    let vocab = learn(&multi30k("en"), &VocabSettings::bpe(400));
    let at = Path::new("run/config.json");
    let e = Vocab::from_json(&serde_json::json!({"model": 3}), at, "vocab.source").unwrap_err();
    let m = e.to_string();
    assert!(
        m.starts_with("run/config.json: `vocab.source`: not a tokenizers vocabulary"),
        "{m}"
    );
    // The special tokens swapped: <pad> is no longer 0.
    let mut json = vocab.to_json();
    let text = json.to_string().replace("\"<pad>\"", "\"<PAD>\"");
    json = serde_json::from_str(&text).unwrap();
    let m = Vocab::from_json(&json, at, "vocab.shared")
        .unwrap_err()
        .to_string();
    assert!(
        m.contains("`vocab.shared`: the special token <pad> must have id 0"),
        "{m}"
    );
    // Ids with a gap: an encoding could index past the embedding table.
    let words = learn(&multi30k("en"), &VocabSettings::words(5, false));
    let mut json = words.to_json();
    json["model"]["vocab"]["dog"] = serde_json::json!(4_000_000_000u32);
    let m = Vocab::from_json(&json, at, "vocab")
        .unwrap_err()
        .to_string();
    assert!(m.contains("token ids must run from 0 to"), "{m}");
    // A merge of tokens that do not exist.
    let mut json = vocab.to_json();
    json["model"]["merges"][0] = serde_json::json!(["nope", "missing"]);
    assert!(Vocab::from_json(&json, at, "vocab").is_err());
}

#[test]
fn word_units_lowercase_and_share_unknown_for_rare_words() {
    let lines: Vec<String> = [
        "The dog runs.",
        "the dog sleeps!",
        "A cat runs, the cat sleeps.",
    ]
    .map(String::from)
    .to_vec();
    let vocab = learn(&lines, &VocabSettings::words(2, true));
    assert_eq!(vocab.units(), Units::Word);
    // the ×3; dog, runs, cat, sleeps, "." ×2 each; "a", "!" and "," once.
    assert_eq!(vocab.size(), SPECIAL_TOKENS.len() + 6);
    let ids = vocab.encode("THE dog flies.").unwrap();
    assert_eq!(ids.len(), 4);
    assert_eq!(ids[2], UNK);
    assert_eq!(vocab.decode(&ids).unwrap(), "the dog <unk> .");
    let cased = learn(&lines, &VocabSettings::words(1, false));
    assert_ne!(cased.id("The"), cased.id("the"));
}

#[test]
fn impossible_settings_are_refused() {
    let lines = ["a b c".to_string()];
    let m = Vocab::learn(lines.iter().map(String::as_str), &VocabSettings::bpe(100))
        .unwrap_err()
        .to_string();
    assert!(m.contains("`vocab_size` must be from 260"), "{m}");
    let lower = VocabSettings {
        lowercase: true,
        ..VocabSettings::bpe(1000)
    };
    assert!(lower
        .check()
        .unwrap_err()
        .to_string()
        .contains("`lowercase` applies to word units only"));
    let rare = VocabSettings {
        min_freq: 0,
        ..VocabSettings::bpe(1000)
    };
    assert!(rare.check().is_err());
    let m = Vocab::learn(["", "  "], &VocabSettings::bpe(1000))
        .unwrap_err()
        .to_string();
    assert_eq!(m, "no training text to learn a vocabulary from");
}

#[test]
fn shared_and_separate_vocabularies() {
    let (de, en) = (multi30k("de"), multi30k("en"));
    let pairs = parse_aligned(
        (Path::new("val.de"), &de.join("\n")),
        (Path::new("val.en"), &en.join("\n")),
        PairOptions::default(),
    )
    .unwrap();
    let settings = VocabSettings::bpe(1200);
    let shared = Vocabularies::learn(&pairs.pairs, &settings, true).unwrap();
    assert!(shared.is_shared());
    assert_eq!(shared.source().to_json(), shared.target().to_json());
    let separate = Vocabularies::learn(&pairs.pairs, &settings, false).unwrap();
    assert_ne!(separate.source().to_json(), separate.target().to_json());
    let at = Path::new("config.json");
    for v in [&shared, &separate] {
        let back = Vocabularies::from_json(&v.to_json(), at, "vocab").unwrap();
        assert_eq!(back.is_shared(), v.is_shared());
        assert_eq!(back.target().to_json(), v.target().to_json());
        assert_eq!(
            back.source().encode(&de[0]).unwrap(),
            v.source().encode(&de[0]).unwrap()
        );
    }
    let m = Vocabularies::from_json(&serde_json::json!({"source": 1}), at, "vocab")
        .unwrap_err()
        .to_string();
    assert!(
        m.contains("`vocab` must hold either `shared` or both `source` and `target`"),
        "{m}"
    );
    // The German side's vocabulary keeps German words whole that the English side splits.
    let word = "Straße";
    let de_ids = separate.source().encode(word).unwrap();
    let en_ids = separate.target().encode(word).unwrap();
    assert!(de_ids.len() < en_ids.len(), "{de_ids:?} vs {en_ids:?}");
    // Every pair fits a length limit measured in subwords.
    let source = separate.source();
    pairs
        .check_max_len(recur::translate::pairs::Side::Source, 200, |s| {
            Ok(source.encode(s)?.len())
        })
        .unwrap();
}
