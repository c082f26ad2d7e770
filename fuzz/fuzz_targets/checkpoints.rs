//! Checkpoint loading on arbitrary bytes: the input is split into a `config.json` and a
//! `model.safetensors` (at the first NUL byte) and loaded as every kind of checkpoint.
//! Run with `cargo +nightly fuzz run checkpoints` from the repository root; a panic is a bug.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let split = data.iter().position(|&b| b == 0).unwrap_or(data.len());
    let (config, model) = (&data[..split], data.get(split + 1..).unwrap_or(&[]));
    let dir = std::env::temp_dir().join(format!("recur-fuzz-ckpt-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    if std::fs::write(dir.join("config.json"), config).is_err()
        || std::fs::write(dir.join("model.safetensors"), model).is_err()
    {
        return;
    }
    let _ = recur::checkpoint::open(&dir);
});
