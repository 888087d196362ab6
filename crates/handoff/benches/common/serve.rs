//! The real `handoff serve` for the live benchmarks: the release binary
//! started as its own process on a loopback port, watched through its
//! standard error and `/proc`.
//!
//! A *watched line* is a log message the bench counts as the server prints
//! it (a rebuild of the live engine, a clock step), so that a figure can be
//! explained without a profiler. Linux only: memory and CPU time come from
//! `/proc/PID/status` and `/proc/PID/stat`.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// The binary under test, built by cargo in the bench profile (optimised).
pub const HANDOFF: &str = env!("CARGO_BIN_EXE_handoff");

/// Lines of the server's standard error kept for a failure message.
const TAIL_LINES: usize = 30;

/// A running `handoff serve`, stopped (SIGTERM, then killed) when dropped.
pub struct Server {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// Seconds from spawning the process to its "serving" line: opening the
    /// store and replaying the log into the live engine.
    pub ready_secs: f64,
    counts: Vec<(String, Arc<AtomicUsize>)>,
    tail: Arc<Mutex<Vec<String>>>,
}

impl Server {
    /// Starts `handoff serve` on `db` with `policy`, logging at `log_filter`
    /// (an `EnvFilter` string), and counts the lines that contain each of
    /// `watch`. Returns once the service prints its address.
    pub fn start(db: &Path, policy: Option<&Path>, log_filter: &str, watch: &[&str]) -> Server {
        let mut cmd = Command::new(HANDOFF);
        cmd.args(["serve", "--listen", "127.0.0.1:0", "--db"])
            .arg(db)
            .env("RUST_LOG", log_filter)
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if let Some(p) = policy {
            cmd.arg("--policy").arg(p);
        }
        let started = Instant::now();
        let mut child = cmd.spawn().expect("spawn handoff serve");
        let stderr = child.stderr.take().expect("piped stderr");
        let counts: Vec<(String, Arc<AtomicUsize>)> = watch
            .iter()
            .map(|w| (w.to_string(), Arc::new(AtomicUsize::new(0))))
            .collect();
        let tail = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        {
            let counts = counts.clone();
            let tail = tail.clone();
            // Drains stderr for the life of the process, so that the server
            // never blocks on a full pipe.
            std::thread::spawn(move || {
                let mut tx = Some(tx);
                for line in BufReader::new(stderr).lines() {
                    let Ok(line) = line else { break };
                    for (needle, n) in &counts {
                        if line.contains(needle.as_str()) {
                            n.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    if let Some(at) = line.find("http://") {
                        if let Some(tx) = tx.take() {
                            let url = line[at..].split_whitespace().next().unwrap_or_default();
                            let _ = tx.send(url.to_string());
                        }
                    }
                    let mut t = tail.lock().expect("tail lock");
                    t.push(line);
                    if t.len() > TAIL_LINES {
                        t.remove(0);
                    }
                }
            });
        }
        let Ok(base) = rx.recv() else {
            let status = child.wait().expect("wait for handoff serve");
            panic!(
                "handoff serve exited ({status}) before serving:\n{}",
                tail.lock().expect("tail lock").join("\n")
            );
        };
        Server {
            ready_secs: started.elapsed().as_secs_f64(),
            child,
            base,
            counts,
            tail,
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// How many lines so far contained the watched text `needle`.
    pub fn count(&self, needle: &str) -> usize {
        self.counts
            .iter()
            .find(|(n, _)| n == needle)
            .map_or(0, |(_, c)| c.load(Ordering::Relaxed))
    }

    /// The last lines the server printed.
    pub fn tail(&self) -> String {
        self.tail.lock().expect("tail lock").join("\n")
    }

    /// Resident memory now and at its peak, in bytes (`VmRSS`, `VmHWM`).
    pub fn memory(&self) -> (u64, u64) {
        proc_memory(self.pid())
    }

    /// CPU seconds the process has used so far (user + system).
    pub fn cpu_secs(&self) -> f64 {
        proc_cpu_secs(self.pid())
    }

    /// Stops the service as an operator would (SIGTERM) and waits for it.
    pub fn stop(mut self) {
        self.terminate();
    }

    fn terminate(&mut self) {
        if matches!(self.child.try_wait(), Ok(Some(_))) {
            return;
        }
        let sent = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .is_ok_and(|s| s.success());
        if !sent {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.terminate();
    }
}

/// Makes an API token with `handoff token create`; returns its text.
pub fn create_token(db: &Path, role: &str, name: &str) -> String {
    let out = Command::new(HANDOFF)
        .args(["token", "create", "--role", role, "--name", name, "--db"])
        .arg(db)
        .output()
        .expect("run handoff token create");
    assert!(
        out.status.success(),
        "handoff token create failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("the token is text")
        .trim()
        .to_string()
}

/// `VmRSS` and `VmHWM` of a process, in bytes.
pub fn proc_memory(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kib| kib.parse::<u64>().ok())
            .map_or(0, |kib| kib * 1024)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// User plus system CPU seconds of a process (`/proc/PID/stat`).
pub fn proc_cpu_secs(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The command name in field 2 may hold spaces: count from after it.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or(vec![], |(_, rest)| rest.split_whitespace().collect());
    // utime and stime are fields 14 and 15 of the whole line, 12 and 13
    // after the name.
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok());
    match (ticks(11), ticks(12)) {
        (Some(u), Some(s)) => (u + s) / clock_ticks(),
        _ => 0.0,
    }
}

/// Clock ticks per second of `/proc` times (`getconf CLK_TCK`, usually 100).
fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

/// The load average (1, 5 and 15 minutes), as `/proc/loadavg` writes it.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

/// The `q` quantile (0 to 1) of sorted values, nearest rank.
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Median, lowest and highest of a few run figures.
pub fn summary(values: &[f64]) -> (f64, f64, f64) {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    let median = if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    };
    (median, v[0], v[n - 1])
}
