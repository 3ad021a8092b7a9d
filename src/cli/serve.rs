//! `scenarist serve PATH`: the bot live over HTTP (SERVER.md). Parses the flags, opens the
//! store, compiles the bot, then serves until SIGINT/SIGTERM; SIGHUP reloads the bot.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;

use super::{run, status, usage_error};
use crate::eval::{Options, Runtime};
use crate::serve::{App, Bot};
use crate::Sources;

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The bot: a .scn file or a directory of them.
    #[arg(value_name = "PATH")]
    path: PathBuf,

    /// The address to listen on.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,

    /// Where sessions, globals, timers and the outbox live: `sqlite:FILE` or `memory:`.
    #[arg(long, value_name = "URL", default_value = "sqlite:scenarist.db")]
    store: String,

    /// The environment variable holding the API token.
    #[arg(long, value_name = "NAME", default_value = "SCENARIST_TOKEN")]
    token_env: String,

    /// POST the events of turns nobody asked for (timers, webhooks) to this URL, in order per
    /// user, retried until it answers 2xx, signed with the token (`X-Scenarist-Signature`).
    #[arg(long, value_name = "URL")]
    deliver_url: Option<String>,

    /// Only these hosts may be called by the bot's `http` (repeatable).
    #[arg(long, value_name = "HOST[:PORT]")]
    allow_host: Vec<String>,

    /// Largest HTTP response body the bot accepts, in bytes.
    #[arg(long, value_name = "N", default_value_t = crate::http::DEFAULT_MAX_RESPONSE_BYTES)]
    max_response_bytes: u64,

    /// Statements one turn may run before it is stopped.
    #[arg(long, value_name = "N", default_value_t = 10_000)]
    max_steps: u64,

    /// Wall time one turn may take, HTTP included.
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = run::parse_duration)]
    max_turn_time: Duration,

    /// Timers one conversation may have pending.
    #[arg(long, value_name = "N", default_value_t = 100)]
    max_timers: usize,

    /// Messages a user may send a second; beyond, `429` (0: no limit).
    #[arg(long, value_name = "N", default_value_t = 20)]
    user_rate: u32,

    /// Preset a variable for every session (never saved). Repeatable.
    #[arg(long = "var", value_name = "NAME=VALUE")]
    vars: Vec<String>,

    /// Like --var, shown as *** in every output and never saved. Repeatable.
    #[arg(long = "secret", value_name = "NAME=VALUE")]
    secrets: Vec<String>,

    /// Let message texts appear in the log (they never do otherwise).
    #[arg(long)]
    log_content: bool,

    /// Run the bot on Telegram too, with the bot token in TELEGRAM_BOT_TOKEN (polls for
    /// updates unless --telegram-webhook is given).
    #[arg(long)]
    telegram: bool,

    /// The Bot API's address.
    #[arg(
        long,
        value_name = "URL",
        default_value = crate::serve::telegram::DEFAULT_API,
        requires = "telegram"
    )]
    telegram_api: String,

    /// Take Telegram's updates on a webhook instead of polling: this server's public HTTPS
    /// address; Telegram posts to PUBLIC_URL/telegram/webhook.
    #[arg(long, value_name = "PUBLIC_URL", requires = "telegram")]
    telegram_webhook: Option<String>,

    /// Serve the web chat: the page at /chat, the embed script at /widget.js.
    #[arg(long)]
    web_chat: bool,
}

/// Compiles the bot at `path`: the bot and its warnings, or the errors, as text.
fn load(
    path: &std::path::Path,
    options: &Options,
    presets: &[(String, crate::value::Value, bool)],
) -> Result<(Bot, Vec<String>), Vec<String>> {
    let sources = Sources::load(&[path.to_path_buf()]).map_err(|e| vec![e.to_string()])?;
    let program = super::compile_with_big_stack(&sources)
        .map_err(|d| vec![crate::report::render_human(&sources, &d, false)])?;
    let warnings = if program.warnings.is_empty() {
        Vec::new()
    } else {
        vec![crate::report::render_human(
            &sources,
            &program.warnings,
            false,
        )]
    };
    let runtime = Runtime::new(program, sources, options.clone());
    Ok((Bot::new(runtime, presets.to_vec()), warnings))
}

pub fn run(args: ServeArgs) -> u8 {
    let presets = match run::parse_assignments(&args.vars, false).and_then(|mut vars| {
        vars.extend(run::parse_assignments(&args.secrets, true)?);
        Ok(vars)
    }) {
        Ok(p) => p,
        Err(e) => return usage_error(e),
    };
    if let Some((name, ..)) = presets.iter().find(|(n, ..)| crate::check::is_special(n)) {
        return usage_error(format!(
            "`%{name}%` is set by the runtime; it cannot be preset"
        ));
    }
    let policy = match crate::http::Policy::allow(&args.allow_host) {
        Ok(p) => p,
        Err(e) => return usage_error(e),
    };
    let token = std::env::var(&args.token_env)
        .ok()
        .filter(|t| !t.is_empty());
    if token.is_none() && !args.listen.ip().is_loopback() {
        return usage_error(format!(
            "no API token: set {} (or name another variable with --token-env) to listen on {}; \
             without a token the server only listens on a loopback address",
            args.token_env, args.listen
        ));
    }
    if let Some(url) = &args.deliver_url {
        if url::Url::parse(url).map_or(true, |u| !matches!(u.scheme(), "http" | "https")) {
            return usage_error(format!("--deliver-url {url:?} is not an http(s) URL"));
        }
    }
    let telegram = if args.telegram {
        let token = std::env::var("TELEGRAM_BOT_TOKEN").unwrap_or_default();
        if token.is_empty() {
            return usage_error(
                "--telegram needs the bot token (from @BotFather) in TELEGRAM_BOT_TOKEN",
            );
        }
        match crate::serve::telegram::Telegram::new(
            &args.telegram_api,
            &token,
            args.telegram_webhook.as_deref(),
        ) {
            Ok(tg) => Some(Arc::new(tg)),
            Err(e) => return usage_error(e),
        }
    } else {
        None
    };
    let options = Options {
        max_steps: args.max_steps,
        max_turn_time: args.max_turn_time,
        max_timers: args.max_timers,
        ..Options::default()
    };
    let (bot, warnings) = match load(&args.path, &options, &presets) {
        Ok(loaded) => loaded,
        Err(errors) => {
            for e in errors {
                eprint!("{e}");
            }
            return status::FAILED;
        }
    };
    for w in &warnings {
        eprint!("{w}");
    }
    let tokio = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return usage_error(format!("cannot start the runtime: {e}")),
    };
    let store = match tokio.block_on(crate::serve::store::open_async(&args.store)) {
        Ok(s) => s,
        Err(e) => return usage_error(e),
    };
    // The log lines go to stderr from a thread of their own, in batches (`serve::log`): a
    // turn does not wait on a write, and many turns' lines take one. Lines still waiting are
    // written when `run` returns (the guard).
    let (log_writer, _log_guard) = match crate::serve::log::batched(std::io::stderr()) {
        Ok(log) => log,
        Err(e) => return usage_error(format!("cannot start the log thread: {e}")),
    };
    let _ = tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_span_list(false)
        .with_target(false)
        .with_writer(log_writer)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("SCENARIST_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .try_init();
    let client = crate::http::Client::new(
        policy,
        crate::http::Limits {
            max_response_bytes: args.max_response_bytes,
        },
    );
    let path = args.path.clone();
    let reload = Box::new(move || load(&path, &options, &presets));
    let mut app = App::new(bot, Arc::from(store), reload, client, token, args.user_rate);
    app.log_content = args.log_content;
    app.delivering = args.deliver_url.is_some() || telegram.is_some();
    app.telegram = telegram;
    app.web_chat = args.web_chat;
    let app = Arc::new(app);
    tokio.block_on(serve(app, args.listen, args.deliver_url, args.token_env))
}

async fn serve(
    app: Arc<App>,
    listen: SocketAddr,
    deliver_url: Option<String>,
    token_env: String,
) -> u8 {
    let listener = match tokio::net::TcpListener::bind(listen).await {
        Ok(l) => l,
        Err(e) => return usage_error(format!("cannot listen on {listen}: {e}")),
    };
    let local = listener.local_addr().map_or(listen, |a| a);
    if app.store.kind() == "memory" {
        tracing::warn!("the store is memory: nothing survives a restart");
    }
    if app.token.is_none() {
        tracing::warn!(
            "no API token in {token_env}: the API is open to every process of this machine"
        );
    }
    tracing::info!(listen = %local, store = app.store.kind(), "serving");
    let mut background = tokio::task::JoinSet::new();
    background.spawn(crate::serve::timer_loop(
        app.clone(),
        app.stopping.subscribe(),
    ));
    background.spawn(crate::serve::prune_loop(
        app.clone(),
        app.stopping.subscribe(),
    ));
    if deliver_url.is_some() || app.telegram.is_some() {
        background.spawn(crate::serve::deliver_loop(
            app.clone(),
            deliver_url,
            app.stopping.subscribe(),
        ));
    }
    if let Some(tg) = app.telegram.clone() {
        background.spawn(crate::serve::telegram::run(
            app.clone(),
            tg,
            app.stopping.subscribe(),
        ));
    }
    background.spawn(reload_on_hangup(app.clone()));
    let router = crate::serve::router(app.clone());
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(Duration::from_secs(10))
        .keep_alive(true);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut stop = std::pin::pin!(stop_signal());
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let stream = match accepted {
                    Ok((stream, _)) => stream,
                    Err(e) => {
                        // Out of file descriptors, say: breathe, then go on.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let io = hyper_util::rt::TokioIo::new(stream);
                let service = hyper_util::service::TowerToHyperService::new(router.clone());
                let connection = graceful.watch(http.serve_connection(io, service));
                tokio::spawn(async move {
                    let _ = connection.await;
                });
            }
            _ = &mut stop => break,
        }
    }
    drop(listener);
    tracing::info!("stopping: finishing the turns in progress");
    let _ = app.stopping.send(true);
    tokio::select! {
        _ = graceful.shutdown() => {}
        _ = tokio::time::sleep(Duration::from_secs(30)) => {
            tracing::warn!("turns still running after 30 s were abandoned");
        }
    }
    background.abort_all();
    tracing::info!("stopped");
    status::OK
}

/// SIGINT or SIGTERM.
async fn stop_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        std::future::pending::<()>().await;
        return;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}

/// SIGHUP: recompiles the bot; on errors the running one stays.
async fn reload_on_hangup(app: Arc<App>) {
    use tokio::signal::unix::{signal, SignalKind};
    let Ok(mut hup) = signal(SignalKind::hangup()) else {
        return;
    };
    while hup.recv().await.is_some() {
        let app = app.clone();
        let result = tokio::task::spawn_blocking(move || app.reload()).await;
        match result {
            Ok(Ok(warnings)) => tracing::info!(warnings = ?warnings, "reloaded the bot"),
            Ok(Err(errors)) => {
                tracing::error!(diagnostics = ?errors, "the new bot has errors; the running one stays")
            }
            Err(e) => tracing::error!(error = %e, "reload failed"),
        }
    }
}
