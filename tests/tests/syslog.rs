//! Syslog end to end, through the real binaries into ClickHouse and back out of `GET /logs`,
//! sent by clients nobody on the team wrote: util-linux `logger` over TCP (newline and
//! octet-counted framing, RFC 5424 and RFC 3164) and UDP, and rsyslog forwarding with `omfwd`
//! over TCP in RFC 5424 (octet-counted and traditional framing). Plus hostile bytes on a raw
//! connection, which are refused, counted, and leave the good lines around them intact.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code fails loudly

use std::io::Write;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use e2e_tests::rsyslog::{Rsyslog, logger};
use e2e_tests::{Service, Stack, StackOptions, nanos_of_timestamp};
use serde_json::Value;

const STORED_WITHIN: Duration = Duration::from_secs(30);

async fn syslog_stack() -> Stack {
    Stack::start(StackOptions {
        poll_interval_ms: 200,
        syslog: true,
        ..StackOptions::default()
    })
    .await
}

fn now_nanos() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .unwrap()
        .trim()
        .to_owned()
}

fn unique(prefix: &str) -> String {
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        now_nanos() % 1_000_000_000
    )
}

async fn the_log(stack: &Stack, service: &str) -> Value {
    let logs = stack
        .wait_for_logs(&format!("service={service}"), 1, STORED_WITHIN)
        .await;
    assert_eq!(logs.len(), 1, "{service}: {logs:#?}");
    logs[0].clone()
}

/// The log was stamped between `before` and `after` (RFC 3164: to the second).
fn assert_stamped_between(log: &Value, before: u128, after: u128, whole_seconds: bool) {
    let stamped = nanos_of_timestamp(log["timestamp"].as_str().unwrap());
    let second = 1_000_000_000;
    let before = if whole_seconds {
        before / second * second
    } else {
        before
    };
    assert!(
        (before..=after).contains(&stamped),
        "{} not between {before} and {after}",
        log["timestamp"]
    );
}

#[tokio::test]
async fn logger_lines_over_tcp_octet_counting_and_udp_are_stored_with_every_mapped_field() {
    let stack = syslog_stack().await;
    let tcp = stack.syslog_tcp.unwrap();
    let udp = stack.syslog_udp.unwrap();
    let (tcp_port, udp_port) = (tcp.port().to_string(), udp.port().to_string());
    let host = hostname();
    let variants: [(&str, Vec<&str>); 3] = [
        ("tcp", vec!["--tcp", "-P", &tcp_port]),
        ("octet", vec!["--tcp", "--octet-count", "-P", &tcp_port]),
        ("udp", vec!["--udp", "-P", &udp_port]),
    ];
    let before = now_nanos();
    let mut sent = Vec::new();
    for (name, transport) in &variants {
        let service = unique(&format!("logger-{name}"));
        let message = format!("order 9 paid over {name}");
        let args: Vec<&str> = [
            &["-n", "127.0.0.1"][..],
            transport,
            &[
                "--rfc5424",
                "-t",
                &service,
                "-p",
                "local3.warning",
                "--id=4242",
                "--msgid",
                "PAY1",
                "--sd-id",
                "order@32473",
                "--sd-param",
                "id=\"9\"",
                "--sd-param",
                "total=\"12.50\"",
                &message,
            ],
        ]
        .concat();
        logger(&args);
        sent.push((service, message));
    }
    let after = now_nanos();

    for (service, message) in &sent {
        let log = the_log(&stack, service).await;
        assert_eq!(log["service"], service.as_str());
        assert_eq!(log["level"], "WARN", "{service}");
        assert_eq!(log["message"], message.as_str());
        let metadata = &log["metadata"];
        assert_eq!(metadata["syslog.facility"], "local3", "{service}");
        assert_eq!(metadata["syslog.severity"], "warning", "{service}");
        assert_eq!(metadata["syslog.hostname"], host.as_str(), "{service}");
        assert_eq!(metadata["syslog.procid"], "4242", "{service}");
        assert_eq!(metadata["syslog.msgid"], "PAY1", "{service}");
        assert_eq!(metadata["order@32473.id"], "9", "{service}");
        assert_eq!(metadata["order@32473.total"], "12.50", "{service}");
        // logger adds its own structured data element.
        assert_eq!(metadata["timeQuality.tzKnown"], "1", "{service}");
        assert_stamped_between(&log, before, after, false);
    }
}

#[tokio::test]
async fn logger_rfc3164_lines_over_tcp_and_udp_are_stored_with_tag_pid_host_and_time() {
    let stack = syslog_stack().await;
    let tcp_port = stack.syslog_tcp.unwrap().port().to_string();
    let udp_port = stack.syslog_udp.unwrap().port().to_string();
    let before = now_nanos();
    let tcp_service = unique("bsd-tcp");
    let udp_service = unique("bsd-udp");
    for (service, transport, port, priority) in [
        (&tcp_service, "--tcp", &tcp_port, "user.err"),
        (&udp_service, "--udp", &udp_port, "daemon.debug"),
    ] {
        logger(&[
            "-n",
            "127.0.0.1",
            transport,
            "-P",
            port,
            "--rfc3164",
            "-t",
            service,
            "-p",
            priority,
            "--id=77",
            "bsd line",
        ]);
    }
    let after = now_nanos();

    for (service, level, facility, severity) in [
        (&tcp_service, "ERROR", "user", "err"),
        (&udp_service, "DEBUG", "daemon", "debug"),
    ] {
        let log = the_log(&stack, service).await;
        assert_eq!(log["level"], level, "{service}");
        assert_eq!(log["message"], "bsd line", "{service}");
        let metadata = &log["metadata"];
        assert_eq!(metadata["syslog.facility"], facility, "{service}");
        assert_eq!(metadata["syslog.severity"], severity, "{service}");
        assert_eq!(
            metadata["syslog.hostname"],
            hostname().as_str(),
            "{service}"
        );
        assert_eq!(metadata["syslog.procid"], "77", "{service}");
        assert_stamped_between(&log, before, after, true);
    }
}

#[tokio::test]
async fn rsyslog_forwards_rfc5424_over_tcp_octet_counted_and_newline_framed() {
    let stack = syslog_stack().await;
    let port = stack.syslog_tcp.unwrap().port();
    let octet = unique("rsyslog-octet");
    let newline = unique("rsyslog-lf");
    let rsyslog = Rsyslog::start(
        "syslog-e2e",
        &format!(
            "if $programname == \"{octet}\" then {{\n\
               action(type=\"omfwd\" target=\"127.0.0.1\" port=\"{port}\" protocol=\"tcp\" \
                      template=\"RSYSLOG_SyslogProtocol23Format\" TCP_Framing=\"octet-counted\")\n\
             }} else {{\n\
               action(type=\"omfwd\" target=\"127.0.0.1\" port=\"{port}\" protocol=\"tcp\" \
                      template=\"RSYSLOG_SyslogProtocol23Format\")\n\
             }}"
        ),
    );
    let before = now_nanos();
    rsyslog.log(&[
        "-t",
        &octet,
        "--id=31",
        "-p",
        "local5.crit",
        "forwarded octet-counted",
    ]);
    rsyslog.log(&[
        "-t",
        &newline,
        "--id=32",
        "-p",
        "user.notice",
        "forwarded line",
    ]);

    for (service, level, facility, severity, procid, message) in [
        (
            &octet,
            "FATAL",
            "local5",
            "crit",
            "31",
            "forwarded octet-counted",
        ),
        (&newline, "INFO", "user", "notice", "32", "forwarded line"),
    ] {
        let log = the_log(&stack, service).await;
        assert_eq!(log["level"], level, "{service}");
        assert_eq!(log["message"], message, "{service}");
        let metadata = &log["metadata"];
        assert_eq!(metadata["syslog.facility"], facility, "{service}");
        assert_eq!(metadata["syslog.severity"], severity, "{service}");
        assert_eq!(metadata["syslog.procid"], procid, "{service}");
        assert_eq!(
            metadata["syslog.hostname"],
            hostname().as_str(),
            "{service}"
        );
        assert_stamped_between(&log, before, now_nanos(), false);
    }
    drop(rsyslog);
}

#[tokio::test]
async fn hostile_bytes_on_a_connection_are_refused_and_counted_and_the_good_lines_are_stored() {
    let stack = syslog_stack().await;
    let service = unique("hostile");
    let good = |n: u32| format!("<14>1 - - {service} - - - good {n}");
    let mut stream = Vec::new();
    stream.extend(format!("{}\n", good(1)).bytes());
    stream.extend(b"no priority at all\n");
    stream.extend(b"99999999999 an octet count that lies\n");
    stream.extend(b"<13>1 - h\xFF app - - - invalid utf-8 in the host\n");
    stream.extend(vec![b'x'; 200 * 1024]); // a line over SYSLOG_MAX_FRAME_BYTES (128 KiB)
    stream.push(b'\n');
    let second = good(2);
    stream.extend(format!("{} {second}", second.len()).bytes());
    stream.extend(b"<13>1 - - - - - [broken sd\n");
    stream.extend(format!("{}\n", good(3)).bytes());
    let mut connection = std::net::TcpStream::connect(stack.syslog_tcp.unwrap()).unwrap();
    connection.write_all(&stream).unwrap();
    drop(connection);

    let logs = stack
        .wait_for_logs(&format!("service={service}&order=asc"), 3, STORED_WITHIN)
        .await;

    let messages: Vec<&str> = logs
        .iter()
        .map(|log| log["message"].as_str().unwrap())
        .collect();
    assert_eq!(messages.len(), 3, "{logs:#?}");
    let mut sorted = messages.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, ["good 1", "good 2", "good 3"]);
    let metrics = stack.metrics(Service::Ingestion).await;
    let refused = |reason: &str| {
        metrics
            .lines()
            .find(|line| {
                line.starts_with("logpipeline_ingest_events_rejected_total")
                    && line.contains("source=\"syslog_tcp\"")
                    && line.contains(&format!("reason=\"{reason}\""))
            })
            .and_then(|line| line.rsplit(' ').next())
            .and_then(|value| value.parse::<u64>().ok())
            .unwrap_or(0)
    };
    assert_eq!(refused("malformed_syslog"), 3, "{metrics}");
    assert_eq!(refused("malformed_frame"), 2, "{metrics}");
}
