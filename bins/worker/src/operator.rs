//! Operator commands of the worker binary, for the dead-letter list:
//!
//! ```text
//! worker dead-letters list [N]      print the newest N (default 20) dead letters as JSON lines
//! worker dead-letters requeue [N]   put the oldest N (default all) back on the queue
//! ```
//!
//! They use the same configuration as the service (REDIS_URL, REDIS_QUEUE_KEY, ...).

use std::process::ExitCode;

use redis_adapter::RedisLogQueue;

/// What the command line asked for.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Command {
    /// Run the worker service.
    Serve,
    ListDeadLetters {
        limit: usize,
    },
    RequeueDeadLetters {
        limit: u64,
    },
    Help,
}

const USAGE: &str = "usage: worker [dead-letters list [N] | dead-letters requeue [N]]\n\
    without arguments: run the worker service (configuration from .env and the environment)";

/// Reads the arguments after the program name.
pub(crate) fn parse(arguments: &[String]) -> Result<Command, String> {
    let words: Vec<&str> = arguments.iter().map(String::as_str).collect();
    let count = |text: Option<&&str>| -> Result<Option<u64>, String> {
        text.map(|text| {
            text.parse::<u64>()
                .map_err(|_| format!("not a count: {text}\n{USAGE}"))
        })
        .transpose()
    };
    match words.as_slice() {
        [] => Ok(Command::Serve),
        ["-h" | "--help" | "help"] => Ok(Command::Help),
        ["dead-letters", "list", rest @ ..] if rest.len() <= 1 => Ok(Command::ListDeadLetters {
            limit: usize::try_from(count(rest.first())?.unwrap_or(20)).unwrap_or(usize::MAX),
        }),
        ["dead-letters", "requeue", rest @ ..] if rest.len() <= 1 => {
            Ok(Command::RequeueDeadLetters {
                limit: count(rest.first())?.unwrap_or(u64::MAX),
            })
        }
        _ => Err(format!("unknown command: {}\n{USAGE}", words.join(" "))),
    }
}

/// Runs an operator command against the queue.
pub(crate) async fn run(command: Command, queue: &RedisLogQueue) -> ExitCode {
    match command {
        Command::Serve => ExitCode::SUCCESS,
        Command::Help => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        Command::ListDeadLetters { limit } => match queue.list_dead_letters(limit).await {
            Ok(letters) => {
                for letter in letters {
                    match serde_json::to_string(&letter) {
                        Ok(line) => println!("{line}"),
                        Err(error) => eprintln!("worker: unprintable dead letter: {error}"),
                    }
                }
                ExitCode::SUCCESS
            }
            Err(error) => {
                eprintln!("worker: cannot read {}: {error}", queue.dead_letter_key());
                ExitCode::FAILURE
            }
        },
        Command::RequeueDeadLetters { limit } => match queue.requeue_dead_letters(limit).await {
            Ok(moved) => {
                println!("requeued {moved} dead letters");
                ExitCode::SUCCESS
            }
            Err(error) => {
                eprintln!(
                    "worker: cannot requeue {}: {error}",
                    queue.dead_letter_key()
                );
                ExitCode::FAILURE
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> Vec<String> {
        text.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn no_arguments_serve_and_dead_letter_commands_take_optional_counts() {
        assert_eq!(parse(&[]), Ok(Command::Serve));
        assert_eq!(
            parse(&words("dead-letters list")),
            Ok(Command::ListDeadLetters { limit: 20 })
        );
        assert_eq!(
            parse(&words("dead-letters list 5")),
            Ok(Command::ListDeadLetters { limit: 5 })
        );
        assert_eq!(
            parse(&words("dead-letters requeue")),
            Ok(Command::RequeueDeadLetters { limit: u64::MAX })
        );
        assert_eq!(
            parse(&words("dead-letters requeue 3")),
            Ok(Command::RequeueDeadLetters { limit: 3 })
        );
        assert_eq!(parse(&words("--help")), Ok(Command::Help));
    }

    #[test]
    fn unknown_commands_and_bad_counts_are_refused_with_the_usage() {
        assert!(
            parse(&words("dead-letters purge"))
                .unwrap_err()
                .contains("usage: worker")
        );
        assert!(
            parse(&words("dead-letters list many"))
                .unwrap_err()
                .contains("not a count: many")
        );
    }
}
