//! The library's one error type: every message names the file, tensor, flag or value at fault.

use std::path::PathBuf;

/// Everything that can go wrong in recur, each with enough context to act on in one line.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// A configuration value is out of range or inconsistent.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// A tensor has the wrong shape.
    #[error("{name}: expected shape {expected:?}, found {found:?}")]
    Shape {
        /// Which tensor (argument or stored name).
        name: String,
        /// The shape that fits.
        expected: Vec<usize>,
        /// The shape given.
        found: Vec<usize>,
    },
    /// A stored file (safetensors, JSON) is malformed or does not fit the model.
    #[error("{}: {message}", path.display())]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// An argument passed at run time is invalid (lengths, states, options).
    #[error("{0}")]
    Input(String),
    /// Training produced a NaN or infinite loss or gradient.
    #[error("{0}")]
    Diverged(String),
    /// A new run was pointed at a directory that already holds files, which it would replace.
    #[error("{}: already holds files (an earlier run, or files of your own) that a new run would replace", .0.display())]
    OutputExists(PathBuf),
}

impl From<recur_kernels::ThreadsError> for Error {
    fn from(e: recur_kernels::ThreadsError) -> Self {
        Error::Config(e.0)
    }
}

/// Shorthand for results in recur.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An [`Error::Io`] for `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    /// An [`Error::Format`] for `path`.
    pub fn format(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Error::Format {
            path: path.into(),
            message: message.into(),
        }
    }
}
