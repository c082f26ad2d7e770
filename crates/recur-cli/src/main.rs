//! The `recur` command line. Thin: every real decision lives in the `recur` library.

use std::process::ExitCode;

const USAGE: &str = "\
recur: recurrent neural networks (RNN, LSTM, GRU) with PyTorch semantics

Usage: recur <command> [flags]

Commands:
  train      train a character-level language model (not yet available)
  eval       evaluate a checkpoint on a text (not yet available)
  sample     generate text from a checkpoint (not yet available)
  bench      measure training and generation speed (not yet available)
  help       print this message

Run `recur <command> --help` for a command's flags.";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        None | Some("help" | "--help" | "-h") => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        Some("--version" | "-V") => {
            println!("recur {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        Some(cmd @ ("train" | "eval" | "sample" | "bench")) => {
            eprintln!("recur {cmd}: not yet available in this version; the layer library is (see README.md)");
            ExitCode::from(2)
        }
        Some(other) => {
            eprintln!("recur: unknown command '{other}' (run `recur help`)");
            ExitCode::from(2)
        }
    }
}
