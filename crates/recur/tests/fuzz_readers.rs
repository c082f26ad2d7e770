//! Seeded fuzzing of every data reader: a few thousand mutations of small well-formed `.ts`,
//! frames CSV, text CSV, JSON lines, forecast CSV and text files (byte flips, truncations,
//! inserted NaN, infinities and huge numbers, byte-order marks, quotes, duplicated and removed
//! lines). Every reader must return `Ok` or an `Err`, never panic. Runs in seconds; set
//! `RECUR_FUZZ_ROUNDS` for a longer run.

use recur::charlm::{data::read_text, Vocab};
use recur::classify::data::{read_dataset, read_unlabelled, Item};
use recur::forecast::pipeline::{run, ForecastSettings};
use recur::forecast::read_series;
use recur::{CellType, Rng, Threads};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

const TS: &str = "# a comment\n@problemName Toy\n@dimensions 2\n@equalLength false\n@classLabel true a b\n@data\n1,2,3,4:0.5,0.25,1,2:a\n5,6,7,NaN:1,2,3,NaN:b\n-1.5,2e3,0:3,4,5:a\n";
const FRAMES: &str = "seq,label,frame,x,y\ns0,up,0,0.1,1\ns0,up,1,0.2,2\ns1,down,1,3,4\ns1,down,0,5,6\ns2,up,0,7,8\n";
const TEXT_CSV: &str =
    "label,text\npos,\"great, film\"\nneg,\"awful \"\"plot\"\"\nreally\"\npos,fine\n";
const JSONL: &str = "{\"text\": \"great film\", \"label\": \"pos\"}\n{\"text\": \"awful\", \"label\": 1}\n{\"text\": \"ok\"}\n";
const TEXT: &str = "It was the best of times, it was the worst of times.\nÄ ü ß — 猫\n";

fn forecast_csv() -> String {
    let mut s = String::from("\"date\",value,x\r\n");
    for t in 0..36 {
        s += &format!(
            "{}-{:02},{},{}\r\n",
            2000 + t / 12,
            t % 12 + 1,
            100 + t * 3 % 17,
            t % 5
        );
    }
    s
}

const INSERTS: &[&str] = &[
    "NaN",
    "nan",
    "inf",
    "-inf",
    "1e39",
    "-3.5e38",
    "1e309",
    "1e-50",
    "\u{feff}",
    "\"",
    "\"\"",
    ",",
    ":",
    "\n",
    "\r\n",
    "@data",
    "@dimensions 0",
    "@classLabel false",
    "{",
    "}",
    "0",
    "-",
    "",
];

fn mutate(rng: &mut Rng, base: &str) -> Vec<u8> {
    let mut b = base.as_bytes().to_vec();
    for _ in 0..1 + rng.below(4) {
        match rng.below(8) {
            0 if !b.is_empty() => {
                let i = rng.below(b.len());
                b[i] ^= 1 << rng.below(8);
            }
            1 => b.truncate(rng.below(b.len() + 1)),
            2 | 3 => {
                let i = rng.below(b.len() + 1);
                let s = INSERTS[rng.below(INSERTS.len())].as_bytes();
                b.splice(i..i, s.iter().copied());
            }
            4 => b.splice(0..0, "\u{feff}".bytes()).for_each(drop),
            5 | 6 => {
                // Duplicate or remove a line.
                let text = String::from_utf8_lossy(&b).into_owned();
                let mut lines: Vec<&str> = text.split('\n').collect();
                let i = rng.below(lines.len());
                if rng.below(2) == 0 {
                    lines.insert(i, lines[i]);
                } else {
                    lines.remove(i);
                }
                b = lines.join("\n").into_bytes();
            }
            _ => {
                // Replace a number-looking run with an extreme value.
                if let Some(i) =
                    (0..b.len()).find(|&i| b[(i + rng.below(b.len())) % b.len()].is_ascii_digit())
                {
                    let i = (i + rng.below(b.len())) % b.len();
                    let s = ["NaN", "inf", "1e39", "-1e308", "3.4e38"][rng.below(5)].as_bytes();
                    b.splice(i..(i + 1).min(b.len()), s.iter().copied());
                }
            }
        }
    }
    b
}

fn settings() -> ForecastSettings {
    ForecastSettings {
        lookback: 6,
        horizon: 3,
        test_size: 6,
        period: 12,
        log: false,
        seasonal_diff: false,
        diff: false,
        val_frac: 0.2,
        cell: CellType::Gru,
        hidden: 2,
        layers: 1,
        epochs: 1,
        steps: None,
        time_budget: None,
        patience: 1,
        batch_size: 8,
        lr: 1e-2,
        seed: 1,
        calendar: Vec::new(),
        series_identity: false,
        series_transforms: Vec::new(),
    }
}

/// Runs `f`, failing the test with the input if it panics.
fn no_panic(what: &str, path: &Path, bytes: &[u8], f: impl FnOnce()) {
    if catch_unwind(AssertUnwindSafe(f)).is_err() {
        let keep = std::env::temp_dir().join(format!(
            "recur-fuzz-failure-{}",
            path.file_name().unwrap().to_string_lossy()
        ));
        let _ = std::fs::write(&keep, bytes);
        panic!(
            "{what} panicked on {} (input kept at {})",
            path.display(),
            keep.display()
        );
    }
}

#[test]
fn mutated_files_never_panic_a_reader() {
    let rounds: usize = std::env::var("RECUR_FUZZ_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(600);
    let dir: PathBuf = std::env::temp_dir().join(format!("recur-fuzz-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let fc = forecast_csv();
    let bases: [(&str, &str); 6] = [
        ("ts", TS),
        ("frames.csv", FRAMES),
        ("text.csv", TEXT_CSV),
        ("jsonl", JSONL),
        ("series.csv", &fc),
        ("txt", TEXT),
    ];
    // The well-formed files are read.
    for (ext, base) in &bases[..4] {
        let p = dir.join(format!("ok.{ext}"));
        std::fs::write(&p, base).unwrap();
        read_unlabelled(&p, 50).unwrap();
    }
    let threads = Threads::single();
    let mut rng = Rng::new(20_261_130);
    let (mut read, mut refused, mut forecasts) = (0usize, 0usize, 0usize);
    for round in 0..rounds {
        for (ext, base) in &bases {
            let bytes = mutate(&mut rng, base);
            let p = dir.join(format!("m{round}.{ext}"));
            std::fs::write(&p, &bytes).unwrap();
            match *ext {
                "series.csv" => no_panic("read_series", &p, &bytes, || {
                    let time = ["date".to_string()];
                    match read_series(&p, &time, "value", &["x".to_string()]) {
                        Ok(s) => {
                            read += 1;
                            assert_eq!(s.target.len(), s.times.len());
                            assert!(s.target.iter().all(|v| v.is_finite()));
                            // Train on a share of them: scaling and forecasts must hold too.
                            if round % 8 == 0 {
                                forecasts += 1;
                                if let Ok(r) = run(
                                    &s,
                                    &settings(),
                                    &threads,
                                    &mut (),
                                    &std::sync::atomic::AtomicBool::new(false),
                                ) {
                                    for m in &r.series[0].results {
                                        assert!(m.forecast.iter().all(|v| v.is_finite()));
                                    }
                                }
                            }
                        }
                        Err(e) => {
                            refused += 1;
                            assert!(!e.to_string().is_empty());
                        }
                    }
                }),
                "txt" => no_panic("read_text", &p, &bytes, || {
                    if let Ok(t) = read_text(&p) {
                        read += 1;
                        // Exactly one leading byte-order mark is dropped.
                        let whole = std::str::from_utf8(&bytes).unwrap();
                        assert_eq!(t, whole.strip_prefix('\u{feff}').unwrap_or(whole));
                        let _ = Vocab::from_text(&t);
                    } else {
                        refused += 1;
                    }
                }),
                _ => no_panic("read_dataset", &p, &bytes, || {
                    for r in [read_dataset(&p, 50), read_unlabelled(&p, 50)] {
                        match r {
                            Ok(d) => {
                                read += 1;
                                assert_eq!(d.items.len(), d.labels.len());
                                for (i, item) in d.items.iter().enumerate() {
                                    assert!(d.len_of(i) > 0);
                                    if let Item::Numeric(v) = item {
                                        assert!(d.dims > 0 && v.len() % d.dims == 0);
                                        assert!(v.iter().all(|x| x.is_finite()), "{v:?}");
                                    }
                                }
                            }
                            Err(e) => {
                                refused += 1;
                                assert!(e.to_string().contains(&*p.to_string_lossy()), "{e}");
                            }
                        }
                    }
                }),
            }
            let _ = std::fs::remove_file(&p);
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    // The mutations exercise both paths.
    assert!(
        read > rounds / 4 && refused > rounds / 4,
        "{read} read, {refused} refused"
    );
    assert!(forecasts > 0);
}
