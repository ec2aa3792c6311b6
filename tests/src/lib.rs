//! A harness for black-box tests: starts the real `worker`, `ingestion` and `query` binaries on
//! free loopback ports against the test Redis (`TEST_REDIS_URL`) and ClickHouse
//! (`TEST_CLICKHOUSE_URL`), each stack with its own queue key and database, so tests run in
//! parallel. Build the binaries first (`cargo build --bins`); the test command does.
//!
//! Ports are picked free and released before a service binds them, so another process may take
//! one in between: a service that exits before it logs that it listens is started again on fresh
//! ports (the log line, not the port answering, says that the service is ours).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::missing_panics_doc)] // test code fails loudly

use std::collections::HashMap;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;

pub mod otlp_python;
pub mod rsyslog;

pub fn redis_url() -> String {
    std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

pub fn clickhouse_url() -> String {
    std::env::var("TEST_CLICKHOUSE_URL").unwrap_or_else(|_| "http://127.0.0.1:8123".into())
}

/// `2026-12-04T10:00:00.123456000Z` (as `GET /logs` writes it) in nanoseconds since the epoch.
pub fn nanos_of_timestamp(timestamp: &str) -> u128 {
    let number = |range: std::ops::Range<usize>| -> i64 { timestamp[range].parse().unwrap() };
    let (year, month, day) = (number(0..4), number(5..7), number(8..10));
    // Days from civil (Howard Hinnant's algorithm).
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let day_of_year = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    let days = era * 146_097 + day_of_era - 719_468;
    let seconds = days * 86_400 + number(11..13) * 3600 + number(14..16) * 60 + number(17..19);
    let fraction: u128 = timestamp[20..29].parse().unwrap();
    u128::try_from(seconds).unwrap() * 1_000_000_000 + fraction
}

/// A UDP port nobody listens on (bound, then released).
pub fn free_udp_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A port nobody listens on (bound, then released).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos()
        % 1_000_000_000_000;
    format!(
        "{prefix}_{}_{nanos}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

fn binary(name: &str) -> PathBuf {
    // target/<profile>/deps/<test binary> -> target/<profile>/<name>
    let path = std::env::current_exe()
        .unwrap()
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join(name);
    assert!(
        path.exists(),
        "{} is missing: run `cargo build --bins` before the end-to-end tests",
        path.display()
    );
    path
}

/// Which service of a stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Service {
    Worker,
    Ingestion,
    Query,
}

impl Service {
    /// What the service logs (stdout) once its ports are bound.
    fn listening_line(self) -> &'static str {
        match self {
            Service::Worker => "worker running",
            Service::Ingestion => "ingestion service listening",
            Service::Query => "query service listening",
        }
    }

    fn binary(self) -> &'static str {
        match self {
            Service::Worker => "worker",
            Service::Ingestion => "ingestion",
            Service::Query => "query",
        }
    }

    /// Starts this service alone with `settings` (on free ports, against the test servers, from
    /// a directory without a `.env`) and waits for it to exit, as a service given a bad setting
    /// must at start. One that runs on is killed after 30 s and the test fails.
    pub fn exit_at_start(self, settings: &[(&str, &str)]) -> std::process::Output {
        let mut command = Command::new(binary(self.binary()));
        command
            .env("REDIS_URL", redis_url())
            .env("CLICKHOUSE_URL", clickhouse_url())
            .env("INGESTION_ADDR", format!("127.0.0.1:{}", free_port()))
            .env("OTLP_GRPC_ADDR", format!("127.0.0.1:{}", free_port()))
            .env("QUERY_ADDR", format!("127.0.0.1:{}", free_port()))
            .env("WORKER_GRPC_LISTEN", format!("127.0.0.1:{}", free_port()))
            .env("WORKER_METRICS_ADDR", format!("127.0.0.1:{}", free_port()))
            .envs(settings.iter().copied())
            .current_dir(std::env::temp_dir())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = command.spawn().unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        while child.try_wait().unwrap().is_none() {
            if Instant::now() > deadline {
                child.kill().unwrap();
                child.wait().unwrap();
                panic!("{} did not stop at start with {settings:?}", self.binary());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        child.wait_with_output().unwrap()
    }
}

/// One running pipeline: three processes, a queue key and a database of its own.
#[derive(Debug)]
pub struct Stack {
    pub queue_key: String,
    pub database: String,
    pub ingestion_url: String,
    /// Ingestion's OTLP/gRPC endpoint (`OTLP_GRPC_ADDR`), `http://127.0.0.1:<port>`.
    pub otlp_grpc_url: String,
    pub query_url: String,
    pub worker_port: u16,
    /// The worker's `GET /metrics` (`WORKER_METRICS_ADDR`).
    pub worker_metrics_url: String,
    /// Ingestion's syslog listeners (`SYSLOG_TCP_ADDR`, `SYSLOG_UDP_ADDR`), with
    /// [`StackOptions::syslog`].
    pub syslog_tcp: Option<std::net::SocketAddr>,
    pub syslog_udp: Option<std::net::SocketAddr>,
    /// Every process's environment, by service and instance (0, and 1 when doubled).
    env: HashMap<(Service, usize), Vec<(String, String)>>,
    children: HashMap<(Service, usize), Child>,
    /// Processes of each service: 1, or 2 with [`StackOptions::doubled`].
    instances: usize,
    /// The port each process listens on (gRPC for the worker, HTTP for the others).
    ports: HashMap<(Service, usize), u16>,
    /// nginx in front of the doubled ingestion and query processes.
    proxy: Option<Child>,
    pub http: reqwest::Client,
}

/// Settings a test may change before the stack starts.
#[derive(Debug, Clone)]
pub struct StackOptions {
    pub poll_interval_ms: u64,
    pub batch_size: usize,
    /// Where ingestion sends drain signals; default: the stack's worker.
    pub worker_grpc_url: Option<String>,
    /// Redis for ingestion; default: the test Redis.
    pub ingestion_redis_url: Option<String>,
    pub max_body_bytes: usize,
    /// Further environment variables for one service, e.g. `(Service::Worker, "WORKER_LEASE_MS", "3000")`.
    pub extra_env: Vec<(Service, &'static str, String)>,
    /// The ClickHouse database; default: a new name of its own.
    pub database: Option<String>,
    /// Ingestion listens for syslog on free loopback TCP and UDP ports.
    pub syslog: bool,
    /// Two processes of every service: the workers drain the same queue, and the two ingestion
    /// and the two query processes answer behind one address each, nginx with the reverse-proxy
    /// example `infra/nginx/logs-pipeline.conf` (only its addresses replaced).
    /// `ingestion_url` and `query_url` are then nginx's; each ingestion process signals its own worker.
    pub doubled: bool,
}

impl Default for StackOptions {
    fn default() -> Self {
        Self {
            poll_interval_ms: 5_000,
            batch_size: 1000,
            worker_grpc_url: None,
            ingestion_redis_url: None,
            max_body_bytes: 1024 * 1024,
            extra_env: Vec::new(),
            database: None,
            syslog: false,
            doubled: false,
        }
    }
}

/// What the second process of `service` in a doubled stack changes: its own ports and worker
/// id; its ingestion signals the second worker. Answers the variables and the port the process
/// listens on (gRPC for the worker, HTTP for the others).
fn second_instance_env(
    service: Service,
    queue_key: &str,
    second_worker: u16,
    options: &StackOptions,
) -> (Vec<(String, String)>, u16) {
    let variable = |name: &str, value: String| (name.to_owned(), value);
    match service {
        Service::Worker => (
            vec![
                variable("WORKER_ID", format!("{queue_key}-worker-2")),
                variable("WORKER_GRPC_LISTEN", format!("127.0.0.1:{second_worker}")),
                variable("WORKER_METRICS_ADDR", format!("127.0.0.1:{}", free_port())),
            ],
            second_worker,
        ),
        Service::Ingestion => {
            let port = free_port();
            let mut variables = vec![
                variable("INGESTION_ADDR", format!("127.0.0.1:{port}")),
                variable("OTLP_GRPC_ADDR", format!("127.0.0.1:{}", free_port())),
            ];
            if options.worker_grpc_url.is_none() {
                variables.push(variable(
                    "WORKER_GRPC_URL",
                    format!("http://127.0.0.1:{second_worker}"),
                ));
            }
            (variables, port)
        }
        Service::Query => {
            let port = free_port();
            (
                vec![variable("QUERY_ADDR", format!("127.0.0.1:{port}"))],
                port,
            )
        }
    }
}

impl Stack {
    /// Starts worker, ingestion and query, and waits until all answer.
    pub async fn start(options: StackOptions) -> Stack {
        let queue_key = unique_name("e2e_queue");
        let database = options
            .database
            .clone()
            .unwrap_or_else(|| unique_name("e2e"));
        let worker_port = free_port();
        let worker_metrics_port = free_port();
        let ingestion_port = free_port();
        let otlp_grpc_port = free_port();
        let query_port = free_port();
        let common = vec![
            ("REDIS_QUEUE_KEY".to_owned(), queue_key.clone()),
            ("CLICKHOUSE_URL".to_owned(), clickhouse_url()),
            ("CLICKHOUSE_DATABASE".to_owned(), database.clone()),
            ("RUST_LOG".to_owned(), "info".to_owned()),
        ];
        let mut env = HashMap::new();
        let mut worker = common.clone();
        worker.extend([
            ("REDIS_URL".to_owned(), redis_url()),
            (
                "WORKER_GRPC_LISTEN".to_owned(),
                format!("127.0.0.1:{worker_port}"),
            ),
            (
                "WORKER_METRICS_ADDR".to_owned(),
                format!("127.0.0.1:{worker_metrics_port}"),
            ),
            ("WORKER_ID".to_owned(), format!("{queue_key}-worker")),
            (
                "WORKER_BATCH_SIZE".to_owned(),
                options.batch_size.to_string(),
            ),
            (
                "WORKER_POLL_INTERVAL_MS".to_owned(),
                options.poll_interval_ms.to_string(),
            ),
        ]);
        env.insert((Service::Worker, 0), worker);
        let mut ingestion = common.clone();
        ingestion.extend([
            (
                "REDIS_URL".to_owned(),
                options
                    .ingestion_redis_url
                    .clone()
                    .unwrap_or_else(redis_url),
            ),
            (
                "INGESTION_ADDR".to_owned(),
                format!("127.0.0.1:{ingestion_port}"),
            ),
            (
                "OTLP_GRPC_ADDR".to_owned(),
                format!("127.0.0.1:{otlp_grpc_port}"),
            ),
            (
                "WORKER_GRPC_URL".to_owned(),
                options
                    .worker_grpc_url
                    .clone()
                    .unwrap_or_else(|| format!("http://127.0.0.1:{worker_port}")),
            ),
            (
                "INGEST_MAX_BODY_BYTES".to_owned(),
                options.max_body_bytes.to_string(),
            ),
            ("REDIS_RESPONSE_TIMEOUT_MS".to_owned(), "1000".to_owned()),
        ]);
        let (syslog_tcp, syslog_udp) = if options.syslog {
            let tcp = std::net::SocketAddr::from(([127, 0, 0, 1], free_port()));
            let udp = std::net::SocketAddr::from(([127, 0, 0, 1], free_udp_port()));
            ingestion.push(("SYSLOG_TCP_ADDR".to_owned(), tcp.to_string()));
            ingestion.push(("SYSLOG_UDP_ADDR".to_owned(), udp.to_string()));
            (Some(tcp), Some(udp))
        } else {
            (None, None)
        };
        env.insert((Service::Ingestion, 0), ingestion);
        let mut query = common;
        query.push(("QUERY_ADDR".to_owned(), format!("127.0.0.1:{query_port}")));
        // Tests ingest events at fixed past dates: no limit on the time range unless a test
        // sets one through `extra_env` (a later value wins).
        query.push(("QUERY_MAX_RANGE_HOURS".to_owned(), "0".to_owned()));
        env.insert((Service::Query, 0), query);

        for (service, name, value) in &options.extra_env {
            if let Some(variables) = env.get_mut(&(*service, 0)) {
                variables.push(((*name).to_owned(), value.clone()));
            }
        }
        let mut ports = HashMap::from([
            ((Service::Worker, 0), worker_port),
            ((Service::Ingestion, 0), ingestion_port),
            ((Service::Query, 0), query_port),
        ]);
        let instances = if options.doubled {
            assert!(!options.syslog, "a doubled stack has no syslog listeners");
            let second_worker = free_port();
            for service in [Service::Worker, Service::Ingestion, Service::Query] {
                let (overrides, port) =
                    second_instance_env(service, &queue_key, second_worker, &options);
                let mut variables = env[&(service, 0)].clone();
                variables.extend(overrides);
                env.insert((service, 1), variables);
                ports.insert((service, 1), port);
            }
            2
        } else {
            1
        };
        let mut stack = Stack {
            queue_key,
            database,
            ingestion_url: format!("http://127.0.0.1:{ingestion_port}"),
            otlp_grpc_url: format!("http://127.0.0.1:{otlp_grpc_port}"),
            query_url: format!("http://127.0.0.1:{query_port}"),
            worker_port,
            worker_metrics_url: format!("http://127.0.0.1:{worker_metrics_port}/metrics"),
            syslog_tcp,
            syslog_udp,
            env,
            children: HashMap::new(),
            instances,
            ports,
            proxy: None,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap(),
        };
        for service in [Service::Worker, Service::Ingestion, Service::Query] {
            for instance in 0..instances {
                stack.start_on_free_ports(service, instance, &options).await;
            }
        }
        if options.doubled {
            stack.start_proxy();
        }
        stack.wait_for_worker().await;
        stack
            .wait_for_http(&format!("{}/health", stack.ingestion_url))
            .await;
        stack
            .wait_for_http(&format!("{}/health", stack.query_url))
            .await;
        stack
    }

    /// Starts process `instance` of `service` and waits until it logs that it listens; when it
    /// exits before that (its port was taken since it was picked), starts it again on fresh ports.
    async fn start_on_free_ports(
        &mut self,
        service: Service,
        instance: usize,
        options: &StackOptions,
    ) {
        const ATTEMPTS: usize = 5;
        for attempt in 1..=ATTEMPTS {
            if attempt > 1 {
                self.pick_new_ports(service, instance, options);
            }
            let (mut child, listening) = self.launch(service, instance, &[]);
            let deadline = Instant::now() + Duration::from_secs(60);
            loop {
                if listening.try_recv().is_ok() {
                    self.children.insert((service, instance), child);
                    return;
                }
                if let Some(status) = child.try_wait().unwrap() {
                    eprintln!("{service:?} exited at start ({status}); trying fresh ports");
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "{service:?} did not start listening"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        panic!("{service:?} did not start in {ATTEMPTS} attempts");
    }

    fn pick_new_ports(&mut self, service: Service, instance: usize, options: &StackOptions) {
        let port = free_port();
        self.ports.insert((service, instance), port);
        let variables = self.env.get_mut(&(service, instance)).unwrap();
        match service {
            Service::Worker => {
                variables.push(("WORKER_GRPC_LISTEN".to_owned(), format!("127.0.0.1:{port}")));
                let metrics_port = free_port();
                variables.push((
                    "WORKER_METRICS_ADDR".to_owned(),
                    format!("127.0.0.1:{metrics_port}"),
                ));
                if instance == 0 {
                    self.worker_port = port;
                    self.worker_metrics_url = format!("http://127.0.0.1:{metrics_port}/metrics");
                }
                if options.worker_grpc_url.is_none()
                    && let Some(ingestion) = self.env.get_mut(&(Service::Ingestion, instance))
                {
                    let url = format!("http://127.0.0.1:{port}");
                    ingestion.push(("WORKER_GRPC_URL".to_owned(), url));
                }
            }
            Service::Ingestion => {
                variables.push(("INGESTION_ADDR".to_owned(), format!("127.0.0.1:{port}")));
                if instance == 0 {
                    self.ingestion_url = format!("http://127.0.0.1:{port}");
                }
            }
            Service::Query => {
                variables.push(("QUERY_ADDR".to_owned(), format!("127.0.0.1:{port}")));
                if instance == 0 {
                    self.query_url = format!("http://127.0.0.1:{port}");
                }
            }
        }
    }

    /// Starts nginx with `infra/nginx/logs-pipeline.conf`, its upstream and listen addresses
    /// replaced by this stack's, and points `ingestion_url` and `query_url` at it.
    fn start_proxy(&mut self) {
        let example_path =
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../infra/nginx/logs-pipeline.conf");
        let mut example = std::fs::read_to_string(&example_path).unwrap();
        let (ingestion_port, query_port) = (free_port(), free_port());
        let address = |service, instance| format!("127.0.0.1:{}", self.ports[&(service, instance)]);
        for (from, to) in [
            ("127.0.0.1:18080", address(Service::Ingestion, 0)),
            ("127.0.0.1:28080", address(Service::Ingestion, 1)),
            ("127.0.0.1:18081", address(Service::Query, 0)),
            ("127.0.0.1:28081", address(Service::Query, 1)),
            (
                "listen 8080;",
                format!("listen 127.0.0.1:{ingestion_port};"),
            ),
            ("listen 8081;", format!("listen 127.0.0.1:{query_port};")),
        ] {
            assert_eq!(
                example.matches(from).count(),
                1,
                "{} has `{from}` once",
                example_path.display()
            );
            example = example.replace(from, &to);
        }
        let dir = self.log_path(Service::Ingestion).with_extension("nginx");
        std::fs::create_dir_all(dir.join("temp")).unwrap();
        // nginx's worker processes may run as another user (root's default): they write
        // request bodies into the temporary directory.
        for path in [dir.clone(), dir.join("temp")] {
            std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o777))
                .unwrap();
        }
        std::fs::write(dir.join("logs-pipeline.conf"), example).unwrap();
        let temp = dir.join("temp");
        let temp = temp.display();
        std::fs::write(
            dir.join("nginx.conf"),
            format!(
                "daemon off;\nworker_processes 1;\npid {dir}/nginx.pid;\nerror_log {dir}/error.log warn;\n\
                 events {{ worker_connections 1024; }}\n\
                 http {{\n  access_log off;\n  client_body_temp_path {temp}/body;\n  proxy_temp_path {temp}/proxy;\n  \
                 fastcgi_temp_path {temp}/fastcgi;\n  uwsgi_temp_path {temp}/uwsgi;\n  scgi_temp_path {temp}/scgi;\n  \
                 include {dir}/logs-pipeline.conf;\n}}\n",
                dir = dir.display()
            ),
        )
        .unwrap();
        let nginx = std::env::var("NGINX_BIN").unwrap_or_else(|_| "/usr/sbin/nginx".to_owned());
        // nginx reads `NGINX` as sockets inherited from an old master: never hand it one.
        let child = Command::new(&nginx)
            .env_remove("NGINX")
            .arg("-p")
            .arg(&dir)
            .arg("-c")
            .arg(dir.join("nginx.conf"))
            .stdin(Stdio::null())
            .spawn()
            .unwrap_or_else(|error| panic!("{nginx}: {error} (infra/test.sh installs nginx)"));
        self.proxy = Some(child);
        self.ingestion_url = format!("http://127.0.0.1:{ingestion_port}");
        self.query_url = format!("http://127.0.0.1:{query_port}");
    }

    /// Starts (or restarts) every process of one service on its ports, without waiting for them.
    pub fn spawn(&mut self, service: Service) {
        for instance in 0..self.instances {
            let (child, _) = self.launch(service, instance, &[]);
            self.children.insert((service, instance), child);
        }
    }

    /// Starts one more process of `service` with some variables changed (e.g. a second worker
    /// with its own `WORKER_ID`, `WORKER_GRPC_LISTEN` and `WORKER_METRICS_ADDR`); the caller owns
    /// it.
    pub fn spawn_extra(&self, service: Service, overrides: &[(&str, String)]) -> Child {
        self.launch(service, 0, overrides).0
    }

    /// Starts a process of `service`; the receiver gets a message once it logs that it listens.
    /// Its log (stdout) is read to the end by a thread of its own and otherwise discarded.
    fn launch(
        &self,
        service: Service,
        instance: usize,
        overrides: &[(&str, String)],
    ) -> (Child, std::sync::mpsc::Receiver<()>) {
        let mut child = Command::new(binary(service.binary()))
            .envs(self.env[&(service, instance)].iter().map(|(k, v)| (k, v)))
            .envs(overrides.iter().map(|(k, v)| (*k, v)))
            .env_remove("RUST_BACKTRACE")
            .current_dir(std::env::temp_dir())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let (listening, receiver) = std::sync::mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        let line_wanted = service.listening_line();
        let mut log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path(service))
            .ok();
        std::thread::spawn(move || {
            use std::io::{BufRead, Write};
            for line in std::io::BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                if line.contains(line_wanted) {
                    let _ = listening.send(());
                }
                if let Some(file) = log.as_mut() {
                    let _ = writeln!(file, "{line}");
                }
            }
        });
        (child, receiver)
    }

    /// Where the log (stdout) of this stack's `service` processes is kept: `E2E_LOG_DIR`
    /// (default: `e2e-logs` in the system's temporary directory), one file per service and stack.
    pub fn log_path(&self, service: Service) -> std::path::PathBuf {
        let dir = std::env::var_os("E2E_LOG_DIR")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| std::env::temp_dir().join("e2e-logs"));
        let _ = std::fs::create_dir_all(&dir);
        dir.join(format!("{}-{}.log", self.queue_key, service.binary()))
    }

    /// The last `lines` lines of the log of this stack's `service` processes, to print when a
    /// test fails.
    pub fn log_tail(&self, service: Service, lines: usize) -> String {
        let text = std::fs::read_to_string(self.log_path(service)).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// SIGKILL of every process of `service`: no chance to clean up.
    pub fn kill(&mut self, service: Service) {
        for instance in 0..self.instances {
            if let Some(mut child) = self.children.remove(&(service, instance)) {
                child.kill().unwrap();
                child.wait().unwrap();
            }
        }
    }

    /// SIGTERM to every process of `service`, then waits for them to exit; returns whether all
    /// exited successfully.
    pub fn terminate(&mut self, service: Service) -> bool {
        let children: Vec<Child> = (0..self.instances)
            .map(|instance| self.children.remove(&(service, instance)).unwrap())
            .collect();
        for child in &children {
            let status = Command::new("kill")
                .arg("-TERM")
                .arg(child.id().to_string())
                .status()
                .unwrap();
            assert!(status.success());
        }
        // Every process is waited for, also after one that failed.
        let exits: Vec<bool> = children
            .into_iter()
            .map(|mut child| child.wait().unwrap().success())
            .collect();
        exits.into_iter().all(|success| success)
    }

    /// Processes of each service: 1, or 2 for a [`StackOptions::doubled`] stack.
    pub fn instances(&self) -> usize {
        self.instances
    }

    /// Waits until the worker has applied migrations and listens for gRPC.
    pub async fn wait_for_worker(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", self.worker_port)).is_err() {
            assert!(Instant::now() < deadline, "worker did not start listening");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn wait_for_http(&self, url: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(response) = self.http.get(url).send().await
                && response.status().is_success()
            {
                return;
            }
            assert!(Instant::now() < deadline, "{url} did not become healthy");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// POSTs a JSON body to `/ingest`; returns status and parsed body.
    pub async fn ingest(&self, body: &Value) -> (u16, Value) {
        let response = self
            .http
            .post(format!("{}/ingest", self.ingestion_url))
            .json(body)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// GET /logs with a query string such as `service=a&level=ERROR`.
    pub async fn logs(&self, query: &str) -> (u16, Value) {
        let response = self
            .http
            .get(format!("{}/logs?{query}", self.query_url))
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// GET on the query service, e.g. `/logs/stats?group_by=level`; returns status and parsed
    /// body (`Null` when it is not JSON).
    pub async fn query_get(&self, path_and_query: &str) -> (u16, Value) {
        let response = self
            .http
            .get(format!("{}{path_and_query}", self.query_url))
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// `GET /metrics` of a service: the Prometheus text.
    pub async fn metrics(&self, service: Service) -> String {
        let url = match service {
            Service::Worker => self.worker_metrics_url.clone(),
            Service::Ingestion => format!("{}/metrics", self.ingestion_url),
            Service::Query => format!("{}/metrics", self.query_url),
        };
        let response = self.http.get(&url).send().await.unwrap();
        assert!(
            response.status().is_success(),
            "{url}: {}",
            response.status()
        );
        response.text().await.unwrap()
    }

    /// Runs SQL on the stack's ClickHouse database and returns the text answer.
    pub async fn clickhouse(&self, sql: &str) -> String {
        let response = self
            .http
            .post(clickhouse_url())
            .query(&[("database", self.database.as_str())])
            .body(sql.to_owned())
            .send()
            .await
            .unwrap();
        assert!(
            response.status().is_success(),
            "{sql}: {}",
            response.text().await.unwrap_or_default()
        );
        response.text().await.unwrap()
    }

    /// Number of distinct event ids stored, and number of rows.
    pub async fn stored_counts(&self) -> (u64, u64) {
        let text = self
            .clickhouse("SELECT uniqExact(id), count() FROM logs FORMAT TSV")
            .await;
        let mut fields = text
            .split_whitespace()
            .map(|field| field.parse::<u64>().unwrap());
        (fields.next().unwrap(), fields.next().unwrap())
    }

    /// A connection to the test Redis.
    pub async fn redis(&self) -> redis::aio::MultiplexedConnection {
        redis::Client::open(redis_url())
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap()
    }

    /// Events in this stack's queue list, counted document by document (an element holds the
    /// documents of one push, one per line).
    pub async fn queue_length(&self) -> u64 {
        let mut redis = self.redis().await;
        let elements: Vec<String> = redis::cmd("LRANGE")
            .arg(&self.queue_key)
            .arg(0)
            .arg(-1)
            .query_async(&mut redis)
            .await
            .unwrap();
        elements
            .iter()
            .map(|element| element.lines().count() as u64)
            .sum()
    }

    /// Polls `GET /logs?query` until it returns at least `count` logs or `within` passes.
    pub async fn wait_for_logs(&self, query: &str, count: usize, within: Duration) -> Vec<Value> {
        let deadline = Instant::now() + within;
        loop {
            let (status, body) = self.logs(query).await;
            assert_eq!(status, 200, "{body}");
            let logs = body["logs"].as_array().cloned().unwrap_or_default();
            if logs.len() >= count || Instant::now() > deadline {
                return logs;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        for mut child in self.children.drain().map(|(_, child)| child) {
            let _ = child.kill();
            let _ = child.wait();
        }
        if let Some(mut proxy) = self.proxy.take() {
            // SIGTERM: nginx's master stops its worker processes too (a SIGKILLed master
            // leaves them running, holding the ports).
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(proxy.id().to_string())
                .status();
            let _ = proxy.wait();
        }
        let _ = std::process::Command::new("curl")
            .args(["-s", "-o", "/dev/null", "--data-binary"])
            .arg(format!("DROP DATABASE IF EXISTS {}", self.database))
            .arg(clickhouse_url())
            .status();
    }
}

/// What a load run saw.
#[derive(Debug, Default, Clone)]
pub struct LoadReport {
    /// Requests sent.
    pub sent: u64,
    /// Ids of the events answered 202 (single-event requests; a batch answer names no ids).
    pub accepted_ids: Vec<String>,
    /// Messages of the events of batches answered 202 with every event accepted (batch
    /// requests; each message is unique).
    pub accepted_messages: Vec<String>,
    /// Answers by status (202 included).
    pub statuses: std::collections::BTreeMap<u16, u64>,
    /// Requests that got no HTTP answer at all (connection refused or reset).
    pub transport_errors: u64,
    /// Those by kind (`connect`, `timeout`, `request`, `body`, `other`), to tell in a failure.
    pub transport_error_kinds: std::collections::BTreeMap<&'static str, u64>,
    /// Every request: when it was sent, how long its answer took, what it was.
    pub answers: Vec<Answer>,
}

/// One request of a load run.
#[derive(Debug, Clone, Copy)]
pub struct Answer {
    pub sent_at: Instant,
    pub took: Duration,
    /// `None`: no HTTP answer.
    pub status: Option<u16>,
    /// The answer carried `Retry-After`.
    pub retry_after: bool,
}

impl LoadReport {
    pub fn accepted(&self) -> u64 {
        self.accepted_ids.len() as u64
    }

    pub fn count(&self, status: u16) -> u64 {
        self.statuses.get(&status).copied().unwrap_or(0)
    }
}

/// What a load sends: `senders` concurrent connections, each pausing `pause` between requests
/// and giving each one `timeout`; single event objects (`batch` 0) or JSON arrays of `batch`
/// events.
#[derive(Debug, Clone, Copy)]
pub struct LoadShape {
    pub senders: usize,
    pub pause: Duration,
    pub batch: usize,
    pub timeout: Duration,
}

/// A steady stream of POST /ingest requests from concurrent senders until stopped.
#[derive(Debug)]
pub struct Load {
    stop: tokio::sync::watch::Sender<bool>,
    senders: Vec<tokio::task::JoinHandle<LoadReport>>,
}

impl Load {
    /// `workers` senders of single events, each pausing `pause` between requests.
    pub fn start(stack: &Stack, service: &str, workers: usize, pause: Duration) -> Load {
        let shape = LoadShape {
            senders: workers,
            pause,
            batch: 0,
            timeout: Duration::from_secs(10),
        };
        Load::start_shaped(stack, service, shape)
    }

    /// Senders as `shape` says, each on a connection of its own.
    pub fn start_shaped(stack: &Stack, service: &str, shape: LoadShape) -> Load {
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let url = format!("{}/ingest", stack.ingestion_url);
        let senders = (0..shape.senders)
            .map(|sender| {
                let (url, service, stopped) = (url.clone(), service.to_owned(), stopped.clone());
                // A client per sender: one connection each, as many clients would hold.
                let http = reqwest::Client::builder()
                    .pool_max_idle_per_host(1)
                    .build()
                    .unwrap();
                tokio::spawn(async move {
                    let mut report = LoadReport::default();
                    let mut sequence = 0_u64;
                    while !*stopped.borrow() {
                        sequence += 1;
                        let (body, messages) = load_body(&service, sender, sequence, shape.batch);
                        let body = serde_json::to_vec(&body).unwrap();
                        report.sent += 1;
                        let sent_at = Instant::now();
                        let answer = http
                            .post(&url)
                            .header("content-type", "application/json")
                            .body(body)
                            .timeout(shape.timeout)
                            .send()
                            .await;
                        let mut record = Answer {
                            sent_at,
                            took: sent_at.elapsed(),
                            status: None,
                            retry_after: false,
                        };
                        match answer {
                            Ok(response) => {
                                let status = response.status().as_u16();
                                record.status = Some(status);
                                record.retry_after = response.headers().contains_key("retry-after");
                                *report.statuses.entry(status).or_default() += 1;
                                if status == 202 {
                                    let body: Value = response.json().await.unwrap_or(Value::Null);
                                    if shape.batch == 0 {
                                        report.accepted_ids.push(
                                            body["id"].as_str().unwrap_or_default().to_owned(),
                                        );
                                    } else if body["accepted"] == shape.batch {
                                        report.accepted_messages.extend(messages);
                                    }
                                }
                            }
                            Err(error) => {
                                report.transport_errors += 1;
                                let kind = if error.is_connect() {
                                    "connect"
                                } else if error.is_timeout() {
                                    "timeout"
                                } else if error.is_request() {
                                    "request"
                                } else if error.is_body() {
                                    "body"
                                } else {
                                    "other"
                                };
                                *report.transport_error_kinds.entry(kind).or_default() += 1;
                            }
                        }
                        report.answers.push(record);
                        tokio::time::sleep(shape.pause).await;
                    }
                    report
                })
            })
            .collect();
        Load { stop, senders }
    }

    /// Stops the senders and adds up what they saw.
    pub async fn finish(self) -> LoadReport {
        let _ = self.stop.send(true);
        let mut total = LoadReport::default();
        for sender in self.senders {
            let report = sender.await.unwrap();
            total.sent += report.sent;
            total.accepted_ids.extend(report.accepted_ids);
            total.accepted_messages.extend(report.accepted_messages);
            total.transport_errors += report.transport_errors;
            for (kind, count) in report.transport_error_kinds {
                *total.transport_error_kinds.entry(kind).or_default() += count;
            }
            total.answers.extend(report.answers);
            for (status, count) in report.statuses {
                *total.statuses.entry(status).or_default() += count;
            }
        }
        total
    }
}

/// The body of one load request and the messages of its events (a batch's; none for a single
/// event, whose answer names its id).
fn load_body(service: &str, sender: usize, sequence: u64, batch: usize) -> (Value, Vec<String>) {
    if batch == 0 {
        let event = serde_json::json!({
            "service": service, "level": "INFO",
            "message": format!("sender {sender} event {sequence}"),
        });
        return (event, Vec::new());
    }
    let messages: Vec<String> = (0..batch)
        .map(|index| format!("sender {sender} batch {sequence} event {index}"))
        .collect();
    let events = messages
        .iter()
        .map(|message| serde_json::json!({"service": service, "level": "INFO", "message": message}))
        .collect();
    (Value::Array(events), messages)
}

/// Checks that every event a load had accepted is stored and prints the scenario's row of
/// docs/RELIABILITY.md; answers the number of duplicate rows (rows beyond one per id).
pub async fn settle(stack: &Stack, scenario: &str, report: &LoadReport, started: Instant) -> u64 {
    let (found, distinct, rows) = stack
        .wait_until_stored(&report.accepted_ids, Duration::from_secs(120))
        .await;
    let scenario = if stack.instances() > 1 {
        format!("{scenario}, every service doubled")
    } else {
        scenario.to_owned()
    };
    println!(
        "| {scenario} | {} | {} | {} | {} | {} | {found} | {} | {:.0} s |",
        report.sent,
        report.accepted(),
        report.count(429),
        report.count(503),
        report.transport_errors,
        rows - distinct,
        started.elapsed().as_secs_f64(),
    );
    assert_eq!(
        report.accepted() + report.count(429) + report.count(503) + report.transport_errors,
        report.sent,
        "{scenario}: every request was accepted, refused with 429/503, or got no answer: {:?} \
         (transport errors {:?}); ingestion log:\n{}",
        report.statuses,
        report.transport_error_kinds,
        stack.log_tail(Service::Ingestion, 40)
    );
    let unnamed = report
        .accepted_ids
        .iter()
        .filter(|id| id.is_empty())
        .count();
    assert_eq!(unnamed, 0, "{scenario}: every 202 names the event's id");
    if found != report.accepted() {
        println!(
            "worker log ({}), last lines:\n{}",
            stack.log_path(Service::Worker).display(),
            stack.log_tail(Service::Worker, 60)
        );
    }
    assert_eq!(
        found,
        report.accepted(),
        "{scenario}: every event answered 202 is stored"
    );
    rows - distinct
}

impl Stack {
    /// Waits until every id in `ids` is stored (or `within` passes); answers how many of them
    /// are stored, the number of distinct ids stored and the number of rows.
    pub async fn wait_until_stored(&self, ids: &[String], within: Duration) -> (u64, u64, u64) {
        let wanted: std::collections::HashSet<&str> = ids.iter().map(String::as_str).collect();
        let deadline = Instant::now() + within;
        loop {
            let stored = self.clickhouse("SELECT id FROM logs FORMAT TSV").await;
            let rows = stored.lines().count() as u64;
            let distinct: std::collections::HashSet<&str> = stored.lines().collect();
            let found = wanted.iter().filter(|id| distinct.contains(**id)).count() as u64;
            if found == wanted.len() as u64 || Instant::now() > deadline {
                return (found, distinct.len() as u64, rows);
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

impl Stack {
    /// Waits until every message in `messages` (each unique, of events of `service`) is stored,
    /// or `within` passes; answers how many of them are stored and how many rows of them there
    /// are beyond one per message.
    pub async fn wait_until_messages_stored(
        &self,
        service: &str,
        messages: &[String],
        within: Duration,
    ) -> (u64, u64) {
        let wanted: std::collections::HashSet<&str> = messages.iter().map(String::as_str).collect();
        let deadline = Instant::now() + within;
        loop {
            let stored = self
                .clickhouse(&format!(
                    "SELECT message, count() FROM logs WHERE service = '{service}' \
                     GROUP BY message FORMAT TSV"
                ))
                .await;
            let mut found = 0_u64;
            let mut extra = 0_u64;
            for line in stored.lines() {
                let Some((message, count)) = line.rsplit_once('\t') else {
                    continue;
                };
                if wanted.contains(message) {
                    found += 1;
                    extra += count.parse::<u64>().unwrap().saturating_sub(1);
                }
            }
            if found == wanted.len() as u64 || Instant::now() > deadline {
                return (found, extra);
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
}

/// Runs one of the fault-injection commands the test-server script exports
/// (`TEST_CLICKHOUSE_STOP_CMD`, `TEST_REDIS_START_CMD`, ...).
pub fn run_server_command(variable: &str) {
    let command = std::env::var(variable)
        .unwrap_or_else(|_| panic!("{variable} is not set: run the suite through infra/test.sh"));
    let status = Command::new("sh")
        .arg("-c")
        .arg(&command)
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "{variable} failed: {command}");
}

/// A test server stopped with its `TEST_*_STOP_CMD` until [`Stopped::start`], or until dropped,
/// which starts it again even when the test fails, so that a failing scenario leaves the next
/// one a running server.
#[derive(Debug)]
pub struct Stopped {
    start: &'static str,
    started: bool,
}

impl Stopped {
    /// Stops the test ClickHouse.
    pub fn clickhouse() -> Stopped {
        Stopped::server("TEST_CLICKHOUSE_STOP_CMD", "TEST_CLICKHOUSE_START_CMD")
    }

    /// Stops the test Redis.
    pub fn redis() -> Stopped {
        Stopped::server("TEST_REDIS_STOP_CMD", "TEST_REDIS_START_CMD")
    }

    fn server(stop: &str, start: &'static str) -> Stopped {
        run_server_command(stop);
        Stopped {
            start,
            started: false,
        }
    }

    /// Starts the server again (and waits until it answers).
    pub fn start(mut self) {
        self.started = true;
        run_server_command(self.start);
    }
}

impl Drop for Stopped {
    fn drop(&mut self) {
        if !self.started
            && let Ok(command) = std::env::var(self.start)
        {
            let _ = Command::new("sh").arg("-c").arg(&command).status();
        }
    }
}

/// A test server frozen with SIGSTOP (it keeps its connections and answers nothing, like a hung
/// server or a network black hole) until dropped, which resumes it with SIGCONT even when the
/// test fails.
#[derive(Debug)]
pub struct Frozen(String);

impl Frozen {
    /// Freezes the test ClickHouse (`TEST_CLICKHOUSE_PIDFILE`).
    pub fn clickhouse() -> Frozen {
        Frozen::server("TEST_CLICKHOUSE_PIDFILE")
    }

    /// Freezes the test Redis (`TEST_REDIS_PIDFILE`).
    pub fn redis() -> Frozen {
        Frozen::server("TEST_REDIS_PIDFILE")
    }

    fn server(pidfile_variable: &str) -> Frozen {
        let pidfile = std::env::var(pidfile_variable).unwrap_or_else(|_| {
            panic!("{pidfile_variable} is not set: run the suite through infra/test.sh")
        });
        let pid = std::fs::read_to_string(pidfile).unwrap().trim().to_owned();
        signal("-STOP", &pid);
        Frozen(pid)
    }
}

impl Drop for Frozen {
    fn drop(&mut self) {
        signal("-CONT", &self.0);
    }
}

fn signal(which: &str, pid: &str) {
    let status = Command::new("kill").args([which, pid]).status().unwrap();
    assert!(status.success(), "kill {which} {pid}");
}

/// The resident memory of a process in KiB (`VmRSS` of `/proc/<pid>/status`); `None` once it is
/// gone.
pub fn resident_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
}

impl Stack {
    /// The process id of (the first process of) this stack's `service`, while it runs.
    pub fn pid(&self, service: Service) -> Option<u32> {
        self.children.get(&(service, 0)).map(Child::id)
    }
}
