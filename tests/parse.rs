//! Parse tests: every construct of LANGUAGE.md, compared as compact S-expressions.

use scenarist::syntax::ast::*;
use scenarist::syntax::parse;

fn sx(e: &Expr) -> String {
    match &e.kind {
        ExprKind::Null => "null".into(),
        ExprKind::Bool(b) => b.to_string(),
        ExprKind::Number(n) => n.to_string(),
        ExprKind::Str(t) => tpl(t),
        ExprKind::List(xs) => format!("[{}]", xs.iter().map(sx).collect::<Vec<_>>().join(" ")),
        ExprKind::Dict(kv) => format!(
            "{{{}}}",
            kv.iter()
                .map(|(k, v)| format!("{}:{}", sx(k), sx(v)))
                .collect::<Vec<_>>()
                .join(" ")
        ),
        ExprKind::Var(v) => var(v),
        ExprKind::Name(i) => i.name.clone(),
        ExprKind::Regex(r) => format!("/{}/{}", r.pattern, r.flags),
        ExprKind::Unary(UnaryOp::Neg, x) => format!("(neg {})", sx(x)),
        ExprKind::Unary(UnaryOp::Not, x) => format!("(not {})", sx(x)),
        ExprKind::Binary(op, a, b) => format!("({} {} {})", op.as_str(), sx(a), sx(b)),
        ExprKind::Cond {
            cond,
            then,
            otherwise,
        } => {
            format!("(if {} {} {})", sx(cond), sx(then), sx(otherwise))
        }
        ExprKind::Call { func, args, style } => format!(
            "({}{} {})",
            match style {
                CallStyle::Plain => "",
                CallStyle::Method => ".",
                CallStyle::Pipe => "|",
            },
            func.name,
            args.iter().map(sx).collect::<Vec<_>>().join(" ")
        ),
        ExprKind::Index(a, b) => format!("(idx {} {})", sx(a), sx(b)),
        ExprKind::Member(a, k) => format!("(key {} {})", sx(a), k.name),
        ExprKind::Slice {
            value,
            from,
            to,
            step,
        } => {
            let part = |p: &Option<Box<Expr>>| p.as_deref().map_or("_".to_string(), sx);
            format!(
                "(slice {} {} {} {})",
                sx(value),
                part(from),
                part(to),
                part(step)
            )
        }
        ExprKind::Lambda { params, body } => format!(
            "(fn ({}) {})",
            params
                .iter()
                .map(|p| p.name.as_str())
                .collect::<Vec<_>>()
                .join(" "),
            sx(body)
        ),
        ExprKind::Invalid => "INVALID".into(),
    }
}

fn var(v: &VarPath) -> String {
    let mut s = format!("%{}", v.root.name);
    for seg in &v.path {
        s.push('.');
        s.push_str(&seg.name);
    }
    s.push('%');
    s
}

fn tpl(t: &Template) -> String {
    let mut s = String::from("\"");
    for p in &t.parts {
        match p {
            TemplatePart::Text(x) => s.push_str(&x.replace('\n', "\\n")),
            TemplatePart::Var(v) => s.push_str(&var(v)),
            TemplatePart::Expr(e) => s.push_str(&format!("{{{}}}", sx(e))),
        }
    }
    s.push('"');
    s
}

fn ok(src: &str) -> File {
    let (file, diags) = parse(0, src);
    assert!(
        diags.is_empty(),
        "unexpected diagnostics for {src:?}: {diags:#?}"
    );
    file
}

fn errors(src: &str) -> Vec<String> {
    let (_, diags) = parse(0, src);
    diags
        .iter()
        .map(|d| format!("{} {}", d.code.as_str(), d.message))
        .collect()
}

/// The value of `set %x% = EXPR` as an S-expression.
fn e(src: &str) -> String {
    let file = ok(&format!("block b {{\n  set %x% = {src}\n}}\n"));
    match &file.blocks[0].body[0].kind {
        StmtKind::Set { value, .. } => sx(value),
        other => panic!("not a set: {other:?}"),
    }
}

fn body(src: &str) -> Vec<StmtKind> {
    let file = ok(&format!("block b {{\n{src}\n}}\n"));
    file.blocks
        .into_iter()
        .next()
        .map(|b| b.body)
        .unwrap_or_default()
        .into_iter()
        .map(|s| s.kind)
        .collect()
}

#[test]
fn precedence_follows_the_table() {
    assert_eq!(e("1 + 2 * 3"), "(+ 1 (* 2 3))");
    assert_eq!(e("-2 ** 2"), "(neg (** 2 2))");
    assert_eq!(e("2 ** 3 ** 2"), "(** 2 (** 3 2))");
    assert_eq!(e("7 // 2 / 1 - 4"), "(- (/ (// 7 2) 1) 4)");
    assert_eq!(e("not %a% == 1"), "(not (== %a% 1))");
    assert_eq!(e("%a% or %b% and not %c%"), "(or %a% (and %b% (not %c%)))");
    assert_eq!(e("'x' if %a% > 1 else 'y'"), "(if (> %a% 1) \"x\" \"y\")");
    assert_eq!(
        e("1 if %a% else 2 if %b% else 3"),
        "(if %a% 1 (if %b% 2 3))"
    );
    assert_eq!(
        e("%x% | upper() | replace('A', 'B')"),
        "(|replace (|upper %x%) \"A\" \"B\")"
    );
    assert_eq!(e("%x% | len"), "(|len %x%)");
    assert_eq!(e("1 + 2 | str()"), "(|str (+ 1 2))");
    assert_eq!(
        e("%a% in [1, 2] and %b% not in 'abc'"),
        "(and (in %a% [1 2]) (not in %b% \"abc\"))"
    );
    assert_eq!(
        e("%m% like 'helo' or %m% matches /^h(?P<x>i)$/i"),
        "(or (like %m% \"helo\") (matches %m% /^h(?P<x>i)$/i))"
    );
    assert_eq!(e("%a% <= 1 != (%b% >= 2)"), "(!= (<= %a% 1) (>= %b% 2))");
}

#[test]
fn postfix_calls_indexes_and_keys() {
    assert_eq!(
        e("%body%['items'][0].name"),
        "(key (idx (idx %body% \"items\") 0) name)"
    );
    assert_eq!(e("%s%.strip().split(',')"), "(.split (.strip %s%) \",\")");
    assert_eq!(e("-%a%.b"), "(neg (key %a% b))");
    assert_eq!(e("%body.items.0.name%"), "%body.items.0.name%");
    assert_eq!(e("get(%d%, 'k', 0)"), "(get %d% \"k\" 0)");
    assert_eq!(e("rand()"), "(rand )");
}

#[test]
fn slices_take_every_optional_part() {
    assert_eq!(e("%a%[1:2]"), "(slice %a% 1 2 _)");
    assert_eq!(e("%a%[:2]"), "(slice %a% _ 2 _)");
    assert_eq!(e("%a%[3:]"), "(slice %a% 3 _ _)");
    assert_eq!(e("%a%[:]"), "(slice %a% _ _ _)");
    assert_eq!(e("%a%[::2]"), "(slice %a% _ _ 2)");
    assert_eq!(e("%a%[::-1]"), "(slice %a% _ _ (neg 1))");
    assert_eq!(e("%a%[1:-1:2][0]"), "(idx (slice %a% 1 (neg 1) 2) 0)");
    assert_eq!(e("%a%[%i% + 1:]"), "(slice %a% (+ %i% 1) _ _)");
    // A slice cannot be assigned to.
    assert!(errors("block b {\n  set %a%[1:2] = 3\n}\n")
        .iter()
        .any(|m| m.contains("a slice cannot be assigned to")));
}

#[test]
fn raw_strings_keep_backslashes_and_are_templates() {
    assert_eq!(e(r#"r"\d+""#), r#""\d+""#);
    assert_eq!(e(r"r'\w+ %x%'"), r#""\w+ %x%""#);
    assert_eq!(e(r#"r"a\"b""#), r#""a\"b""#);
    assert_eq!(e(r#"r"{{ 1 }}""#), "\"{1}\"");
    // `r` alone is a name (the checker refuses it there), not the start of a string.
    assert_eq!(e("r"), "r");
}

#[test]
fn literals() {
    assert_eq!(
        e("[1, 2.5, 1e3, 'a', \"b\", true, False, None, null]"),
        "[1 2.5 1000 \"a\" \"b\" true false null null]"
    );
    assert_eq!(
        e("{'a': 1, \"b\": [1, {}], %k%: 2}"),
        "{\"a\":1 \"b\":[1 {}] %k%:2}"
    );
    assert_eq!(e("[]"), "[]");
    assert_eq!(e("9007199254740993"), "9007199254740993");
}

#[test]
fn lambdas_are_call_arguments() {
    assert_eq!(e("map(%xs%, x => x * 2)"), "(map %xs% (fn (x) (* x 2)))");
    assert_eq!(
        e("reduce(%xs%, (acc, x) => acc + x, 0)"),
        "(reduce %xs% (fn (acc x) (+ acc x)) 0)"
    );
    assert_eq!(
        e("%d% | items() | filter((k, v) => v > 1)"),
        "(|filter (|items %d%) (fn (k v) (> v 1)))"
    );
}

#[test]
fn lines_continue_inside_brackets_and_after_operators() {
    assert_eq!(e("[1,\n 2,\n 3,\n]"), "[1 2 3]");
    assert_eq!(e("{\n  'a': 1,\n  'b': 2\n}"), "{\"a\":1 \"b\":2}");
    assert_eq!(e("f(\n 1,\n 2\n)"), "(f 1 2)");
    assert_eq!(e("1 +\n 2"), "(+ 1 2)");
    assert_eq!(e("(1 +\n 2\n)"), "(+ 1 2)");
    assert_eq!(e("%x%\n  | upper()"), "(|upper %x%)");
}

#[test]
fn templates() {
    assert_eq!(
        e("\"Hi %user_name%, {{ len(%cart%) }} items, 50% off, 100%%\""),
        "\"Hi %user_name%, {(len %cart%)} items, 50% off, 100%\""
    );
    assert_eq!(e("\"{{ {'a': {'b': 1}} }}\""), "\"{{\"a\":{\"b\":1}}}\"");
    assert_eq!(e("'{{ \"q\" + %x% }}'"), "\"{(+ \"q\" %x%)}\"");
    assert_eq!(
        e("\"\\u{1F600} \\\"quoted\\\" \\t\""),
        "\"😀 \"quoted\" \t\""
    );
    assert_eq!(
        e("\"%headers.content-type%\""),
        "\"%headers.content-type%\""
    );
    assert_eq!(
        e("\"\"\"\n    Dear %name%,\n      thanks!\n    \"\"\""),
        "\"Dear %name%,\\n  thanks!\""
    );
}

#[test]
fn header_declarations_and_triggers() {
    let f = ok(r#"scenario "Order status"   # display name

user %orders_seen% = 0
global %orders_total% = {"a": [1]}

on start goto greet
on message "/orders" goto greet
on message like "hello" goto greet
on message contains "refund" goto support::refund
on message matches /^ticket\s+(?P<id>\d+)$/i goto greet
on anytime message "/stop" goto bye
on fallback goto greet

block greet {
}
"#);
    assert_eq!(
        f.display_name.as_ref().map(|d| d.0.as_str()),
        Some("Order status")
    );
    assert_eq!(f.declarations.len(), 2);
    assert_eq!(f.declarations[1].scope, Scope::Global);
    assert_eq!(sx(&f.declarations[1].init), "{\"a\":[1]}");
    let events: Vec<&Event> = f.triggers.iter().map(|t| &t.event).collect();
    assert_eq!(events[0], &Event::Start);
    assert_eq!(events[1], &Event::Message("/orders".into()));
    assert_eq!(events[2], &Event::MessageLike("hello".into()));
    assert_eq!(events[3], &Event::MessageContains("refund".into()));
    assert!(
        matches!(events[4], Event::MessageMatches(r) if r.flags == "i" && r.pattern.contains("?P<id>"))
    );
    assert!(f.triggers[5].anytime);
    assert_eq!(events[6], &Event::Fallback);
    assert_eq!(
        f.triggers[3]
            .target
            .scenario
            .as_ref()
            .map(|s| s.name.as_str()),
        Some("support")
    );
    assert_eq!(f.triggers[3].target.block.name, "refund");
}

#[test]
fn cyrillic_identifiers_and_text() {
    let f = ok("block приветствие {\n  say \"Привет, %имя%!\"\n  goto приветствие\n}\n");
    assert_eq!(f.blocks[0].name.name, "приветствие");
    assert!(
        matches!(&f.blocks[0].body[1].kind, StmtKind::Goto(t) if t.block.name == "приветствие")
    );
}

#[test]
fn say_with_buttons() {
    let b = body(
        r#"  say "Pick a size" {
    button "S"
    button "Cancel" goto cancelled   # transition
    link "Size chart" "https://shop.example.com/sizes"
  }
  say %greeting%"#,
    );
    let StmtKind::Say { text, buttons } = &b[0] else {
        panic!("{b:?}")
    };
    assert_eq!(tpl(text), "\"Pick a size\"");
    assert_eq!(buttons.len(), 3);
    let kinds: Vec<&ButtonKind> = buttons
        .iter()
        .map(|i| match i {
            SayItem::Button(b) => &b.kind,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(kinds[0], &ButtonKind::Text);
    assert!(matches!(kinds[1], ButtonKind::Goto(t) if t.block.name == "cancelled"));
    assert!(
        matches!(kinds[2], ButtonKind::Link(u) if tpl(u) == "\"https://shop.example.com/sizes\"")
    );
    assert!(matches!(&b[1], StmtKind::Say { buttons, .. } if buttons.is_empty()));
}

#[test]
fn simple_statements() {
    let b = body("  wait\n  wait -> %order_id%\n  goto lookup\n  goto orders::lookup\n  call footer; return\n  end\n  notify \"New lead: %name%\"\n  log 'x=%x%'\n  unset %cart.items%\n  unset %cart%[%item%]");
    assert_eq!(
        b[0],
        StmtKind::Wait {
            into: None,
            timeout: None
        }
    );
    assert!(matches!(&b[1], StmtKind::Wait { into: Some(v), .. } if v.root.name == "order_id"));
    assert!(
        matches!(&b[3], StmtKind::Goto(t) if t.scenario.as_ref().map(|s| s.name.as_str()) == Some("orders"))
    );
    assert!(matches!(&b[4], StmtKind::Call(t) if t.block.name == "footer"));
    assert_eq!(b[5], StmtKind::Return);
    assert_eq!(b[6], StmtKind::End);
    assert!(matches!(&b[7], StmtKind::Notify(t) if tpl(t) == "\"New lead: %name%\""));
    assert!(matches!(&b[8], StmtKind::Log(_)));
    assert!(matches!(&b[9], StmtKind::Unset { target } if var(&target.var) == "%cart.items%"));
    assert!(matches!(&b[10], StmtKind::Unset { target } if target.index.len() == 1));
}

#[test]
fn set_forms() {
    let b = body("  set %a% = 1\n  set %a% += 2\n  set %a% -= 3\n  set %a% *= 4\n  set %a% /= 5\n  set %cart%[%item%] = 1\n  set %profile.name% = %message%\n  set %d%.key = 2");
    let ops: Vec<AssignOp> = b
        .iter()
        .filter_map(|s| match s {
            StmtKind::Set { op, .. } => Some(*op),
            _ => None,
        })
        .collect();
    assert_eq!(
        ops[..5],
        [
            AssignOp::Set,
            AssignOp::Add,
            AssignOp::Sub,
            AssignOp::Mul,
            AssignOp::Div
        ]
    );
    assert!(
        matches!(&b[5], StmtKind::Set { target, .. } if target.index.len() == 1 && sx(&target.index[0]) == "%item%")
    );
    assert!(matches!(&b[6], StmtKind::Set { target, .. } if var(&target.var) == "%profile.name%"));
    assert!(matches!(&b[7], StmtKind::Set { target, .. } if sx(&target.index[0]) == "\"key\""));
}

#[test]
fn if_elif_else() {
    let b = body("  if %a% > 1 {\n    say 'big'\n  } elif %a% == 1 { say 'one' }\n  else {\n    say 'small'\n  }");
    let StmtKind::If {
        branches,
        otherwise,
    } = &b[0]
    else {
        panic!()
    };
    assert_eq!(branches.len(), 2);
    assert_eq!(sx(&branches[1].0), "(== %a% 1)");
    assert_eq!(otherwise.as_ref().map(Vec::len), Some(1));
}

#[test]
fn match_arms() {
    let b = body(
        r#"  match %message% {
    "yes", "да"     => goto confirm
    /^(?P<n>\d+)$/  => { set %qty% = number(%match.n%); goto confirm_qty }
    like "no"       => goto cancelled
    42, -1          => say "numbers"
    %expected%      => say "the expected answer"
    else            => say "Please answer yes or no."
  }"#,
    );
    let StmtKind::Match {
        subject,
        arms,
        otherwise,
    } = &b[0]
    else {
        panic!()
    };
    assert_eq!(sx(subject), "%message%");
    assert_eq!(arms.len(), 5);
    assert_eq!(arms[0].patterns.len(), 2);
    assert!(matches!(&arms[1].patterns[0], Pattern::Regex(r) if r.pattern == r"^(?P<n>\d+)$"));
    assert_eq!(arms[1].body.len(), 2);
    assert!(matches!(&arms[2].patterns[0], Pattern::Like(t) if tpl(t) == "\"no\""));
    assert!(matches!(&arms[3].patterns[1], Pattern::Number(n, _) if n == "-1"));
    assert!(matches!(&arms[4].patterns[0], Pattern::Text(_)));
    assert_eq!(otherwise.as_ref().map(Vec::len), Some(1));
}

#[test]
fn extract_kinds() {
    let b = body("  extract number from %message% -> %n% else goto again\n  extract phone from %message% -> %p% else goto again\n  extract /(?P<d>\\d+)\\/x/ from %message% -> %m% else goto again");
    assert!(matches!(
        &b[0],
        StmtKind::Extract {
            kind: ExtractKind::Number,
            ..
        }
    ));
    assert!(
        matches!(&b[1], StmtKind::Extract { kind: ExtractKind::Phone, into, .. } if into.root.name == "p")
    );
    assert!(
        matches!(&b[2], StmtKind::Extract { kind: ExtractKind::Regex(r), .. } if r.pattern == r"(?P<d>\d+)/x")
    );
}

#[test]
fn http_statement_in_full() {
    let b = body(
        r#"  http POST "https://crm.example.com/api/leads?source=bot" {
    header Authorization: "Bearer %token%"
    header X-Trace: %trace%
    query utm: %ref%
    query "a b": 1
    json {"name": %name%, "phone": "%phone%", "items": %cart%}
    timeout 5s
    redirects 0
    body -> %lead%
    status -> %lead_status%
    headers -> %lead_headers%
    on error goto crm_down
  }
  http get "https://api.example.com/ping"
  http PUT "%api_base%/x" { form {"a": [1, 2]} }
  http PATCH "https://x.example.com" { text "raw %x%"; timeout 250ms }"#,
    );
    let StmtKind::Http(h) = &b[0] else { panic!() };
    assert_eq!(h.method, Method::Post);
    assert_eq!(h.headers.len(), 2);
    assert_eq!(h.headers[0].name, "Authorization");
    assert_eq!(
        h.query.iter().map(|q| q.name.as_str()).collect::<Vec<_>>(),
        ["utm", "a b"]
    );
    assert!(matches!(&h.body, Some((HttpBody::Json(_), _))));
    assert_eq!(h.timeout_ms, Some(5000));
    assert_eq!(h.redirects, Some(0));
    assert_eq!(h.body_to.as_ref().map(var), Some("%lead%".into()));
    assert_eq!(h.status_to.as_ref().map(var), Some("%lead_status%".into()));
    assert_eq!(
        h.headers_to.as_ref().map(var),
        Some("%lead_headers%".into())
    );
    assert_eq!(
        h.on_error.as_ref().map(|t| t.block.name.as_str()),
        Some("crm_down")
    );
    assert!(matches!(&b[1], StmtKind::Http(h) if h.method == Method::Get && h.on_error.is_none()));
    assert!(matches!(&b[2], StmtKind::Http(h) if matches!(h.body, Some((HttpBody::Form(_), _)))));
    assert!(
        matches!(&b[3], StmtKind::Http(h) if h.timeout_ms == Some(250) && matches!(h.body, Some((HttpBody::Text(_), _))))
    );
}

#[test]
fn spans_point_at_the_source() {
    let src = "block b {\n  goto lookup\n}\n";
    let f = ok(src);
    let StmtKind::Goto(t) = &f.blocks[0].body[0].kind else {
        panic!()
    };
    assert_eq!(&src[t.block.span.start..t.block.span.end], "lookup");
    let src = "block b {\n  say \"x {{ 1 + %a% }}\"\n}\n";
    let f = ok(src);
    let StmtKind::Say { text, .. } = &f.blocks[0].body[0].kind else {
        panic!()
    };
    let TemplatePart::Expr(x) = &text.parts[1] else {
        panic!()
    };
    assert_eq!(&src[x.span.start..x.span.end], "1 + %a%");
}

#[test]
fn statements_need_a_line_break_or_semicolon() {
    assert_eq!(errors("block b {\n  say 'a' say 'b'\n}\n").len(), 1);
    assert!(errors("block b { say 'a'; say 'b' }\n").is_empty());
}

#[test]
fn several_syntax_errors_are_reported_at_once() {
    let errs =
        errors("block a {\n  say (\n}\nblock b {\n  sett %x% = 1\n}\nblock c {\n  goto a\n}\n");
    assert_eq!(errs.len(), 2, "{errs:?}");
    let (f, _) = parse(0, "block a {\n  say (\n}\nblock c {\n  goto a\n}\n");
    assert_eq!(f.broken_blocks.len(), 1);
    assert_eq!(f.blocks.len(), 1);
}

#[test]
fn syntax_errors_read_well() {
    let errs = errors("block b {\n  say\n}\n");
    assert_eq!(errs, ["scn::syntax expected a string, found end of line"]);
    let errs = errors("block b {\n  set %x% = \n}\n");
    assert!(errs[0].starts_with("scn::syntax expected"), "{errs:?}");
    assert!(errs[0].contains("found `}`"), "{errs:?}");
}

#[test]
fn timers_parse_without_errors() {
    let errs = errors("block b {\n  wait -> %x% timeout 5m goto b\n  schedule 1h goto b as \"r\"\n  schedule at now() goto b\n  cancel \"r\"\n}\n");
    assert!(errs.is_empty(), "{errs:?}");
}

#[test]
fn literal_problems() {
    assert!(errors("block b {\n  say \"bad \\q\"\n}\n")[0].starts_with("scn::invalid-escape"));
    assert!(
        errors("block b {\n  http GET \"https://x.example.com\" { timeout 5 }\n}\n")[0]
            .starts_with("scn::invalid-duration")
    );
    assert!(
        errors("block b {\n  http GET \"https://x.example.com\" { timeout 5y }\n}\n")[0]
            .starts_with("scn::invalid-duration")
    );
    assert!(
        errors("block b {\n  http FETCH \"https://x.example.com\"\n}\n")[0]
            .starts_with("scn::unknown-method")
    );
    assert!(
        errors("block b {\n  extract emial from %m% -> %e% else goto b\n}\n")[0].contains("emial")
    );
    assert!(
        errors("block b {\n  http POST \"https://x.example.com\" { form {}\n json {} }\n}\n")[0]
            .starts_with("scn::duplicate-body")
    );
    assert!(errors(
        "block b {\n  http GET \"https://x.example.com\" { timeout 1s\n timeout 2s }\n}\n"
    )[0]
    .starts_with("scn::duplicate-option"));
    assert!(errors("block b {\n  say \"{{ 1 + }}\"\n}\n")[0].starts_with("scn::syntax in `{{ }}`"));
    assert!(
        errors("on message \"%x%\" goto b\nblock b {\n}\n")[0].starts_with("scn::dynamic-trigger")
    );
    assert!(errors("block b {\n}\nscenario \"late\"\n")[0].starts_with("scn::misplaced-header"));
}

#[test]
fn nesting_is_bounded_without_crashing() {
    let deep = format!(
        "block b {{\n  set %x% = {}1{}\n}}\n",
        "(".repeat(10_000),
        ")".repeat(10_000)
    );
    assert!(errors(&deep)[0].starts_with("scn::too-deep"));
    let chain = format!("block b {{\n  set %x% = 1{}\n}}\n", " + 1".repeat(5_000));
    assert!(errors(&chain)[0].starts_with("scn::too-deep"));
    let negs = format!("block b {{\n  set %x% = {}1\n}}\n", "-".repeat(5_000));
    assert!(errors(&negs)[0].starts_with("scn::too-deep"));
    let in_template = format!(
        "block b {{\n  say \"{{{{ {}1{} }}}}\"\n}}\n",
        "[".repeat(1_000),
        "]".repeat(1_000)
    );
    assert!(
        errors(&in_template)[0].contains("too deep") || errors(&in_template)[0].contains("nested")
    );
    let ok_depth = format!(
        "block b {{\n  set %x% = {}1{}\n}}\n",
        "(".repeat(30),
        ")".repeat(30)
    );
    assert!(errors(&ok_depth).is_empty());
}

#[test]
fn lone_percent_and_braces_do_not_crash() {
    for src in [
        "%",
        "{{",
        "block b {\n  say \"%\"\n}\n",
        "block b {\n  say \"{{\"\n}\n",
        "\"\"\"",
        "/",
        "block b { say '}}' }",
    ] {
        let _ = parse(0, src);
    }
}

/// A line holding only a `\` continuation between two items once ended the file there,
/// silently: the blank window pest was given read as the end of the input.
#[test]
fn a_lone_line_continuation_between_items_does_not_end_the_file() {
    for text in [
        "block a { end }\n \\\nblock b { end }\n",
        "block a { end }\n\\\r\nblock b { end }\n",
    ] {
        let (file, diags) = parse(0, text);
        assert!(diags.is_empty(), "{text:?}: {diags:?}");
        assert_eq!(file.blocks.len(), 2, "{text:?}");
    }
}

/// The corners of the syntax gathered in `tests/fixtures/parse/` (methods on numbers, keys
/// that are expressions, Unicode path segments, comments before `else`…) parse without a
/// diagnostic, also with CRLF line ends, tabs for indentation and a byte-order mark.
#[test]
fn the_corner_fixtures_parse_clean_in_every_variant() {
    for name in ["tricky.scn", "generated.scn"] {
        let path = format!("{}/tests/fixtures/parse/{name}", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&path).expect("fixture");
        let plain = parse(0, &text).0;
        assert!(plain.blocks.len() >= 3, "{name}");
        for variant in [
            text.replace('\n', "\r\n"),
            text.replace("  ", "\t"),
            format!("\u{FEFF}{text}"),
        ] {
            let (file, diags) = parse(0, &variant);
            assert!(diags.is_empty(), "{name}: {diags:?}");
            assert_eq!(file.blocks.len(), plain.blocks.len(), "{name}");
        }
    }
}

#[test]
fn timers_loops_and_say_bodies() {
    let b = body(
        r##"  wait -> %a% timeout 30m goto remind
  schedule 1d goto follow_up as "cart"
  schedule at time_add(%t%, -3600) goto reminder
  cancel "cart"
  for %o% in %body.orders% { say "%o.id%" }
  say "Which?" {
    image "https://x/p.jpg"
    file "https://x/i.pdf" "Invoice.pdf"
    for %o% in %orders% {
      button "#%o.id%" goto show set %picked% = %o%
    }
  }"##,
    );
    assert!(
        matches!(&b[0], StmtKind::Wait { into: Some(_), timeout: Some(t) }
        if t.ms == 1_800_000 && t.target.block.name == "remind")
    );
    assert!(matches!(&b[1], StmtKind::Schedule(s)
        if matches!(s.when, When::After(86_400_000, _)) && s.name.as_ref().map(|n| n.0.as_str()) == Some("cart")));
    assert!(
        matches!(&b[2], StmtKind::Schedule(s) if matches!(s.when, When::At(_)) && s.name.is_none())
    );
    assert!(matches!(&b[3], StmtKind::Cancel(n, _) if n == "cart"));
    assert!(
        matches!(&b[4], StmtKind::For { var, body, .. } if var.root.name == "o" && body.len() == 1)
    );
    let StmtKind::Say { buttons, .. } = &b[5] else {
        panic!("{:?}", b[5])
    };
    assert!(matches!(&buttons[0], SayItem::Image(..)));
    assert!(matches!(&buttons[1], SayItem::File(..)));
    let SayItem::For { items, .. } = &buttons[2] else {
        panic!("{:?}", buttons[2])
    };
    assert!(
        matches!(&items[0], SayItem::Button(b) if b.set.as_ref().is_some_and(|s| s.0.root.name == "picked"))
    );
}
