//! `recur translate score` end to end: sacreBLEU's figures from files, per-sentence scores, JSON,
//! and bad input told in one line with exit status 2.

mod common;
use common::{recur, temp};
use std::path::{Path, PathBuf};

/// The sacreBLEU fixture of the library's tests with `name`.
fn fixture(name: &str) -> serde_json::Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../recur/tests/fixtures/bleu")
        .join(format!("{name}.json"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Writes the lines of a JSON array into `dir/name`, one a line.
fn write_lines(dir: &Path, name: &str, lines: &serde_json::Value) -> String {
    let text: Vec<&str> = lines
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    let path = dir.join(name);
    std::fs::write(&path, format!("{}\n", text.join("\n"))).unwrap();
    path.display().to_string()
}

fn stderr_line(o: &std::process::Output) -> String {
    let text = String::from_utf8_lossy(&o.stderr).to_string();
    assert_eq!(text.lines().count(), 1, "one line expected: {text}");
    text
}

/// Hypothesis and reference files of the German Multi30k fixture in a fresh directory.
fn multi30k_files(test: &str) -> (PathBuf, String, String, serde_json::Value) {
    let dir = temp(test);
    let f = fixture("multi30k_de");
    let hyp = write_lines(&dir, "hyp.de", &f["hyps"]);
    let reference = write_lines(&dir, "ref.de", &f["refs"][0]);
    (dir, hyp, reference, f)
}

#[test]
fn score_prints_sacrebleu_lines() {
    let (_dir, hyp, reference, f) = multi30k_files("score-text");
    let o = recur(&["translate", "score", "--hyp", &hyp, "--ref", &reference]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = String::from_utf8(o.stdout).unwrap();
    let lines: Vec<&str> = out.lines().collect();
    let bleu = &f["corpus"]["13a"];
    let expected = format!(
        "BLEU|nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp = {:.2} {}",
        bleu["score"].as_f64().unwrap(),
        bleu["verbose"].as_str().unwrap()
    );
    assert_eq!(lines[0], expected);
    let chrf = f["chrf"]["corpus"].as_f64().unwrap();
    assert_eq!(
        lines[1],
        format!("chrF2|nrefs:1|case:mixed|eff:yes|nc:6|nw:0|space:no = {chrf:.2}")
    );
    assert_eq!(lines.len(), 2);
}

#[test]
fn score_json_with_sentences_and_options() {
    let (_dir, hyp, reference, f) = multi30k_files("score-json");
    let o = recur(&[
        "translate",
        "score",
        "--hyp",
        &hyp,
        "--ref",
        &reference,
        "--lowercase",
        "--tokenize",
        "none",
        "--sentences",
        "--json",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let expected = &f["corpus"]["none_lowercase"];
    assert!(
        (v["bleu"]["score"].as_f64().unwrap() - expected["score"].as_f64().unwrap()).abs() < 1e-9
    );
    assert_eq!(v["bleu"]["counts"], expected["counts"]);
    assert_eq!(v["bleu"]["ref_len"], expected["ref_len"]);
    assert_eq!(
        v["bleu"]["signature"],
        "nrefs:1|case:lc|eff:no|tok:none|smooth:exp"
    );
    let lc_chrf = f["chrf"]["corpus_lowercase"].as_f64().unwrap();
    assert!((v["chrf"]["score"].as_f64().unwrap() - lc_chrf).abs() < 1e-9);
    let sentences = v["sentences"].as_array().unwrap();
    assert_eq!(sentences.len(), 100);
    for (i, s) in sentences.iter().enumerate() {
        assert_eq!(s["line"], i + 1);
        let bleu = f["sentence"]["none_lowercase"][i]["score"]
            .as_f64()
            .unwrap();
        assert!(
            (s["bleu"].as_f64().unwrap() - bleu).abs() < 1e-9,
            "line {}",
            i + 1
        );
    }
}

#[test]
fn two_references_and_sentence_lines() {
    let dir = temp("score-two-refs");
    let f = fixture("two_references");
    let hyp = write_lines(&dir, "hyp", &f["hyps"]);
    let r1 = write_lines(&dir, "r1", &f["refs"][0]);
    let r2 = write_lines(&dir, "r2", &f["refs"][1]);
    let o = recur(&[
        "translate",
        "score",
        "--hyp",
        &hyp,
        "--ref",
        &r1,
        "--ref",
        &r2,
        "--sentences",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = String::from_utf8(o.stdout).unwrap();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 5);
    let first = f["sentence"]["13a"][0]["score"].as_f64().unwrap();
    let first_chrf = f["chrf"]["sentence"][0].as_f64().unwrap();
    assert_eq!(
        lines[0],
        format!("line 1: BLEU {first:.2} chrF2 {first_chrf:.2}")
    );
    assert!(lines[3].starts_with("BLEU|nrefs:2|"), "{}", lines[3]);
    let corpus = f["corpus"]["13a"]["score"].as_f64().unwrap();
    assert!(
        lines[3].contains(&format!(" = {corpus:.2} ")),
        "{}",
        lines[3]
    );
}

#[test]
fn bad_input_is_one_line_and_status_2() {
    let dir = temp("score-bad");
    let hyp = dir.join("hyp.txt");
    std::fs::write(&hyp, "a b c\nd e f\n").unwrap();
    let short = dir.join("short.txt");
    std::fs::write(&short, "a b c\n").unwrap();
    let binary = dir.join("binary.bin");
    std::fs::write(&binary, [0x89u8, b'P', b'N', b'G', 0, 0xff, b'\n']).unwrap();
    let nul = dir.join("nul.txt");
    std::fs::write(&nul, "a\0b\nc\n").unwrap();
    let empty = dir.join("empty.txt");
    std::fs::write(&empty, "").unwrap();
    let hyp_s = hyp.display().to_string();
    let cases: [(&Path, &str); 5] = [
        (&short, "has 2 lines but"),
        (&binary, "not UTF-8 text"),
        (&nul, "line 1: a NUL byte"),
        (&empty, "is empty"),
        (Path::new("/nonexistent/ref.txt"), "/nonexistent/ref.txt"),
    ];
    for (reference, expected) in cases {
        let r = reference.display().to_string();
        let o = recur(&["translate", "score", "--hyp", &hyp_s, "--ref", &r]);
        assert_eq!(o.status.code(), Some(2), "{r}");
        let line = stderr_line(&o);
        assert!(line.starts_with("error: "), "{line}");
        assert!(line.contains(expected), "{r}: {line}");
        assert!(o.stdout.is_empty());
    }
    let o = recur(&["translate", "score", "--hyp", &hyp_s]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr_line(&o).contains("--ref"));
    let o = recur(&[
        "translate",
        "score",
        "--hyp",
        &hyp_s,
        "--ref",
        &hyp_s,
        "--tokenize",
        "intl",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr_line(&o).contains("--tokenize"));
}

#[test]
fn identical_files_score_100() {
    let dir = temp("score-identical");
    let path = dir.join("same.txt");
    std::fs::write(&path, "Ein Hund läuft.\r\nZwei Kinder spielen im Park.\r\n").unwrap();
    let p = path.display().to_string();
    let o = recur(&["translate", "score", "--hyp", &p, "--ref", &p, "--json"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!((v["bleu"]["score"].as_f64().unwrap() - 100.0).abs() < 1e-9);
    assert!((v["chrf"]["score"].as_f64().unwrap() - 100.0).abs() < 1e-9);
    assert_eq!(v["bleu"]["hyp_len"], 10);
}

/// The first `n` lines of the Multi30k validation fixture in `lang`, written into `dir`.
fn multi30k_head(dir: &Path, lang: &str, n: usize) -> String {
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../recur/tests/fixtures/multi30k")
        .join(format!("val.{lang}"));
    let text = std::fs::read_to_string(src).unwrap();
    let lines: Vec<&str> = text.lines().take(n).collect();
    let path = dir.join(format!("head.{lang}"));
    std::fs::write(&path, format!("{}\n", lines.join("\n"))).unwrap();
    path.display().to_string()
}

/// `recur translate train` on 300 German-English pairs with a tiny model.
fn tiny_translate(dir: &Path, out: &str, extra: &[&str]) -> std::process::Output {
    let (de, en) = (multi30k_head(dir, "de", 300), multi30k_head(dir, "en", 300));
    let mut args = vec![
        "translate",
        "train",
        "--src",
        &de,
        "--tgt",
        &en,
        "--vocab-size",
        "400",
        "--embed",
        "16",
        "--hidden",
        "32",
        "--batch-size",
        "16",
        "--steps",
        "30",
        "--validate-every",
        "10",
        "--bleu-sentences",
        "10",
        "--threads",
        "2",
        "--quiet",
        "--out",
        out,
    ];
    args.extend_from_slice(extra);
    recur(&args)
}

#[test]
fn train_eval_and_predict_end_to_end() {
    let dir = temp("translate-e2e");
    let out = dir.join("run").display().to_string();
    let o = tiny_translate(&dir, &out, &[]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("run/config.json")).unwrap())
            .unwrap();
    assert_eq!(config["task"], "translate");
    assert_eq!(config["card"]["train"]["pairs"], 285);
    assert!(dir.join("run/model.safetensors").is_file());
    let metrics = std::fs::read_to_string(dir.join("run/metrics.jsonl")).unwrap();
    assert_eq!(
        metrics.lines().count(),
        4,
        "validations at steps 0, 10, 20, 30"
    );

    let (de, en) = (multi30k_head(&dir, "de", 40), multi30k_head(&dir, "en", 40));
    let hyp = dir.join("hyp.txt").display().to_string();
    let o = recur(&[
        "translate",
        "eval",
        "--checkpoint",
        &out,
        "--src",
        &de,
        "--tgt",
        &en,
        "--beam",
        "3",
        "--out",
        &hyp,
        "--json",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(j["sentences"], 40);
    assert!(j["perplexity"].as_f64().unwrap() > 1.0);
    assert!(j["bleu"].as_f64().unwrap() >= 0.0);
    assert_eq!(std::fs::read_to_string(&hyp).unwrap().lines().count(), 40);

    let svg = dir.join("att.svg").display().to_string();
    let o = recur(&[
        "translate",
        "predict",
        "--checkpoint",
        &out,
        "Ein Mann läuft.",
        "Zwei Hunde.",
        "--json",
        "--show-attention",
        &svg,
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let lines: Vec<serde_json::Value> = String::from_utf8(o.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["source"], "Ein Mann läuft.");
    assert!(std::fs::read_to_string(&svg).unwrap().contains("<svg"));

    // ONNX: the encoder and the decoder step, beside the name given.
    let onnx = dir.join("mt.onnx").display().to_string();
    let o = recur(&["export", "--checkpoint", &out, "--out", &onnx]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let said = String::from_utf8_lossy(&o.stdout);
    assert!(
        said.contains("mt.encoder.onnx and ") && said.contains("translation model"),
        "{said}"
    );
    for (part, tokenizer) in [
        ("encoder", "recur.source_tokenizer"),
        ("decoder", "recur.target_tokenizer"),
    ] {
        let bytes = std::fs::read(dir.join(format!("mt.{part}.onnx"))).unwrap();
        assert!(
            bytes
                .windows(tokenizer.len())
                .any(|w| w == tokenizer.as_bytes()),
            "{part}"
        );
    }
    assert!(!dir.join("mt.onnx").exists());
}

#[test]
fn an_interrupted_run_resumed_ends_as_the_whole_run() {
    let dir = temp("translate-resume");
    let whole = dir.join("whole").display().to_string();
    assert!(tiny_translate(&dir, &whole, &[]).status.success());
    let part = dir.join("part").display().to_string();
    let o = tiny_translate(&dir, &part, &["--stop-after", "13"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = recur(&[
        "translate",
        "train",
        "--resume",
        &part,
        "--threads",
        "2",
        "--quiet",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for f in ["model.safetensors", "optim.safetensors"] {
        let a = std::fs::read(dir.join("whole").join(f)).unwrap();
        let b = std::fs::read(dir.join("part").join(f)).unwrap();
        assert!(a == b, "{f} differs");
    }
}

#[test]
fn bad_translation_input_is_one_line_and_status_2() {
    let dir = temp("translate-bad");
    let de = multi30k_head(&dir, "de", 300);
    let en = multi30k_head(&dir, "en", 300);
    let short = dir.join("short.en");
    std::fs::write(&short, "A man.\nA dog.\n").unwrap();
    let empty_line = dir.join("gap.en");
    let mut lines: Vec<String> = std::fs::read_to_string(&en)
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    lines[1] = String::new();
    std::fs::write(&empty_line, format!("{}\n", lines.join("\n"))).unwrap();
    let empty = dir.join("empty.en");
    std::fs::write(&empty, "").unwrap();
    let out = dir.join("run").display().to_string();
    let cases: Vec<(Vec<String>, &str)> = vec![
        (vec!["--tgt".into(), short.display().to_string()], "line"),
        (
            vec!["--tgt".into(), empty_line.display().to_string()],
            "line 2",
        ),
        (vec!["--tgt".into(), empty.display().to_string()], "empty"),
        (
            vec!["--tgt".into(), en.clone(), "--max-len".into(), "5".into()],
            "max-len",
        ),
    ];
    for (extra, needle) in cases {
        let mut args: Vec<String> = [
            "translate",
            "train",
            "--src",
            &de,
            "--steps",
            "2",
            "--out",
            &out,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        args.extend(extra);
        let o = common::recur_owned(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        let line = stderr_line(&o);
        assert!(line.contains(needle), "{line}");
        assert!(!Path::new(&out).join("model.safetensors").exists());
    }
    // A checkpoint of another task.
    let other = dir.join("other");
    std::fs::create_dir_all(&other).unwrap();
    std::fs::write(
        other.join("config.json"),
        r#"{"format": "recur", "version": 1, "task": "classify"}"#,
    )
    .unwrap();
    let o = recur(&[
        "translate",
        "predict",
        "--checkpoint",
        &other.display().to_string(),
        "Hallo",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr_line(&o).contains("not a translation model"));
}
