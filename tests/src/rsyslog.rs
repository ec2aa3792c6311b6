//! rsyslog and util-linux `logger` as the tests' syslog clients: an rsyslogd of the test's own,
//! in the foreground with a generated configuration, reading lines from a Unix socket in a
//! directory of its own (no system socket), forwarding them as the configuration says.
//! `RSYSLOGD` and `SYSLOG_LOGGER` name the programs (infra/test.sh installs and exports them).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The program a variable names; missing is a failure, never a reason to skip.
pub fn program(variable: &str) -> PathBuf {
    let path = std::env::var_os(variable).map(PathBuf::from).unwrap_or_else(|| {
        panic!(
            "{variable} is not set: run the tests through infra/test.sh, which installs rsyslog, \
             rsyslog-elasticsearch and bsdutils and exports it"
        )
    });
    assert!(
        path.exists(),
        "{variable}={} does not exist",
        path.display()
    );
    path
}

/// A running rsyslogd; stopped (and its directory removed) when dropped.
#[derive(Debug)]
pub struct Rsyslog {
    dir: PathBuf,
    child: Child,
}

impl Rsyslog {
    /// Starts rsyslogd with `actions` (RainerScript after the input; `RSYSLOG_DIR` stands for its
    /// directory) and waits for its socket.
    pub fn start(name: &str, actions: &str) -> Rsyslog {
        let dir = std::env::temp_dir().join(format!(
            "{name}-rsyslog-{}-{}",
            std::process::id(),
            crate::free_port()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let socket = dir.join("log.sock");
        let config = format!(
            "global(workDirectory=\"{dir}\")\n\
             module(load=\"imuxsock\" SysSock.Use=\"off\")\n\
             input(type=\"imuxsock\" Socket=\"{socket}\")\n\
             {actions}\n",
            dir = dir.display(),
            socket = socket.display(),
            actions = actions.replace("RSYSLOG_DIR", &dir.display().to_string()),
        );
        let config_path = dir.join("rsyslog.conf");
        std::fs::write(&config_path, config).unwrap();
        let child = Command::new(program("RSYSLOGD"))
            .arg("-n")
            .arg("-f")
            .arg(&config_path)
            .arg("-i")
            .arg(dir.join("rsyslogd.pid"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut rsyslog = Rsyslog { dir, child };
        let deadline = Instant::now() + Duration::from_secs(20);
        while !socket.exists() {
            if let Some(status) = rsyslog.child.try_wait().unwrap() {
                panic!("rsyslogd stopped at start ({status}); configuration:\n{actions}");
            }
            assert!(
                Instant::now() < deadline,
                "rsyslogd did not create its socket"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        rsyslog
    }

    /// The socket `logger -u` writes to.
    pub fn socket(&self) -> PathBuf {
        self.dir.join("log.sock")
    }

    /// Writes one line with `logger -u <socket>` and `args`.
    pub fn log(&self, args: &[&str]) {
        logger(&[&["-u", self.socket().to_str().unwrap()], args].concat());
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for Rsyslog {
    fn drop(&mut self) {
        // SIGTERM: rsyslogd flushes its queues.
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Runs util-linux `logger` with `args` (in UTC, so that RFC 3164 times are UTC) and checks that
/// it succeeded.
pub fn logger(args: &[&str]) {
    let output = Command::new(program("SYSLOG_LOGGER"))
        .args(args)
        .env("TZ", "UTC")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "logger {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}
