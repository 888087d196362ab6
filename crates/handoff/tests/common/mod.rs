//! Set-up shared by the tests that run `handoff serve` for real: a fresh
//! store on either backend ([`TestDb`], [`on_both_backends`]), a policy
//! with a 2-second first-touch clock, a webhook notification file, and the
//! server process itself. Each test binary uses some of it.
#![allow(
    dead_code,
    unused_imports,
    unused_macros,
    reason = "each test binary uses a different part"
)]

mod db;
mod receiver;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use handoff::replay::DEFAULT_POLICY;

pub use db::{pg_query, TestDb, PG_URL_VAR};
pub use receiver::{signed_receiver, Signed};

/// Runs the `handoff` binary with `args`, without the environment's
/// `HANDOFF_DB` and `HANDOFF_POLICY`, and returns what it did.
pub fn handoff(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_handoff"))
        .args(args)
        .env_remove("HANDOFF_DB")
        .env_remove("HANDOFF_POLICY")
        .output()
        .expect("running the handoff binary")
}

/// Makes each named test body run on both backends. A body is a function
/// `NAME(db: TestDb)` (async after an attribute such as `#[tokio::test]`,
/// plain after `fn`); the tests are `NAME::sqlite` and `NAME::postgres`.
/// The PostgreSQL one passes with a message when [`PG_URL_VAR`] is unset.
macro_rules! on_both_backends {
    (#[$attr:meta] $($test:ident),+ $(,)?) => {$(
        mod $test {
            #[$attr]
            async fn sqlite() {
                super::$test(super::common::TestDb::sqlite()).await
            }
            #[$attr]
            async fn postgres() {
                if let Some(db) = super::common::TestDb::postgres() {
                    super::$test(db).await
                }
            }
        }
    )+};
    (fn $($test:ident),+ $(,)?) => {$(
        mod $test {
            #[test]
            fn sqlite() {
                super::$test(super::common::TestDb::sqlite())
            }
            #[test]
            fn postgres() {
                if let Some(db) = super::common::TestDb::postgres() {
                    super::$test(db)
                }
            }
        }
    )+};
}
pub(crate) use on_both_backends;

/// The default policy with a first-touch clock of 2 calendar seconds.
pub fn two_second_policy(dir: &Path) -> PathBuf {
    first_touch_policy(dir, 2)
}

/// The default policy with a first-touch clock of `seconds` calendar
/// seconds.
pub fn first_touch_policy(dir: &Path, seconds: u32) -> PathBuf {
    let from = "within = \"4h\"\ntime = \"business\"";
    assert!(DEFAULT_POLICY.contains(from), "the default policy changed");
    let to = format!("within = \"{seconds}s\"\ntime = \"calendar\"");
    let text = DEFAULT_POLICY.replace(from, &to);
    let path = dir.join(format!("first-touch-{seconds}s.toml"));
    std::fs::write(&path, text).unwrap();
    path
}

/// A notification file with one webhook channel to `hook`, signed with the
/// secret in the environment variable `secret_env`.
pub fn webhook_notify(dir: &Path, hook: &str, secret_env: &str) -> PathBuf {
    let path = dir.join("notify.toml");
    // A 2-second timeout keeps the sender's lease (timeout + 5 s) short:
    // an alert claimed by a server that is killed falls due again within
    // 7 s, inside the waits of the crash test.
    let channel = format!(
        "timeout_secs = 2\n[[channel]]\nname = \"ops\"\nkind = \"webhook\"\n\
         url = \"{hook}\"\nsecret_env = \"{secret_env}\"\n"
    );
    std::fs::write(&path, channel).unwrap();
    path
}

/// A running `handoff serve`, killed when dropped, pass or fail.
pub struct Server(pub Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `handoff serve` on a free port with `secret` in `secret_env`;
/// returns it and its base URL (read from what it prints on stderr).
pub fn start_server(
    db: &str,
    policy: &Path,
    notify: &Path,
    secret_env: &str,
    secret: &str,
) -> (Server, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_handoff"))
        .args(["serve", "--db", db, "--listen", "127.0.0.1:0"])
        .arg("--policy")
        .arg(policy)
        .arg("--notify")
        .arg(notify)
        .env(secret_env, secret)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let server = Server(child);
    let mut lines = BufReader::new(stderr).lines();
    let base = loop {
        let line = lines
            .next()
            .expect("the server printed its address")
            .unwrap();
        if let Some(at) = line.find("http://") {
            break line[at..].split_whitespace().next().unwrap().to_string();
        }
    };
    // Keep draining stderr so the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    (server, base)
}

/// Serves `state` in this process on a free port until the returned sender
/// is dropped or fires; returns the base URL and that sender.
pub async fn serve_in_process(
    state: handoff::serve::AppState,
) -> (String, tokio::sync::oneshot::Sender<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(handoff::serve::run(listener, state, async {
        let _ = stopped.await;
    }));
    (format!("http://{addr}"), stop)
}

/// target/test-artifacts, made if missing: screenshots and files kept from
/// a test run for a person to look at.
pub fn artifacts() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/test-artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The browser to drive; without one, a test skips with a message, except
/// under scripts/test (HANDOFF_REQUIRE_BROWSER) or CI, where it fails.
pub fn browser() -> Option<&'static str> {
    let found = ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|b| {
            Command::new(b)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        });
    if found.is_none() {
        assert!(
            std::env::var_os("HANDOFF_REQUIRE_BROWSER").is_none()
                && std::env::var_os("CI").is_none(),
            "HANDOFF_REQUIRE_BROWSER or CI is set but no chromium is on the PATH"
        );
        eprintln!("SKIPPED: no chromium on the PATH (scripts/test installs it)");
    }
    found
}
