//! The checker end to end: scenario text in, diagnostic codes (and a few messages) out.

use super::*;
use crate::diagnostic::{Code, Diagnostic};

/// Every diagnostic of a bot made of `(file name, text)` pairs, errors and warnings.
fn diagnostics(files: &[(&str, &str)]) -> Vec<Diagnostic> {
    match crate::compile(&Sources::from_texts(files.iter().copied())) {
        Ok(program) => program.warnings.0,
        Err(diagnostics) => diagnostics.0,
    }
}

fn codes(files: &[(&str, &str)]) -> Vec<Code> {
    diagnostics(files).iter().map(|d| d.code).collect()
}

/// The codes of a one-file bot.
fn codes1(text: &str) -> Vec<Code> {
    codes(&[("a.scn", text)])
}

fn only(text: &str) -> Diagnostic {
    let mut found = diagnostics(&[("a.scn", text)]);
    assert_eq!(found.len(), 1, "{found:#?}");
    found.remove(0)
}

fn program(files: &[(&str, &str)]) -> Program {
    match crate::compile(&Sources::from_texts(files.iter().copied())) {
        Ok(program) => program,
        Err(diagnostics) => panic!("{diagnostics:#?}"),
    }
}

#[test]
fn a_clean_bot_has_nothing_to_report() {
    let text = r#"
user %seen% = 0
on start goto greet
block greet {
  say "Hello, %user_name%!" {
    button "Again" goto greet
    button "Stop" goto bye
  }
  wait -> %answer%
  set %seen% += 1
  if %answer% matches /^y(es)?$/i { goto greet } else { goto bye }
}
block bye {
  say "Bye %answer%"
}
"#;
    assert_eq!(codes1(text), vec![]);
}

#[test]
fn program_resolves_targets_across_scenarios() {
    let p = program(&[
        (
            "menu.scn",
            "scenario \"Menu\"\non start goto main\nblock main { goto orders::ask }",
        ),
        (
            "orders.scn",
            "block other { end }\nblock ask { wait\ngoto menu::main }",
        ),
    ]);
    assert_eq!(p.scenarios.len(), 2);
    assert_eq!(p.scenarios[0].name, "Menu");
    assert_eq!(p.scenarios[1].name, "orders");
    assert_eq!(p.scenario_index("orders"), Some(1));
    let trigger = &p.files[0].triggers[0].target;
    let main = p.resolve(0, trigger).expect("main resolves");
    assert_eq!(p.block(main).name, "main");
    let goto = match &p.block_ast(main).expect("parsed").body[0].kind {
        ast::StmtKind::Goto(t) => t.clone(),
        other => panic!("{other:?}"),
    };
    let ask = p.resolve(0, &goto).expect("orders::ask resolves");
    assert_eq!(p.block(ask).scenario, 1);
    assert_eq!(p.block(ask).index, Some(1));
    assert_eq!(p.block_display(ask, 0), "orders::ask");
    assert_eq!(p.block_display(ask, 1), "ask");
    assert_eq!(p.scenarios[1].block_range, 1..3);
}

#[test]
fn duplicate_scenarios_and_blocks() {
    let found = codes(&[
        ("a/x.scn", "on start goto b\nblock b { end }"),
        ("b/x.scn", "block c { end }"),
    ]);
    assert!(found.contains(&Code::DuplicateScenario), "{found:?}");

    let d = only("on start goto b\nblock b { end }\nblock b { end }");
    assert_eq!(d.code, Code::DuplicateBlock);
    assert_eq!(d.related.len(), 1);
    assert_eq!(d.related[0].label, "first defined here");
    assert!(d.related[0].span.start < d.span.start);
}

#[test]
fn unknown_blocks_and_scenarios_suggest_names() {
    let d = only("on start goto greet\nblock greet { goto lokup }\nblock lookup { end }");
    assert_eq!(d.code, Code::UnknownBlock);
    assert_eq!(d.help.as_deref(), Some("did you mean `lookup`?"));

    let found = diagnostics(&[
        (
            "menu.scn",
            "on start goto main\nblock main { goto ordrs::ask }",
        ),
        (
            "orders.scn",
            "on message \"o\" goto ask\nblock ask { goto menu::mainn }",
        ),
    ]);
    let codes: Vec<_> = found.iter().map(|d| d.code).collect();
    assert_eq!(codes, vec![Code::UnknownScenario, Code::UnknownBlock]);
    assert_eq!(
        found[0].help.as_deref(),
        Some("did you mean `orders`?"),
        "{found:#?}"
    );
    assert_eq!(found[1].help.as_deref(), Some("did you mean `menu::main`?"));
    assert_eq!(found[1].message, "scenario `menu` has no block `mainn`");

    // Every kind of target is resolved.
    let text = r#"
on start goto nowhere1
block b {
  say "x" { button "y" goto nowhere2 }
  extract number from %message% -> %n% else goto nowhere3
  http GET "https://example.com" { on error goto nowhere4 }
  call nowhere5
}
"#;
    assert_eq!(codes1(text), vec![Code::UnknownBlock; 5]);
}

#[test]
fn broken_blocks_exist_without_cascades() {
    let found = codes1("on start goto a\nblock a { goto b }\nblock b { say }\n");
    assert!(found.contains(&Code::Syntax), "{found:?}");
    assert!(!found.contains(&Code::UnknownBlock), "{found:?}");
    // No warnings after a syntax error.
    assert!(
        found.iter().all(|c| c.severity() == crate::Severity::Error),
        "{found:?}"
    );
}

#[test]
fn function_names_and_arities() {
    let d = only("on start goto a\nblock a { set %x% = lenn(\"abc\") }");
    assert_eq!(d.code, Code::UnknownFunction);
    assert_eq!(d.help.as_deref(), Some("did you mean `len`?"));

    let d = only("on start goto a\nblock a { set %x% = replace(\"abc\", \"a\") }");
    assert_eq!(d.code, Code::WrongArity);
    assert_eq!(
        d.message,
        "`replace` takes 3 or 4 arguments, but 2 were given"
    );

    let d = only("on start goto a\nblock a { set %x% = \"abc\".replace(\"a\") }");
    assert_eq!(
        d.message,
        "`replace` takes 3 or 4 arguments, but 2 were given (counting the value before `.`)"
    );

    let d = only("on start goto a\nblock a { set %x% = \"abc\" | len(1) }");
    assert_eq!(
        d.message,
        "`len` takes 1 argument, but 2 were given (counting the value before `|`)"
    );

    let ok = r#"on start goto a
block a {
  set %x% = [3, 1, 2]
  set %y% = max(%x%) + max(1, 2, 3) + rand() + rand(1, 6) + len(%x% | sorted())
  set %z% = %x%.map(v => v * 2) | filter(v => v > 1) | reduce((a, v) => a + v, 0)
  set %w% = get({"a": 1}, "a", 0) ~ 1
}"#;
    let found = codes1(&ok.replace(" ~ 1", ""));
    assert_eq!(found, vec![]);
}

#[test]
fn lambdas_only_where_a_function_takes_them() {
    let d = only("on start goto a\nblock a { set %x% = join([1], x => x) }");
    assert_eq!(d.code, Code::MisplacedLambda);
    assert_eq!(d.message, "`join` does not take a lambda");

    let d = only("on start goto a\nblock a { set %x% = map(x => x, [1]) }");
    assert_eq!(d.code, Code::MisplacedLambda);
    assert!(
        d.help.as_deref().is_some_and(|h| h.contains("argument 2")),
        "{d:?}"
    );

    // An unknown function gets the benefit of the doubt.
    assert_eq!(
        codes1("on start goto a\nblock a { set %x% = mapp([1], x => x) }"),
        vec![Code::UnknownFunction]
    );
}

#[test]
fn bare_names_must_be_lambda_parameters() {
    let d = only("on start goto a\nblock a { set %x% = name + 1 }");
    assert_eq!(d.code, Code::UnknownName);
    assert_eq!(d.help.as_deref(), Some("variables are written `%name%`"));

    let d = only("on start goto a\nblock a { set %x% = len }");
    assert_eq!(
        d.help.as_deref(),
        Some("variables are written `%len%`; to call the function, write `len(…)`")
    );

    let d = only("on start goto a\nblock a { set %x% = map([1], a => map([2], b => a + b + c)) }");
    assert_eq!(d.code, Code::UnknownName);
    assert_eq!(d.message, "unknown name `c`");
}

#[test]
fn regexes() {
    let d = only("on start goto a\nblock a { set %x% = /abc/ }");
    assert_eq!(d.code, Code::MisplacedRegex);

    let text = r#"
on message matches /(a/ goto a
block a {
  if %message% matches /[z-a]/ { end }
  match %message% {
    /(?P<n>\d+/ => end
  }
  extract /(/ from %message% -> %v% else goto b
  if %message% matches /ok/q { end }
}
block b { end }
"#;
    let found = diagnostics(&[("a.scn", text)]);
    let codes: Vec<_> = found.iter().map(|d| d.code).collect();
    assert_eq!(codes, vec![Code::InvalidRegex; 5], "{found:#?}");
    assert!(found.iter().all(|d| !d.message.contains('\n')));
    assert!(found[4].message.contains("`q`"), "{}", found[4].message);

    // A valid regex repeated compiles once and reports nothing.
    assert_eq!(
        codes1("on start goto a\nblock a { wait\nif %message% matches /x/i { goto a }\nif %message% matches /x/i { goto a } }"),
        vec![]
    );
}

#[test]
fn http_urls() {
    let block = |url: &str| {
        format!("on start goto a\nblock a {{ http GET \"{url}\" {{ on error goto b }} }}\nblock b {{ end }}")
    };
    assert_eq!(
        codes1(&block("https://api.example.com/o/%message%?q={{ 1 + 1 }}")),
        vec![]
    );
    assert_eq!(codes1(&block("%message%/orders")), vec![]);
    assert_eq!(
        codes1(&block("api.example.com/orders")),
        vec![Code::InvalidUrl]
    );
    assert_eq!(codes1(&block("ftp://example.com/")), vec![Code::InvalidUrl]);
    let d = only(&block("htps//example.com"));
    assert_eq!(
        d.help.as_deref(),
        Some("URLs start with https:// or http://")
    );
}

#[test]
fn declarations_and_read_only_variables() {
    let found = diagnostics(&[
        (
            "a.scn",
            "user %x% = 1\nglobal %message% = 2\non start goto a\nblock a { say \"%x%\" }",
        ),
        ("b.scn", "global %x% = 3"),
    ]);
    let codes: Vec<_> = found.iter().map(|d| d.code).collect();
    assert_eq!(
        codes,
        vec![Code::ReadOnlyVariable, Code::DuplicateDeclaration],
        "{found:#?}"
    );
    assert_eq!(found[1].related[0].file, 0);
    assert_eq!(found[1].related[0].label, "first declared here");

    let p = program(&[("a.scn", "user %x% = 1\nglobal %y% = 2")]);
    assert_eq!(
        p.declarations["y"],
        DeclarationInfo {
            scope: ast::Scope::Global,
            file: 0,
            index: 1
        }
    );

    let text = r#"
on start goto a
block a {
  set %user_id% = 1
  unset %match%
  wait -> %message%
  extract number from "1" -> %block% else goto a
  http GET "https://example.com" {
    body -> %scenario%
    status -> %ref%
    headers -> %error%
    on error goto a
  }
}
"#;
    assert_eq!(codes1(text), vec![Code::ReadOnlyVariable; 7]);
}

#[test]
fn webhook_triggers_are_clean() {
    assert_eq!(
        codes1("on webhook \"paid\" goto a\nblock a { end }"),
        vec![]
    );
}

#[test]
fn unreachable_blocks() {
    let text = r#"
on start goto a
block a {
  if %message% == "x" {
    say "pick" { button "b" goto b }
  } else {
    extract email from %message% -> %e% else goto c
    http GET "https://example.com" { on error goto d }
  }
}
block b { call e }
block c { end }
block d { end }
block e { return }
block lost { goto a }
"#;
    let d = only(text);
    assert_eq!(d.code, Code::UnreachableBlock);
    assert_eq!(d.message, "block `lost` is never reached");
}

#[test]
fn unassigned_variables() {
    let text = r#"
user %declared% = 0
on start goto a
block a {
  say "%nme% %nme% %declared% %message% %body.x% {{ %later% }}"
  wait -> %name%
  http GET "https://example.com/%name%" { on error goto a }
  set %later% = %status% + len(%headers%) + %declared%
  set %d%[%key%] = 1
}
"#;
    let found = diagnostics(&[("a.scn", text)]);
    let names: Vec<_> = found.iter().map(|d| d.message.as_str()).collect();
    assert_eq!(
        names,
        vec![
            "`%nme%` is read but never assigned",
            "`%key%` is read but never assigned"
        ],
        "{found:#?}"
    );
    assert_eq!(found[0].help.as_deref(), Some("did you mean `%name%`?"));
    // Reported at the first read.
    assert_eq!(found[0].span.start, text.find("nme").unwrap_or(0));
}

#[test]
fn http_without_on_error() {
    let d = only("on start goto a\nblock a { http GET \"https://example.com\" }");
    assert_eq!(d.code, Code::HttpWithoutOnError);
}

#[test]
fn loops_without_wait() {
    let d = only("on start goto loop\nblock loop { log \"x\"\ngoto loop }");
    assert_eq!(d.code, Code::LoopWithoutWait);
    assert_eq!(
        d.message,
        "blocks `loop` → `loop` can repeat forever without waiting for the user"
    );

    let text = r#"
on start goto a
block a { if %message% == "1" { goto b } else { wait } ; goto c }
block b { goto a }
block c { call d ; goto a }
block d { wait ; return }
"#;
    let d = only(text);
    assert_eq!(d.code, Code::LoopWithoutWait);
    assert_eq!(
        d.message,
        "blocks `a` → `b` → `a` can repeat forever without waiting for the user"
    );
    assert_eq!(d.span.start, text.find("a {").unwrap_or(0));

    // A wait on every path breaks the loop; buttons need the user.
    let text = r#"
on start goto a
block a {
  match %message% { "x" => wait
    else => { wait -> %m% } }
  say "again?" { button "yes" goto a }
  goto a
}
"#;
    assert_eq!(codes1(text), vec![]);

    // Statements after a `goto` never run, so their jumps make no loop.
    assert_eq!(
        codes1("on start goto a\nblock a { goto b\ngoto a }\nblock b { wait }"),
        vec![]
    );

    // A call of a block that can return without waiting does not count as a wait.
    let text = r#"
on start goto a
block a { call d ; goto a }
block d { if %message% == "q" { return } ; wait }
"#;
    assert_eq!(codes1(text), vec![Code::LoopWithoutWait]);

    // Across scenarios, reported once.
    let found = diagnostics(&[
        ("m.scn", "on start goto a\nblock a { goto n::b }"),
        ("n.scn", "block b { goto m::a }"),
    ]);
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(
        found[0].message,
        "blocks `a` → `n::b` → `a` can repeat forever without waiting for the user"
    );
}

#[test]
fn many_blocks_check_without_deep_recursion() {
    // A chain of 20 000 blocks, each jumping to the next and the last back to the first.
    let n = 20_000;
    let mut text = String::from("on start goto b0\n");
    for i in 0..n {
        text.push_str(&format!("block b{i} {{ goto b{} }}\n", (i + 1) % n));
    }
    let found = diagnostics(&[("a.scn", &text)]);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].code, Code::LoopWithoutWait);
    assert!(found[0].message.contains("…"));
}

#[test]
fn special_variables_agree() {
    assert!(SPECIAL_VARIABLES.iter().all(|name| is_special(name)));
    assert!(!is_special("messages") && !is_special("body") && !is_special(""));
}
