//! A headless Chromium driven through ChromeDriver's WebDriver protocol (plain HTTP and
//! JSON), for the dashboard's browser tests and benchmark. `Browser::start` returns `None`
//! (the test says it is skipped) when Debian's chromium or chromedriver is missing, unless
//! `RUNNER_REQUIRE_BROWSER` is set, as `.ci/run` sets it.

use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

pub struct Browser {
    driver: Child,
    base: String,
    session: String,
    profile: tempfile::TempDir,
}

impl Browser {
    pub fn start() -> Option<Browser> {
        let (Some(chromium), Some(chromedriver)) = (on_path("chromium"), on_path("chromedriver"))
        else {
            assert!(
                std::env::var_os("RUNNER_REQUIRE_BROWSER").is_none(),
                "RUNNER_REQUIRE_BROWSER is set but chromium or chromedriver is missing (scripts/setup.sh installs them)"
            );
            eprintln!(
                "skipped: no chromium and chromedriver on PATH (scripts/setup.sh installs them)"
            );
            return None;
        };
        let port = free_port();
        let driver = Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // Its own process group, so that dropping the browser stops every process.
            .process_group(0)
            .spawn()
            .expect("chromedriver starts");
        let base = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        while ureq::get(&format!("{base}/status")).call().is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "chromedriver does not answer"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let profile = tempfile::tempdir().unwrap();
        // Off the network (this machine reaches none), no sandbox (tests run as root).
        let args = [
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--hide-scrollbars",
            &format!("--user-data-dir={}", profile.path().display()),
            // headless=new takes 143 pixels of window for browser chrome it does not draw.
            "--window-size=1400,1043",
        ];
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": chromium, "args": args},
            "goog:loggingPrefs": {"browser": "ALL"},
            "timeouts": {"pageLoad": 20_000, "script": 10_000},
        }}});
        let mut browser = Browser {
            driver,
            base,
            session: String::new(),
            profile,
        };
        let created = browser.command("POST", "/session", &capabilities);
        browser.session = created["sessionId"].as_str().unwrap().to_string();
        Some(browser)
    }

    fn command(&self, method: &str, path: &str, body: &Value) -> Value {
        let url = format!("{}{path}", self.base);
        let response = match method {
            "GET" => ureq::get(&url).call(),
            "DELETE" => ureq::delete(&url).call(),
            _ => ureq::post(&url).send_json(body.clone()),
        };
        match response {
            Ok(response) => response.into_json::<Value>().unwrap()["value"].take(),
            Err(ureq::Error::Status(status, response)) => {
                panic!(
                    "WebDriver {method} {path}: {status} {}",
                    response.into_string().unwrap_or_default()
                )
            }
            Err(err) => panic!("WebDriver {method} {path}: {err}"),
        }
    }

    fn session_path(&self, tail: &str) -> String {
        format!("/session/{}{tail}", self.session)
    }

    /// Loads `url` and waits for its load event.
    pub fn goto(&self, url: &str) {
        self.command("POST", &self.session_path("/url"), &json!({ "url": url }));
    }

    /// Sets the window's size: the viewport a screenshot shows is 143 pixels less high.
    pub fn resize(&self, width: u32, height: u32) {
        self.command(
            "POST",
            &self.session_path("/window/rect"),
            &json!({ "width": width, "height": height + 143 }),
        );
    }

    /// Runs `script` (a function body) in the page and returns what it returns.
    pub fn eval(&self, script: &str) -> Value {
        self.command(
            "POST",
            &self.session_path("/execute/sync"),
            &json!({ "script": script, "args": [] }),
        )
    }

    /// Waits until `script` returns something truthy, and returns that.
    pub fn wait_for(&self, script: &str) -> Value {
        let started = Instant::now();
        loop {
            let value = self.eval(script);
            if !matches!(value, Value::Null | Value::Bool(false))
                && value != json!(0)
                && value != json!("")
            {
                return value;
            }
            assert!(
                started.elapsed() < Duration::from_secs(15),
                "the page never satisfied `{script}`; it shows: {}",
                self.eval("return document.body.innerText")
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The console's errors since the last call: messages logged as errors, uncaught
    /// exceptions and failed loads.
    pub fn console_errors(&self) -> Vec<String> {
        let entries = self.command(
            "POST",
            &self.session_path("/se/log"),
            &json!({"type": "browser"}),
        );
        entries
            .as_array()
            .unwrap()
            .iter()
            .filter(|entry| entry["level"] == "SEVERE")
            .map(|entry| entry["message"].as_str().unwrap_or_default().to_string())
            .collect()
    }

    /// Saves the viewport as a PNG file.
    pub fn screenshot(&self, out: &Path) {
        use base64::Engine;
        let encoded = self.command("GET", &self.session_path("/screenshot"), &Value::Null);
        let png = base64::engine::general_purpose::STANDARD
            .decode(encoded.as_str().unwrap())
            .unwrap();
        std::fs::write(out, png).unwrap();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // The session first: killing chromedriver with a session open leaves the browser.
        if !self.session.is_empty() {
            let _ = ureq::delete(&format!("{}/session/{}", self.base, self.session)).call();
        }
        // SAFETY: signals the process group this struct started.
        unsafe { libc::kill(-(self.driver.id() as i32), libc::SIGTERM) };
        let _ = self.driver.wait();
        let _ = &self.profile;
    }
}

fn on_path(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|dir| Path::new(dir).join(program))
        .find(|path| path.is_file())
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
