//! Named f32 tensors in safetensors files, written atomically, read with errors that name the
//! file, the tensor and both shapes.

use crate::config::RecurrentConfig;
use crate::error::{Error, Result};
use crate::recurrent::Recurrent;
use safetensors::{Dtype, SafeTensors};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The tensors of one safetensors file, taken out one by one as a model claims them.
#[derive(Debug)]
pub struct TensorFile {
    path: PathBuf,
    tensors: BTreeMap<String, (Vec<usize>, Vec<f32>)>,
}

impl TensorFile {
    /// Reads and parses `path`; every tensor must be F32.
    pub fn read(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        Self::parse(path, &bytes)
    }

    /// Parses safetensors `bytes`; `path` names them in errors. Every tensor must be F32 and hold
    /// finite values only: a NaN or infinite weight or optimiser moment is an error naming the
    /// tensor and the element, never a silently broken model.
    pub fn parse(path: impl Into<PathBuf>, bytes: &[u8]) -> Result<Self> {
        let path = path.into();
        let st = SafeTensors::deserialize(bytes)
            .map_err(|e| Error::format(&path, format!("not a valid safetensors file ({e})")))?;
        let mut tensors = BTreeMap::new();
        for (name, view) in st.tensors() {
            if view.dtype() != Dtype::F32 {
                return Err(Error::format(
                    &path,
                    format!("tensor '{name}' is {:?}, expected F32", view.dtype()),
                ));
            }
            let data: Vec<f32> = view
                .data()
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect();
            if let Some((i, v)) = data.iter().enumerate().find(|(_, v)| !v.is_finite()) {
                return Err(Error::format(
                    &path,
                    format!(
                        "tensor '{name}' holds a non-finite value ({v}) at element {i} of {}; the file is corrupt",
                        data.len()
                    ),
                ));
            }
            tensors.insert(name, (view.shape().to_vec(), data));
        }
        Ok(TensorFile { path, tensors })
    }

    /// The file this came from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Names of the tensors not yet taken.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.tensors.keys().map(String::as_str)
    }

    /// Fails unless every tensor of `expected` (name, shape) is present with that shape; the
    /// error names the tensor, both shapes and `context` (the configuration fields that decide
    /// the shapes). Checked before a model is allocated, so that a corrupt or hostile size field
    /// costs no more memory than the file itself holds.
    pub fn check_shapes(&self, expected: &[(String, Vec<usize>)], context: &str) -> Result<()> {
        for (name, shape) in expected {
            match self.tensors.get(name) {
                None => {
                    return Err(Error::format(
                        &self.path,
                        format!(
                            "tensor '{name}' (shape {shape:?}) is missing, expected by {context}"
                        ),
                    ))
                }
                Some((found, _)) if found != shape => {
                    return Err(Error::format(
                        &self.path,
                        format!(
                            "tensor '{name}' has shape {found:?}, expected {shape:?} by {context}"
                        ),
                    ))
                }
                Some(_) => {}
            }
        }
        Ok(())
    }

    /// Shape and data of `name`, if present (without taking it).
    pub fn get(&self, name: &str) -> Option<(&[usize], &[f32])> {
        self.tensors
            .get(name)
            .map(|(s, d)| (s.as_slice(), d.as_slice()))
    }

    /// Removes `name` and returns its data, checking that its shape is `expected`.
    pub fn take(&mut self, name: &str, expected: &[usize]) -> Result<Vec<f32>> {
        let Some((shape, data)) = self.tensors.remove(name) else {
            return Err(Error::format(
                &self.path,
                format!("tensor '{name}' (shape {expected:?}) is missing"),
            ));
        };
        if shape != expected {
            return Err(Error::format(
                &self.path,
                format!("tensor '{name}' has shape {shape:?}, expected {expected:?}"),
            ));
        }
        Ok(data)
    }

    /// Fails if any tensor was not taken: a file with extra tensors does not fit the model.
    pub fn finish(self) -> Result<()> {
        match self.tensors.keys().next() {
            None => Ok(()),
            Some(name) => Err(Error::format(
                &self.path,
                format!(
                    "unexpected tensor '{name}' ({} left over): the file does not fit the model's configuration",
                    self.tensors.len()
                ),
            )),
        }
    }
}

/// A named tensor to be written: name, shape, data.
pub type NamedTensor<'a> = (String, Vec<usize>, &'a [f32]);

/// Writes `tensors` as safetensors to `path` atomically: a temporary file beside it, then a
/// rename, so a crash never leaves a half-written file under `path`.
pub fn write_safetensors(path: impl AsRef<Path>, tensors: &[NamedTensor<'_>]) -> Result<()> {
    let path = path.as_ref();
    let bytes: Vec<Vec<u8>> = tensors
        .iter()
        .map(|(_, _, d)| d.iter().flat_map(|v| v.to_le_bytes()).collect())
        .collect();
    let mut views = Vec::with_capacity(tensors.len());
    for ((name, shape, _), b) in tensors.iter().zip(&bytes) {
        let view = safetensors::tensor::TensorView::new(Dtype::F32, shape.clone(), b)
            .map_err(|e| Error::format(path, format!("tensor '{name}': {e}")))?;
        views.push((name.clone(), view));
    }
    let serialized = safetensors::tensor::serialize(views, &None)
        .map_err(|e| Error::format(path, e.to_string()))?;
    write_atomically(path, &serialized)
}

/// Writes `bytes` to `path` through a temporary file, flushed to the disk, and a rename: `path`
/// holds either its old contents or all of the new ones, never a part. A `path` that is a
/// device or a pipe (or a link to one, as `/dev/stdout`) is written directly.
///
/// # Errors
/// [`Error::Io`] naming `path` when it cannot be written; the temporary file is removed.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    // A link is followed: the file it points to is replaced, the link stays.
    let resolved;
    let path = if std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink()) {
        resolved = resolve_link(path);
        resolved.as_path()
    } else {
        path
    };
    // A device or a pipe (`/dev/stdout`, a FIFO) is written in place: renaming a file over it
    // would replace the device itself.
    if std::fs::metadata(path).is_ok_and(|m| !m.is_file()) {
        if path.is_dir() {
            return Err(Error::format(path, "is a directory, expected a file name"));
        }
        return std::fs::OpenOptions::new()
            .write(true)
            .open(path)
            .and_then(|mut f| f.write_all(bytes))
            .map_err(|e| Error::io(path, e));
    }
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "out".into());
    let tmp = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    let result = std::fs::File::create(&tmp)
        .and_then(|mut f| {
            f.write_all(bytes)?;
            f.sync_all()
        })
        .and_then(|()| std::fs::rename(&tmp, path));
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(Error::io(path, e));
    }
    Ok(())
}

/// Where the link `path` points, following links to the end (a target that does not exist yet
/// is named relative to the link's directory).
fn resolve_link(path: &Path) -> PathBuf {
    if let Ok(p) = std::fs::canonicalize(path) {
        return p;
    }
    let mut p = path.to_path_buf();
    for _ in 0..40 {
        match std::fs::read_link(&p) {
            Ok(target) => {
                p = match p.parent() {
                    Some(dir) if target.is_relative() => dir.join(target),
                    _ => target,
                }
            }
            Err(_) => break,
        }
    }
    p
}

impl Recurrent<f32> {
    /// The parameters as named tensors, each name prefixed by `prefix` (e.g. `"rnn."`).
    pub fn named_tensors(&self, prefix: &str) -> Vec<NamedTensor<'_>> {
        self.layout()
            .iter()
            .map(|p| {
                (
                    format!("{prefix}{}", p.name),
                    p.shape.clone(),
                    &self.params()[p.range()],
                )
            })
            .collect()
    }

    /// Takes this layer's tensors (names prefixed by `prefix`) out of `file`.
    pub fn load_tensors(&mut self, file: &mut TensorFile, prefix: &str) -> Result<()> {
        let layout = self.layout().to_vec();
        for p in layout {
            let data = file.take(&format!("{prefix}{}", p.name), &p.shape)?;
            self.params_mut()[p.range()].copy_from_slice(&data);
        }
        Ok(())
    }

    /// Saves the parameters under PyTorch's names (no prefix), as `nn.LSTM(...).state_dict()`
    /// would name them.
    pub fn save_safetensors(&self, path: impl AsRef<Path>) -> Result<()> {
        write_safetensors(path, &self.named_tensors(""))
    }

    /// Loads a layer of `config` from a safetensors file holding exactly its tensors under
    /// PyTorch's names.
    pub fn load_safetensors(config: RecurrentConfig, path: impl AsRef<Path>) -> Result<Self> {
        let mut layer = Recurrent::zeros(config)?;
        let mut file = TensorFile::read(path)?;
        layer.load_tensors(&mut file, "")?;
        file.finish()?;
        Ok(layer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `--output /dev/stdout` and the like: the link and the device stay as they are.
    #[cfg(unix)]
    #[test]
    fn writing_to_a_device_through_a_link_keeps_the_link() {
        let dir = std::env::temp_dir().join(format!("recur-io-dev-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let link = dir.join("out.csv");
        std::os::unix::fs::symlink("/dev/null", &link).unwrap();
        write_atomically(&link, b"a,b\n").unwrap();
        assert_eq!(std::fs::read_link(&link).unwrap(), Path::new("/dev/null"));
        assert!(!std::fs::metadata("/dev/null").unwrap().is_file());
        assert_eq!(
            std::fs::read_dir(&dir).unwrap().count(),
            1,
            "no temporary file left"
        );
        // A regular file is still replaced whole.
        let file = dir.join("plain.csv");
        write_atomically(&file, b"1\n").unwrap();
        write_atomically(&file, b"2\n").unwrap();
        assert_eq!(std::fs::read(&file).unwrap(), b"2\n");
        assert!(
            write_atomically(&dir, b"x").is_err(),
            "a directory is refused"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
