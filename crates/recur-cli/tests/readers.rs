//! The data readers end to end on the small failing inputs of the reliability issue (copied
//! under `tests/fixtures/cases/`): each fault kind gets one clear line and status 2, or the same
//! result as the well-formed file.

mod common;
use common::{case, recur, temp};
use std::path::Path;
use std::process::Output;

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Exit status 2 with one line on stderr holding every needle.
fn refused(o: &Output, needles: &[&str]) {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    for n in needles {
        assert!(err.contains(n), "{err:?} lacks {n:?}");
    }
}

fn ok(o: Output) -> Output {
    assert!(o.status.success(), "{}", stderr(&o));
    o
}

fn train_classifier(data: &str, out: &str) {
    ok(recur(&[
        "classify", "train", "--data", data, "--epochs", "3", "--hidden", "8", "--seed", "2",
        "--out", out, "--quiet",
    ]));
}

#[test]
fn ts_line_without_colon_names_file_and_line() {
    let dir = temp("rd-colon");
    let out = dir.join("r").display().to_string();
    let o = recur(&[
        "classify",
        "train",
        "--data",
        &case("ts_no_colon_line.ts"),
        "--out",
        &out,
    ]);
    refused(&o, &["ts_no_colon_line.ts: line 2", "no ':'"]);
    let late = dir.join("late.ts");
    std::fs::write(&late, "@data\n@dimensions 1\n1,2:a\n").unwrap();
    let o = recur(&[
        "classify",
        "train",
        "--data",
        late.to_str().unwrap(),
        "--out",
        &out,
    ]);
    refused(&o, &["late.ts: line 2", "after @data"]);
    assert!(!Path::new(&out).exists());
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn frames_csv_without_features_is_refused() {
    let dir = temp("rd-nofeat");
    let out = dir.join("r").display().to_string();
    let o = recur(&[
        "classify",
        "train",
        "--data",
        &case("frames_no_features.csv"),
        "--out",
        &out,
    ]);
    refused(&o, &["frames_no_features.csv", "no feature columns"]);
    assert!(!Path::new(&out).exists());
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn trailing_nan_is_padding_and_other_nan_is_refused() {
    let dir = temp("rd-nan");
    let run = dir.join("r").display().to_string();
    // NaN-padded unequal lengths train as the series without their padding.
    let o = ok(recur(&[
        "classify",
        "train",
        "--data",
        &case("ts_nan_padded.ts"),
        "--epochs",
        "3",
        "--hidden",
        "8",
        "--out",
        &run,
        "--quiet",
    ]));
    assert!(!stderr(&o).contains("NaN"), "{}", stderr(&o));
    let report = std::fs::read_to_string(dir.join("r/report.json")).unwrap();
    assert!(
        !report.contains("NaN") && !report.contains("null"),
        "{report}"
    );
    let o = recur(&[
        "classify",
        "train",
        "--data",
        &case("frames_nan.csv"),
        "--out",
        &dir.join("r-nan").display().to_string(),
    ]);
    refused(
        &o,
        &["frames_nan.csv: row 5, column 'y'", "not a finite number"],
    );
    // Predict and eval refuse it too, instead of writing NaN probabilities.
    let frames = dir.join("f").display().to_string();
    train_classifier(&case("frames_sorted.csv"), &frames);
    let p = dir.join("p.csv").display().to_string();
    let o = recur(&[
        "classify",
        "predict",
        "--checkpoint",
        &frames,
        "--data",
        &case("frames_nan.csv"),
        "--output",
        &p,
    ]);
    refused(&o, &["row 5, column 'y'"]);
    assert!(!Path::new(&p).exists());
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn frames_in_any_row_order_give_identical_results() {
    let dir = temp("rd-frames");
    let run = dir.join("r").display().to_string();
    train_classifier(&case("frames_sorted.csv"), &run);
    let eval = |f: &str| {
        let o = ok(recur(&[
            "classify",
            "eval",
            "--checkpoint",
            &run,
            "--data",
            &case(f),
            "--json",
        ]));
        String::from_utf8(o.stdout).unwrap()
    };
    assert_eq!(eval("frames_sorted.csv"), eval("frames_shuffled.csv"));
    let dup = dir.join("dup.csv");
    std::fs::write(&dup, "seq,label,frame,x\n0,a,0,1\n0,a,0,2\n").unwrap();
    let o = recur(&[
        "classify",
        "eval",
        "--checkpoint",
        &run,
        "--data",
        dup.to_str().unwrap(),
    ]);
    refused(&o, &["dup.csv: rows 2 and 3", "frame 0 twice"]);
    let _ = std::fs::remove_dir_all(dir);
}

fn forecast(csv: &str, target: &str, time: &str, out: &str, extra: &[&str]) -> Output {
    let mut args = vec![
        "forecast",
        "--csv",
        csv,
        "--target",
        target,
        "--time",
        time,
        "--test-size",
        "12",
        "--horizon",
        "12",
        "--lookback",
        "12",
        "--epochs",
        "2",
        "--hidden",
        "8",
        "--out",
        out,
        "--json",
    ];
    args.extend_from_slice(extra);
    recur(&args)
}

fn metrics(out: &str) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(Path::new(out).join("metrics.json")).unwrap())
        .unwrap()
}

#[test]
fn descending_dates_are_sorted_by_time() {
    let dir = temp("rd-dates");
    let out = dir.join("d").display().to_string();
    let o = ok(forecast(
        &case("fc_descending_dates.csv"),
        "sales",
        "date",
        &out,
        &[],
    ));
    let err = stderr(&o);
    assert!(
        err.contains("not in time order") && err.contains("row 3"),
        "{err}"
    );
    // The test span is the latest year, not the oldest.
    assert_eq!(metrics(&out)["test_start"], "2022-01-01");
    let csv = std::fs::read_to_string(Path::new(&out).join("forecast.csv")).unwrap();
    assert!(
        csv.lines().nth(12).unwrap().starts_with("2022-12-01,285"),
        "{csv}"
    );
    // A shuffled file gives the same forecast as the sorted one.
    let (a, b) = (
        dir.join("a").display().to_string(),
        dir.join("b").display().to_string(),
    );
    ok(forecast(
        &common::data("timeseries/airline_passengers_monthly.csv"),
        "Passengers",
        "Date",
        &a,
        &[],
    ));
    let o = ok(forecast(
        &case("fc_unsorted_dates.csv"),
        "Passengers",
        "Date",
        &b,
        &[],
    ));
    assert!(stderr(&o).contains("not in time order"));
    let read = |d: &str| std::fs::read_to_string(Path::new(d).join("forecast.csv")).unwrap();
    assert_eq!(read(&a), read(&b));
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn duplicate_dates_are_refused() {
    let dir = temp("rd-dup");
    let csv = dir.join("dup.csv");
    let mut text = String::from("date,sales\n");
    for m in 1..=40 {
        text += &format!("{}-{:02},{m}\n", 2000 + (m - 1) / 12, (m - 1) % 12 + 1);
    }
    text += "2000-03,7\n";
    std::fs::write(&csv, text).unwrap();
    let out = dir.join("o").display().to_string();
    let o = forecast(csv.to_str().unwrap(), "sales", "date", &out, &[]);
    refused(&o, &["dup.csv: rows 4 and 42 have the same time '2000-03'"]);
    assert!(!Path::new(&out).exists());
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn bom_is_stripped_from_every_file() {
    let dir = temp("rd-bom");
    let out = dir.join("f").display().to_string();
    let o = ok(recur(&[
        "forecast",
        "--csv",
        &case("fc_bom.csv"),
        "--target",
        "value",
        "--time",
        "month",
        "--test-size",
        "12",
        "--horizon",
        "6",
        "--lookback",
        "12",
        "--epochs",
        "2",
        "--out",
        &out,
    ]));
    assert!(String::from_utf8_lossy(&o.stdout).contains("80 points"));
    for f in ["text_bom.csv", "text_bom.jsonl", "frames_bom.csv"] {
        let run = dir.join(f).display().to_string();
        train_classifier(&case(f), &run);
        let config = std::fs::read_to_string(Path::new(&run).join("config.json")).unwrap();
        assert!(
            !config.contains('\u{feff}') && !config.contains("\\ufeff"),
            "{f}: {config}"
        );
    }
    // A character model's text: the mark is not a vocabulary character.
    let text = dir.join("bom.txt");
    std::fs::write(&text, format!("\u{feff}{}", "abc ".repeat(40))).unwrap();
    let lm = dir.join("lm").display().to_string();
    ok(recur(&[
        "train",
        "--text",
        text.to_str().unwrap(),
        "--hidden",
        "8",
        "--embed",
        "4",
        "--batch-size",
        "2",
        "--seq-len",
        "8",
        "--steps",
        "2",
        "--out",
        &lm,
    ]));
    let config = std::fs::read_to_string(Path::new(&lm).join("config.json")).unwrap();
    assert!(
        !config.contains('\u{feff}') && !config.contains("\\ufeff"),
        "{config}"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn quoted_header_names_can_be_addressed() {
    let dir = temp("rd-quoted");
    let csv = dir.join("sun.csv");
    let mut text = String::from("\"YEAR\",\"SUNACTIVITY\"\r\n");
    for y in 1700..1760 {
        text += &format!("\"{y}\",{}\r\n", (y % 11) * 10 + 3);
    }
    std::fs::write(&csv, text).unwrap();
    let out = dir.join("o").display().to_string();
    ok(forecast(
        csv.to_str().unwrap(),
        "SUNACTIVITY",
        "YEAR",
        &out,
        &["--period", "11"],
    ));
    assert_eq!(metrics(&out)["test_start"], "1748");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn log_of_a_non_positive_series_names_file_and_row() {
    let dir = temp("rd-log");
    let csv = dir.join("z.csv");
    let mut text = String::from("t,y\n");
    for t in 0..60 {
        text += &format!("{t},{}\n", if t == 9 { 0 } else { t + 1 });
    }
    std::fs::write(&csv, text).unwrap();
    let out = dir.join("o").display().to_string();
    let o = forecast(csv.to_str().unwrap(), "y", "t", &out, &["--log"]);
    refused(&o, &["z.csv: row 11", "--log needs a positive series"]);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn unseen_label_names_file_and_line() {
    let dir = temp("rd-unseen");
    let run = dir.join("r").display().to_string();
    train_classifier(&case("ts_clean.ts"), &run);
    let o = recur(&[
        "classify",
        "eval",
        "--checkpoint",
        &run,
        "--data",
        &case("ts_unseen_label.ts"),
    ]);
    refused(
        &o,
        &["ts_unseen_label.ts: line 4: label 'zzz' was not seen in training"],
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn predict_does_not_require_labels() {
    let dir = temp("rd-predict");
    let (ts, text) = (
        dir.join("ts").display().to_string(),
        dir.join("t").display().to_string(),
    );
    train_classifier(&case("ts_clean.ts"), &ts);
    train_classifier(&case("text_bom.jsonl"), &text);
    for (model, f) in [
        (&ts, "ts_nolabel.ts"),
        (&text, "text_nolabel.jsonl"),
        (&text, "text_nolabel.csv"),
    ] {
        let p = dir.join(format!("{f}.csv"));
        ok(recur(&[
            "classify",
            "predict",
            "--checkpoint",
            model,
            "--data",
            &case(f),
            "--output",
            p.to_str().unwrap(),
        ]));
        let out = std::fs::read_to_string(&p).unwrap();
        assert_eq!(out.lines().count(), 3, "{f}: {out}");
        assert!(out.lines().nth(2).unwrap().starts_with("1,"), "{f}: {out}");
    }
    // Training and evaluation still need them.
    let o = recur(&[
        "classify",
        "eval",
        "--checkpoint",
        &ts,
        "--data",
        &case("ts_nolabel.ts"),
    ]);
    refused(&o, &["ts_nolabel.ts: line 4", "@classLabel false"]);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn one_character_text_in_eval_names_the_file() {
    let dir = temp("rd-onechar");
    let text = dir.join("abc.txt");
    std::fs::write(&text, "abc ".repeat(40)).unwrap();
    let lm = dir.join("lm").display().to_string();
    ok(recur(&[
        "train",
        "--text",
        text.to_str().unwrap(),
        "--hidden",
        "8",
        "--embed",
        "4",
        "--batch-size",
        "2",
        "--seq-len",
        "8",
        "--steps",
        "2",
        "--out",
        &lm,
    ]));
    let one = dir.join("one.txt");
    std::fs::write(&one, "\u{feff}a").unwrap();
    let o = recur(&["eval", "--checkpoint", &lm, "--text", one.to_str().unwrap()]);
    refused(&o, &["one.txt: the text has 1 character", "at least 2"]);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn test_file_of_another_kind_names_both_files() {
    let dir = temp("rd-kinds");
    let out = dir.join("r").display().to_string();
    let o = recur(&[
        "classify",
        "train",
        "--data",
        &case("ts_clean.ts"),
        "--test",
        &case("text_bom.jsonl"),
        "--epochs",
        "1",
        "--out",
        &out,
    ]);
    refused(
        &o,
        &[
            "ts_clean.ts holds sequences of 1 features",
            "text_bom.jsonl holds texts",
        ],
    );
    let _ = std::fs::remove_dir_all(dir);
}
