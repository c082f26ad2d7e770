//! `recur classify` on regression data (numeric targets): training a regressor, its report,
//! eval and predict on its checkpoint, resuming, and a bad target value.

mod common;
use common::{recur, temp};
use std::path::Path;

/// `n` series of 10 steps whose target is twice their mean, as a `.ts` with `@targetlabel true`.
fn write_regression_ts(path: &Path, n: usize, seed: u64) {
    let mut text = String::from(
        "# synthetic\n@problemName Twice\n@univariate true\n@targetlabel true\n@data\n",
    );
    let mut s = seed;
    let mut next = || {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((s >> 33) as f64 / (1u64 << 31) as f64) - 0.5
    };
    for _ in 0..n {
        let level = 2.0 * next();
        let v: Vec<f64> = (0..10).map(|_| level + 0.2 * next()).collect();
        let mean = v.iter().sum::<f64>() / 10.0;
        let cells: Vec<String> = v.iter().map(|x| format!("{x:.4}")).collect();
        text += &format!("{}:{}\n", cells.join(","), 2.0 * mean);
    }
    std::fs::write(path, text).unwrap();
}

fn train_args<'a>(data: &'a str, test: &'a str, out: &'a str) -> Vec<&'a str> {
    vec![
        "classify",
        "train",
        "--data",
        data,
        "--test",
        test,
        "--hidden",
        "8",
        "--steps",
        "120",
        "--batch-size",
        "8",
        "--lr",
        "0.01",
        "--out",
        out,
        "--quiet",
        "--threads",
        "2",
    ]
}

#[test]
fn regression_train_eval_predict() {
    let dir = temp("regress");
    let (train, test) = (dir.join("train.ts"), dir.join("test.ts"));
    write_regression_ts(&train, 60, 1);
    write_regression_ts(&test, 20, 2);
    let (train, test) = (train.display().to_string(), test.display().to_string());
    let out = dir.join("run").display().to_string();
    let o = recur(&train_args(&train, &test, &out));
    let (stdout, stderr) = (
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr),
    );
    assert!(o.status.success(), "{stderr}");
    assert!(stderr.contains("training a regressor"), "{stderr}");
    assert!(
        stdout.contains("RMSE") && stdout.contains("baseline"),
        "{stdout}"
    );
    let config: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(Path::new(&out).join("config.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(config["task"], "regress");
    assert!(config["model"]["target"]["std"].as_f64().unwrap() > 0.0);
    let report: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(Path::new(&out).join("report.json")).unwrap(),
    )
    .unwrap();
    let (rmse, baseline) = (
        report["rmse"].as_f64().unwrap(),
        report["baseline_rmse"].as_f64().unwrap(),
    );
    assert!(rmse < 0.5 * baseline, "RMSE {rmse}, baseline {baseline}");

    let e = recur(&[
        "classify",
        "eval",
        "--checkpoint",
        &out,
        "--data",
        &test,
        "--json",
    ]);
    assert!(e.status.success(), "{}", String::from_utf8_lossy(&e.stderr));
    let r: serde_json::Value = serde_json::from_slice(&e.stdout).unwrap();
    assert_eq!(r["count"], 20);
    assert!((r["rmse"].as_f64().unwrap() - rmse).abs() < 1e-6);

    // Predict reads a file without targets.
    let bare = dir.join("bare.ts");
    std::fs::write(
        &bare,
        "@univariate true\n@classLabel false\n@data\n1,1,1,1\n-1,-1,-1\n",
    )
    .unwrap();
    let csv = dir.join("p.csv");
    let p = recur(&[
        "classify",
        "predict",
        "--checkpoint",
        &out,
        "--data",
        &bare.display().to_string(),
        "--output",
        &csv.display().to_string(),
    ]);
    assert!(p.status.success(), "{}", String::from_utf8_lossy(&p.stderr));
    let rows: Vec<String> = std::fs::read_to_string(&csv)
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    assert_eq!(rows[0], "index,value");
    assert_eq!(rows.len(), 3);
    let value = |r: &str| r.split(',').nth(1).unwrap().parse::<f64>().unwrap();
    assert!(value(&rows[1]) > value(&rows[2]), "{rows:?}");

    // The checkpoint opens as a regressor.
    match recur::checkpoint::open(Path::new(&out)).unwrap() {
        recur::checkpoint::Checkpoint::Regressor(m) => assert!(m.config().target.is_some()),
        _ => panic!("not opened as a regressor"),
    }
    // A classifier's data on a regressor: one line.
    let labelled = dir.join("labelled.ts");
    std::fs::write(&labelled, "@data\n1,2,3:a\n").unwrap();
    let e = recur(&[
        "classify",
        "eval",
        "--checkpoint",
        &out,
        "--data",
        &labelled.display().to_string(),
    ]);
    let err = String::from_utf8_lossy(&e.stderr);
    assert_eq!(e.status.code(), Some(2), "{err}");
    assert!(
        err.contains("regressor") && err.contains("labelled.ts"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn regression_resumes_bit_for_bit() {
    let dir = temp("regress-resume");
    let (train, test) = (dir.join("train.ts"), dir.join("test.ts"));
    write_regression_ts(&train, 40, 3);
    write_regression_ts(&test, 10, 4);
    let (train, test) = (train.display().to_string(), test.display().to_string());
    let (whole, parts) = (
        dir.join("whole").display().to_string(),
        dir.join("parts").display().to_string(),
    );
    assert!(recur(&train_args(&train, &test, &whole)).status.success());
    let mut args = train_args(&train, &test, &parts);
    args.extend(["--stop-after", "37"]);
    let o = recur(&args);
    assert!(String::from_utf8_lossy(&o.stderr).contains("stopped at step 37"));
    let o = recur(&[
        "classify",
        "train",
        "--resume",
        &parts,
        "--quiet",
        "--threads",
        "1",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for f in ["model.safetensors", "optim.safetensors", "report.json"] {
        let (a, b) = (
            std::fs::read(Path::new(&whole).join(f)).unwrap(),
            std::fs::read(Path::new(&parts).join(f)).unwrap(),
        );
        assert!(a == b, "{f} differs");
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_bad_target_gets_one_line_with_file_and_line() {
    let dir = temp("regress-bad");
    let out = dir.join("out").display().to_string();
    let w = |name: &str, text: &str| {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p.display().to_string()
    };
    let cases = [
        (
            w(
                "word.ts",
                "@targetlabel true\n@data\n1,2,3:0.5\n1,2,3:high\n",
            ),
            ["word.ts: line 4", "target", "\"high\" is not a number"],
        ),
        (
            w("inf.ts", "@targetLabel true\n@data\n1,2,3:inf\n"),
            ["inf.ts: line 3", "target", "not a finite number"],
        ),
        (
            w(
                "t.jsonl",
                "{\"text\": \"ab\", \"target\": 1.5}\n{\"text\": \"cd\", \"target\": \"x\"}\n",
            ),
            ["t.jsonl: line 2", "target", "not a number"],
        ),
        (
            w("f.csv", "seq,target,x\n0,1.5,1\n1,oops,2\n"),
            ["f.csv: row 3", "target", "not a number"],
        ),
    ];
    for (path, needles) in cases {
        let o = recur(&["classify", "train", "--data", &path, "--out", &out]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{path}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
        for n in needles {
            assert!(err.contains(n), "{err:?} lacks {n:?}");
        }
        assert!(!Path::new(&out).exists());
    }
    let _ = std::fs::remove_dir_all(dir);
}
