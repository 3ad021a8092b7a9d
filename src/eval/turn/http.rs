//! The `http` statement at run time (LANGUAGE.md §8): the statement is rendered into a
//! [`Request`] here, sent by the turn's transport, and its outcome lands in the variables.
//! Stubbed responses (`scenarist test`) and real ones take the same path from [`Turn::http`]
//! on, so what a golden test checks is what a real run does.

use std::time::{Duration, Instant};

use super::{fail, Env, Eval, Failure, Next, Turn};
use crate::check::BlockId;
use crate::eval::Event;
use crate::http::{self, body, url::Piece, Request, Response};
use crate::syntax::ast::{self, AssignOp, HttpBody, LValue, TemplatePart, VarPath};
use crate::value::{Map, Value};

impl Env<'_> {
    /// Renders the statement into the request to send. A value that cannot be sent (a header
    /// with a line break, a URL that is not http(s), a `form` that is not a Dictionary) is a
    /// runtime error and nothing is sent.
    pub(super) fn http_request(&mut self, h: &ast::Http) -> Eval<Request> {
        let mut pieces = Vec::with_capacity(h.url.parts.len());
        let mut length = 0;
        for part in &h.url.parts {
            let piece = match part {
                TemplatePart::Text(t) => Piece::Literal(t.clone()),
                TemplatePart::Var(p) => match self.path(p) {
                    Some(v) => Piece::Value(self.text(&v, p.span)?.into_owned()),
                    None => Piece::Value(String::new()),
                },
                TemplatePart::Expr(e) => {
                    let v = self.eval(e)?;
                    Piece::Value(self.text(&v, e.span)?.into_owned())
                }
            };
            length += match &piece {
                Piece::Literal(t) | Piece::Value(t) => t.len(),
            };
            pieces.push(piece);
        }
        let mut query = Vec::with_capacity(h.query.len());
        for q in &h.query {
            let value = self.eval(&q.value)?;
            let items = match &value {
                // Like `form`: a List repeats the parameter.
                Value::List(items) => items.as_slice(),
                v => std::slice::from_ref(v),
            };
            for v in items {
                let text = self.text(v, q.value.span)?.into_owned();
                length += q.name.len() + text.len();
                if length > body::MAX_BODY_BYTES {
                    return fail(
                        q.value.span,
                        "the URL would be longer than 10 MiB; nothing was sent",
                    );
                }
                query.push((q.name.clone(), text));
            }
        }
        let url = match http::url::build(&pieces, &query) {
            Ok(url) => url,
            Err(e) => return fail(h.url.span, format!("cannot call {e}")),
        };
        let mut headers = Vec::with_capacity(h.headers.len() + 1);
        for header in &h.headers {
            let value = self.render(&header.value)?;
            if let Err(e) = body::header_value(&header.name, &value) {
                return fail(header.span, e);
            }
            headers.push((header.name.clone(), value));
        }
        let body = match &h.body {
            None => None,
            Some((kind, span)) => {
                let content_type = headers
                    .iter()
                    .find(|(n, _)| n.eq_ignore_ascii_case("content-type"))
                    .map(|(_, v)| v.as_str());
                let encoding = match kind {
                    HttpBody::Json(_) => Ok(None),
                    _ => body::request_encoding(content_type),
                };
                let encoding = match encoding {
                    Ok(e) => e,
                    Err(e) => return fail(*span, e),
                };
                let rendered = match kind {
                    HttpBody::Form(e) => body::form(&self.eval(e)?, encoding),
                    HttpBody::Json(e) => body::json(&self.eval(e)?),
                    HttpBody::Text(t) => body::text(&self.render(t)?, encoding),
                };
                let rendered = match rendered {
                    Ok(b) => b,
                    Err(e) => return fail(*span, e),
                };
                if let Some(default) = rendered.default_type {
                    let set = headers
                        .iter()
                        .any(|(n, _)| n.eq_ignore_ascii_case("content-type"));
                    if !set {
                        headers.push(("Content-Type".into(), default.into()));
                    }
                }
                Some(rendered.bytes)
            }
        };
        // What the runtime adds unless the scenario set it: part of the request as it goes on
        // the wire, so a golden test sees and can check them (Host and Content-Length come
        // from the URL and the body).
        for (name, value) in [("User-Agent", http::USER_AGENT), ("Accept", "*/*")] {
            if !headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(name)) {
                headers.push((name.into(), value.into()));
            }
        }
        Ok(Request {
            method: h.method.as_str(),
            url: url.into(),
            headers,
            body,
            timeout: h
                .timeout_ms
                .map_or(http::DEFAULT_TIMEOUT, Duration::from_millis),
            redirects: h.redirects.unwrap_or(http::DEFAULT_REDIRECTS),
        })
    }

    fn set_var(&mut self, target: &Option<VarPath>, value: Value) -> Eval<()> {
        match target {
            Some(var) => self.assign(&LValue::of(var.clone()), AssignOp::Set, value),
            None => Ok(()),
        }
    }
}

impl Turn<'_> {
    /// Sends the rendered request and stores the outcome: the response in the statement's
    /// targets, or a transport failure in `%error%` (and on to the `on error` block).
    pub(super) async fn http(
        &mut self,
        block: BlockId,
        h: &ast::Http,
        on_error: Option<BlockId>,
        request: Request,
    ) -> Eval<Next> {
        let started = Instant::now();
        let outcome = self.transport.send(&request).await;
        let duration_ms = started.elapsed().as_millis() as u64;
        match outcome {
            Ok(response) => {
                self.emit(
                    block,
                    Event::Http {
                        method: request.method.into(),
                        url: request.url.clone(),
                        status: Some(response.status),
                        error: None,
                        duration_ms,
                    },
                );
                self.store_response(h, &request, response)?;
                Ok(Next::Continue)
            }
            Err(failure) => {
                self.emit(
                    block,
                    Event::Http {
                        method: request.method.into(),
                        url: request.url.clone(),
                        status: None,
                        error: Some(failure.0.clone()),
                        duration_ms,
                    },
                );
                let Some(to) = on_error else {
                    return Err(Box::new(Failure {
                        message: format!("{} {} failed: {}", request.method, request.url, failure),
                        span: h.url.span,
                    }));
                };
                self.env
                    .session
                    .specials
                    .insert("error".into(), Value::from(failure.0.as_str()));
                self.env.set_var(&h.status_to, Value::from(0))?;
                self.env.set_var(&h.body_to, Value::from(""))?;
                self.env.set_var(&h.headers_to, Value::from(Map::new()))?;
                Ok(Next::Goto(to))
            }
        }
    }

    fn store_response(&mut self, h: &ast::Http, request: &Request, r: Response) -> Eval<()> {
        let content_type = r.header("content-type");
        let decoded = if request.method == "HEAD" {
            body::decode(None, &[])
        } else {
            body::decode(content_type.as_deref(), &r.body)
        };
        if let Some(e) = decoded.bad_json {
            self.env.warnings.push((
                format!(
                    "the response to {} {} is not valid JSON ({e}); %{}% holds it as text",
                    request.method,
                    request.url,
                    h.body_to.as_ref().map_or("body", |v| v.root.name.as_str()),
                ),
                h.url.span,
            ));
        }
        // A success clears the `%error%` of an earlier failure.
        self.env.session.specials.shift_remove("error");
        let headers = body::headers(r.headers.iter().map(|(n, v)| (n.as_str(), v.as_slice())));
        self.env
            .set_var(&h.status_to, Value::from(i64::from(r.status)))?;
        self.env.set_var(&h.headers_to, headers)?;
        self.env.set_var(&h.body_to, decoded.value)?;
        Ok(())
    }
}
