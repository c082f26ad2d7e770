//! `recur forecast` end to end: the shipped series, the baselines beaten, outputs written, and
//! malformed input named by row and column.

mod common;
use common::{recur, temp};
use std::path::Path;

fn data(name: &str) -> String {
    common::data(&format!("timeseries/{name}"))
}

fn rmse(metrics: &serde_json::Value, method: &str) -> f64 {
    metrics[method]["rmse"].as_f64().unwrap()
}

#[test]
fn airline_last_24_months_beats_every_baseline() {
    let dir = temp("airline");
    let out = dir.join("run").display().to_string();
    let o = recur(&[
        "forecast",
        "--csv",
        &data("airline_passengers_monthly.csv"),
        "--target",
        "Passengers",
        "--time",
        "Date",
        "--test-size",
        "24",
        "--horizon",
        "24",
        "--lookback",
        "24",
        "--log",
        "--seasonal-diff",
        "--out",
        &out,
        "--json",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let m: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    for baseline in ["naive", "seasonal_naive", "drift"] {
        assert!(
            rmse(&m, "model") < rmse(&m, baseline),
            "model {} vs {baseline} {}",
            rmse(&m, "model"),
            rmse(&m, baseline)
        );
    }
    let csv = std::fs::read_to_string(Path::new(&out).join("forecast.csv")).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "time,actual,model,naive,seasonal_naive,drift");
    assert_eq!(lines.len(), 25);
    assert!(lines[1].starts_with("1959-01,360,"));
    for f in [
        "forecast.svg",
        "metrics.json",
        "config.json",
        "model.safetensors",
    ] {
        assert!(Path::new(&out).join(f).is_file(), "{f}");
    }
    // The saved forecaster forecasts new history from Rust as the run did: the first origin's
    // 24 values from the 120 points before the test span.
    let loaded = recur::forecast::model::load(Path::new(&out)).unwrap();
    let series = recur::forecast::read_series(
        Path::new(&data("airline_passengers_monthly.csv")),
        &["Date".to_string()],
        "Passengers",
        &[],
    )
    .unwrap();
    let again = loaded
        .forecast(&recur::Threads::single(), &series.target[..120], &[])
        .unwrap();
    for (line, v) in lines[1..].iter().zip(&again) {
        let model: f64 = line.split(',').nth(2).unwrap().parse().unwrap();
        assert!((model - v).abs() < 1e-3, "{line} vs {v}");
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn malformed_series_get_one_line_naming_row_and_column() {
    let dir = temp("bad");
    let out = dir.join("out").display().to_string();
    let write = |name: &str, text: &str| {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p.display().to_string()
    };
    let cases = [
        (
            write("empty_cell.csv", "t,y\n1,3\n2,\n3,4\n"),
            "y",
            vec!["row 3, column 'y'", "empty"],
        ),
        (
            write("text.csv", "t,y\n1,3\n2,n/a\n"),
            "y",
            vec!["row 3, column 'y'", "\"n/a\""],
        ),
        (
            write("ragged.csv", "t,y\n1,3\n2,4,5\n"),
            "y",
            vec!["row 3 has 3 fields"],
        ),
        (write("nocol.csv", "t,y\n1,3\n"), "z", vec!["no column 'z'"]),
        (
            write("short.csv", "t,y\n1,3\n2,4\n3,5\n"),
            "y",
            vec!["too few"],
        ),
    ];
    for (csv, target, needles) in cases {
        let o = recur(&[
            "forecast",
            "--csv",
            &csv,
            "--target",
            target,
            "--test-size",
            "1",
            "--out",
            &out,
        ]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{csv}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
        for n in needles {
            assert!(err.contains(n), "{err:?} lacks {n:?}");
        }
        assert!(!Path::new(&out).exists());
    }
    let _ = std::fs::remove_dir_all(dir);
}
