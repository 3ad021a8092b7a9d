//! `scenarist lsp`: a Language Server over stdio (JSON-RPC, LSP 3.17). Editor buffers in,
//! diagnostics, go to definition and references of blocks (from the checker's resolution),
//! completion and hover (`complete.rs`), document symbols and formatting out.
//!
//! Unsaved buffers are the truth: a bot is checked from the open buffers of its files and the
//! disk for the others. The bot of a file is the folder it is in, with every `.scn` file below
//! that folder. Every change re-checks the whole bot and republishes the diagnostics of all
//! its files, so an edit in one file updates the problems it causes in the others. Edits that
//! arrive while a check would run are applied first and checked once (a natural debounce).

mod complete;
mod position;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use lsp_server::{Connection, Message, Notification, Request, RequestId, Response};
use lsp_types as lsp;
use lsp_types::notification::Notification as _;
use lsp_types::request::Request as _;

use crate::check::BlockId;
use crate::diagnostic::Severity;
use crate::source::{SourceFile, Sources};
use crate::syntax::Span;

pub use position::{offset_at, position_at};

/// How long to wait for more edits before checking (keystrokes come in bursts).
const DEBOUNCE: Duration = Duration::from_millis(30);

/// Runs the server on stdin/stdout until the client says `exit`.
pub fn run_stdio() -> Result<(), String> {
    let (connection, io_threads) = Connection::stdio();
    let capabilities = lsp::ServerCapabilities {
        text_document_sync: Some(lsp::TextDocumentSyncCapability::Kind(
            lsp::TextDocumentSyncKind::INCREMENTAL,
        )),
        document_symbol_provider: Some(lsp::OneOf::Left(true)),
        definition_provider: Some(lsp::OneOf::Left(true)),
        references_provider: Some(lsp::OneOf::Left(true)),
        hover_provider: Some(lsp::HoverProviderCapability::Simple(true)),
        rename_provider: Some(lsp::OneOf::Left(true)),
        semantic_tokens_provider: Some(
            lsp::SemanticTokensOptions {
                legend: lsp::SemanticTokensLegend {
                    token_types: vec![
                        lsp::SemanticTokenType::FUNCTION,
                        lsp::SemanticTokenType::VARIABLE,
                    ],
                    token_modifiers: vec![
                        lsp::SemanticTokenModifier::DECLARATION,
                        lsp::SemanticTokenModifier::READONLY,
                    ],
                },
                full: Some(lsp::SemanticTokensFullOptions::Bool(true)),
                range: None,
                ..lsp::SemanticTokensOptions::default()
            }
            .into(),
        ),
        completion_provider: Some(lsp::CompletionOptions {
            trigger_characters: Some(vec!["%".into(), ":".into(), " ".into()]),
            ..lsp::CompletionOptions::default()
        }),
        document_formatting_provider: Some(lsp::OneOf::Left(true)),
        ..lsp::ServerCapabilities::default()
    };
    let capabilities = serde_json::to_value(capabilities).map_err(|e| e.to_string())?;
    connection
        .initialize(capabilities)
        .map_err(|e| format!("initialize: {e}"))?;
    let mut server = Server::default();
    server.serve(&connection)?;
    drop(connection);
    io_threads.join().map_err(|e| e.to_string())
}

/// The last check of one bot: its files (by file id) and what the checker resolved.
struct Analysis {
    paths: Vec<PathBuf>,
    sources: Sources,
    program: crate::Program,
}

impl Analysis {
    fn location(&self, file: usize, span: crate::syntax::Span) -> Option<lsp::Location> {
        Some(lsp::Location {
            uri: lsp::Url::from_file_path(self.paths.get(file)?).ok()?,
            range: range(&self.sources.files.get(file)?.text, span.start, span.end),
        })
    }

    /// The block named at a place (a target that resolved to it, or its own name), or the
    /// variable written there.
    fn symbol_at(&self, file: usize, offset: usize) -> Option<Symbol> {
        let covers = |span: crate::syntax::Span| span.start <= offset && offset <= span.end;
        let program = &self.program;
        if let Some(r) = program
            .references
            .iter()
            .find(|r| r.file == file && covers(r.span))
        {
            return Some(Symbol::Block(r.block));
        }
        if let Some(i) = program
            .blocks
            .iter()
            .position(|b| program.scenarios[b.scenario].file == file && covers(b.span))
        {
            return u32::try_from(i).ok().map(|i| Symbol::Block(BlockId(i)));
        }
        program
            .variable_uses
            .iter()
            .find(|u| u.file == file && covers(u.span))
            .map(|u| Symbol::Variable(u.name.clone()))
    }

    /// Where a block is defined; where a declared variable is declared (for a temporary, its
    /// first use in the bot).
    fn definition(&self, symbol: &Symbol) -> Option<lsp::Location> {
        match symbol {
            Symbol::Block(block) => {
                let info = self.program.block(*block);
                self.location(self.program.scenarios[info.scenario].file, info.span)
            }
            Symbol::Variable(name) => match self.program.declarations.get(name) {
                Some(d) => {
                    let decl = self.program.files.get(d.file)?.declarations.get(d.index)?;
                    self.location(d.file, decl.var.span)
                }
                None => self
                    .uses_of(name)
                    .min_by_key(|(file, span)| (*file, span.start))
                    .and_then(|(file, span)| self.location(file, span)),
            },
        }
    }

    /// Every place a variable's name is written, as (file, span of the name).
    fn uses_of<'s>(&'s self, name: &'s str) -> impl Iterator<Item = (usize, Span)> + 's {
        self.program
            .variable_uses
            .iter()
            .filter(move |u| u.name == name)
            .map(|u| (u.file, u.span))
    }

    /// The places that name a symbol: for a block, the targets naming it (and its name, with
    /// `with_definition`); for a variable, every use (its declaration is one of them).
    fn places(&self, symbol: &Symbol, with_definition: bool) -> Vec<(usize, Span, Span)> {
        match symbol {
            Symbol::Block(block) => {
                let mut out = Vec::new();
                if with_definition {
                    let info = self.program.block(*block);
                    let file = self.program.scenarios[info.scenario].file;
                    out.push((file, info.span, info.span));
                }
                out.extend(
                    self.program
                        .references
                        .iter()
                        .filter(|r| r.block == *block)
                        .map(|r| (r.file, r.span, r.name_span)),
                );
                out
            }
            Symbol::Variable(name) => {
                let declared = self.program.declarations.get(name).and_then(|d| {
                    Some((
                        d.file,
                        self.program
                            .files
                            .get(d.file)?
                            .declarations
                            .get(d.index)?
                            .var
                            .span,
                    ))
                });
                self.uses_of(name)
                    .filter(|(file, span)| {
                        with_definition
                            || declared.is_none_or(|(f, s)| !(f == *file && s.same(*span)))
                    })
                    .map(|(file, span)| (file, span, span))
                    .collect()
            }
        }
    }

    fn references(&self, symbol: &Symbol, with_definition: bool) -> Vec<lsp::Location> {
        self.places(symbol, with_definition)
            .into_iter()
            .filter_map(|(file, span, _)| self.location(file, span))
            .collect()
    }

    /// The edits that rename a block (its name and every target naming it, only the name part
    /// of `scenario::name`) or a variable (every use, in every file of the bot).
    fn rename(&self, symbol: &Symbol, new_name: &str) -> Result<lsp::WorkspaceEdit, String> {
        if !crate::syntax::is_identifier(new_name) {
            return Err(format!(
                "`{new_name}` is not a valid name: a letter or `_`, then letters, digits or `_`"
            ));
        }
        match symbol {
            Symbol::Block(block) => {
                let info = self.program.block(*block);
                if self.program.scenarios[info.scenario]
                    .blocks
                    .contains_key(new_name)
                {
                    return Err(format!("this scenario already has a block `{new_name}`"));
                }
            }
            Symbol::Variable(name) => {
                if crate::check::is_special(name) {
                    return Err(format!(
                        "`%{name}%` is set by the runtime: a special variable cannot be renamed"
                    ));
                }
                if crate::check::is_special(new_name)
                    || self.program.declarations.contains_key(new_name)
                    || self
                        .program
                        .variable_uses
                        .iter()
                        .any(|u| u.name == new_name)
                {
                    return Err(format!("the bot already has a variable `%{new_name}%`"));
                }
            }
        }
        let mut changes: std::collections::HashMap<lsp::Url, Vec<lsp::TextEdit>> =
            std::collections::HashMap::new();
        for (file, _, name_span) in self.places(symbol, true) {
            if let Some(location) = self.location(file, name_span) {
                changes
                    .entry(location.uri)
                    .or_default()
                    .push(lsp::TextEdit {
                        range: location.range,
                        new_text: new_name.to_string(),
                    });
            }
        }
        Ok(lsp::WorkspaceEdit {
            changes: Some(changes),
            ..lsp::WorkspaceEdit::default()
        })
    }
}

impl Analysis {
    /// What the checker knows that a grammar cannot: block names where they are defined and
    /// where they are jumped to (`function`, `declaration` at the definition) and variables
    /// (`variable`; `declaration` at a `user`/`global` declaration, `readonly` for the
    /// runtime's specials). Keywords, strings and comments are left to the editor's grammar.
    fn semantic_tokens(&self, file: usize) -> lsp::SemanticTokens {
        const FUNCTION: u32 = 0;
        const VARIABLE: u32 = 1;
        const DECLARATION: u32 = 1;
        const READONLY: u32 = 2;
        let program = &self.program;
        let mut found: Vec<(Span, u32, u32)> = Vec::new();
        for b in &program.blocks {
            if program.scenarios[b.scenario].file == file {
                found.push((b.span, FUNCTION, DECLARATION));
            }
        }
        found.extend(
            program
                .references
                .iter()
                .filter(|r| r.file == file)
                .map(|r| (r.span, FUNCTION, 0)),
        );
        let declared: Vec<Span> = program.files.get(file).map_or_else(Vec::new, |f| {
            f.declarations.iter().map(|d| d.var.span).collect()
        });
        found.extend(
            program
                .variable_uses
                .iter()
                .filter(|u| u.file == file)
                .map(|u| {
                    let modifiers = if crate::check::is_special(&u.name) {
                        READONLY
                    } else if declared.iter().any(|d| d.same(u.span)) {
                        DECLARATION
                    } else {
                        0
                    };
                    (u.span, VARIABLE, modifiers)
                }),
        );
        found.sort_by_key(|(span, _, _)| (span.start, span.end));
        found.dedup_by(|a, b| a.0.start < b.0.end);
        let text = &self.sources.files[file].text;
        let mut data = Vec::with_capacity(found.len());
        let (mut line, mut character) = (0u32, 0u32);
        for (span, kind, modifiers) in found {
            let start = position_at(text, span.start);
            let end = position_at(text, span.end);
            if end.line != start.line {
                continue;
            }
            let delta_line = start.line - line;
            let delta_start = if delta_line == 0 {
                start.character - character
            } else {
                start.character
            };
            data.push(lsp::SemanticToken {
                delta_line,
                delta_start,
                length: end.character - start.character,
                token_type: kind,
                token_modifiers_bitset: modifiers,
            });
            (line, character) = (start.line, start.character);
        }
        lsp::SemanticTokens {
            result_id: None,
            data,
        }
    }
}

/// What a position names: a block, or a variable (by name, without `%`).
enum Symbol {
    Block(BlockId),
    Variable(String),
}

/// The open documents, the last check of each bot, and which files were last given
/// diagnostics.
#[derive(Default)]
struct Server {
    /// The last check of each bot, by folder.
    analyses: BTreeMap<PathBuf, Analysis>,
    /// Open buffers by path: their text as the editor has it.
    open: BTreeMap<PathBuf, String>,
    /// Files that were last published with problems, by bot folder: cleared when they have none.
    published: BTreeMap<PathBuf, BTreeSet<PathBuf>>,
}

impl Server {
    fn serve(&mut self, connection: &Connection) -> Result<(), String> {
        let mut dirty: BTreeSet<PathBuf> = BTreeSet::new();
        loop {
            let message = if dirty.is_empty() {
                match connection.receiver.recv() {
                    Ok(m) => m,
                    Err(_) => return Ok(()),
                }
            } else {
                match connection.receiver.recv_timeout(DEBOUNCE) {
                    Ok(m) => m,
                    Err(_) => {
                        // No more edits for a moment (or the client went away): check now.
                        for bot in std::mem::take(&mut dirty) {
                            self.publish(connection, &bot);
                        }
                        continue;
                    }
                }
            };
            match message {
                Message::Request(req) => {
                    if connection
                        .handle_shutdown(&req)
                        .map_err(|e| e.to_string())?
                    {
                        return Ok(());
                    }
                    // A request answers from the latest text: check what is pending first.
                    for bot in std::mem::take(&mut dirty) {
                        self.publish(connection, &bot);
                    }
                    let response = self.request(req);
                    send(connection, Message::Response(response));
                }
                Message::Notification(note) => {
                    if let Some(path) = self.notification(note) {
                        dirty.insert(bot_folder(&path));
                    }
                }
                Message::Response(_) => {}
            }
        }
    }

    /// Applies a document notification; returns the path whose bot must be checked again.
    fn notification(&mut self, note: Notification) -> Option<PathBuf> {
        match note.method.as_str() {
            lsp::notification::DidOpenTextDocument::METHOD => {
                let p: lsp::DidOpenTextDocumentParams = serde_json::from_value(note.params).ok()?;
                let path = p.text_document.uri.to_file_path().ok()?;
                self.open.insert(path.clone(), p.text_document.text);
                Some(path)
            }
            lsp::notification::DidChangeTextDocument::METHOD => {
                let p: lsp::DidChangeTextDocumentParams =
                    serde_json::from_value(note.params).ok()?;
                let path = p.text_document.uri.to_file_path().ok()?;
                let text = self.open.entry(path.clone()).or_default();
                for change in p.content_changes {
                    apply_change(text, change);
                }
                Some(path)
            }
            lsp::notification::DidCloseTextDocument::METHOD => {
                let p: lsp::DidCloseTextDocumentParams =
                    serde_json::from_value(note.params).ok()?;
                let path = p.text_document.uri.to_file_path().ok()?;
                self.open.remove(&path);
                Some(path)
            }
            lsp::notification::DidSaveTextDocument::METHOD => {
                let p: lsp::DidSaveTextDocumentParams = serde_json::from_value(note.params).ok()?;
                p.text_document.uri.to_file_path().ok()
            }
            _ => None,
        }
    }

    fn request(&mut self, req: Request) -> Response {
        let id = req.id.clone();
        let result = match req.method.as_str() {
            lsp::request::DocumentSymbolRequest::METHOD => {
                serde_json::from_value::<lsp::DocumentSymbolParams>(req.params)
                    .map_err(|e| e.to_string())
                    .map(|p| self.symbols(&p.text_document.uri))
            }
            lsp::request::GotoDefinition::METHOD => {
                serde_json::from_value::<lsp::GotoDefinitionParams>(req.params)
                    .map_err(|e| e.to_string())
                    .map(|p| {
                        let at = p.text_document_position_params;
                        let found = self
                            .at(&at.text_document.uri, at.position)
                            .and_then(|(analysis, symbol)| analysis.definition(&symbol));
                        serde_json::to_value(found).unwrap_or(serde_json::Value::Null)
                    })
            }
            lsp::request::References::METHOD => {
                serde_json::from_value::<lsp::ReferenceParams>(req.params)
                    .map_err(|e| e.to_string())
                    .map(|p| {
                        let at = p.text_document_position;
                        let found = self.at(&at.text_document.uri, at.position).map(
                            |(analysis, symbol)| {
                                analysis.references(&symbol, p.context.include_declaration)
                            },
                        );
                        serde_json::to_value(found).unwrap_or(serde_json::Value::Null)
                    })
            }
            lsp::request::Completion::METHOD => {
                serde_json::from_value::<lsp::CompletionParams>(req.params)
                    .map_err(|e| e.to_string())
                    .map(|p| {
                        let at = p.text_document_position;
                        let items = self
                            .document(&at.text_document.uri)
                            .map(|(analysis, file)| {
                                let text = &analysis.sources.files[file].text;
                                let offset = offset_at(text, at.position);
                                complete::complete(&analysis.program, file, text, offset)
                            })
                            .unwrap_or_default();
                        serde_json::to_value(items).unwrap_or(serde_json::Value::Null)
                    })
            }
            lsp::request::HoverRequest::METHOD => {
                serde_json::from_value::<lsp::HoverParams>(req.params)
                    .map_err(|e| e.to_string())
                    .map(|p| {
                        let at = p.text_document_position_params;
                        let hover =
                            self.document(&at.text_document.uri)
                                .and_then(|(analysis, file)| {
                                    let text = &analysis.sources.files[file].text;
                                    let offset = offset_at(text, at.position);
                                    complete::hover(&analysis.program, text, offset)
                                });
                        let hover = hover.map(|value| lsp::Hover {
                            contents: lsp::HoverContents::Markup(lsp::MarkupContent {
                                kind: lsp::MarkupKind::Markdown,
                                value,
                            }),
                            range: None,
                        });
                        serde_json::to_value(hover).unwrap_or(serde_json::Value::Null)
                    })
            }
            lsp::request::Rename::METHOD => {
                match serde_json::from_value::<lsp::RenameParams>(req.params) {
                    Err(e) => Err(e.to_string()),
                    Ok(p) => {
                        let at = p.text_document_position;
                        match self.at(&at.text_document.uri, at.position) {
                            None => Err("only a block or a variable can be renamed".to_string()),
                            Some((analysis, symbol)) => analysis
                                .rename(&symbol, &p.new_name)
                                .map(|edit| serde_json::to_value(edit).unwrap_or_default()),
                        }
                    }
                }
            }
            lsp::request::SemanticTokensFullRequest::METHOD => {
                serde_json::from_value::<lsp::SemanticTokensParams>(req.params)
                    .map_err(|e| e.to_string())
                    .map(|p| {
                        let tokens = self
                            .document(&p.text_document.uri)
                            .map(|(analysis, file)| analysis.semantic_tokens(file));
                        serde_json::to_value(tokens).unwrap_or(serde_json::Value::Null)
                    })
            }
            lsp::request::Formatting::METHOD => {
                serde_json::from_value::<lsp::DocumentFormattingParams>(req.params)
                    .map_err(|e| e.to_string())
                    .map(|p| self.formatting(&p.text_document.uri))
            }
            other => return error(id, lsp_server::ErrorCode::MethodNotFound, other),
        };
        match result {
            Ok(value) => Response::new_ok(id, value),
            Err(message) => error(id, lsp_server::ErrorCode::RequestFailed, &message),
        }
    }

    /// The last check of a document's bot, and the document's file id in it.
    fn document(&self, uri: &lsp::Url) -> Option<(&Analysis, usize)> {
        let path = uri.to_file_path().ok()?;
        let analysis = self.analyses.get(&bot_folder(&path))?;
        let file = analysis.paths.iter().position(|p| *p == path)?;
        Some((analysis, file))
    }

    /// The bot's last check and the block or variable named at a position of a document.
    fn at(&self, uri: &lsp::Url, position: lsp::Position) -> Option<(&Analysis, Symbol)> {
        let (analysis, file) = self.document(uri)?;
        let offset = offset_at(&analysis.sources.files[file].text, position);
        Some((analysis, analysis.symbol_at(file, offset)?))
    }

    /// The text of a file: its open buffer, else the disk.
    fn text_of(&self, path: &Path) -> Option<String> {
        match self.open.get(path) {
            Some(text) => Some(text.clone()),
            None => std::fs::read_to_string(path).ok(),
        }
    }

    /// Checks the bot in `folder` and publishes the diagnostics of each of its files.
    fn publish(&mut self, connection: &Connection, folder: &Path) {
        let mut paths: BTreeSet<PathBuf> = BTreeSet::new();
        for entry in walkdir::WalkDir::new(folder).into_iter().flatten() {
            if entry.file_type().is_file() && entry.path().extension().is_some_and(|x| x == "scn") {
                paths.insert(entry.into_path());
            }
        }
        paths.extend(
            self.open
                .keys()
                .filter(|p| p.starts_with(folder) && p.extension().is_some_and(|x| x == "scn"))
                .cloned(),
        );
        let paths: Vec<PathBuf> = paths.into_iter().collect();
        let files: Vec<SourceFile> = paths
            .iter()
            .map(|p| {
                let text = self.text_of(p).unwrap_or_default();
                SourceFile::new(p.display().to_string(), text.into_bytes())
            })
            .collect();
        let sources = Sources { files };
        let (mut program, diagnostics) = crate::analyze(&sources);
        // While a block is being typed it often does not parse, and the variables it assigns
        // would vanish from completion: keep those of the last check until it parses again.
        if diagnostics.iter().any(|d| d.code == crate::Code::Syntax) {
            if let Some(previous) = self.analyses.get(folder) {
                let mut names: BTreeSet<String> = program.assigned.drain(..).collect();
                names.extend(previous.program.assigned.iter().cloned());
                program.assigned = names.into_iter().collect();
            }
        }
        let mut by_file: BTreeMap<usize, Vec<lsp::Diagnostic>> = BTreeMap::new();
        for d in diagnostics.iter() {
            let Some(file) = sources.files.get(d.file) else {
                continue;
            };
            let related = d
                .related
                .iter()
                .filter_map(|r| {
                    let other = sources.files.get(r.file)?;
                    Some(lsp::DiagnosticRelatedInformation {
                        location: lsp::Location {
                            uri: lsp::Url::from_file_path(&paths[r.file]).ok()?,
                            range: range(&other.text, r.span.start, r.span.end),
                        },
                        message: r.label.clone(),
                    })
                })
                .collect::<Vec<_>>();
            let mut message = d.message.clone();
            if let Some(help) = &d.help {
                message.push_str("\nhelp: ");
                message.push_str(help);
            }
            by_file.entry(d.file).or_default().push(lsp::Diagnostic {
                range: range(&file.text, d.span.start, d.span.end),
                severity: Some(match d.severity {
                    Severity::Error => lsp::DiagnosticSeverity::ERROR,
                    Severity::Warning => lsp::DiagnosticSeverity::WARNING,
                }),
                code: Some(lsp::NumberOrString::String(d.code.as_str().to_string())),
                source: Some("scenarist".into()),
                message,
                related_information: (!related.is_empty()).then_some(related),
                ..lsp::Diagnostic::default()
            });
        }
        let before = self.published.remove(folder).unwrap_or_default();
        let mut now = BTreeSet::new();
        for (i, path) in paths.iter().enumerate() {
            let list = by_file.remove(&i).unwrap_or_default();
            if list.is_empty() && !before.contains(path) && !self.open.contains_key(path) {
                continue;
            }
            if !list.is_empty() {
                now.insert(path.clone());
            }
            publish_diagnostics(connection, path, list);
        }
        // A file that left the bot (deleted, closed and gone) keeps no stale problems.
        for gone in before.difference(&now) {
            if !paths.contains(gone) {
                publish_diagnostics(connection, gone, Vec::new());
            }
        }
        self.published.insert(folder.to_path_buf(), now);
        self.analyses.insert(
            folder.to_path_buf(),
            Analysis {
                paths,
                sources,
                program,
            },
        );
    }

    /// Scenarios' triggers and blocks, for the outline.
    fn symbols(&self, uri: &lsp::Url) -> serde_json::Value {
        let Some(text) = uri.to_file_path().ok().and_then(|p| self.text_of(&p)) else {
            return serde_json::Value::Null;
        };
        let (file, _) = crate::syntax::parse(0, &text);
        #[allow(deprecated)] // `deprecated` is a required field of the type, itself deprecated.
        let symbol = |name: String,
                      detail: Option<String>,
                      kind,
                      span: crate::syntax::Span,
                      sel: crate::syntax::Span| {
            lsp::DocumentSymbol {
                name,
                detail,
                kind,
                tags: None,
                deprecated: None,
                range: range(&text, span.start, span.end),
                selection_range: range(&text, sel.start, sel.end),
                children: None,
            }
        };
        let mut out = Vec::new();
        for t in &file.triggers {
            let name = text
                .get(t.span.start..t.span.end)
                .unwrap_or("on")
                .to_string();
            out.push(symbol(name, None, lsp::SymbolKind::EVENT, t.span, t.span));
        }
        for b in &file.blocks {
            out.push(symbol(
                b.name.name.clone(),
                Some("block".into()),
                lsp::SymbolKind::FUNCTION,
                b.span,
                b.name.span,
            ));
        }
        serde_json::to_value(out).unwrap_or(serde_json::Value::Null)
    }

    /// The whole document in the layout of `scenarist fmt`, or no edit when it has syntax
    /// errors (the diagnostics already say why).
    fn formatting(&self, uri: &lsp::Url) -> serde_json::Value {
        let Some(text) = uri.to_file_path().ok().and_then(|p| self.text_of(&p)) else {
            return serde_json::Value::Null;
        };
        match crate::fmt::format(&text) {
            Ok(formatted) if formatted != text => {
                let edit = lsp::TextEdit {
                    range: range(&text, 0, text.len()),
                    new_text: formatted,
                };
                serde_json::to_value(vec![edit]).unwrap_or(serde_json::Value::Null)
            }
            _ => serde_json::json!([]),
        }
    }
}

/// The bot a file belongs to: its folder.
fn bot_folder(path: &Path) -> PathBuf {
    path.parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

fn range(text: &str, start: usize, end: usize) -> lsp::Range {
    lsp::Range {
        start: position_at(text, start),
        end: position_at(text, end),
    }
}

fn apply_change(text: &mut String, change: lsp::TextDocumentContentChangeEvent) {
    match change.range {
        None => *text = change.text,
        Some(r) => {
            let start = offset_at(text, r.start);
            let end = offset_at(text, r.end).max(start);
            text.replace_range(start..end, &change.text);
        }
    }
}

fn publish_diagnostics(connection: &Connection, path: &Path, diagnostics: Vec<lsp::Diagnostic>) {
    let Ok(uri) = lsp::Url::from_file_path(path) else {
        return;
    };
    let params = lsp::PublishDiagnosticsParams {
        uri,
        diagnostics,
        version: None,
    };
    send(
        connection,
        Message::Notification(Notification::new(
            lsp::notification::PublishDiagnostics::METHOD.to_string(),
            params,
        )),
    );
}

fn error(id: RequestId, code: lsp_server::ErrorCode, message: &str) -> Response {
    Response::new_err(id, code as i32, message.to_string())
}

/// A closed channel means the client is gone: the loop ends on the next receive.
fn send(connection: &Connection, message: Message) {
    let _ = connection.sender.send(message);
}
