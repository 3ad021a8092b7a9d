// The VS Code side of scenarist: starts `scenarist lsp` for .scn files. Everything an editor
// shows (diagnostics, definitions, completion, hover, formatting) comes from the server.
"use strict";

const vscode = require("vscode");
const { LanguageClient, TransportKind } = require("vscode-languageclient/node");

let client;

function activate(context) {
  const command = vscode.workspace.getConfiguration("scenarist").get("path") || "scenarist";
  const server = { command, args: ["lsp"], transport: TransportKind.stdio };
  client = new LanguageClient(
    "scenarist",
    "Scenarist",
    { run: server, debug: server },
    {
      documentSelector: [{ scheme: "file", language: "scenarist" }],
      synchronize: { fileEvents: vscode.workspace.createFileSystemWatcher("**/*.scn") },
    }
  );
  context.subscriptions.push({ dispose: () => client && client.stop() });
  return client.start();
}

function deactivate() {
  return client ? client.stop() : undefined;
}

module.exports = { activate, deactivate };
