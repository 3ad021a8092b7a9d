//! The `http` statement against a real server on 127.0.0.1 (LANGUAGE.md §8): what arrives on
//! the wire for every body kind and encoding rule, how each kind of response lands in the
//! variables, and every kind of transport failure — refused hosts (also after a redirect),
//! timeouts, oversize bodies, refused connections. The real client is used throughout.

mod http_server;

use std::time::{Duration, Instant};

use http_server::{json, response, Reply, Server};
use scenarist::eval::{ButtonEvent, Event, Options, Runtime};
use scenarist::http::{Client, Limits, Policy};
use scenarist::value::Value;
use scenarist::{compile, Sources};

/// Runs the bot's `on start` with one message and returns the events as compact lines.
struct Run<'a> {
    bot: String,
    presets: Vec<(&'a str, Value)>,
    policy: Policy,
    limits: Limits,
    secrets: Vec<&'a str>,
    turn_time: Option<Duration>,
}

fn bot(body: &str) -> Run<'static> {
    Run {
        bot: format!("scenario \"T\"\non start goto a\nblock a {{\n{body}\n}}\nblock failed {{\n  say \"failed: %error% | status=%status% body=[%body%] headers={{{{ json(%headers%) }}}}\"\n}}\n"),
        presets: Vec::new(),
        policy: Policy::public(),
        limits: Limits::default(),
        secrets: Vec::new(),
        turn_time: None,
    }
}

impl<'a> Run<'a> {
    fn on(mut self, server: &Server) -> Self {
        self.presets.push(("base", Value::from(server.base())));
        self.policy = Policy::allow(&[server.host()]).expect("pattern");
        self
    }

    fn var(mut self, name: &'a str, value: impl Into<Value>) -> Self {
        self.presets.push((name, value.into()));
        self
    }

    fn allow(mut self, hosts: &[String]) -> Self {
        self.policy = Policy::allow(hosts).expect("patterns");
        self
    }

    fn public(mut self) -> Self {
        self.policy = Policy::public();
        self
    }

    fn limit(mut self, bytes: u64) -> Self {
        self.limits = Limits {
            max_response_bytes: bytes,
        };
        self
    }

    fn secret(mut self, name: &'a str, value: &str) -> Self {
        self.presets.push((name, Value::from(value)));
        self.secrets.push(name);
        self
    }

    fn events(self) -> Vec<Event> {
        let sources = Sources::from_texts([("bot.scn", self.bot.as_str())]);
        let program = match compile(&sources) {
            Ok(p) => p,
            Err(d) => panic!("bot does not compile: {d:#?}\n{}", self.bot),
        };
        let mut options = Options {
            now_ms: Some(0),
            ..Options::default()
        };
        if let Some(t) = self.turn_time {
            options.max_turn_time = t;
        }
        let rt = Runtime::new(program, sources, options);
        let mut session = rt.new_session("u1", "Ann");
        let mut globals = rt.new_globals();
        for (name, value) in self.presets {
            rt.preset(&mut session, name, value, self.secrets.contains(&name))
                .expect("not a special variable");
        }
        let tokio = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        tokio.block_on(async {
            let client = Client::new(self.policy, self.limits);
            rt.turn(&mut session, &mut globals, "hi", &client).await
        })
    }

    fn lines(self) -> Vec<String> {
        self.events().iter().filter_map(line).collect()
    }
}

fn line(e: &Event) -> Option<String> {
    Some(match e {
        Event::Input { .. }
        | Event::Webhook { .. }
        | Event::Timer { .. }
        | Event::Wait
        | Event::End => return None,
        Event::Message { text, buttons, .. } => {
            let mut s = format!("say {text}");
            for b in buttons {
                if let ButtonEvent::Link { label, url } = b {
                    s.push_str(&format!(" [{label} {url}]"));
                }
            }
            s
        }
        Event::Http {
            method,
            url,
            status: Some(s),
            ..
        } => format!("http {method} {url} -> {s}"),
        Event::Http {
            method, url, error, ..
        } => format!(
            "http {method} {url} -> failed: {}",
            error.as_deref().unwrap_or("?")
        ),
        Event::Notify { text } => format!("notify {text}"),
        Event::Log { text } => format!("log {text}"),
        Event::Warning { message, at } => format!(
            "warning {message}{}",
            at.as_ref()
                .map(|l| format!(" @{}:{}", l.line, l.column))
                .unwrap_or_default()
        ),
        Event::Error { message, at } => format!(
            "error {message}{}",
            at.as_ref()
                .map(|l| format!(" @{}:{}", l.line, l.column))
                .unwrap_or_default()
        ),
    })
}

fn ok_server() -> Server {
    Server::start(|_| json(200, r#"{"ok":true}"#))
}

fn only(server: &Server) -> http_server::Received {
    let got = server.received();
    assert_eq!(got.len(), 1, "requests: {got:#?}");
    got.into_iter().next().expect("one request")
}

// ---------------------------------------------------------------- request: URL and encoding

#[test]
fn path_and_query_values_are_encoded_as_one_component() {
    let server = ok_server();
    let lines = bot(r#"
  http GET "%base%/api/orders/%id%/items?q=%q%&lang={{ 'ru' }}" {
    query utm: %ref_code%
    query tag: ["a b", "c&d"]
    query "name": "Иван"
    on error goto failed
  }"#)
    .on(&server)
    .var("id", "a&b=c d/e?#")
    .var("q", "1&admin=1")
    .var("ref_code", "x+y=z")
    .lines();
    let got = only(&server);
    assert_eq!(got.method, "GET");
    assert_eq!(
        got.target,
        "/api/orders/a%26b%3Dc%20d%2Fe%3F%23/items?q=1%26admin%3D1&lang=ru&utm=x%2By%3Dz&tag=a%20b&tag=c%26d&name=%D0%98%D0%B2%D0%B0%D0%BD"
    );
    assert_eq!(
        lines[0],
        format!("http GET {}{} -> 200", server.base(), got.target)
    );
}

#[test]
fn a_value_that_begins_the_url_is_inserted_verbatim() {
    let server = ok_server();
    bot(r#"
  http GET "%base%/x/%path_prefix%" { on error goto failed }"#)
    .on(&server)
    .var("path_prefix", "/v1")
    .lines();
    assert_eq!(only(&server).target, "/x/%2Fv1");
}

#[test]
fn a_value_in_the_host_cannot_move_the_request_and_its_credentials() {
    let server = ok_server();
    // What the user typed would have sent the token to the test server ("evil").
    let evil = format!("{}/steal?", server.host());
    let lines = bot(r#"
  http GET "http://%region%.example.com/ok" {
    header Authorization: "Bearer %token%"
    on error goto failed
  }"#)
    .public()
    .var("region", evil.as_str())
    .secret("token", "sk_live_0123456789")
    .lines();
    assert_eq!(server.received().len(), 0, "nothing is sent");
    assert!(
        lines[0].starts_with("error cannot call this URL: a value in its host holds `:`"),
        "{lines:?}"
    );
    // After a verbatim base URL the port is digits only: `@host` cannot follow it either.
    let lines = bot(r#"
  http GET "%base%%suffix%/ok" { on error goto failed }"#)
    .on(&server)
    .var("suffix", "@evil.test")
    .lines();
    assert_eq!(server.received().len(), 0, "nothing is sent");
    assert!(
        lines[0].starts_with("error cannot call this URL: a value in its port holds `@`"),
        "{lines:?}"
    );
}

#[test]
fn a_dot_segment_from_a_value_is_a_runtime_error() {
    let server = ok_server();
    for dots in [".", ".."] {
        let lines = bot(r#"
  http GET "%base%/orders/%order%/status" { on error goto failed }"#)
        .on(&server)
        .var("order", dots)
        .lines();
        assert!(
            lines[0].starts_with(&format!(
                "error cannot call this URL: a value makes a path component `{dots}`"
            )),
            "{lines:?}"
        );
    }
    assert_eq!(server.received().len(), 0, "nothing is sent");
}

#[test]
fn a_url_that_is_not_http_is_a_runtime_error_and_nothing_is_sent() {
    let server = ok_server();
    let lines = bot(r#"
  http GET "%base%/x" { on error goto failed }"#)
    .on(&server)
    .var("base", "file:///etc/passwd#")
    .lines();
    assert_eq!(server.received().len(), 0);
    assert!(
        lines[0].starts_with("error cannot call `file:///etc/passwd#/x` uses `file:`"),
        "{lines:?}"
    );
    assert!(lines[0].ends_with("@5:12"), "{lines:?}");
}

#[test]
fn every_method_is_sent_as_written() {
    let server = ok_server();
    let mut body = String::new();
    for m in ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"] {
        body.push_str(&format!(
            "  http {m} \"%base%/m\" {{ on error goto failed }}\n  say \"{m} %status% [%body%]\"\n"
        ));
    }
    let lines = bot(&body).on(&server).lines();
    let methods: Vec<String> = server.received().into_iter().map(|r| r.method).collect();
    assert_eq!(
        methods,
        ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
    );
    assert!(lines.contains(&"say HEAD 200 []".to_string()), "{lines:?}");
    // Seven requests in one conversation run share a keep-alive connection.
    assert_eq!(server.connections(), 1);
}

#[test]
fn user_agent_is_scenarist_unless_the_scenario_sets_one() {
    let server = ok_server();
    bot(r#"
  http GET "%base%/a" { on error goto failed }
  http GET "%base%/b" {
    header User-Agent: "MyShopBot/2"
    header X-Trace: "%who%"
    header x-trace: "second"
    header X-Name: "Иван	Иванов"
    on error goto failed
  }"#)
    .on(&server)
    .var("who", "Ann Lee")
    .lines();
    let got = server.received();
    assert_eq!(
        got[0].header_all("user-agent"),
        [format!("scenarist/{}", env!("CARGO_PKG_VERSION"))]
    );
    assert_eq!(got[1].header_all("user-agent"), ["MyShopBot/2"]);
    assert_eq!(got[1].header_all("x-trace"), ["Ann Lee", "second"]);
    // UTF-8 and tabs are sent as they are (other control characters are refused).
    assert_eq!(got[1].header_all("x-name"), ["Иван\tИванов"]);
}

#[test]
fn a_header_with_a_line_break_is_refused_and_nothing_is_sent() {
    let server = ok_server();
    let lines = bot(r#"
  http GET "%base%/a" {
    header X-Name: "%name%"
    on error goto failed
  }"#)
    .on(&server)
    .var("name", "Ann\r\nX-Admin: 1")
    .lines();
    assert_eq!(server.received().len(), 0);
    assert_eq!(
        lines,
        ["error the value of header `X-Name` contains a line break; the request was not sent @6:5"]
    );
}

// ---------------------------------------------------------------- request bodies

#[test]
fn form_bodies_are_urlencoded_with_repeated_keys() {
    let server = ok_server();
    bot(r#"
  http POST "%base%/leads" {
    form {"name": %name%, "tags": ["a", "b c"], "note": "x&y=z", "qty": 2, "ok": true}
    on error goto failed
  }"#)
    .on(&server)
    .var("name", "Анна Lee")
    .lines();
    let got = only(&server);
    assert_eq!(
        String::from_utf8_lossy(&got.body),
        "name=%D0%90%D0%BD%D0%BD%D0%B0+Lee&tags=a&tags=b+c&note=x%26y%3Dz&qty=2&ok=true"
    );
    assert_eq!(
        got.header_all("content-type"),
        ["application/x-www-form-urlencoded"]
    );
    assert_eq!(got.header("content-length"), Some("78"));
}

#[test]
fn json_bodies_keep_types_and_are_always_valid() {
    let server = ok_server();
    bot(r#"
  http POST "%base%/leads" {
    json {"name": %name%, "phone": "+%phone%", "qty": %qty%, "big": %big%, "cart": %cart%, "note": "%note%", "none": null}
    on error goto failed
  }"#)
    .on(&server)
    .var("name", "Ann \"the\" \\ Lee\nИванова")
    .var("phone", "7900")
    .var("qty", Value::parse_json("3").expect("json"))
    .var(
        "big",
        Value::parse_json("12345678901234567890123456789").expect("json"),
    )
    .var(
        "cart",
        Value::parse_json(r#"{"z": [1, 2.50], "a": {"b": null}}"#).expect("json"),
    )
    .var("note", "</script>\u{0}\t")
    .lines();
    let got = only(&server);
    let body = String::from_utf8(got.body.clone()).expect("utf-8");
    assert_eq!(
        body,
        r#"{"name":"Ann \"the\" \\ Lee\nИванова","phone":"+7900","qty":3,"big":12345678901234567890123456789,"cart":{"z":[1,2.5],"a":{"b":null}},"note":"</script>\u0000\t","none":null}"#
    );
    serde_json::from_str::<serde_json::Value>(&body).expect("valid JSON");
    assert_eq!(got.header_all("content-type"), ["application/json"]);
}

#[test]
fn an_authors_content_type_replaces_the_default() {
    let server = ok_server();
    bot(r#"
  http POST "%base%/a" {
    header content-type: "application/vnd.api+json; charset=utf-8"
    json {"a": 1}
    on error goto failed
  }"#)
    .on(&server)
    .lines();
    let got = only(&server);
    assert_eq!(
        got.header_all("content-type"),
        ["application/vnd.api+json; charset=utf-8"]
    );
    assert_eq!(got.body, br#"{"a":1}"#);
}

#[test]
fn text_bodies_are_sent_as_is_without_a_content_type() {
    let server = ok_server();
    bot(r#"
  http PUT "%base%/notes" {
    text "line 1: %name%\nline 2 {\"raw\": true} &=?"
    on error goto failed
  }"#)
    .on(&server)
    .var("name", "Ann & \"Bob\"")
    .lines();
    let got = only(&server);
    assert_eq!(
        String::from_utf8_lossy(&got.body),
        "line 1: Ann & \"Bob\"\nline 2 {\"raw\": true} &=?"
    );
    assert_eq!(got.header_all("content-type"), Vec::<&str>::new());
}

// ---------------------------------------------------------------- responses into variables

#[test]
fn json_responses_become_values_with_order_and_big_numbers_kept() {
    let server = Server::start(|_| {
        json(
            200,
            r#"{"z": 1, "a": 12345678901234567890123456789, "f": 0.10, "items": [{"name": "Чай"}], "nested": {"k": null}}"#,
        )
    });
    let lines = bot(r#"
  http GET "%base%/o" { on error goto failed }
  say "{{ type(%body%) }} {{ type(%status%) }} %status% %body.items.0.name%"
  say "{{ json(%body%) }}"
  say "{{ %body.a% + 1 }}""#)
    .on(&server)
    .lines();
    assert_eq!(
        lines[1..],
        [
            "say dictionary number 200 Чай",
            r#"say {"z":1,"a":12345678901234567890123456789,"f":0.1,"items":[{"name":"Чай"}],"nested":{"k":null}}"#,
            "say 12345678901234567890123456790",
        ]
    );
}

#[test]
fn plus_json_media_types_are_json_and_arrays_become_lists() {
    let server = Server::start(|r| {
        let (ct, body) = if r.target == "/problem" {
            (
                "application/problem+json; charset=utf-8",
                r#"{"title":"Bad"}"#,
            )
        } else {
            ("Application/JSON", r#"[1, "two", true]"#)
        };
        Reply::Raw(response(400, &[("Content-Type", ct)], body.as_bytes()))
    });
    let lines = bot(r#"
  http GET "%base%/problem" { on error goto failed }
  say "{{ type(%body%) }} %body.title% %status%"
  http GET "%base%/list" { on error goto failed }
  say "{{ type(%body%) }} {{ len(%body%) }} %body.1%""#)
    .on(&server)
    .lines();
    assert_eq!(lines[1], "say dictionary Bad 400");
    assert_eq!(lines[3], "say list 3 two");
}

#[test]
fn text_responses_are_decoded_with_their_charset() {
    // "Привет, мир" in windows-1251.
    let cp1251: &[u8] = &[
        0xCF, 0xF0, 0xE8, 0xE2, 0xE5, 0xF2, 0x2C, 0x20, 0xEC, 0xE8, 0xF0,
    ];
    let server = Server::start(move |r| {
        let reply = match r.target.as_str() {
            "/1251" => response(
                200,
                &[("Content-Type", "text/plain; charset=windows-1251")],
                cp1251,
            ),
            "/koi8" => response(
                200,
                &[("Content-Type", "text/html; charset=\"KOI8-R\"")],
                &[0xF0, 0xD2, 0xC9],
            ),
            "/bad-utf8" => response(200, &[("Content-Type", "text/plain")], b"ok \xFF\xFE end"),
            _ => response(200, &[], b"no type at all"),
        };
        Reply::Raw(reply)
    });
    let lines = bot(r#"
  http GET "%base%/1251" { on error goto failed }
  say "{{ type(%body%) }}: %body%"
  http GET "%base%/koi8" { on error goto failed }
  say "%body%"
  http GET "%base%/bad-utf8" { on error goto failed }
  say "%body%"
  http GET "%base%/none" { on error goto failed }
  say "%body%""#)
    .on(&server)
    .lines();
    assert_eq!(lines[1], "say string: Привет, мир");
    assert_eq!(lines[3], "say При");
    assert_eq!(lines[5], "say ok \u{FFFD}\u{FFFD} end");
    assert_eq!(lines[7], "say no type at all");
}

#[test]
fn invalid_json_gives_the_text_and_a_warning() {
    let server = Server::start(|_| json(502, "<html>Bad gateway</html>"));
    let lines = bot(r#"
  http GET "%base%/x" {
    body -> %answer%
    on error goto failed
  }
  say "{{ type(%answer%) }} %status%: %answer%""#)
    .on(&server)
    .lines();
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert!(
        lines[1].starts_with(&format!(
            "warning the response to GET {}/x is not valid JSON (",
            server.base()
        )),
        "{lines:?}"
    );
    assert!(
        lines[1].ends_with("%answer% holds it as text @5:12"),
        "{lines:?}"
    );
    assert_eq!(lines[2], "say string 502: <html>Bad gateway</html>");
}

#[test]
fn headers_are_lowercased_in_order_with_repeats_joined() {
    let server = Server::start(|_| {
        Reply::Raw(response(
            201,
            &[
                ("X-Request-ID", "r-1"),
                ("Set-Cookie", "a=1"),
                ("Content-Type", "text/plain"),
                ("set-cookie", "b=2"),
                ("X-Empty", ""),
            ],
            b"",
        ))
    });
    let lines = bot(r#"
  http POST "%base%/x" {
    status -> %code%
    headers -> %h%
    on error goto failed
  }
  say "%code% [%body%] {{ json(%h%) }}""#)
    .on(&server)
    .lines();
    assert_eq!(
        lines[1],
        r#"say 201 [] {"x-request-id":"r-1","set-cookie":"a=1, b=2","content-type":"text/plain","x-empty":"","content-length":"0"}"#
    );
}

#[test]
fn status_codes_are_numbers_not_errors() {
    let server = Server::start(|r| {
        let status = r.target.trim_start_matches('/').parse().unwrap_or(500);
        json(status, r#"{"error":"nope"}"#)
    });
    let lines = bot(r#"
  http DELETE "%base%/404" { on error goto failed }
  if %status% == 404 { say "not found: %body.error%" }
  http GET "%base%/500" { on error goto failed }
  say "{{ %status% + 1 }}""#)
    .on(&server)
    .lines();
    assert_eq!(lines[1], "say not found: nope");
    assert_eq!(lines[3], "say 501");
}

// ---------------------------------------------------------------- redirects

#[test]
fn redirects_are_followed_and_303_turns_post_into_get() {
    let server = Server::start(|r| match r.target.as_str() {
        "/old" => Reply::Raw(response(301, &[("Location", "/new?x=1")], b"")),
        "/submit" => Reply::Raw(response(303, &[("Location", "/done")], b"")),
        _ => json(200, &format!(r#"{{"at":"{}"}}"#, r.target)),
    });
    let lines = bot(r#"
  http GET "%base%/old" { on error goto failed }
  say "%status% %body.at%"
  http POST "%base%/submit" {
    json {"a": 1}
    on error goto failed
  }
  say "%status% %body.at%""#)
    .on(&server)
    .lines();
    assert_eq!(lines[1], "say 200 /new?x=1");
    assert_eq!(lines[3], "say 200 /done");
    let got = server.received();
    let seen: Vec<(&str, &str)> = got
        .iter()
        .map(|r| (r.method.as_str(), r.target.as_str()))
        .collect();
    assert_eq!(
        seen,
        [
            ("GET", "/old"),
            ("GET", "/new?x=1"),
            ("POST", "/submit"),
            ("GET", "/done")
        ]
    );
    assert!(got[3].body.is_empty());
    assert_eq!(got[3].header("content-type"), None);
}

#[test]
fn redirects_0_returns_the_3xx_and_a_loop_fails() {
    let server = Server::start(|r| {
        let n: u32 = r.target.trim_start_matches("/r").parse().unwrap_or(0);
        Reply::Raw(response(302, &[("Location", &format!("/r{}", n + 1))], b""))
    });
    let lines = bot(r#"
  http GET "%base%/r0" {
    redirects 0
    on error goto failed
  }
  say "%status% %headers.location%"
  http GET "%base%/r0" {
    redirects 2
    on error goto failed
  }"#)
    .on(&server)
    .lines();
    assert_eq!(lines[1], "say 302 /r1");
    assert_eq!(
        lines[3],
        "say failed: more than 2 redirects (the last to /r3) | status=0 body=[] headers={}"
    );
    assert_eq!(server.received().len(), 4);
}

#[test]
fn a_redirect_to_a_host_outside_the_policy_is_refused() {
    let other = ok_server();
    let target = format!("{}/secret", other.base());
    let server = Server::start(move |_| Reply::Raw(response(302, &[("Location", &target)], b"")));
    let lines = bot(r#"
  http GET "%base%/go" { on error goto failed }"#)
    .on(&server)
    .lines();
    assert_eq!(
        other.received().len(),
        0,
        "nothing may reach the other host"
    );
    assert_eq!(
        lines[1],
        format!(
            "say failed: refused by the host policy: {} is not an allowed host (--allow-host) | status=0 body=[] headers={{}}",
            other.host()
        )
    );
}

#[test]
fn credentials_are_not_forwarded_to_another_origin() {
    let other = ok_server();
    let target = format!("{}/landing", other.base());
    let server = Server::start(move |r| {
        let status = if r.target.starts_with("/go-302") {
            302
        } else {
            307
        };
        Reply::Raw(response(status, &[("Location", &target)], b""))
    });
    // A 307 repeats the request; with a body, to another origin, that is a transport failure.
    let lines = bot(r#"
  http POST "%base%/go" {
    header Authorization: "Bearer t0k"
    header X-Api-Key: "k3y"
    text "payload"
    on error goto failed
  }"#)
    .on(&server)
    .allow(&[server.host(), other.host()])
    .lines();
    let first = only(&server);
    assert_eq!(first.header("authorization"), Some("Bearer t0k"));
    assert_eq!(
        other.received().len(),
        0,
        "the body is not resent elsewhere"
    );
    assert!(
        lines[1].starts_with("say failed: redirect to another origin"),
        "{lines:?}"
    );
    // Without a body it is followed, but no header the scenario set goes to the other origin.
    bot(r#"
  http GET "%base%/go" {
    header Authorization: "Bearer t0k"
    header X-Api-Key: "k3y"
    header User-Agent: "shop-bot"
    on error goto failed
  }
  http POST "%base%/go-302" {
    header X-Api-Key: "k3y"
    form {"a": "1"}
    on error goto failed
  }"#)
    .on(&server)
    .allow(&[server.host(), other.host()])
    .lines();
    let landed = other.received();
    assert_eq!(landed.len(), 2, "{landed:#?}");
    for (request, method) in landed.iter().zip(["GET", "GET"]) {
        assert_eq!(request.method, method);
        assert_eq!(request.body, b"");
        for name in ["authorization", "x-api-key", "content-type"] {
            assert_eq!(request.header(name), None, "{name}: {request:#?}");
        }
        assert!(request
            .header("user-agent")
            .unwrap_or_default()
            .starts_with("scenarist/"));
    }
}

#[test]
fn a_redirect_within_the_origin_keeps_headers_and_body() {
    let server = Server::start(move |r| {
        if r.target == "/go" {
            Reply::Raw(response(308, &[("Location", "/there")], b""))
        } else {
            json(200, "{}")
        }
    });
    bot(r#"
  http PUT "%base%/go" {
    header X-Api-Key: "k3y"
    text "payload"
    on error goto failed
  }"#)
    .on(&server)
    .lines();
    let got = server.received();
    assert_eq!(got.len(), 2);
    assert_eq!(got[1].method, "PUT");
    assert_eq!(got[1].body, b"payload");
    assert_eq!(got[1].header("x-api-key"), Some("k3y"));
}

// ---------------------------------------------------------------- host policy

#[test]
fn without_allow_host_loopback_and_private_addresses_are_refused() {
    let server = ok_server();
    let port = server.addr.port();
    let lines = bot(&format!(
        r#"
  http GET "http://127.0.0.1:{port}/a" {{ on error goto failed }}
  http GET "http://localhost:{port}/b" {{ on error goto failed }}
  http GET "http://169.254.169.254/latest/meta-data/" {{ on error goto failed }}
  http GET "http://[::1]:{port}/c" {{ on error goto failed }}"#
    ))
    .public()
    .lines();
    assert_eq!(server.received().len(), 0);
    let failures: Vec<&String> = lines
        .iter()
        .filter(|l| l.starts_with("say failed"))
        .collect();
    assert_eq!(
        failures.len(),
        1,
        "the first failure goes to `failed`: {lines:?}"
    );
    assert_eq!(
        lines[0],
        format!("http GET http://127.0.0.1:{port}/a -> failed: refused by the host policy: 127.0.0.1 is a loopback address")
    );
    // One statement at a time, each on its own: names are checked on their resolved addresses.
    for (url, expected) in [
        (
            format!("http://localhost:{port}/b"),
            "refused by the host policy: localhost resolves to",
        ),
        (
            "http://169.254.169.254/latest/meta-data/".into(),
            "refused by the host policy: 169.254.169.254 is a link-local (cloud metadata) address",
        ),
        (
            format!("http://[::1]:{port}/c"),
            "refused by the host policy: ::1 is a loopback address",
        ),
    ] {
        let lines = bot(&format!("  http GET \"{url}\" {{ on error goto failed }}"))
            .public()
            .lines();
        assert!(
            lines[0].starts_with(&format!("http GET {url} -> failed: {expected}")),
            "{lines:?}"
        );
    }
    assert_eq!(server.received().len(), 0);
}

#[test]
fn allow_host_limits_calls_to_the_listed_hosts_and_ports() {
    let server = ok_server();
    let lines = bot(r#"
  http GET "%base%/a" { on error goto failed }
  say "%status%""#)
    .on(&server)
    .allow(&["127.0.0.1:1".into(), "*.example.com".into()])
    .lines();
    assert_eq!(server.received().len(), 0);
    assert!(
        lines[1].starts_with(&format!(
            "say failed: refused by the host policy: {} is not an allowed host",
            server.host()
        )),
        "{lines:?}"
    );
}

// ---------------------------------------------------------------- transport failures

#[test]
fn connection_refused_with_and_without_on_error() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let base = format!("http://127.0.0.1:{port}");
    let allow = vec![format!("127.0.0.1:{port}")];
    let lines = bot(r#"
  http GET "%base%/x" {
    body -> %b%
    on error goto failed
  }"#)
    .var("base", base.clone())
    .var("status", 200)
    .var("body", "stale")
    .allow(&allow)
    .lines();
    assert_eq!(
        lines,
        [
            format!("http GET {base}/x -> failed: connection refused (127.0.0.1:{port})"),
            // The statement's own targets are reset: `%body%` was not its target here.
            format!("say failed: connection refused (127.0.0.1:{port}) | status=0 body=[stale] headers={{}}"),
        ]
    );
    let lines = bot(r#"
  http GET "%base%/x"
  say "not reached""#)
    .var("base", base.clone())
    .allow(&allow)
    .lines();
    assert_eq!(
        lines,
        [
            format!("http GET {base}/x -> failed: connection refused (127.0.0.1:{port})"),
            format!("error GET {base}/x failed: connection refused (127.0.0.1:{port}) @5:12"),
        ]
    );
}

#[test]
fn a_slow_server_times_out() {
    let server =
        Server::start(|_| Reply::After(Duration::from_secs(3), response(200, &[], b"late")));
    let started = Instant::now();
    let lines = bot(r#"
  http GET "%base%/slow" {
    timeout 300ms
    on error goto failed
  }"#)
    .on(&server)
    .lines();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(
        lines[1],
        "say failed: timed out after 300ms | status=0 body=[] headers={}"
    );
}

#[test]
fn an_oversize_body_fails_early_whether_or_not_its_length_is_announced() {
    let server = Server::start(|r| match r.target.as_str() {
        "/announced" => Reply::Raw(response(200, &[], &vec![b'x'; 5000])),
        _ => Reply::Endless {
            head: b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n"
                .to_vec(),
            total: 200 << 20,
        },
    });
    let lines = bot(r#"
  http GET "%base%/announced" { on error goto failed }
  http GET "%base%/endless" { on error goto endless }
}
block endless {
  say "endless: %error%""#)
    .on(&server)
    .limit(4096)
    .lines();
    assert_eq!(
        lines[1],
        "say failed: the response body is larger than 4096 bytes (--max-response-bytes) | status=0 body=[] headers={}"
    );
    let lines = bot(r#"
  http GET "%base%/endless" { on error goto failed }"#)
    .on(&server)
    .limit(1 << 20)
    .lines();
    assert_eq!(
        lines[1],
        "say failed: the response body is larger than 1048576 bytes (--max-response-bytes) | status=0 body=[] headers={}"
    );
    // The client hung up long before the server could send its 200 MiB.
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        server.streamed() < 50 << 20,
        "{} bytes were sent",
        server.streamed()
    );
}

#[test]
fn a_body_within_the_cap_is_read_whole() {
    let server = Server::start(|_| Reply::Raw(response(200, &[], &vec![b'y'; 4096])));
    let lines = bot(r#"
  http GET "%base%/a" { on error goto failed }
  say "{{ len(%body%) }}""#)
    .on(&server)
    .limit(4096)
    .lines();
    assert_eq!(lines[1], "say 4096");
}

// ---------------------------------------------------------------- secrets

#[test]
fn secrets_are_sent_but_never_shown() {
    let server = ok_server();
    let lines = bot(r#"
  http GET "%base%/orders?token=%token%" {
    header Authorization: "Bearer %token%"
    on error goto failed
  }
  http GET "http://127.0.0.1:1/%token%" { on error goto failed }"#)
    .on(&server)
    .secret("token", "s3cr3t-v@lue")
    .lines();
    let got = only(&server);
    assert_eq!(got.target, "/orders?token=s3cr3t-v%40lue");
    assert_eq!(got.header("authorization"), Some("Bearer s3cr3t-v@lue"));
    let all = lines.join("\n");
    assert!(!all.contains("s3cr3t"), "{all}");
    assert!(all.contains("token=***"), "{all}");
}

#[test]
fn https_to_a_plain_http_server_is_a_transport_failure() {
    let server = ok_server();
    let lines = bot(r#"
  http GET "https://127.0.0.1:%port%/x" { on error goto failed }"#)
    .on(&server)
    .var("port", server.host().rsplit(':').next().unwrap_or_default())
    .lines();
    assert!(
        lines[1].starts_with("say failed: TLS handshake failed: ")
            && lines[1].ends_with("| status=0 body=[] headers={}"),
        "{lines:?}"
    );
}

#[test]
fn request_bodies_are_bounded_and_nothing_is_sent_past_10_mib() {
    let server = ok_server();
    let twelve = ["%s%"; 12].join(", ");
    let make = "  set %s% = \"x\"\n  set %i% = 0\n  goto double\n}\nblock double {\n  set %s% = \"%s%%s%\"\n  set %i% += 1\n  if %i% < 20 {\n    goto double\n  }\n  goto send\n}\nblock send {";
    for (body, what) in [
        (format!("json [{twelve}]"), "json"),
        (
            format!("form {{\"a\": %s%, \"b\": %s%, \"c\": [{twelve}]}}"),
            "form",
        ),
        (format!("text \"{}\"", "%s%".repeat(12)), "text"),
    ] {
        let lines = bot(&format!(
            "{make}\n  http POST \"%base%/x\" {{\n    {body}\n    on error goto failed\n  }}"
        ))
        .on(&server)
        .lines();
        let all = lines.join("\n");
        assert!(
            all.contains("larger than 10 MiB") || all.contains("at most 10 MiB"),
            "{what}: {}",
            &all[..all.len().min(400)]
        );
    }
    let lines = bot(&format!(
        "{make}\n  http GET \"%base%/x\" {{\n    query q: [{twelve}]\n    on error goto failed\n  }}"
    ))
    .on(&server)
    .lines();
    assert!(lines.join("\n").contains("longer than 10 MiB"), "{lines:?}");
    assert_eq!(server.received().len(), 0, "nothing was sent");
}

#[test]
fn an_on_error_retry_loop_is_stopped_by_the_turn_time() {
    let server =
        Server::start(|_| Reply::After(Duration::from_secs(3), response(200, &[], b"late")));
    let started = Instant::now();
    let mut run = bot(r#"
  http GET "%base%/slow" { on error goto a }"#)
    .on(&server);
    run.turn_time = Some(Duration::from_millis(700));
    let lines = run.lines();
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("error the turn took longer than 700ms")),
        "{lines:?}"
    );
}

#[test]
fn many_response_headers_are_read_and_too_many_are_named() {
    let server = Server::start(|r| {
        let n = if r.target == "/many" { 150 } else { 1100 };
        let names: Vec<(String, String)> =
            (0..n).map(|i| (format!("X-H{i}"), i.to_string())).collect();
        let refs: Vec<(&str, &str)> = names
            .iter()
            .map(|(a, b)| (a.as_str(), b.as_str()))
            .collect();
        Reply::Raw(response(200, &refs, b"ok"))
    });
    let lines = bot(r#"
  http GET "%base%/many" { on error goto failed }
  say "got {{ len(%headers%) }} %headers.x-h149%"
  http GET "%base%/too-many" { on error goto failed }"#)
    .on(&server)
    .lines();
    assert_eq!(lines[1], "say got 151 149", "{lines:?}");
    assert!(
        lines[3].starts_with(
            "say failed: the response's headers are too large (more than 1000 headers"
        ),
        "{lines:?}"
    );
}

#[test]
fn header_names_go_out_as_written_with_the_runtimes_own_headers() {
    let server = ok_server();
    bot(r#"
  http POST "%base%/x" {
    header X-Api-Key: "k"
    text "hi"
    on error goto failed
  }"#)
    .on(&server)
    .lines();
    let got = only(&server);
    let names: Vec<&str> = got.headers.iter().map(|(n, _)| n.as_str()).collect();
    assert!(names.contains(&"X-Api-Key"), "{names:?}");
    assert_eq!(got.header("accept"), Some("*/*"));
    assert!(got
        .header("user-agent")
        .is_some_and(|ua| ua.starts_with("scenarist/")));
}

#[test]
fn a_secret_in_the_host_or_the_user_info_is_hidden_too() {
    let server = ok_server();
    let lines = bot(r#"
  http GET "http://%tenant%.invalid/x" { on error goto second }
}
block second {
  http GET "http://bot:%password%@127.0.0.1:1/x" { on error goto failed }"#)
    .public()
    .secret("tenant", "AcmeSecretTenant")
    .secret("password", "pa ss/wörd")
    .lines();
    let all = lines.join("\n");
    for leak in [
        "acmesecrettenant",
        "AcmeSecretTenant",
        "pa%20ss",
        "w%C3%B6rd",
        "wörd",
    ] {
        assert!(!all.contains(leak), "{leak}: {all}");
    }
    assert!(all.contains("http://***.invalid/x"), "{all}");
    assert!(all.contains("bot:***@"), "{all}");
    drop(server);
}
