//! A real SMTP server for the email tests: a local aiosmtpd writing each
//! message into a maildir (scripts/test installs it).
#![allow(dead_code, reason = "each test binary uses a different part")]

use std::path::{Path, PathBuf};
use std::time::Duration;

/// A running aiosmtpd; killed on drop.
pub struct Smtpd {
    child: std::process::Child,
    pub port: u16,
    pub maildir: PathBuf,
}

impl Drop for Smtpd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A loopback port nothing listens on (just freed).
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// Starts aiosmtpd on `port` with its maildir in `dir`, or returns `None`
/// (with a message) when it is not installed.
pub fn smtpd(dir: &Path, port: u16) -> Option<Smtpd> {
    let have = std::process::Command::new("python3")
        .args(["-c", "import aiosmtpd"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !have {
        eprintln!("skipping: python3 -m aiosmtpd is not installed (scripts/test installs it)");
        return None;
    }
    let maildir = dir.join("maildir");
    let child = std::process::Command::new("python3")
        .args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}")])
        .args(["-c", "aiosmtpd.handlers.Mailbox"])
        .arg(&maildir)
        .spawn()
        .unwrap();
    let server = Smtpd {
        child,
        port,
        maildir,
    };
    // Wait (at most 10 s) until it accepts connections.
    for _ in 0..200 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Some(server);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("aiosmtpd did not start on port {port}");
}

/// The messages the server has stored so far, as text.
pub fn mails(server: &Smtpd) -> Vec<String> {
    match std::fs::read_dir(server.maildir.join("new")) {
        Ok(dir) => dir
            .map(|f| std::fs::read_to_string(f.unwrap().path()).unwrap())
            .collect(),
        Err(_) => Vec::new(),
    }
}
