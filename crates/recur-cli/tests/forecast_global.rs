//! `recur forecast` on many series (`--id`), with known-future covariates and calendar features,
//! and `recur forecast predict` from a saved forecaster: end to end, bad input included.

mod common;
use common::{recur, temp};
use std::path::Path;

/// Writes `text` as `name` in `dir`, returning its path as a string.
fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

/// The long-format fixture: the last 60 months of six shipped monthly series (36 for shampoo),
/// `series,month,value` (scripts/make_forecast_panel.py).
fn panel_fixture() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/forecast/monthly_panel.csv")
        .display()
        .to_string()
}

/// A monthly series with a season and a trend, `n` points from January 2000.
fn monthly_csv(n: usize) -> String {
    let mut text = String::from("date,value\n");
    for t in 0..n {
        let season = [
            0.0, 3.0, 8.0, 5.0, 1.0, -2.0, -6.0, -4.0, -1.0, 2.0, 4.0, 1.0,
        ][t % 12];
        let v = 100.0 + 0.5 * t as f64 + season;
        text += &format!("{}-{:02}-01,{v}\n", 2000 + t / 12, t % 12 + 1);
    }
    text
}

/// `2020-01-01` plus `d` days.
fn day(d: usize) -> String {
    let lengths = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31, 31];
    let (mut month, mut rest) = (0, d);
    while rest >= lengths[month] {
        rest -= lengths[month];
        month += 1;
    }
    format!("2020-{:02}-{:02}", month + 1, rest + 1)
}

fn succeeded(o: &std::process::Output) {
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

/// One line on stderr, status 2, holding every needle.
fn refused_with(o: &std::process::Output, needles: &[&str]) {
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    for n in needles {
        assert!(err.contains(n), "{err:?} lacks {n:?}");
    }
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// `recur forecast` with a small, quick model: `args` then the quick flags.
fn quick(args: &[&str]) -> std::process::Output {
    let mut all = vec!["forecast"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--epochs", "3", "--hidden", "8", "--no-ets", "--quiet"]);
    recur(&all)
}

fn predict(args: &[&str]) -> std::process::Output {
    let mut all = vec!["forecast", "predict"];
    all.extend_from_slice(args);
    recur(&all)
}

#[test]
fn issue_14_predict_forecasts_new_history_as_the_run_did() {
    let dir = temp("fc-predict");
    let csv = write(&dir, "m.csv", &monthly_csv(96));
    let run = dir.join("run").display().to_string();
    succeeded(&quick(&[
        "--csv",
        &csv,
        "--target",
        "value",
        "--transform",
        "diff",
        "--out",
        &run,
    ]));
    // The history up to the test span (72 of 96 months): the run's first origin.
    let history: String = monthly_csv(96)
        .lines()
        .take(73)
        .map(|l| l.to_string() + "\n")
        .collect();
    let new = write(&dir, "new.csv", &history);
    let o = predict(&["--checkpoint", &run, "--csv", &new]);
    succeeded(&o);
    let out = String::from_utf8(o.stdout).unwrap();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[0],
        "time,forecast,lower_80,upper_80,lower_95,upper_95"
    );
    assert_eq!(lines.len(), 13, "{out}");
    assert!(lines[1].starts_with("2006-01-01,") && lines[12].starts_with("2006-12-01,"));
    // The same numbers as the run's forecast of its test span from that origin.
    let run_csv = std::fs::read_to_string(Path::new(&run).join("forecast.csv")).unwrap();
    for (p, r) in lines[1..].iter().zip(run_csv.lines().skip(1)) {
        let p: Vec<&str> = p.split(',').collect();
        let r: Vec<&str> = r.split(',').collect();
        assert_eq!(p[1], r[2], "forecast");
        assert_eq!(&p[2..], &r[r.len() - 4..], "intervals");
    }
    // Into a file; an existing one is replaced only with --overwrite.
    let file = dir.join("next.csv").display().to_string();
    succeeded(&predict(&[
        "--checkpoint",
        &run,
        "--csv",
        &new,
        "--out",
        &file,
    ]));
    assert_eq!(std::fs::read_to_string(&file).unwrap(), out);
    refused_with(
        &predict(&["--checkpoint", &run, "--csv", &new, "--out", &file]),
        &["next.csv", "--overwrite"],
    );
    succeeded(&predict(&[
        "--checkpoint",
        &run,
        "--csv",
        &new,
        "--out",
        &file,
        "--overwrite",
    ]));
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn issue_14_predict_refuses_what_it_cannot_read_in_one_line() {
    let dir = temp("fc-predict-bad");
    let csv = write(&dir, "m.csv", &monthly_csv(96));
    let run = dir.join("run").display().to_string();
    succeeded(&quick(&[
        "--csv",
        &csv,
        "--target",
        "value",
        "--transform",
        "diff",
        "--out",
        &run,
    ]));
    let lm = dir.join("lm").display().to_string();
    succeeded(&common::recur_owned(&common::tiny_train(&lm, 2)));
    let short: String = monthly_csv(10);
    let short = write(&dir, "short.csv", &short);
    let other = write(&dir, "other.csv", "date,sales\n2000-01-01,1\n");
    let missing = dir.join("nowhere").display().to_string();
    let cases: [(&str, &str, &[&str]); 4] = [
        (&lm, &csv, &["config.json", "not a forecaster checkpoint"]),
        (
            &run,
            &other,
            &["other.csv", "no column 'value'", "date, sales"],
        ),
        (
            &run,
            &short,
            &[
                "short.csv",
                "history: 10 points",
                "the model needs at least",
            ],
        ),
        (
            &missing,
            &csv,
            &["--checkpoint", "nowhere", "no such directory"],
        ),
    ];
    for (checkpoint, new, needles) in cases {
        refused_with(
            &predict(&["--checkpoint", checkpoint, "--csv", new]),
            needles,
        );
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn issue_14_a_long_file_trains_one_model_and_reports_each_series() {
    let dir = temp("fc-panel");
    let run = dir.join("run");
    let out = run.display().to_string();
    let o = quick(&[
        "--csv",
        &panel_fixture(),
        "--target",
        "value",
        "--id",
        "series",
        "--transform",
        "diff",
        "--out",
        &out,
    ]);
    succeeded(&o);
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        stdout.contains("6 series") && stdout.contains("MASE by series"),
        "{stdout}"
    );
    // Test spans per series: 6 of 60 months, 4 of shampoo's 36; one horizon for all (4).
    let csv = std::fs::read_to_string(run.join("forecast.csv")).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines[0],
        "id,time,actual,model,naive,seasonal_naive,drift,lower_80,upper_80,lower_95,upper_95"
    );
    assert_eq!(lines.len(), 1 + 5 * 6 + 4);
    assert!(lines[1].starts_with("airline,1960-07,"), "{}", lines[1]);
    assert_eq!(
        lines.iter().filter(|l| l.starts_with("shampoo,")).count(),
        4
    );
    let m = json(&run.join("metrics.json"));
    assert_eq!(
        (m["series_count"].as_u64(), m["id_column"].as_str()),
        (Some(6), Some("series"))
    );
    let series = m["series"].as_array().unwrap();
    let mean = series
        .iter()
        .map(|s| s["metrics"]["model"]["mase"].as_f64().unwrap())
        .sum::<f64>()
        / 6.0;
    assert!((m["metrics"]["model"]["mase"].as_f64().unwrap() - mean).abs() < 1e-12);
    assert_eq!(series[4]["id"], "shampoo");
    assert_eq!(series[4]["test_points"], 4);
    assert_eq!(m["settings"]["horizon"], 4);
    let config = json(&run.join("config.json"));
    assert_eq!(config["data"]["id"], "series");
    assert_eq!(config["series"].as_array().unwrap().len(), 6);
    let svg = std::fs::read_to_string(run.join("forecast.svg")).unwrap();
    assert!(svg.contains("airline: forecast of value") && svg.contains("best baseline"));
    // The saved model forecasts every series of a new long file; a series it was not trained
    // on is scaled by its own history and has no intervals.
    let mut text = std::fs::read_to_string(panel_fixture()).unwrap();
    for t in 0..40 {
        text += &format!("new,{}-{:02},{}\n", 2001 + t / 12, t % 12 + 1, 50 + t % 12);
    }
    let new = write(&dir, "new.csv", &text);
    let o = predict(&["--checkpoint", &out, "--csv", &new]);
    succeeded(&o);
    let stdout = String::from_utf8(o.stdout).unwrap();
    let rows: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        rows[0],
        "id,time,forecast,lower_80,upper_80,lower_95,upper_95"
    );
    assert_eq!(rows.len(), 1 + 7 * 4);
    assert!(rows[1].starts_with("airline,1961-01,"), "{}", rows[1]);
    assert!(
        rows.last().unwrap().starts_with("new,2004-08,") && rows.last().unwrap().ends_with(",,,,")
    );
    assert!(String::from_utf8_lossy(&o.stderr).contains("series 'new'"));
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn issue_14_a_long_file_run_resumes_bit_for_bit() {
    let dir = temp("fc-panel-resume");
    let fixture = panel_fixture();
    let run = |out: &Path, extra: &[&str]| {
        let out = out.display().to_string();
        let mut args = vec![
            "--csv", &fixture, "--target", "value", "--id", "series", "--out", &out,
        ];
        args.extend_from_slice(extra);
        quick(&args)
    };
    let (whole, parts) = (dir.join("whole"), dir.join("parts"));
    succeeded(&run(&whole, &[]));
    let o = run(&parts, &["--stop-after", "40"]);
    succeeded(&o);
    assert!(String::from_utf8_lossy(&o.stderr).contains("stopped at step"));
    let parts_dir = parts.display().to_string();
    succeeded(&recur(&["forecast", "--resume", &parts_dir, "--quiet"]));
    for f in [
        "metrics.json",
        "forecast.csv",
        "model.safetensors",
        "config.json",
    ] {
        assert!(
            std::fs::read(whole.join(f)).unwrap() == std::fs::read(parts.join(f)).unwrap(),
            "{f} differs"
        );
    }
    let _ = std::fs::remove_dir_all(dir);
}

/// A daily series whose sales rise on weekends and on promotion days, `n` days from 2020-01-01:
/// `date,sales,promo`.
fn daily_promotions(n: usize) -> String {
    let mut text = String::from("date,sales,promo\n");
    let mut state = 99u64;
    for d in 0..n {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1);
        let promo = u8::from(state >> 62 == 0);
        // 2020-01-04 was a Saturday.
        let weekend = u8::from((d + 2) % 7 >= 5);
        let sales = 20.0 + 6.0 * f64::from(promo) + 3.0 * f64::from(weekend);
        text += &format!("{},{sales},{promo}\n", day(d));
    }
    text
}

#[test]
fn issue_14_future_covariates_and_calendar_features_are_read_at_the_forecast_steps() {
    let dir = temp("fc-future");
    let csv = write(&dir, "d.csv", &daily_promotions(200));
    let run = dir.join("run");
    let out = run.display().to_string();
    succeeded(&quick(&[
        "--csv",
        &csv,
        "--target",
        "sales",
        "--future-covariates",
        "promo",
        "--calendar",
        "--transform",
        "none",
        "--out",
        &out,
    ]));
    let config = json(&run.join("config.json"));
    assert_eq!(config["model"]["future_steps"], true);
    assert_eq!(
        config["settings"]["calendar"],
        serde_json::json!(["month-of-year", "day-of-week"])
    );
    // The target, promo, two sines and cosines, and the flag of a step ahead.
    assert_eq!(config["model"]["inputs"], 7);
    assert_eq!(
        config["data"]["future_covariates"],
        serde_json::json!(["promo"])
    );
    // Without the rows ahead there is no promo to read.
    let history: String = daily_promotions(200);
    let new = write(&dir, "new.csv", &history);
    refused_with(
        &predict(&["--checkpoint", &out, "--csv", &new]),
        &["new.csv", "future covariates (promo)", "target empty"],
    );
    // Five planned days ahead: five forecasts, dated as the rows.
    let mut ahead = history.clone();
    for d in 200..205 {
        ahead += &format!("{},,{}\n", day(d), d % 2);
    }
    let new = write(&dir, "ahead.csv", &ahead);
    let o = predict(&["--checkpoint", &out, "--csv", &new]);
    succeeded(&o);
    let rows: Vec<String> = String::from_utf8(o.stdout)
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    assert_eq!(rows.len(), 6, "{rows:?}");
    assert!(rows[1].starts_with(&format!("{},", day(200))));
    assert!(rows[5].starts_with(&format!("{},", day(204))));
    // An empty promo in a row ahead is named.
    let bad = write(&dir, "bad.csv", &(history + &format!("{},,\n", day(200))));
    refused_with(
        &predict(&["--checkpoint", &out, "--csv", &bad]),
        &["bad.csv", "row 202, column 'promo'"],
    );
    // Calendar features alone: the days ahead are dated by the frequency.
    let cal = dir.join("cal").display().to_string();
    succeeded(&quick(&[
        "--csv",
        &csv,
        "--target",
        "sales",
        "--calendar",
        "--transform",
        "none",
        "--out",
        &cal,
    ]));
    let o = predict(&["--checkpoint", &cal, "--csv", &csv]);
    succeeded(&o);
    let out = String::from_utf8(o.stdout).unwrap();
    assert_eq!(out.lines().count(), 1 + 14);
    assert!(out
        .lines()
        .nth(1)
        .unwrap()
        .starts_with(&format!("{},", day(200))));
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn issue_14_new_flags_are_checked_in_one_line() {
    let dir = temp("fc-global-bad");
    let mut yearly = String::from("year,y\n");
    for y in 1900..1990 {
        yearly += &format!("{y},{}\n", (y % 7) as f64 + 0.5 * (y - 1900) as f64);
    }
    let yearly = write(&dir, "yearly.csv", &yearly);
    let out = dir.join("o").display().to_string();
    let cases: [(Vec<&str>, &[&str]); 4] = [
        (
            vec!["--csv", &yearly, "--target", "y", "--calendar"],
            &["--calendar", "yearly"],
        ),
        (
            vec!["--csv", &yearly, "--target", "y", "--id", "shop"],
            &["yearly.csv", "no column 'shop'"],
        ),
        (
            vec![
                "--csv",
                &yearly,
                "--target",
                "y",
                "--future-covariates",
                "x",
            ],
            &["yearly.csv", "no column 'x'"],
        ),
        (
            vec!["--csv", &yearly, "--target", "y", "--id", "y"],
            &["--id", "'y'"],
        ),
    ];
    for (mut args, needles) in cases {
        args.extend_from_slice(&["--out", &out]);
        refused_with(&quick(&args), needles);
        assert!(!Path::new(&out).exists());
    }
    let _ = std::fs::remove_dir_all(dir);
}
