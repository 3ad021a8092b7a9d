//! Rendering: diagnostics as rustc-style text or JSON.
