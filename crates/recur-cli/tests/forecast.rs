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
    // The AutoETS baseline and the intervals (80 % and 95 % by default) follow the first
    // columns, which are unchanged.
    assert_eq!(
        lines[0],
        "time,actual,model,naive,seasonal_naive,drift,ets,lower_80,upper_80,lower_95,upper_95"
    );
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
    // And its 80 % interval is the run's (one origin: row h is horizon step h).
    let (_, bands) = loaded
        .forecast_intervals(&recur::Threads::single(), &series.target[..120], &[])
        .unwrap();
    assert_eq!(bands.len(), 2);
    for (h, line) in lines[1..].iter().enumerate() {
        let cells: Vec<f64> = line
            .split(',')
            .skip(7)
            .map(|x| x.parse().unwrap())
            .collect();
        assert!((cells[0] - bands[0].1[h]).abs() < 1e-3, "{line}");
        assert!((cells[1] - bands[0].2[h]).abs() < 1e-3, "{line}");
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

/// Writes `text` as `name` in `dir`, returning its path as a string.
fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

/// A monthly series with a season and a trend, `n` points from January 2000: (date, value).
fn monthly(n: usize) -> Vec<(String, f64)> {
    (0..n)
        .map(|t| {
            let season = [
                0.0, 3.0, 8.0, 5.0, 1.0, -2.0, -6.0, -4.0, -1.0, 2.0, 4.0, 1.0,
            ][t % 12];
            (
                format!("{}-{:02}-01", 2000 + t / 12, t % 12 + 1),
                100.0 + 0.5 * t as f64 + season,
            )
        })
        .collect()
}

/// `recur forecast` on `csv` with a small, quick model, `extra` flags after.
fn quick(csv: &str, target: &str, out: &str, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "forecast", "--csv", csv, "--target", target, "--epochs", "3", "--hidden", "8", "--no-ets",
        "--out", out,
    ];
    args.extend_from_slice(extra);
    recur(&args)
}

fn report(out: &str) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(Path::new(out).join("metrics.json")).unwrap())
        .unwrap()
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

#[test]
fn issue_14_the_period_comes_from_the_time_column_and_is_stored() {
    let dir = temp("fc-period");
    // Quoted header names, yearly: no season, seasonal naive is naive, MASE with m = 1.
    let mut text = String::from("\"YEAR\",\"SUNACTIVITY\"\r\n");
    for y in 1700..1790 {
        text += &format!("\"{y}\",{}\r\n", (y % 11) * 10 + 3);
    }
    let sun = write(&dir, "sun.csv", &text);
    let out = dir.join("sun").display().to_string();
    let o = quick(&sun, "SUNACTIVITY", &out, &["--time", "YEAR"]);
    succeeded(&o);
    let r = report(&out);
    assert_eq!(
        (r["frequency"].as_str(), r["period"].as_u64()),
        (Some("yearly"), Some(1))
    );
    let m = &r["metrics"];
    assert_eq!(m["naive"]["mae"], m["seasonal_naive"]["mae"]);
    let trials: Vec<&str> = r["transform_trials"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert!(!trials.iter().any(|t| t.contains("seasonal")), "{trials:?}");
    assert!(String::from_utf8_lossy(&o.stderr).contains("yearly data"));
    // An unnamed first column of daily dates, no --time: period 7, printed and in config.json.
    let mut text = String::from(",y\n");
    for d in 0..200 {
        let day = chrono_free_date(d);
        text += &format!(
            "{day},{}\n",
            10.0 + [0.0, 1.0, 3.0, 2.0, 5.0, -4.0, -6.0][d % 7]
        );
    }
    let daily = write(&dir, "daily.csv", &text);
    let out = dir.join("daily").display().to_string();
    let o = quick(&daily, "y", &out, &[]);
    succeeded(&o);
    assert!(String::from_utf8_lossy(&o.stdout).contains("period 7 (daily data)"));
    let config: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(Path::new(&out).join("config.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(config["period"], 7);
    assert_eq!(config["settings"]["period"], 7);
    assert_eq!(config["frequency"], "daily");
    // --period overrides.
    let out = dir.join("p").display().to_string();
    succeeded(&quick(&daily, "y", &out, &["--period", "14"]));
    assert_eq!(report(&out)["period"], 14);
    let _ = std::fs::remove_dir_all(dir);
}

/// `2020-01-01` plus `d` days, written without a date library.
fn chrono_free_date(d: usize) -> String {
    let lengths = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    let (mut month, mut day) = (0, d);
    while day >= lengths[month] {
        day -= lengths[month];
        month += 1;
    }
    format!("2020-{:02}-{:02}", month + 1, day + 1)
}

#[test]
fn issue_14_semicolons_gaps_and_bad_flags() {
    let dir = temp("fc-quirks");
    let rows = monthly(72);
    let mut semi = String::from("date;value\n");
    for (d, v) in &rows {
        semi += &format!("{d};{v}\n");
    }
    let semi = write(&dir, "semi.csv", &semi);
    let out = dir.join("semi").display().to_string();
    succeeded(&quick(&semi, "value", &out, &["--delimiter", ";"]));
    assert_eq!(report(&out)["period"], 12);
    // Without the flag the file has one column.
    let o = quick(&semi, "value", &dir.join("x").display().to_string(), &[]);
    refused_with(&o, &["semi.csv", "no column 'value'", "date;value"]);
    // Gaps: refused by default naming the first empty row and the flag; filled on request.
    let mut gaps = String::from("date,value\n");
    for (i, (d, v)) in rows.iter().enumerate() {
        if i == 30 || i == 31 || i == 50 {
            gaps += &format!("{d},\n");
        } else {
            gaps += &format!("{d},{v}\n");
        }
    }
    let gaps = write(&dir, "gaps.csv", &gaps);
    let o = quick(&gaps, "value", &dir.join("g0").display().to_string(), &[]);
    refused_with(&o, &["gaps.csv: row 32, column 'value'", "empty", "--fill"]);
    for fill in ["linear", "ffill", "drop"] {
        let out = dir.join(fill).display().to_string();
        let o = quick(&gaps, "value", &out, &["--fill", fill]);
        succeeded(&o);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.contains(if fill == "drop" {
                "3 rows"
            } else {
                "3 empty cells"
            }),
            "{err}"
        );
    }
    let csv = std::fs::read_to_string(dir.join("linear").join("forecast.csv")).unwrap();
    assert!(
        csv.starts_with(
            "time,actual,model,naive,seasonal_naive,drift,lower_80,upper_80,lower_95,upper_95\n"
        ),
        "{csv}"
    );
    // Bad flags: one line, status 2, naming the flag.
    let clean = write(
        &dir,
        "clean.csv",
        &std::fs::read_to_string(&semi).unwrap().replace(';', ","),
    );
    let out = dir.join("bad").display().to_string();
    for (flags, needle) in [
        (&["--delimiter", "ab"][..], "--delimiter"),
        (&["--fill", "mean"], "--fill"),
        (&["--transform", "sqrt"], "--transform"),
        (&["--level", "150"], "--level"),
        (&["--period", "1", "--seasonal-diff"], "--seasonal-diff"),
    ] {
        refused_with(&quick(&clean, "value", &out, flags), &[needle]);
        assert!(!Path::new(&out).exists());
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn issue_14_a_trending_series_does_not_revert_to_its_mean_at_the_defaults() {
    // A line with noise (a fixed pseudo-random sequence): the defaults must do at least as well
    // as the drift forecast, which is the right model here, and far better than the naive one.
    let dir = temp("fc-trend");
    let mut text = String::from("year,y\n");
    let mut state = 12345u64;
    for t in 0..160 {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let noise = ((state >> 33) as f64 / (1u64 << 31) as f64 - 0.5) * 2.0;
        text += &format!("{},{}\n", 1850 + t, 3.0 + 0.8 * t as f64 + noise);
    }
    let csv = write(&dir, "trend.csv", &text);
    let out = dir.join("o").display().to_string();
    let o = recur(&[
        "forecast", "--csv", &csv, "--target", "y", "--time", "year", "--out", &out, "--json",
    ]);
    succeeded(&o);
    let m: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let mae = |k: &str| m[k]["mae"].as_f64().unwrap();
    assert!(
        mae("model") <= 1.1 * mae("drift"),
        "model {} drift {}",
        mae("model"),
        mae("drift")
    );
    assert!(
        mae("model") < 0.5 * mae("naive"),
        "model {} naive {}",
        mae("model"),
        mae("naive")
    );
    assert!(report(&out)["transform"].as_str().unwrap().contains("diff"));
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn issue_14_intervals_are_written_scored_and_drawn() {
    let dir = temp("fc-intervals");
    let mut text = String::from("date,value\n");
    for (d, v) in monthly(96) {
        text += &format!("{d},{v}\n");
    }
    let csv = write(&dir, "m.csv", &text);
    let out = dir.join("o").display().to_string();
    succeeded(&recur(&[
        "forecast", "--csv", &csv, "--target", "value", "--time", "date", "--epochs", "3",
        "--hidden", "8", "--level", "50,90", "--out", &out,
    ]));
    let r = report(&out);
    let levels: Vec<f64> = r["intervals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["level"].as_f64().unwrap())
        .collect();
    assert_eq!(levels, [0.5, 0.9]);
    for iv in r["intervals"].as_array().unwrap() {
        let c = iv["coverage"].as_f64().unwrap();
        assert!(
            (0.0..=1.0).contains(&c) && iv["msis"].as_f64().unwrap() > 0.0,
            "{iv}"
        );
    }
    // AutoETS ranks with the others.
    assert!(r["metrics"]["ets"]["mase"].as_f64().unwrap().is_finite());
    assert_eq!(r["ranking_by_mase"].as_array().unwrap().len(), 5);
    let csv = std::fs::read_to_string(Path::new(&out).join("forecast.csv")).unwrap();
    let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
    assert_eq!(
        &header[header.len() - 4..],
        ["lower_50", "upper_50", "lower_90", "upper_90"]
    );
    for line in csv.lines().skip(1) {
        let v: Vec<f64> = line
            .split(',')
            .skip(1)
            .map(|x| x.parse().unwrap())
            .collect();
        let (f, k) = (v[1], v.len());
        assert!(
            v[k - 2] <= v[k - 4] && v[k - 4] <= f && f <= v[k - 3] && v[k - 3] <= v[k - 1],
            "{line}"
        );
    }
    let svg = std::fs::read_to_string(Path::new(&out).join("forecast.svg")).unwrap();
    assert!(
        svg.contains("90 % interval") && svg.contains("<polygon"),
        "no band drawn"
    );
    let _ = std::fs::remove_dir_all(dir);
}

/// `text` with every JSON field that holds a time measurement left out, for comparing runs.
fn without_timings(text: &str) -> String {
    text.split(['{', '}', ',', '\n'])
        .filter(|part| !part.contains("seconds") && !part.contains("elapsed_s"))
        .collect::<Vec<_>>()
        .join("|")
}

/// The outputs of two run directories are the same: byte for byte, and apart from time
/// measurements for the loop's records.
fn same_outputs(whole: &Path, parts: &Path) {
    for f in [
        "metrics.json",
        "forecast.csv",
        "model.safetensors",
        "optim.safetensors",
        "config.json",
    ] {
        let (a, b) = (
            std::fs::read(whole.join(f)).unwrap(),
            std::fs::read(parts.join(f)).unwrap(),
        );
        assert!(a == b, "{f} differs");
    }
    for f in ["state.json", "metrics.jsonl"] {
        let read = |d: &Path| without_timings(&std::fs::read_to_string(d.join(f)).unwrap());
        assert_eq!(read(whole), read(parts), "{f}");
    }
}

/// A monthly CSV of `n` points (`date,value`) written as `name` in `dir`.
fn monthly_csv(dir: &Path, name: &str, n: usize) -> String {
    let mut text = String::from("date,value\n");
    for (d, v) in monthly(n) {
        text += &format!("{d},{v}\n");
    }
    write(dir, name, &text)
}

/// `recur forecast --resume DIR` with `extra` flags after.
fn resume(dir: &Path, extra: &[&str]) -> std::process::Output {
    let dir = dir.display().to_string();
    let mut args = vec!["forecast", "--resume", &dir, "--quiet"];
    args.extend_from_slice(extra);
    recur(&args)
}

#[test]
fn forecast_interrupted_and_resumed_ends_bit_for_bit_as_the_whole_run() {
    let dir = temp("fc-resume");
    let csv = monthly_csv(&dir, "m.csv", 96);
    let run = |out: &Path, extra: &[&str]| {
        let out = out.display().to_string();
        let mut args = vec![
            "forecast",
            "--csv",
            &csv,
            "--target",
            "value",
            "--transform",
            "diff",
            "--epochs",
            "20",
            "--hidden",
            "8",
            "--no-ets",
            "--quiet",
            "--threads",
            "2",
            "--out",
            &out,
        ];
        args.extend_from_slice(extra);
        recur(&args)
    };
    let (whole, parts) = (dir.join("whole"), dir.join("parts"));
    succeeded(&run(&whole, &[]));
    let o = run(&parts, &["--stop-after", "13"]);
    succeeded(&o);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("stopped at step 13") && err.contains("--resume"),
        "{err}"
    );
    // The interrupted run's results are those of its best model so far, and it continues.
    assert!(parts.join("forecast.csv").is_file());
    let o = resume(&parts, &["--stop-after", "10"]);
    succeeded(&o);
    assert!(String::from_utf8_lossy(&o.stderr).contains("stopped at step 23"));
    succeeded(&resume(&parts, &[]));
    same_outputs(&whole, &parts);
    // An ended run has nothing to continue.
    refused_with(&resume(&parts, &[]), &["parts", "ended"]);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn forecast_auto_interrupted_across_trials_ends_bit_for_bit_as_the_whole_run() {
    let dir = temp("fc-resume-auto");
    let csv = monthly_csv(&dir, "m.csv", 96);
    let run = |out: &Path, extra: &[&str]| {
        let out = out.display().to_string();
        let mut args = vec![
            "forecast", "--csv", &csv, "--target", "value", "--epochs", "4", "--hidden", "8",
            "--no-ets", "--quiet", "--out", &out,
        ];
        args.extend_from_slice(extra);
        recur(&args)
    };
    let (whole, parts) = (dir.join("whole"), dir.join("parts"));
    succeeded(&run(&whole, &[]));
    let trials = report(&whole.display().to_string())["transform_trials"]
        .as_array()
        .unwrap()
        .len();
    assert!(trials >= 4, "{trials} transforms tried");
    // The steps each transform trained in the whole run.
    let steps = |t: &str| -> u64 {
        let text = std::fs::read_to_string(whole.join("trials").join(t).join("state.json"));
        let state: serde_json::Value = serde_json::from_str(&text.unwrap()).unwrap();
        state["loop"]["step"].as_u64().unwrap()
    };
    let (first, second) = (steps("none"), steps("diff"));
    // Stopped in the second transform: the first is kept finished, no results yet.
    let stop = (first + 3).to_string();
    let o = run(&parts, &["--stop-after", &stop]);
    succeeded(&o);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("stopped at step 3 of transform diff (transform 2 of"),
        "{err}"
    );
    assert!(parts.join("trials/none/model.safetensors").is_file());
    assert!(!parts.join("trials/diff").exists());
    assert!(!parts.join("forecast.csv").exists());
    // Continued over the next boundary and stopped again, then to the end.
    succeeded(&resume(&parts, &["--stop-after", &second.to_string()]));
    let kept = std::fs::read_dir(parts.join("trials")).unwrap().count();
    assert_eq!(kept, 2);
    succeeded(&resume(&parts, &[]));
    same_outputs(&whole, &parts);
    for t in ["none", "diff"] {
        let (a, b) = (whole.join("trials").join(t), parts.join("trials").join(t));
        assert_eq!(
            std::fs::read(a.join("model.safetensors")).unwrap(),
            std::fs::read(b.join("model.safetensors")).unwrap(),
            "trial {t}"
        );
    }
    let _ = std::fs::remove_dir_all(dir);
}

/// Every file under `dir` with its bytes, and the entries beside it: what a refused command
/// must leave as it was.
fn snapshot(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files = Vec::new();
    let parent = dir.parent().unwrap();
    for e in std::fs::read_dir(parent).unwrap() {
        files.push((e.unwrap().path().display().to_string(), Vec::new()));
    }
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                files.push((p.display().to_string(), std::fs::read(&p).unwrap()));
            }
        }
    }
    files.sort();
    files
}

#[test]
fn forecast_resume_refuses_what_it_cannot_continue_and_touches_nothing() {
    let dir = temp("fc-resume-bad");
    let csv = monthly_csv(&dir, "m.csv", 96);
    let out = dir.join("run");
    let o = quick(
        &csv,
        "value",
        &out.display().to_string(),
        &["--transform", "diff", "--stop-after", "2"],
    );
    succeeded(&o);
    let lm = dir.join("lm");
    succeeded(&common::recur_owned(&common::tiny_train(
        &lm.display().to_string(),
        2,
    )));
    let empty = dir.join("empty");
    std::fs::create_dir(&empty).unwrap();
    let cases: [(&Path, &[&str]); 3] = [
        (&lm, &["lm", "not a forecaster run", "\"char-lm\""]),
        (&dir.join("missing"), &["missing", "no such directory"]),
        (&empty, &["empty", "no forecaster run"]),
    ];
    for (target, needles) in cases {
        let before = snapshot(target);
        refused_with(&resume(target, &[]), needles);
        assert_eq!(snapshot(target), before, "{}", target.display());
    }
    // A changed CSV is refused, naming it.
    let text = std::fs::read_to_string(&csv).unwrap();
    std::fs::write(&csv, text.replace(",100.5\n", ",100.25\n")).unwrap();
    let before = snapshot(&out);
    refused_with(&resume(&out, &[]), &["m.csv", "changed", "same data"]);
    assert_eq!(snapshot(&out), before);
    // Flags belong to the saved run.
    refused_with(&resume(&out, &["--hidden", "4"]), &["--resume", "--hidden"]);
    let _ = std::fs::remove_dir_all(dir);
}
