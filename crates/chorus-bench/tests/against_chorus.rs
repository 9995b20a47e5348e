//! The load generator end to end: the real `chorus-bench` binary against a real chorus
//! server, every scenario briefly, over every protocol it speaks. Figures are not checked
//! (tests assert behaviour, never speed): only that each run completes, connects what it
//! was asked to, and loses nothing — so a generator that cannot run a scenario fails here
//! rather than in the middle of `bench/compare`.

use std::net::SocketAddr;
use std::process::Command;

use serde_json::Value;

/// Starts a chorus server on its own runtime thread and returns its address.
fn start_server() -> SocketAddr {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("a runtime");
        runtime.block_on(async move {
            let config = chorus::Config {
                host: [127, 0, 0, 1].into(),
                port: 0,
                store: chorus::config::StoreKind::None,
                presence_notices: false,
                chat_page: false,
                ..chorus::Config::default()
            };
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("a port");
            tx.send(listener.local_addr().expect("its address"))
                .expect("the test waits");
            // As `chorus serve` does: the built-in events the Socket.IO scenarios use.
            let server = chorus::Server::new(config);
            chorus::builtin::install(&server.io(), true);
            let _ = server.serve(listener).await;
        });
    });
    rx.recv().expect("the server started")
}

/// Runs `chorus-bench` with `args` (space-separated) over `proto` against `addr`; its one
/// JSON line.
fn bench(addr: SocketAddr, proto: &str, args: &str) -> Value {
    let url = format!("ws://{addr}");
    let output = Command::new(env!("CARGO_BIN_EXE_chorus-bench"))
        .args(args.split_whitespace())
        .args([
            "--proto",
            proto,
            "--url",
            &url,
            "--warmup",
            "0.2",
            "--json-only",
        ])
        .output()
        .expect("chorus-bench runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{proto} {args}: {}\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let line = stdout.lines().last().expect("a JSON line");
    serde_json::from_str(line).unwrap_or_else(|err| panic!("{err}: {line}"))
}

fn number(report: &Value, key: &str) -> f64 {
    report[key]
        .as_f64()
        .unwrap_or_else(|| panic!("no {key} in {report}"))
}

#[test]
fn every_scenario_runs_over_every_protocol() {
    let addr = start_server();
    for proto in ["raw", "native", "socketio"] {
        let conns = bench(addr, proto, "conns --conns 50 --hold 0.2");
        assert_eq!(number(&conns, "connected"), 50.0, "{proto}: {conns}");

        let echo = bench(addr, proto, "echo --conns 4 --depth 4 --duration 0.5");
        assert!(number(&echo, "round_trips") > 0.0, "{proto}: {echo}");
        assert_eq!(number(&echo, "failures"), 0.0, "{proto}: {echo}");

        for args in [
            "fanout --subs 20 --rate 0 --duration 0.5 --drain 1",
            "rooms --rooms 3 --members 4 --rate 20 --duration 0.5 --drain 1",
        ] {
            let report = bench(addr, proto, args);
            let context = format!("{proto} {args}: {report}");
            assert!(number(&report, "deliveries_per_s") > 0.0, "{context}");
            assert_eq!(number(&report, "lost"), 0.0, "{context}");
        }
    }
}
