//! Loading a bot: PATH arguments (files or directories) in, [`Sources`] (text + line index) out.

use std::path::{Path, PathBuf};

use crate::diagnostic::FileId;

/// One scenario file as read from disk.
#[derive(Clone, Debug)]
pub struct SourceFile {
    /// The path as the user will see it in diagnostics.
    pub name: String,
    /// The scenario id: the file stem (`orders.scn` → `orders`).
    pub id: String,
    /// The text; invalid UTF-8 sequences are replaced by U+FFFD (see `utf8_error`).
    pub text: String,
    /// Byte offset (into `text`) of the first invalid UTF-8 sequence, if the file had one.
    pub utf8_error: Option<usize>,
    line_starts: Vec<usize>,
}

impl SourceFile {
    pub fn new(name: impl Into<String>, bytes: Vec<u8>) -> SourceFile {
        let name = name.into();
        let id = Path::new(&name)
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| name.clone());
        let (text, utf8_error) = match String::from_utf8(bytes) {
            Ok(text) => (text, None),
            Err(e) => {
                let at = e.utf8_error().valid_up_to();
                (String::from_utf8_lossy(e.as_bytes()).into_owned(), Some(at))
            }
        };
        let line_starts = std::iter::once(0).chain(memchr_newlines(&text)).collect();
        SourceFile {
            name,
            id,
            text,
            utf8_error,
            line_starts,
        }
    }

    /// 1-based line and column (in characters) of a byte offset.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let line = self.line_starts.partition_point(|&s| s <= offset) - 1;
        let start = self.line_starts[line];
        let column = self
            .text
            .get(start..offset)
            .map_or(offset - start, |s| s.chars().count());
        (line + 1, column + 1)
    }
}

fn memchr_newlines(text: &str) -> impl Iterator<Item = usize> + '_ {
    memchr::memchr_iter(b'\n', text.as_bytes()).map(|i| i + 1)
}

/// The largest file scenarist reads: a scenario, a test or a state file.
pub const MAX_FILE_BYTES: u64 = 64 << 20;

/// Reads a file the user named, refusing what is not a regular file (`/dev/zero`, a FIFO, a
/// directory) and what is larger than [`MAX_FILE_BYTES`], so a bad path ends in a clear error,
/// never a hang or an exhausted memory.
pub fn read_file(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let too_large = || {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("larger than {} MiB; not read", MAX_FILE_BYTES >> 20),
        )
    };
    let meta = std::fs::metadata(path)?;
    if !meta.is_file() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "not a regular file; not read",
        ));
    }
    if meta.len() > MAX_FILE_BYTES {
        return Err(too_large());
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    std::fs::File::open(path)?
        .take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(too_large());
    }
    Ok(bytes)
}

/// Why the PATH arguments could not be read (a usage error, exit status 2).
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{path}: no such file or directory")]
    Missing { path: String },
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: no .scn files found")]
    Empty { path: String },
}

/// All the files of one bot, sorted by path.
#[derive(Clone, Debug, Default)]
pub struct Sources {
    pub files: Vec<SourceFile>,
}

impl Sources {
    /// Reads every PATH: a `.scn` file, or a directory whose `*.scn` files (recursively,
    /// sorted by path) all belong to the bot.
    pub fn load(paths: &[PathBuf]) -> Result<Sources, LoadError> {
        let mut found: Vec<PathBuf> = Vec::new();
        for path in paths {
            let shown = path.display().to_string();
            let meta = std::fs::metadata(path).map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound => LoadError::Missing {
                    path: shown.clone(),
                },
                _ => LoadError::Io {
                    path: shown.clone(),
                    source: e,
                },
            })?;
            if meta.is_dir() {
                let before = found.len();
                for entry in walkdir::WalkDir::new(path).sort_by_file_name() {
                    let entry = entry.map_err(|e| LoadError::Io {
                        path: shown.clone(),
                        source: e.into(),
                    })?;
                    if entry.file_type().is_file()
                        && entry.path().extension().is_some_and(|x| x == "scn")
                    {
                        found.push(entry.into_path());
                    }
                }
                if found.len() == before {
                    return Err(LoadError::Empty { path: shown });
                }
            } else {
                found.push(path.clone());
            }
        }
        found.sort();
        found.dedup();
        let mut files = Vec::with_capacity(found.len());
        for path in found {
            let bytes = read_file(&path).map_err(|e| LoadError::Io {
                path: path.display().to_string(),
                source: e,
            })?;
            files.push(SourceFile::new(path.display().to_string(), bytes));
        }
        Ok(Sources { files })
    }

    /// A bot made of in-memory files (tests, tools).
    pub fn from_texts<'a>(files: impl IntoIterator<Item = (&'a str, &'a str)>) -> Sources {
        Sources {
            files: files
                .into_iter()
                .map(|(name, text)| SourceFile::new(name, text.as_bytes().to_vec()))
                .collect(),
        }
    }

    pub fn get(&self, id: FileId) -> &SourceFile {
        &self.files[id]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_characters() {
        let f = SourceFile::new("a.scn", "ab\nпривет x\n".as_bytes().to_vec());
        assert_eq!(f.line_col(0), (1, 1));
        assert_eq!(f.line_col(3), (2, 1));
        let x = f.text.find('x').unwrap_or(0);
        assert_eq!(f.line_col(x), (2, 8));
        assert_eq!(f.id, "a");
    }

    #[test]
    fn only_regular_files_are_read() {
        let err = read_file(Path::new("/dev/zero")).expect_err("a device");
        assert_eq!(err.to_string(), "not a regular file; not read");
        let err = read_file(Path::new("/")).expect_err("a directory");
        assert_eq!(err.to_string(), "not a regular file; not read");
    }

    #[test]
    fn invalid_utf8_is_recorded() {
        let f = SourceFile::new("b.scn", vec![b'o', b'k', 0xff, b'!']);
        assert_eq!(f.utf8_error, Some(2));
        assert!(f.text.contains('\u{FFFD}'));
    }
}
