//! `scenarist lsp` as an editor drives it: JSON-RPC over the process's stdin/stdout with
//! `Content-Length` framing, the initialize handshake, `didOpen` and incremental `didChange`,
//! diagnostics with UTF-16 ranges on lines with Cyrillic and emoji, diagnostics of a file
//! updated by an edit in another file of the same bot, document symbols, formatting, shutdown.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::{json, Value};

struct Client {
    child: Child,
    stdin: ChildStdin,
    messages: mpsc::Receiver<Value>,
    next_id: i64,
}

fn read_message(reader: &mut BufReader<ChildStdout>) -> Option<Value> {
    let mut length = None;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some(n) = line.strip_prefix("Content-Length: ") {
            length = n.parse::<usize>().ok();
        }
    }
    let mut body = vec![0; length?];
    reader.read_exact(&mut body).ok()?;
    serde_json::from_slice(&body).ok()
}

impl Client {
    fn start() -> Client {
        let mut child = Command::new(env!("CARGO_BIN_EXE_scenarist"))
            .arg("lsp")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start scenarist lsp");
        let stdin = child.stdin.take().expect("stdin");
        let mut reader = BufReader::new(child.stdout.take().expect("stdout"));
        let (tx, messages) = mpsc::channel();
        std::thread::spawn(move || {
            while let Some(m) = read_message(&mut reader) {
                if tx.send(m).is_err() {
                    break;
                }
            }
        });
        Client {
            child,
            stdin,
            messages,
            next_id: 1,
        }
    }

    fn send(&mut self, message: Value) {
        let body = message.to_string();
        write!(self.stdin, "Content-Length: {}\r\n\r\n{body}", body.len()).expect("write");
        self.stdin.flush().expect("flush");
    }

    fn notify(&mut self, method: &str, params: Value) {
        self.send(json!({"jsonrpc": "2.0", "method": method, "params": params}));
    }

    /// Sends a request and waits for its response (notifications on the way are kept aside).
    fn request(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        self.send(json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
        loop {
            let m = self.recv();
            if m["id"] == json!(id) {
                return m;
            }
        }
    }

    fn recv(&mut self) -> Value {
        self.messages
            .recv_timeout(Duration::from_secs(30))
            .expect("the server answers within 30 s")
    }

    /// `initialize` without a workspace, then `initialized`.
    fn handshake(&mut self) {
        self.request(
            "initialize",
            json!({"processId": null, "rootUri": null, "capabilities": {}}),
        );
        self.notify("initialized", json!({}));
    }

    fn open(&mut self, uri: &str, text: &str) {
        self.notify(
            "textDocument/didOpen",
            json!({"textDocument": {"uri": uri, "languageId": "scenarist", "version": 1, "text": text}}),
        );
    }

    /// `shutdown`, `exit`, and the process ends with status 0.
    fn stop(&mut self) {
        let shutdown = self.request("shutdown", Value::Null);
        assert!(shutdown.get("error").is_none(), "{shutdown}");
        self.notify("exit", Value::Null);
        assert!(self.child.wait().expect("exit").success());
    }

    /// The next diagnostics published for `uri`.
    fn diagnostics_for(&mut self, uri: &str) -> Vec<Value> {
        loop {
            let m = self.recv();
            if m["method"] == "textDocument/publishDiagnostics" && m["params"]["uri"] == uri {
                return m["params"]["diagnostics"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default();
            }
        }
    }
}

fn temp_bot(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("scenarist-lsp-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

fn uri(path: &std::path::Path) -> String {
    format!("file://{}", path.display())
}

/// A bot of `main.scn` and `other.scn` on disk, a server started, and main.scn opened clean.
fn two_file_bot(
    name: &str,
    main_text: &str,
    other_text: &str,
) -> (std::path::PathBuf, String, String, Client) {
    let dir = temp_bot(name);
    let (main, other) = (dir.join("main.scn"), dir.join("other.scn"));
    std::fs::write(&main, main_text).expect("write");
    std::fs::write(&other, other_text).expect("write");
    let mut c = Client::start();
    c.handshake();
    c.open(&uri(&main), main_text);
    assert_eq!(c.diagnostics_for(&uri(&main)), Vec::<Value>::new());
    (dir, uri(&main), uri(&other), c)
}

#[test]
fn a_session_as_an_editor_drives_it() {
    let dir = temp_bot("session");
    let main = dir.join("main.scn");
    let other = dir.join("other.scn");
    // On disk the other file is fine; the editor's buffer is what counts.
    std::fs::write(&other, "block help {\n  say \"help\"\n}\n").expect("write");
    std::fs::write(&main, "").expect("write");
    let (main_uri, other_uri) = (uri(&main), uri(&other));

    let mut c = Client::start();
    let init = c.request(
        "initialize",
        json!({"processId": null, "rootUri": uri(&dir), "capabilities": {}}),
    );
    let caps = &init["result"]["capabilities"];
    assert_eq!(
        caps["textDocumentSync"],
        json!(2),
        "incremental sync: {init}"
    );
    assert_eq!(caps["documentSymbolProvider"], json!(true));
    assert_eq!(caps["documentFormattingProvider"], json!(true));
    c.notify("initialized", json!({}));

    // A Cyrillic and emoji line before the error, so UTF-16 columns differ from bytes and chars.
    let text =
        "on start goto привет\nblock привет {\n  say \"Привет 😀\"; goto nowhere\n  goto other::help\n}\n";
    c.notify(
        "textDocument/didOpen",
        json!({"textDocument": {"uri": main_uri, "languageId": "scenarist", "version": 1, "text": text}}),
    );
    let diags = c.diagnostics_for(&main_uri);
    assert_eq!(diags.len(), 1, "{diags:?}");
    let d = &diags[0];
    assert_eq!(d["code"], "scn::unknown-block");
    assert_eq!(d["severity"], 1);
    // `  say "Привет 😀"; goto ` is 2+4+1+6+1+2+1+1+1+5 = 24 UTF-16 units.
    assert_eq!(
        d["range"]["start"],
        json!({"line": 2, "character": 24}),
        "{d}"
    );
    assert_eq!(
        d["range"]["end"],
        json!({"line": 2, "character": 31}),
        "{d}"
    );

    // An incremental edit: `nowhere` → `other::help` (a range in UTF-16 units).
    c.notify(
        "textDocument/didChange",
        json!({
            "textDocument": {"uri": main_uri, "version": 2},
            "contentChanges": [{"range": {"start": {"line": 2, "character": 24}, "end": {"line": 2, "character": 31}}, "text": "other::help"}]
        }),
    );
    assert_eq!(c.diagnostics_for(&main_uri), Vec::<Value>::new());

    // Renaming the block in the other file's unsaved buffer breaks main.scn's gotos.
    c.notify(
        "textDocument/didOpen",
        json!({"textDocument": {"uri": other_uri, "languageId": "scenarist", "version": 1, "text": "block help {\n  say \"help\"\n}\n"}}),
    );
    c.notify(
        "textDocument/didChange",
        json!({
            "textDocument": {"uri": other_uri, "version": 2},
            "contentChanges": [{"range": {"start": {"line": 0, "character": 6}, "end": {"line": 0, "character": 10}}, "text": "aide"}]
        }),
    );
    let broken = c.diagnostics_for(&main_uri);
    assert_eq!(broken.len(), 2, "both gotos to help: {broken:?}");
    assert!(broken.iter().all(|d| d["code"] == "scn::unknown-block"));

    let symbols = c.request(
        "textDocument/documentSymbol",
        json!({"textDocument": {"uri": main_uri}}),
    );
    let names: Vec<&str> = symbols["result"]
        .as_array()
        .expect("symbols")
        .iter()
        .filter_map(|s| s["name"].as_str())
        .collect();
    assert_eq!(names, ["on start goto привет", "привет"], "{symbols}");

    c.notify(
        "textDocument/didChange",
        json!({
            "textDocument": {"uri": other_uri, "version": 3},
            "contentChanges": [{"text": "block help {\nsay \"x\"\n}\n"}]
        }),
    );
    let edits = c.request(
        "textDocument/formatting",
        json!({"textDocument": {"uri": other_uri}, "options": {"tabSize": 2, "insertSpaces": true}}),
    );
    assert_eq!(
        edits["result"][0]["newText"], "block help {\n  say \"x\"\n}\n",
        "{edits}"
    );

    let unknown = c.request("textDocument/unknownThing", json!({}));
    assert_eq!(unknown["error"]["code"], -32601, "{unknown}");

    let shutdown = c.request("shutdown", Value::Null);
    assert!(shutdown.get("error").is_none(), "{shutdown}");
    c.notify("exit", Value::Null);
    let status = c.child.wait().expect("exit");
    assert!(status.success(), "{status:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn definition_and_references_of_blocks_across_files() {
    let (dir, main_uri, other_uri, mut c) = two_file_bot("refs", "on start goto меню\nblock меню {\n  say \"Выбор 😀\" { button \"Помощь\" goto other::help }\n  wait\n  goto меню\n}\n", "block help {\n  say \"help\"\n  goto main::меню\n}\n");

    // On `help` of `goto other::help`: `  say "Выбор 😀" { button "Помощь" goto other::` is
    // 2+3+1+1+5+1+2+1+1+1+1+6+1+1+1+4+1+7 = 40 UTF-16 units; inside the target.
    let def = c.request(
        "textDocument/definition",
        json!({"textDocument": {"uri": main_uri}, "position": {"line": 2, "character": 42}}),
    );
    assert_eq!(def["result"]["uri"], other_uri, "{def}");
    assert_eq!(
        def["result"]["range"],
        json!({"start": {"line": 0, "character": 6}, "end": {"line": 0, "character": 10}})
    );

    // References of `меню` from its own name: the trigger, `goto меню` and other.scn's goto.
    let refs = c.request(
        "textDocument/references",
        json!({"textDocument": {"uri": main_uri}, "position": {"line": 1, "character": 7}, "context": {"includeDeclaration": true}}),
    );
    let mut found: Vec<(String, u64, u64)> = refs["result"]
        .as_array()
        .expect("locations")
        .iter()
        .map(|l| {
            (
                l["uri"].as_str().unwrap_or("").to_string(),
                l["range"]["start"]["line"].as_u64().unwrap_or(99),
                l["range"]["start"]["character"].as_u64().unwrap_or(99),
            )
        })
        .collect();
    found.sort();
    let mut expected = vec![
        (main_uri.clone(), 0, 14),
        (main_uri.clone(), 1, 6),
        (main_uri.clone(), 4, 7),
        (other_uri.clone(), 2, 7),
    ];
    expected.sort();
    assert_eq!(found, expected, "{refs}");

    // Rename `меню` everywhere: its name, the trigger, `goto меню`, and only the name part of
    // other.scn's `goto main::меню`.
    let rename = c.request(
        "textDocument/rename",
        json!({"textDocument": {"uri": main_uri}, "position": {"line": 4, "character": 8}, "newName": "главное"}),
    );
    let changes = &rename["result"]["changes"];
    assert_eq!(
        changes[&main_uri].as_array().map(Vec::len),
        Some(3),
        "{rename}"
    );
    assert_eq!(
        changes[&other_uri][0],
        json!({"range": {"start": {"line": 2, "character": 13}, "end": {"line": 2, "character": 17}}, "newText": "главное"})
    );
    let refused = c.request(
        "textDocument/rename",
        json!({"textDocument": {"uri": main_uri}, "position": {"line": 4, "character": 8}, "newName": "two words"}),
    );
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("not a valid name"),
        "{refused}"
    );
    let special = c.request(
        "textDocument/rename",
        json!({"textDocument": {"uri": main_uri}, "position": {"line": 2, "character": 3}, "newName": "x"}),
    );
    assert!(
        special.get("error").is_some(),
        "only blocks are renamed: {special}"
    );

    let nothing = c.request(
        "textDocument/definition",
        json!({"textDocument": {"uri": main_uri}, "position": {"line": 2, "character": 4}}),
    );
    assert_eq!(nothing["result"], Value::Null, "{nothing}");
    c.stop();
    let _ = std::fs::remove_dir_all(&dir);
}

fn labels(response: &Value) -> Vec<String> {
    response["result"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|i| i["label"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn completion_and_hover() {
    let dir = temp_bot("complete");
    let main = dir.join("main.scn");
    let other = dir.join("other.scn");
    let text = "user %счёт% = 0\nblock start {\n  set %total% = 1\n  say \"Итог 😀 %\"\n  goto \n  set %n% = len(%total%)\n}\n";
    // What was on disk parsed; the buffer being typed does not (`goto ` has no target yet).
    let parsed = text
        .replace("goto \n", "goto start\n")
        .replace(" %\"", " %total%\"");
    std::fs::write(&main, &parsed).expect("write");
    std::fs::write(&other, "block help {\n  end\n}\n").expect("write");
    let main_uri = uri(&main);
    let mut c = Client::start();
    c.handshake();
    c.open(&main_uri, &parsed);
    c.diagnostics_for(&main_uri);
    c.notify(
        "textDocument/didChange",
        json!({"textDocument": {"uri": main_uri, "version": 2}, "contentChanges": [{"text": text}]}),
    );
    assert!(
        !c.diagnostics_for(&main_uri).is_empty(),
        "the buffer has a syntax error"
    );
    let at = |line: u32, character: u32| json!({"textDocument": {"uri": main_uri}, "position": {"line": line, "character": character}});

    // Inside `%` of the say (line 3): `  say "Итог 😀 %` is 2+3+1+1+4+1+2+1+1 = 16 UTF-16 units.
    let vars = labels(&c.request("textDocument/completion", at(3, 16)));
    for expected in ["message", "user_name", "счёт", "total"] {
        assert!(
            vars.iter().any(|v| v == expected),
            "{expected} missing from {vars:?}"
        );
    }
    // After `goto `: this file's blocks by name, the other file's as `other::help`.
    let blocks = labels(&c.request("textDocument/completion", at(4, 7)));
    assert_eq!(blocks, ["start", "other::help"]);
    // At the start of a statement: keywords.
    let words = labels(&c.request("textDocument/completion", at(4, 2)));
    assert!(
        words.iter().any(|w| w == "say") && words.iter().any(|w| w == "http"),
        "{words:?}"
    );
    // In an expression: functions with their signatures.
    let funcs = c.request("textDocument/completion", at(5, 13));
    assert!(labels(&funcs).iter().any(|f| f == "len"), "{funcs}");

    let hover = c.request("textDocument/hover", at(5, 14));
    let value = hover["result"]["contents"]["value"].as_str().unwrap_or("");
    assert!(value.contains("len("), "{hover}");
    // The doc comes from the functions table, the same one the checker and the reference use.
    let len = scenarist::check::FUNCTIONS
        .iter()
        .find(|f| f.name == "len")
        .map(|f| f.doc)
        .unwrap_or_default();
    assert!(!len.is_empty() && value.contains(len), "{hover}");
    let hover = c.request("textDocument/hover", at(0, 7));
    let value = hover["result"]["contents"]["value"].as_str().unwrap_or("");
    assert!(value.contains("user variable"), "{hover}");
    let hover = c.request("textDocument/hover", at(2, 8));
    let value = hover["result"]["contents"]["value"].as_str().unwrap_or("");
    assert!(value.contains("temporary"), "{hover}");

    c.stop();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn declared_variables_have_definition_references_and_rename() {
    let (dir, main_uri, other_uri, mut c) = two_file_bot("vars", "user %счёт% = 0\non start goto a\nblock a {\n  set %счёт% += 1\n  say \"😀 %счёт% from %user_name%\"\n  goto other::b\n}\n", "block b {\n  say \"{{ %счёт% * 2 }}\"\n}\n");
    let at = |uri: &str, line: u32, character: u32| json!({"textDocument": {"uri": uri}, "position": {"line": line, "character": character}});
    // From the use in other.scn's `{{ }}` hole to the declaration in main.scn.
    let def = c.request("textDocument/definition", at(&other_uri, 1, 12));
    assert_eq!(def["result"]["uri"], main_uri, "{def}");
    assert_eq!(
        def["result"]["range"],
        json!({"start": {"line": 0, "character": 6}, "end": {"line": 0, "character": 10}})
    );
    // `  say "😀 %` is 2+3+1+1+2+1+1 = 11 UTF-16 units: the name starts at 11.
    let mut params = at(&main_uri, 4, 12);
    params["context"] = json!({"includeDeclaration": true});
    let refs = c.request("textDocument/references", params);
    assert_eq!(refs["result"].as_array().map(Vec::len), Some(4), "{refs}");
    let mut params = at(&main_uri, 4, 12);
    params["newName"] = json!("balance");
    let rename = c.request("textDocument/rename", params);
    let changes = &rename["result"]["changes"];
    assert_eq!(
        changes[&main_uri].as_array().map(Vec::len),
        Some(3),
        "{rename}"
    );
    assert_eq!(
        changes[&other_uri][0]["range"],
        json!({"start": {"line": 1, "character": 11}, "end": {"line": 1, "character": 15}})
    );
    // Semantic tokens, decoded to (line, UTF-16 column, length, type, modifiers): the
    // declaration, the trigger's and goto's targets, the block's name, the uses, the special.
    let tokens = c.request(
        "textDocument/semanticTokens/full",
        json!({"textDocument": {"uri": main_uri}}),
    );
    let data: Vec<u64> = tokens["result"]["data"]
        .as_array()
        .expect("data")
        .iter()
        .filter_map(Value::as_u64)
        .collect();
    let (mut line, mut column) = (0, 0);
    let mut decoded = Vec::new();
    for t in data.chunks(5) {
        if t[0] > 0 {
            column = 0;
        }
        line += t[0];
        column += t[1];
        decoded.push((line, column, t[2], t[3], t[4]));
    }
    assert_eq!(
        decoded,
        [
            (0, 6, 4, 1, 1),
            (1, 14, 1, 0, 0),
            (2, 6, 1, 0, 1),
            (3, 7, 4, 1, 0),
            (4, 11, 4, 1, 0),
            (4, 23, 9, 1, 2),
            (5, 7, 8, 0, 0),
        ],
        "{tokens}"
    );
    // A special variable cannot be renamed, nor can a name clash.
    let mut params = at(&main_uri, 4, 24);
    params["newName"] = json!("who");
    let special = c.request("textDocument/rename", params);
    assert!(
        special["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("special"),
        "{special}"
    );
    let mut params = at(&main_uri, 4, 12);
    params["newName"] = json!("user_name");
    let clash = c.request("textDocument/rename", params);
    assert!(clash.get("error").is_some(), "{clash}");
    c.stop();
    let _ = std::fs::remove_dir_all(&dir);
}
