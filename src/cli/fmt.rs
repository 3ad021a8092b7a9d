//! `scenarist fmt [PATH]... [--check]`: `.scn` files in, the same files in the canonical layout
//! out (rewritten in place, or only listed with `--check`); exit status 0, 1 or 2.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use clap::Args;

use super::{status, usage_error};
use crate::fmt::{format, FmtError};
use crate::report;
use crate::{Diagnostics, Sources};

#[derive(Debug, Args)]
pub struct FmtArgs {
    /// Scenario files (.scn) or directories (every .scn below them).
    #[arg(value_name = "PATH", default_value = ".")]
    paths: Vec<PathBuf>,

    /// Change nothing: list the files that are not formatted and exit 1 if there are any.
    #[arg(long)]
    check: bool,
}

pub fn run(args: FmtArgs) -> u8 {
    let sources = match Sources::load(&args.paths) {
        Ok(sources) => sources,
        Err(e) => return usage_error(e),
    };
    let stderr = std::io::stderr();
    let color = report::use_color(&stderr);
    let mut failed = false;
    for (id, file) in sources.files.iter().enumerate() {
        if file.utf8_error.is_some() {
            eprintln!("error: {}: not valid UTF-8, left as it is", file.name);
            failed = true;
            continue;
        }
        match format(&file.text) {
            Ok(formatted) if formatted == file.text => {}
            Ok(formatted) => {
                if args.check {
                    println!("{}", file.name);
                    failed = true;
                } else if let Err(e) = write_in_place(Path::new(&file.name), &formatted) {
                    eprintln!("error: {}: cannot write: {e}", file.name);
                    failed = true;
                }
            }
            Err(FmtError::Syntax(diags)) => {
                let mut diags = Diagnostics::from(diags);
                for d in &mut diags.0 {
                    d.file = id;
                }
                let text = report::render_human(&sources, &diags, color);
                let _ = stderr.lock().write_all(text.as_bytes());
                eprintln!("error: {}: has syntax errors, not formatted", file.name);
                failed = true;
            }
            Err(FmtError::Changed) => {
                eprintln!(
                    "error: {}: the formatter could not lay this file out without changing it (a bug: please report it); left as it is",
                    file.name
                );
                failed = true;
            }
        }
    }
    if failed {
        status::FAILED
    } else {
        status::OK
    }
}

/// Replaces the file through a temporary file in the same directory, renamed over it, so an
/// interrupted `fmt` never leaves a half-written scenario; the file keeps its permissions.
fn write_in_place(path: &Path, text: &str) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map_or_else(Default::default, |n| n.to_string_lossy().into_owned());
    let permissions = std::fs::metadata(path)?.permissions();
    let mut attempt = 0u32;
    let (tmp, mut file) = loop {
        let tmp = dir.join(format!(".{name}.fmt-{}-{attempt}", std::process::id()));
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
        {
            Ok(f) => break (tmp, f),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && attempt < 100 => {
                attempt += 1
            }
            Err(e) => return Err(e),
        }
    };
    let written = file
        .write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .and_then(|()| std::fs::set_permissions(&tmp, permissions))
        .and_then(|()| std::fs::rename(&tmp, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}
