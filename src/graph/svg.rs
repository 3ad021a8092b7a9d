//! DOT text in, SVG bytes out, by piping it through Graphviz's `dot -Tsvg`. Graphviz is the
//! layout engine; nothing in Rust lays out graphs as well, so it is run when installed.

use std::io::{Read, Write};
use std::process::{Command, Stdio};

/// Why no SVG came out.
#[derive(Debug, thiserror::Error)]
pub enum SvgError {
    /// No `dot` program on the `PATH`.
    #[error("Graphviz `dot` is not installed (or not on PATH)")]
    NotInstalled,
    #[error("could not run Graphviz `dot`: {0}")]
    Io(#[from] std::io::Error),
    /// `dot` ran and failed.
    #[error("Graphviz `dot` failed ({status}): {stderr}")]
    Failed { status: String, stderr: String },
}

/// Renders `dot_text` with `dot -Tsvg`.
pub fn render(dot_text: &str) -> Result<Vec<u8>, SvgError> {
    let mut child = Command::new("dot")
        .arg("-Tsvg")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => SvgError::NotInstalled,
            _ => SvgError::Io(e),
        })?;
    let (Some(mut stdin), Some(mut stdout), Some(mut stderr)) =
        (child.stdin.take(), child.stdout.take(), child.stderr.take())
    else {
        return Err(SvgError::Io(std::io::Error::other("no pipe to Graphviz")));
    };
    // Write and read at once: a large graph fills the pipes both ways.
    let (written, svg, errors) = std::thread::scope(|scope| {
        let writer = scope.spawn(move || stdin.write_all(dot_text.as_bytes()));
        let error_reader = scope.spawn(move || {
            let mut text = Vec::new();
            stderr.read_to_end(&mut text).map(|_| text)
        });
        let mut svg = Vec::new();
        let read = stdout.read_to_end(&mut svg).map(|_| svg);
        let written = writer
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        let errors = error_reader
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        (written, read, errors)
    });
    let status = child.wait()?;
    let errors = errors?;
    if !status.success() {
        return Err(SvgError::Failed {
            status: status.to_string(),
            stderr: String::from_utf8_lossy(&errors).trim().to_string(),
        });
    }
    written?;
    Ok(svg?)
}
