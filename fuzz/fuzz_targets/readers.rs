//! Every data reader on arbitrary bytes: the first byte picks the format, the rest is the file.
//! Run with `cargo +nightly fuzz run readers` from the repository root; a panic is a bug.
#![no_main]

use libfuzzer_sys::fuzz_target;
use recur::classify::data::{read_dataset, read_unlabelled};
use recur::forecast::read_series;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, body)) = data.split_first() else {
        return;
    };
    let ext = ["ts", "csv", "jsonl", "txt"][pick as usize % 4];
    let dir = std::env::temp_dir().join(format!("recur-fuzz-readers-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let path = dir.join(format!("input.{ext}"));
    if std::fs::write(&path, body).is_err() {
        return;
    }
    match ext {
        "txt" => {
            let _ = recur::charlm::data::read_text(&path);
        }
        "csv" if pick & 0x80 != 0 => {
            let _ = read_series(&path, &["date".to_string()], "value", &[]);
        }
        _ => {
            let _ = read_dataset(&path, 100);
            let _ = read_unlabelled(&path, 100);
        }
    }
});
