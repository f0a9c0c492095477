//! `runner ui --port 0` on a store, for the dashboard's tests and benchmark, with requests
//! sent byte for byte.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use serde_json::Value;

/// `runner ui --port 0` on a store, stopped when dropped.
pub struct Dashboard {
    child: Child,
    /// `127.0.0.1:PORT`
    pub address: String,
}

impl Dashboard {
    pub fn start(store: &Path) -> Dashboard {
        let mut child = Command::new(env!("CARGO_BIN_EXE_runner"))
            .args(["ui", "--port", "0"])
            .env("RUNNER_STORE", store)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("runner ui starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let address = line
            .split("http://")
            .nth(1)
            .and_then(|rest| rest.split('/').next())
            .unwrap_or_else(|| panic!("runner ui printed {line:?}"))
            .to_string();
        Dashboard { child, address }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    /// A request sent byte for byte as given (no client normalizes its path): the
    /// status and the body.
    pub fn raw(&self, method: &str, target: &str, host: &str) -> (u16, String) {
        self.raw_with(method, target, &format!("Host: {host}\r\n"))
    }

    /// A request with these header lines (each ending in CRLF).
    pub fn raw_with(&self, method: &str, target: &str, headers: &str) -> (u16, String) {
        let mut stream = TcpStream::connect(&self.address).unwrap();
        write!(
            stream,
            "{method} {target} HTTP/1.1\r\n{headers}Connection: close\r\n\r\n"
        )
        .unwrap();
        let mut response = Vec::new();
        let _ = stream.read_to_end(&mut response);
        let text = String::from_utf8_lossy(&response).into_owned();
        let status = text
            .split(' ')
            .nth(1)
            .and_then(|code| code.parse().ok())
            .unwrap_or_else(|| panic!("no HTTP answer to {target}: {text:?}"));
        let body = text
            .split_once("\r\n\r\n")
            .map(|(_, body)| body.to_string());
        (status, body.unwrap_or_default())
    }

    pub fn get(&self, path: &str) -> (u16, String) {
        self.raw("GET", path, &self.address.clone())
    }

    pub fn json(&self, path: &str) -> Value {
        let (status, body) = self.get(path);
        assert_eq!(status, 200, "{path}: {body}");
        serde_json::from_str(&body).unwrap()
    }
}

impl Drop for Dashboard {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
