//! Redis answers that mean "not now" reach the port as `Unavailable` (503 + `Retry-After` for a
//! client), tried against a real `redis-server` of the test's own: `LOADING` while it reloads its
//! data, `BUSY` while a script runs too long. They stall a whole server, so each test starts one
//! on a Unix socket in a directory of its own (no port to race for) instead of using the shared
//! `TEST_REDIS_URL`. `redis-server` must be on the PATH (infra/test.sh installs it).

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers fail loudly by design
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use application::ports::{QueueConsumer, QueueError, QueueProducer};
use application::testing::sample_event;
use domain::{Level, Timestamp};
use redis_adapter::{RedisConfig, RedisLogQueue, RedisQueueError};

/// A `redis-server` of the test's own, stopped when dropped.
struct PrivateRedis {
    child: Child,
    dir: PathBuf,
}

impl PrivateRedis {
    fn start(name: &str) -> PrivateRedis {
        let dir = std::env::temp_dir().join(format!("redis-not-now-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let child = Command::new("redis-server")
            .args(["--port", "0", "--unixsocket"])
            .arg(dir.join("redis.sock"))
            .arg("--dir")
            .arg(&dir)
            .args(["--save", "", "--appendonly", "no"])
            .args(["--enable-debug-command", "yes"])
            // A script answers BUSY to others after 100 ms instead of 5 s.
            .args(["--busy-reply-threshold", "100"])
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("redis-server must be installed (infra/test.sh installs it)");
        let redis = PrivateRedis { child, dir };
        let deadline = Instant::now() + Duration::from_secs(10);
        while redis.command(&["PING"]).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        redis
    }

    fn url(&self) -> String {
        format!("redis+unix://{}", self.dir.join("redis.sock").display())
    }

    /// One command on a new connection of its own.
    fn command(&self, args: &[&str]) -> redis::RedisResult<redis::Value> {
        let client = redis::Client::open(self.url())?;
        let mut connection = client.get_connection()?;
        let mut command = redis::cmd(args[0]);
        for arg in &args[1..] {
            command.arg(*arg);
        }
        command.query(&mut connection)
    }

    /// A queue on this server, connected (a first command went through).
    async fn queue(&self) -> RedisLogQueue {
        self.queue_waiting_at_most(10_000).await
    }

    async fn queue_waiting_at_most(&self, response_timeout_ms: u64) -> RedisLogQueue {
        let config = RedisConfig {
            url: self.url(),
            queue_key: "not_now".into(),
            response_timeout_ms,
            ..RedisConfig::default()
        };
        let queue = RedisLogQueue::new(&config, "worker-a").unwrap();
        QueueProducer::health(&queue).await.unwrap();
        queue
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn event() -> Vec<domain::LogEvent> {
    vec![sample_event(
        "svc",
        Level::Info,
        "not now?",
        Timestamp::now(),
    )]
}

/// Pushes one event once the queue takes it again (the circuit closes when Redis answers its
/// probe, every 250 ms); fails after 10 s.
async fn push_eventually(queue: &RedisLogQueue) {
    let deadline = Instant::now() + Duration::from_secs(10);
    let event = event();
    loop {
        match queue.push(&event).await {
            Ok(()) => return,
            Err(error) => assert!(Instant::now() < deadline, "still refused: {error:?}"),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The push answers `Unavailable` whose cause carries the server's `code`.
fn assert_unavailable_with(result: Result<(), QueueError>, code: &str) {
    match result {
        Err(QueueError::Unavailable(cause)) => {
            let redis_error = cause.downcast_ref::<redis::RedisError>();
            assert_eq!(
                redis_error.and_then(redis::RedisError::code),
                Some(code),
                "{cause:?}"
            );
        }
        other => panic!("expected Unavailable({code}), got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_while_redis_reloads_its_data_is_unavailable_then_succeeds() {
    let redis = PrivateRedis::start("loading");
    let queue = redis.queue().await;
    // Enough data, loaded slowly enough (100 µs a key: about 2 s), and the server answering
    // others between every KiB it reads, so that the reload is a window a push can fall into.
    redis.command(&["DEBUG", "POPULATE", "20000"]).unwrap();
    redis
        .command(&["CONFIG", "SET", "key-load-delay", "100"])
        .unwrap();
    redis
        .command(&[
            "CONFIG",
            "SET",
            "loading-process-events-interval-bytes",
            "1024",
        ])
        .unwrap();
    let reload = {
        let url = redis.url();
        std::thread::spawn(move || {
            let mut connection = redis::Client::open(url).unwrap().get_connection().unwrap();
            redis::cmd("DEBUG")
                .arg("RELOAD")
                .query::<redis::Value>(&mut connection)
        })
    };
    let deadline = Instant::now() + Duration::from_secs(5);
    while !matches!(
        redis.command(&["PING"]),
        Err(ref error) if error.code() == Some("LOADING")
    ) {
        assert!(
            Instant::now() < deadline,
            "the server never started loading"
        );
        std::thread::sleep(Duration::from_millis(5));
    }

    assert_unavailable_with(queue.push(&event()).await, "LOADING");

    reload.join().unwrap().unwrap();
    push_eventually(&queue).await;
    assert_eq!(
        queue.backlog().await.unwrap().depth,
        1,
        "only the later push"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_while_a_script_holds_redis_is_unavailable_then_succeeds() {
    let redis = PrivateRedis::start("busy");
    let queue = redis.queue().await;
    let script = {
        let url = redis.url();
        std::thread::spawn(move || {
            let mut connection = redis::Client::open(url).unwrap().get_connection().unwrap();
            redis::cmd("EVAL")
                .arg("while true do end")
                .arg(0)
                .query::<redis::Value>(&mut connection)
        })
    };
    let deadline = Instant::now() + Duration::from_secs(5);
    while !matches!(
        redis.command(&["PING"]),
        Err(ref error) if error.code() == Some("BUSY")
    ) {
        assert!(
            Instant::now() < deadline,
            "the script never made the server busy"
        );
        std::thread::sleep(Duration::from_millis(5));
    }

    assert_unavailable_with(queue.push(&event()).await, "BUSY");

    redis.command(&["SCRIPT", "KILL"]).unwrap();
    assert!(script.join().unwrap().is_err(), "the script was killed");
    push_eventually(&queue).await;
    assert_eq!(
        queue.backlog().await.unwrap().depth,
        1,
        "only the later push"
    );
}

/// Sends `signal` (`STOP`, `CONT`) to the server process.
fn signal(redis: &PrivateRedis, signal: &str) {
    let status = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(redis.child.id().to_string())
        .status()
        .unwrap();
    assert!(status.success());
}

fn is_circuit_open(result: &Result<(), QueueError>) -> bool {
    matches!(result, Err(QueueError::Unavailable(cause))
        if matches!(cause.downcast_ref::<RedisQueueError>(), Some(RedisQueueError::CircuitOpen)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn once_a_push_timed_out_on_a_stalled_redis_others_fail_at_once_until_it_answers_again() {
    let redis = PrivateRedis::start("stalled");
    let queue = redis.queue_waiting_at_most(300).await;
    signal(&redis, "STOP");

    let first = queue.push(&event()).await;
    assert!(
        matches!(first, Err(QueueError::Unavailable(_))) && !is_circuit_open(&first),
        "the first push waits for Redis and times out: {first:?}"
    );
    for _ in 0..3 {
        let next = queue.push(&event()).await;
        assert!(
            is_circuit_open(&next),
            "refused without asking Redis: {next:?}"
        );
    }
    let ready = QueueProducer::health(&queue).await;
    assert!(is_circuit_open(&ready), "{ready:?}");

    signal(&redis, "CONT");
    push_eventually(&queue).await;
    QueueProducer::health(&queue).await.unwrap();
}
