//! `recur gradients` and `recur task` end to end: the chart, the numbers, a tiny training run,
//! its checkpoint measured again, and bad input answered with one line and status 2.

mod common;
use common::{recur, temp};
use std::path::Path;

fn ok(args: &[&str]) -> String {
    let o = recur(args);
    assert!(
        o.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

/// The command fails with status 2 and one line on stderr that contains `needle`.
fn refused(args: &[&str], needle: &str) {
    let o = recur(args);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
    assert!(err.contains(needle), "{args:?}: {err}");
}

#[test]
fn gradients_writes_a_log_scale_chart_a_csv_and_a_table() {
    let dir = temp("gradients");
    let out = dir.join("g").display().to_string();
    let table = ok(&[
        "gradients",
        "--cell",
        "rnn,lstm",
        "--hidden",
        "16",
        "--length",
        "30",
        "--threads",
        "1",
        "--out",
        &out,
    ]);
    assert!(table.contains("rnn (untrained)") && table.contains("lstm (untrained)"));
    let svg = std::fs::read_to_string(Path::new(&out).join("gradients.svg")).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("lstm (untrained)"));
    assert!(svg.contains("distance from the loss"), "x axis label");
    assert!(
        svg.contains("1e0") && svg.contains("log scale"),
        "powers of ten on y"
    );
    let csv = std::fs::read_to_string(Path::new(&out).join("gradients.csv")).unwrap();
    let rows: Vec<&str> = csv.lines().collect();
    assert_eq!(rows[0], "model,layer,distance,step,h_norm,c_norm");
    assert_eq!(rows.len(), 1 + 2 * 30);
    // Distance 0 is the loss step, where the gradient is v with |v| = 1.
    let first: Vec<&str> = rows[1].split(',').collect();
    assert_eq!((first[2], first[3]), ("0", "29"));
    assert!((first[4].parse::<f64>().unwrap() - 1.0).abs() < 1e-5);
    let json: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(Path::new(&out).join("gradients.json")).unwrap(),
    )
    .unwrap();
    let rnn = &json[0]["report"];
    assert!(rnn["first_over_last"].as_f64().unwrap() < 1e-3);
    assert!(rnn["c_norms"].is_null() && !json[1]["report"]["c_norms"].is_null());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_task_trains_saves_and_its_checkpoint_is_measured() {
    let dir = temp("task");
    let out = dir.join("first").display().to_string();
    let small = |steps: &'static str, every: &'static str| {
        [
            "--length",
            "5",
            "--hidden",
            "16",
            "--steps",
            steps,
            "--validate-every",
            every,
            "--eval-size",
            "200",
            "--threads",
            "1",
            "--quiet",
        ]
    };
    let mut args = vec!["task", "first", "--cell", "gru", "--out", &out];
    args.extend(small("300", "100"));
    let table = ok(&args);
    assert!(table.contains("gru"), "{table}");
    let report: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(Path::new(&out).join("report.json")).unwrap(),
    )
    .unwrap();
    assert!(
        report["test_loss"].as_f64().unwrap() < 0.5 * report["baseline_loss"].as_f64().unwrap()
    );
    for f in [
        "config.json",
        "model.safetensors",
        "metrics.jsonl",
        "loss.svg",
    ] {
        assert!(Path::new(&out).join(f).is_file(), "{f}");
    }
    let g = dir.join("g").display().to_string();
    let table = ok(&[
        "gradients",
        "--checkpoint",
        &out,
        "--length",
        "5",
        "--out",
        &g,
        "--threads",
        "1",
    ]);
    assert!(table.contains("gru (trained on first"), "{table}");
    // compare: one checkpoint per cell and the curves on one chart.
    let cmp = dir.join("cmp").display().to_string();
    let mut args = vec![
        "task", "compare", "first", "--cells", "rnn,gru", "--out", &cmp,
    ];
    args.extend(small("50", "50"));
    let table = ok(&args);
    assert!(table.contains("rnn") && table.contains("gru"), "{table}");
    for f in [
        "rnn/model.safetensors",
        "gru/config.json",
        "report.json",
        "curves.svg",
    ] {
        assert!(Path::new(&cmp).join(f).is_file(), "{f}");
    }
    let svg = std::fs::read_to_string(Path::new(&cmp).join("curves.svg")).unwrap();
    assert!(svg.contains("remembers nothing"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_input_gets_one_line_and_status_2() {
    let dir = temp("gradients-bad");
    let out = dir.join("o").display().to_string();
    refused(
        &["gradients", "--length", "0", "--out", &out],
        "--length must be at least 2",
    );
    refused(
        &["gradients", "--cell", "rnn,transformer", "--out", &out],
        "cell 'transformer'",
    );
    refused(&["gradients", "--hidden", "0", "--out", &out], "--hidden");
    refused(
        &["gradients", "--threshold", "2", "--out", &out],
        "--threshold",
    );
    refused(
        &[
            "gradients",
            "--checkpoint",
            "/nonexistent/ck",
            "--out",
            &out,
        ],
        "no such checkpoint directory",
    );
    refused(
        &["task", "adding", "--length", "0", "--out", &out],
        "--length must be at least 2",
    );
    refused(
        &["task", "first", "--length", "0", "--out", &out],
        "--length must be at least 1",
    );
    refused(&["task", "adder", "--out", &out], "unknown task `adder`");
    refused(&["task", "compare", "--out", &out], "needs a task");
    refused(
        &["task", "adding", "--cell", "elman", "--out", &out],
        "cell 'elman'",
    );
    refused(
        &["task", "copy", "--hidden", "0", "--out", &out],
        "--hidden must be at least 1",
    );
    refused(
        &["task", "copy", "--lr", "-1", "--out", &out],
        "--lr must be > 0",
    );
    refused(
        &["task", "copy", "--steps", "0", "--out", &out],
        "--steps must be at least 1",
    );
    refused(&["task", "adding", "copy", "--out", &out], "only `compare`");
    assert!(!Path::new(&out).exists(), "no output left behind");
    let _ = std::fs::remove_dir_all(&dir);
}
