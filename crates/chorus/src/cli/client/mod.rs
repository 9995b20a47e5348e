//! `chorus client URL`: a WebSocket client for the person debugging at 2 a.m., like wscat
//! or websocat, that speaks what chorus serves — a raw room (`ws://host/lobby`), the native
//! protocol (`ws://host/ws`) or Socket.IO (`http://host/` or `http://host/namespace`, over
//! Engine.IO's WebSocket transport).
//!
//! On a terminal it is interactive: a line editor with history (`> `), what arrives printed
//! above it (`< `). Otherwise — in a pipe, a script, a test — each line of stdin is sent and
//! each message that arrives is printed as one JSON object per line (`dialect`'s shapes), so
//! `jq` can read it; when stdin ends, what arrives for `--linger-ms` more is printed, then the
//! connection is closed. The exit status is 0 when the connection ended normally (closed by
//! the user, or by the server with 1000, 1001 or no code), 1 otherwise.
//!
//! * `link` — the WebSocket itself (`ws://`, `wss://` with the platform's roots).
//! * `dialect` — raw, native, Socket.IO: lines into frames, frames into what is shown.

mod dialect;
mod link;

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::Args;
use futures::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::sync::mpsc;
use url::Url;
use yawc::{Frame, OpCode};

use self::dialect::{Dialect, Said, Shown};

/// `chorus client`'s arguments.
#[derive(Args, Debug)]
pub(crate) struct ClientArgs {
    /// Where: `ws://host:port/room` (a raw room), `ws://host:port/ws` (the native protocol),
    /// `http://host:port/` or `http://host:port/namespace` (Socket.IO); `wss://` and
    /// `https://` for TLS.
    url: String,
    /// The protocol, when the URL does not say it [default: from the URL].
    #[arg(long, value_enum)]
    protocol: Option<Protocol>,
    /// A token: `?token=` on the URL (raw, native) or the CONNECT's `auth.token`
    /// (Socket.IO); prefer the environment variable.
    #[arg(long, env = "CHORUS_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Socket.IO: the CONNECT's `auth` payload (a JSON object).
    #[arg(long)]
    auth: Option<String>,
    /// Socket.IO: the server's path.
    #[arg(long, default_value = "/socket.io/")]
    path: String,
    /// A request header, `Name: value` (repeat for more): a cookie, an origin.
    #[arg(short = 'H', long = "header")]
    headers: Vec<String>,
    /// A PEM certificate to trust for `wss://` besides the platform's (a development one).
    #[arg(long)]
    ca: Option<PathBuf>,
    /// When not on a terminal: how long to keep printing what arrives after stdin ends, in
    /// milliseconds.
    #[arg(long, default_value_t = 1000)]
    linger_ms: u64,
}

/// What the client speaks.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Protocol {
    Raw,
    Native,
    Socketio,
}

/// Runs `chorus client`; the exit status.
pub(crate) fn run(args: ClientArgs) -> anyhow::Result<i32> {
    let (url, dialect) = resolve(&args)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async move {
        let ws = link::open(&url, &args.headers, args.ca.as_deref()).await?;
        let interactive = std::io::stdin().is_terminal() && std::io::stdout().is_terminal();
        talk(
            ws,
            dialect,
            interactive,
            Duration::from_millis(args.linger_ms),
            &url,
        )
        .await
    })
}

/// The WebSocket URL and the dialect `args` ask for.
fn resolve(args: &ClientArgs) -> anyhow::Result<(Url, Dialect)> {
    let mut url = Url::parse(&args.url).with_context(|| format!("{:?} is not a URL", args.url))?;
    let protocol = args.protocol.unwrap_or(match url.scheme() {
        "http" | "https" => Protocol::Socketio,
        _ if url.path().starts_with(args.path.trim_end_matches('/')) && args.path != "/" => {
            Protocol::Socketio
        }
        _ if url.path() == "/ws" => Protocol::Native,
        _ => Protocol::Raw,
    });
    let scheme = match url.scheme() {
        "http" | "ws" => "ws",
        "https" | "wss" => "wss",
        other => bail!("{other}:// is not a scheme chorus client speaks (ws, wss, http, https)"),
    };
    url.set_scheme(scheme)
        .map_err(|()| anyhow::anyhow!("cannot use {scheme}:// here"))?;
    if protocol != Protocol::Socketio {
        if let Some(token) = &args.token {
            url.query_pairs_mut().append_pair("token", token);
        }
        let dialect = match protocol {
            Protocol::Native => Dialect::Native { rid: 0 },
            _ => Dialect::Raw,
        };
        return Ok((url, dialect));
    }
    // Socket.IO: the URL's path is the namespace, unless it is the server's path itself.
    let namespace = match url.path() {
        path if path.starts_with(args.path.trim_end_matches('/')) => "/".to_owned(),
        "" | "/" => "/".to_owned(),
        path => path.trim_end_matches('/').to_owned(),
    };
    let mut auth: Option<Value> = match &args.auth {
        Some(text) => Some(serde_json::from_str(text).context("--auth is a JSON object")?),
        None => None,
    };
    if let Some(token) = &args.token {
        let object = auth.get_or_insert_with(|| Value::Object(Default::default()));
        let Some(object) = object.as_object_mut() else {
            bail!("--auth is a JSON object");
        };
        object.insert("token".into(), Value::String(token.clone()));
    }
    let kept: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(k, _)| k != "EIO" && k != "transport")
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    url.set_path(&args.path);
    url.query_pairs_mut()
        .clear()
        .append_pair("EIO", "4")
        .append_pair("transport", "websocket")
        .extend_pairs(kept);
    Ok((url, Dialect::socketio(namespace, auth)))
}

/// Where what arrives is shown.
enum Out {
    /// Above the line being edited.
    Terminal(Box<dyn rustyline::ExternalPrinter + Send>),
    /// JSON lines on stdout.
    Lines(std::io::Stdout),
}

impl Out {
    fn show(&mut self, shown: &Shown) {
        match self {
            Out::Terminal(printer) => drop(printer.print(format!("< {}\n", shown.text))),
            Out::Lines(stdout) => {
                let mut stdout = stdout.lock();
                let _ = writeln!(stdout, "{}", shown.json);
                let _ = stdout.flush();
            }
        }
    }

    fn note(&mut self, note: &str) {
        match self {
            Out::Terminal(printer) => drop(printer.print(format!("* {note}\n"))),
            Out::Lines(_) => eprintln!("chorus client: {note}"),
        }
    }
}

/// The session: lines to frames, frames to output, until either side ends it.
async fn talk(
    mut ws: link::Ws,
    mut dialect: Dialect,
    interactive: bool,
    linger: Duration,
    url: &Url,
) -> anyhow::Result<i32> {
    let (lines_tx, mut lines) = mpsc::channel::<String>(64);
    let mut out = if interactive {
        let mut editor = rustyline::DefaultEditor::new().context("opening the terminal")?;
        let printer = editor
            .create_external_printer()
            .context("opening the terminal")?;
        let terminal = Terminal::save();
        std::thread::spawn(move || {
            while let Ok(line) = editor.readline("> ") {
                let _ = editor.add_history_entry(line.as_str());
                if lines_tx.blocking_send(line).is_err() {
                    break;
                }
            }
        });
        let mut out = Out::Terminal(Box::new(printer));
        out.note(&format!(
            "connected to {url}; /help lists the commands, Ctrl-D leaves"
        ));
        let ended = session(&mut ws, &mut dialect, &mut lines, &mut out, None).await;
        terminal.restore_and_exit(ended);
    } else {
        // A thread of its own, not tokio's stdin: a read that never ends (a terminal, or
        // `tail -f` piped in) must not keep the runtime from shutting down when the
        // server closes.
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::stdin().lock().lines() {
                let Ok(line) = line else { break };
                if lines_tx.blocking_send(line).is_err() {
                    break;
                }
            }
        });
        Out::Lines(std::io::stdout())
    };
    let ended = session(&mut ws, &mut dialect, &mut lines, &mut out, Some(linger)).await;
    if let Some(last) = ended.last {
        out.note(&last);
    }
    Ok(ended.status)
}

/// How a session ended: the exit status, and what to say last (on a terminal it is printed
/// after the line editor let go of it, not above a prompt that is about to vanish).
struct Ended {
    status: i32,
    last: Option<String>,
}

impl Ended {
    fn quietly(status: i32) -> Self {
        Self { status, last: None }
    }

    fn lost() -> Self {
        Self {
            status: 1,
            last: Some("the connection was lost".into()),
        }
    }
}

/// The loop; the exit status. `linger`: how long to go on after the input ends (`None`:
/// not at all, on a terminal).
async fn session(
    ws: &mut link::Ws,
    dialect: &mut Dialect,
    lines: &mut mpsc::Receiver<String>,
    out: &mut Out,
    linger: Option<Duration>,
) -> Ended {
    let mut input_open = true;
    let mut until: Option<tokio::time::Instant> = None;
    let mut closing = false;
    loop {
        let deadline = async {
            match until {
                Some(until) => tokio::time::sleep_until(until).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            frame = ws.next() => {
                let Some(frame) = frame else {
                    return if closing { Ended::quietly(0) } else { Ended::lost() };
                };
                let (shown, answers) = dialect.heard(&frame);
                if frame.opcode() == OpCode::Close {
                    let code = frame.close_code().map_or(1005, u16::from);
                    let status = i32::from(!(closing || matches!(code, 1000 | 1001 | 1005)));
                    return match (linger, shown.into_iter().next()) {
                        // On a terminal the last word is printed once the editor let go.
                        (None, Some(shown)) => Ended { status, last: Some(format!("< {}", shown.text)) },
                        (_, shown) => {
                            shown.iter().for_each(|shown| out.show(shown));
                            Ended::quietly(status)
                        }
                    };
                }
                for shown in &shown {
                    out.show(shown);
                }
                for answer in answers {
                    if ws.send(answer).await.is_err() {
                        return Ended::lost();
                    }
                }
            }
            line = lines.recv(), if input_open => match line {
                Some(line) => match dialect.said(&line) {
                    Said::Send(frames) => {
                        for frame in frames {
                            if ws.send(frame).await.is_err() {
                                return Ended::lost();
                            }
                        }
                    }
                    Said::Close(code, reason) => {
                        closing = true;
                        let _ = ws.send(Frame::close(code.into(), reason.as_bytes())).await;
                        until = Some(tokio::time::Instant::now() + Duration::from_secs(2));
                    }
                    Said::Quit => {
                        let _ = ws.send(Frame::close(yawc::close::CloseCode::Normal, b"")).await;
                        return Ended::quietly(0);
                    }
                    Said::Note(note) if note.is_empty() => {}
                    Said::Note(note) => out.note(&note),
                },
                None => {
                    input_open = false;
                    match linger {
                        // Ctrl-D on a terminal: leave now.
                        None => {
                            let _ = ws.send(Frame::close(yawc::close::CloseCode::Normal, b"")).await;
                            return Ended::quietly(0);
                        }
                        Some(linger) => until = Some(tokio::time::Instant::now() + linger),
                    }
                }
            },
            () = deadline => {
                if closing {
                    return Ended::quietly(0);
                }
                closing = true;
                let _ = ws.send(Frame::close(yawc::close::CloseCode::Normal, b"")).await;
                until = Some(tokio::time::Instant::now() + Duration::from_secs(2));
            }
        }
    }
}

/// The terminal's mode before the line editor changed it: put back before the process
/// leaves while the editor still waits for a line (the server closed the connection).
struct Terminal(Option<nix::sys::termios::Termios>);

/// A panic, too, gives the terminal back.
impl Drop for Terminal {
    fn drop(&mut self) {
        self.restore();
    }
}

impl Terminal {
    fn save() -> Self {
        Self(nix::sys::termios::tcgetattr(std::io::stdin()).ok())
    }

    /// Puts the terminal back as it was: its mode, and bracketed paste off (the editor
    /// turned it on).
    fn restore(&self) {
        if let Some(termios) = &self.0 {
            let _ = nix::sys::termios::tcsetattr(
                std::io::stdin(),
                nix::sys::termios::SetArg::TCSANOW,
                termios,
            );
            print!("\x1b[?2004l");
        }
    }

    /// Restores the terminal, says the last word and leaves: the editor's thread cannot
    /// be interrupted, so the process ends here.
    fn restore_and_exit(self, ended: Ended) -> ! {
        self.restore();
        // Off the prompt's line.
        println!();
        if let Some(last) = ended.last {
            println!("{last}");
        }
        std::process::exit(ended.status);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolved(url: &str, extra: &[&str]) -> (String, String) {
        let mut argv = vec!["client", url];
        argv.extend_from_slice(extra);
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            args: ClientArgs,
        }
        let cli = <Cli as clap::Parser>::try_parse_from(argv).unwrap();
        let (url, dialect) = resolve(&cli.args).unwrap();
        (url.to_string(), format!("{dialect:?}"))
    }

    #[test]
    fn the_url_says_the_protocol() {
        let (url, dialect) = resolved("ws://127.0.0.1:3000/lobby", &["--token", "t"]);
        assert_eq!(url, "ws://127.0.0.1:3000/lobby?token=t");
        assert_eq!(dialect, "Raw");
        let (url, dialect) = resolved("ws://127.0.0.1:3000/ws", &[]);
        assert_eq!(
            (url.as_str(), dialect.as_str()),
            ("ws://127.0.0.1:3000/ws", "Native { rid: 0 }")
        );
        let (url, dialect) = resolved("http://127.0.0.1:3000/chat?x=1", &["--token", "t"]);
        assert_eq!(
            url,
            "ws://127.0.0.1:3000/socket.io/?EIO=4&transport=websocket&x=1"
        );
        assert!(dialect.contains("namespace: \"/chat\""), "{dialect}");
        assert!(dialect.contains("\"token\": String(\"t\")"), "{dialect}");
        let (url, dialect) = resolved("wss://example.org/socket.io/", &[]);
        assert_eq!(
            url,
            "wss://example.org/socket.io/?EIO=4&transport=websocket"
        );
        assert!(dialect.contains("namespace: \"/\""), "{dialect}");
        let (_, dialect) = resolved("ws://h/ws", &["--protocol", "raw"]);
        assert_eq!(dialect, "Raw");
    }
}
