//! The dashboard at scale: `runner ui` over a fresh store of 10,000 synthetic runs. Times
//! the requests the runs table makes (the page, its facets, its first 100 rows newest
//! first) to the first byte and to the last, and, where Chromium and ChromeDriver are
//! installed, the whole table in the browser: from navigation to the rows drawn (the
//! page's `rendered` mark). Targets: first byte under 200 ms, the table under 1 s.
//!
//!     cargo bench --bench ui_scale

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

#[path = "../tests/common/browser.rs"]
#[allow(dead_code)]
mod browser;
#[path = "../tests/common/dashboard.rs"]
#[allow(dead_code)]
mod dashboard;
mod scale_store;

const REPEATS: usize = 7;

/// Time to the first byte of the answer and to its last, and its size.
fn get(address: &str, target: &str) -> (Duration, Duration, usize) {
    let started = Instant::now();
    let mut stream = TcpStream::connect(address).unwrap();
    write!(
        stream,
        "GET {target} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut first = [0u8; 1];
    stream.read_exact(&mut first).unwrap();
    let first_byte = started.elapsed();
    let mut rest = Vec::new();
    stream.read_to_end(&mut rest).unwrap();
    let text = String::from_utf8_lossy(&rest);
    assert!(
        text.starts_with("TTP/1.1 200"),
        "{target}: {}",
        &text[..text.len().min(200)]
    );
    (first_byte, started.elapsed(), rest.len() + 1)
}

fn median(mut times: Vec<f64>) -> f64 {
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

fn main() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let store = dir.path().join("store");
    scale_store::fill(&store);
    let dashboard = dashboard::Dashboard::start(&store);
    let address = dashboard.address.clone();

    let mut table_total = 0.0;
    for target in [
        "/",
        "/assets/app.js",
        "/api/facets",
        "/api/runs?sort=started&order=desc&offset=0&limit=100",
        "/api/runs?sort=val_accuracy&order=desc&offset=0&limit=100",
        "/api/runs?where=head.2.rate+%3E%3D+0.2&order=desc&offset=0&limit=100",
    ] {
        let samples: Vec<_> = (0..REPEATS).map(|_| get(&address, target)).collect();
        let first = median(samples.iter().map(|s| s.0.as_secs_f64() * 1000.0).collect());
        let last = median(samples.iter().map(|s| s.1.as_secs_f64() * 1000.0).collect());
        if !target.contains("val_accuracy") && !target.contains("where") {
            table_total += last;
        }
        println!(
            "GET {target:<72} first byte {first:>6.1} ms, whole {last:>6.1} ms (median of {REPEATS}), {} bytes",
            samples[0].2
        );
    }
    println!("the runs table's requests one after another: {table_total:.1} ms");

    match browser::Browser::start() {
        Some(browser) => {
            let url = format!("http://{address}/");
            let mut first_bytes = Vec::new();
            let mut rendered = Vec::new();
            for _ in 0..REPEATS {
                browser.goto(&url);
                browser.wait_for("return performance.getEntriesByName('rendered').length");
                let rows =
                    browser.eval("return document.querySelectorAll('#runs tbody tr').length");
                assert_eq!(rows, serde_json::json!(100));
                let timing = browser.eval(
                    "return [performance.getEntriesByType('navigation')[0].responseStart, performance.getEntriesByName('rendered')[0].startTime]",
                );
                first_bytes.push(timing[0].as_f64().unwrap());
                rendered.push(timing[1].as_f64().unwrap());
            }
            println!(
                "Chromium, runs table of {} runs: first byte {:.1} ms, 100 rows drawn {:.1} ms after navigation (median of {REPEATS}; targets 200 ms and 1000 ms)",
                scale_store::RUNS,
                median(first_bytes),
                median(rendered)
            );
        }
        None => println!("Chromium not installed: the in-browser time is not measured"),
    }
}
