//! `scenarist test --record` against a real server on 127.0.0.1: the real responses are written
//! into the test file as stubs (secrets redacted), and the file then passes offline.

mod http_server;

use http_server::{response, Reply, Server};
use std::process::{Command, Output};

fn scenarist(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_scenarist"))
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .expect("the binary runs")
}

fn text(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr)
}

const BOT: &str = r#"on start goto ask
block ask {
  say "Your order number?"
  wait
  http GET "%base%/orders/%message%" {
    header Authorization: "Bearer %token%"
    on error goto down
  }
  if %status% == 200 {
    say "Order %body.id%: %body.state%, total {{ fixed(%body.total%, 2) }}."
  } else {
    say "No order %message% (%status%)."
  }
  http GET "%base%/notes" { on error goto down }
  say "Note: %body%"
  http GET "http://127.0.0.1:1/closed" { on error goto down }
}
block down {
  say "The shop is down: %error%"
}
"#;

#[test]
fn record_writes_real_responses_as_stubs_and_the_file_passes_offline() {
    let server = Server::start(|r| {
        if r.target.starts_with("/orders/7") {
            let token = r.header("authorization").unwrap_or_default().to_string();
            Reply::Raw(response(
                200,
                &[
                    ("Content-Type", "application/json"),
                    ("X-Request-Id", "r-123"),
                ],
                format!(r#"{{"id":7,"state":"shipped","total":13.9,"seen":"{token}"}}"#).as_bytes(),
            ))
        } else if r.target == "/notes" {
            Reply::Raw(response(
                200,
                &[("Content-Type", "text/plain; charset=windows-1251")],
                // "Привет" in windows-1251
                &[0xCF, 0xF0, 0xE8, 0xE2, 0xE5, 0xF2],
            ))
        } else {
            Reply::Raw(response(404, &[], b""))
        }
    });
    let dir = std::env::temp_dir().join(format!("scenarist-record-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    std::fs::write(dir.join("shop.scn"), BOT).expect("bot");
    let test = dir.join("shop.test");
    std::fs::write(
        &test,
        format!(
            "# Recorded once against the shop API.\nbot shop.scn\nsecret token = sk_live_SECRET\nvar base = \"{}\"\n\n=== a shipped order\n> hi\n> 7\n",
            server.base()
        ),
    )
    .expect("test");
    let shown = test.display().to_string();
    let o = scenarist(&["test", "--record", "--allow-host", &server.host(), &shown]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("recorded"), "{}", text(&o));
    let written = std::fs::read_to_string(&test).expect("written");
    for want in [
        "# Recorded once against the shop API.",
        "=== a shipped order",
        "< Your order number?",
        "  Authorization: Bearer ***",
        "→ 200",
        "  Content-Type: application/json",
        "    \"state\": \"shipped\",",
        "    \"seen\": \"Bearer ***\"",
        "< Order 7: shipped, total 13.90.",
        "  Content-Type: text/plain; charset=windows-1251",
        "  | Привет",
        "< Note: Привет",
        "→ error: refused by the host policy: 127.0.0.1:1 is not an allowed host (--allow-host)",
    ] {
        assert!(written.contains(want), "missing {want:?} in:\n{written}");
    }
    assert!(
        !written.contains("sk_live_SECRET\"") && !written.contains("Bearer sk_live"),
        "{written}"
    );
    assert!(
        !written.contains("X-Request-Id"),
        "only the headers that matter: {written}"
    );
    // The server goes away; the recorded file is a normal golden test now.
    let requests = server.received().len();
    drop(server);
    let o = scenarist(&["test", &shown]);
    assert_eq!(o.status.code(), Some(0), "{}\n{written}", text(&o));
    assert_eq!(requests, 2, "the bot called the server twice");
}

#[test]
fn record_obeys_the_host_policy() {
    let server = Server::start(|_| Reply::Raw(response(200, &[], b"ok")));
    let dir = std::env::temp_dir().join(format!("scenarist-record-policy-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    std::fs::write(
        dir.join("bot.scn"),
        "on start goto a\nblock a {\n  http GET \"%base%/x\" { on error goto down }\n  say \"%body%\"\n}\nblock down {\n  say \"down: %error%\"\n}\n",
    )
    .expect("bot");
    let test = dir.join("bot.test");
    std::fs::write(
        &test,
        format!("bot bot.scn\nvar base = \"{}\"\n\n> hi\n", server.base()),
    )
    .expect("test");
    // Without --allow-host, loopback is refused: the refusal is what gets recorded.
    let o = scenarist(&["test", "--record", &test.display().to_string()]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let written = std::fs::read_to_string(&test).expect("written");
    assert!(
        written.contains("→ error: refused by the host policy"),
        "{written}"
    );
    assert_eq!(server.received().len(), 0);
}
