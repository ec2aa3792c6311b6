//! Settings come from three layers, later ones winning: the service's defaults, a `.env` file in
//! the working directory (if present), and environment variables. A setting's name is its
//! environment variable in lower case (`REDIS_URL` -> `redis_url`).

use std::path::Path;

use figment::Figment;
use figment::providers::{Env, Serialized};
use figment::value::{Dict, Value};
use serde::Serialize;
use serde::de::{self, DeserializeOwned, Deserializer, Visitor};

/// A setting that cannot be used; the message names the environment variable.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{variable}: {reason}")]
    Invalid { variable: String, reason: String },
    #[error("cannot read {path}: {reason}")]
    EnvFile { path: String, reason: String },
}

/// Loads `T` from its defaults, `./.env` and the environment.
pub fn load_settings<T>() -> Result<T, Box<ConfigError>>
where
    T: Serialize + DeserializeOwned + Default,
{
    SettingsSource::read()?.extract()
}

/// Loads `T` from its defaults, the given env file (skipped when missing) and the environment.
pub fn load_settings_from<T>(env_file: &Path) -> Result<T, Box<ConfigError>>
where
    T: Serialize + DeserializeOwned + Default,
{
    SettingsSource::read_from(env_file)?.extract()
}

/// The layers read once: a service's settings are blocks (one per adapter), each extracted from
/// the same layers on its own, so that an error still names the environment variable (a block
/// nested with `#[serde(flatten)]` would lose it).
#[derive(Debug, Clone)]
pub struct SettingsSource {
    env_file: Dict,
}

impl SettingsSource {
    /// Reads `./.env` (skipped when missing); the environment is read at each extraction.
    pub fn read() -> Result<Self, Box<ConfigError>> {
        Self::read_from(Path::new(".env"))
    }

    /// Reads the given env file (skipped when missing).
    pub fn read_from(env_file: &Path) -> Result<Self, Box<ConfigError>> {
        Ok(Self {
            env_file: read_env_file(env_file)?,
        })
    }

    /// One block of settings: its defaults, then the env file, then the environment.
    pub fn extract<T>(&self) -> Result<T, Box<ConfigError>>
    where
        T: Serialize + DeserializeOwned + Default,
    {
        let figment = Figment::from(Serialized::defaults(T::default()))
            .merge(Serialized::defaults(self.env_file.clone()))
            .merge(Env::raw().lowercase(true));
        figment.extract().map_err(|error| Box::new(describe(error)))
    }
}

fn read_env_file(path: &Path) -> Result<Dict, Box<ConfigError>> {
    let unreadable = |reason: String| {
        Box::new(ConfigError::EnvFile {
            path: path.display().to_string(),
            reason,
        })
    };
    let entries = match dotenvy::from_path_iter(path) {
        Ok(entries) => entries,
        Err(dotenvy::Error::Io(error)) if error.kind() == std::io::ErrorKind::NotFound => {
            return Ok(Dict::new());
        }
        Err(error) => return Err(unreadable(error.to_string())),
    };
    let mut values = Dict::new();
    for entry in entries {
        let (key, raw) = entry.map_err(|error| unreadable(error.to_string()))?;
        // The same typing the environment layer applies: "5000" is a number, "true" a boolean.
        let value: Value = raw.parse().unwrap_or_else(|_| Value::from(raw));
        values.insert(key.to_lowercase(), value);
    }
    Ok(values)
}

/// Deserializes a setting that must stay text because it holds secrets, such as API keys or a
/// token (`#[serde(deserialize_with = "service_runtime::secret_text")]`). The environment and
/// `.env` layers read `12345` as a number; such a value is refused with a message that does not
/// repeat it.
pub fn secret_text<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    struct SecretText;

    impl SecretText {
        fn not_text<E: de::Error>(self) -> Result<String, E> {
            Err(E::custom(
                "must be text: a secret of digits only reads as a number, add letters",
            ))
        }
    }

    impl Visitor<'_> for SecretText {
        type Value = String;

        fn expecting(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            formatter.write_str("text")
        }

        fn visit_str<E: de::Error>(self, text: &str) -> Result<String, E> {
            Ok(text.to_owned())
        }

        fn visit_string<E: de::Error>(self, text: String) -> Result<String, E> {
            Ok(text)
        }

        fn visit_bool<E: de::Error>(self, _: bool) -> Result<String, E> {
            self.not_text()
        }

        fn visit_i64<E: de::Error>(self, _: i64) -> Result<String, E> {
            self.not_text()
        }

        fn visit_i128<E: de::Error>(self, _: i128) -> Result<String, E> {
            self.not_text()
        }

        fn visit_u64<E: de::Error>(self, _: u64) -> Result<String, E> {
            self.not_text()
        }

        fn visit_u128<E: de::Error>(self, _: u128) -> Result<String, E> {
            self.not_text()
        }

        fn visit_f64<E: de::Error>(self, _: f64) -> Result<String, E> {
            self.not_text()
        }
    }

    deserializer.deserialize_string(SecretText)
}

fn describe(error: figment::Error) -> ConfigError {
    let error = error
        .into_iter()
        .next()
        .unwrap_or_else(|| figment::Error::from("invalid settings".to_owned()));
    let variable = error
        .path
        .iter()
        .map(|part| part.to_uppercase())
        .collect::<Vec<_>>()
        .join("_");
    ConfigError::Invalid {
        variable: if variable.is_empty() {
            "settings".into()
        } else {
            variable
        },
        reason: error.kind.to_string(),
    }
}

#[cfg(test)]
#[allow(clippy::result_large_err)] // figment::Jail closures return figment::Error
mod tests {
    use std::num::NonZeroUsize;

    use figment::Jail;
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Serialize, Deserialize, PartialEq)]
    #[serde(default)]
    struct Settings {
        redis_url: String,
        worker_batch_size: NonZeroUsize,
        worker_poll_interval_ms: u64,
    }

    impl Default for Settings {
        fn default() -> Self {
            Self {
                redis_url: "redis://127.0.0.1:6379".into(),
                worker_batch_size: NonZeroUsize::new(1000).unwrap(),
                worker_poll_interval_ms: 5000,
            }
        }
    }

    #[test]
    fn defaults_apply_when_nothing_is_set() {
        Jail::expect_with(|_jail| {
            assert_eq!(load_settings::<Settings>().unwrap(), Settings::default());
            Ok(())
        });
    }

    #[test]
    fn the_env_file_overrides_defaults_and_the_environment_overrides_the_env_file() {
        Jail::expect_with(|jail| {
            jail.create_file(
                ".env",
                "REDIS_URL=redis://from-file:6379\nWORKER_BATCH_SIZE=20\n",
            )?;
            jail.set_env("WORKER_BATCH_SIZE", "50");
            let settings = load_settings::<Settings>().unwrap();
            assert_eq!(settings.redis_url, "redis://from-file:6379");
            assert_eq!(settings.worker_batch_size.get(), 50);
            assert_eq!(settings.worker_poll_interval_ms, 5000);
            Ok(())
        });
    }

    #[derive(Debug, Default, Serialize, Deserialize, PartialEq)]
    #[serde(default)]
    struct Secrets {
        #[serde(deserialize_with = "secret_text")]
        ingest_api_keys: String,
    }

    #[test]
    fn a_secret_setting_is_text_and_a_number_in_its_place_is_refused_without_repeating_it() {
        Jail::expect_with(|jail| {
            jail.set_env("INGEST_API_KEYS", "key-0123456789abcdef,0123456789abcdef0");
            let secrets = load_settings::<Secrets>().unwrap();
            assert_eq!(
                secrets.ingest_api_keys,
                "key-0123456789abcdef,0123456789abcdef0"
            );
            jail.set_env("INGEST_API_KEYS", "1234567890123456789");
            let error = load_settings::<Secrets>().unwrap_err().to_string();
            assert!(
                error.starts_with("INGEST_API_KEYS: must be text"),
                "{error}"
            );
            assert!(!error.contains("1234567890123456789"), "{error}");
            Ok(())
        });
    }

    #[test]
    fn a_bad_value_is_reported_with_its_variable_name() {
        Jail::expect_with(|jail| {
            jail.set_env("WORKER_BATCH_SIZE", "0");
            let error = load_settings::<Settings>().unwrap_err();
            assert!(
                error.to_string().starts_with("WORKER_BATCH_SIZE: "),
                "{error}"
            );
            jail.set_env("WORKER_BATCH_SIZE", "10");
            jail.set_env("WORKER_POLL_INTERVAL_MS", "soon");
            let error = load_settings::<Settings>().unwrap_err();
            assert!(
                error.to_string().starts_with("WORKER_POLL_INTERVAL_MS: "),
                "{error}"
            );
            Ok(())
        });
    }
}
