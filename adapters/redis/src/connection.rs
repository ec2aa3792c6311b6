//! Which Redis server the queue talks to: the one of `REDIS_URL`, the primary that Redis
//! Sentinel names (`REDIS_SENTINELS`, `REDIS_SENTINEL_MASTER`), followed through failovers, or
//! a Redis Cluster (`REDIS_CLUSTER_NODES`), whose client follows slots and failovers itself.
//!
//! With Sentinel, the first call asks the sentinels for the primary (the client library checks
//! with `ROLE` that the server it names is a primary). Every call that then fails in a way a
//! failover explains (connection refused or dropped, a timeout, `READONLY` from a former primary
//! that became a replica, `MASTERDOWN`) starts one background look-up; when the sentinels name
//! another server, calls go there from then on. Calls that fail meanwhile are `Unavailable`, so
//! clients get 503 with `Retry-After` during the switch and nothing else.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use redis::sentinel::{Sentinel, SentinelNodeConnectionInfo};
use redis::{Client, IntoConnectionInfo, RedisError};
use redis::{Cmd, Pipeline, RedisFuture, Value};
use tracing::{info, warn};

use crate::errors::is_transient;

/// The least time between two look-ups started by failures, so that a burst of failed calls
/// asks the sentinels a few times a second, not once per call.
const LOOKUP_PAUSE: Duration = Duration::from_millis(100);

/// A connection (multiplexed, reconnecting) to the server the queue uses now. Cheap to clone.
#[derive(Clone)]
pub(crate) struct Link {
    inner: Arc<Inner>,
}

struct Inner {
    current: RwLock<Option<Current>>,
    manager_config: ConnectionManagerConfig,
    sentinel: Option<SentinelRoute>,
    cluster: Option<ClusterRoute>,
}

struct ClusterRoute {
    client: ClusterClient,
    /// Made at the first call (the client connects at once), then shared.
    connection: tokio::sync::OnceCell<ClusterConnection>,
    connect_timeout: Duration,
}

/// A connection to a server, or to a whole Redis Cluster; commands and scripts go through it
/// alike (a cluster routes each by its first key).
#[derive(Clone)]
pub(crate) enum RedisConnection {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

impl redis::aio::ConnectionLike for RedisConnection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Self::Single(connection) => connection.req_packed_command(cmd),
            Self::Cluster(connection) => connection.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Self::Single(connection) => connection.req_packed_commands(pipeline, offset, count),
            Self::Cluster(connection) => connection.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Single(connection) => connection.get_db(),
            Self::Cluster(connection) => connection.get_db(),
        }
    }
}

#[derive(Clone)]
struct Current {
    manager: ConnectionManager,
    address: String,
}

struct SentinelRoute {
    sentinel: tokio::sync::Mutex<Sentinel>,
    master: String,
    node: SentinelNodeConnectionInfo,
    lookup_timeout: Duration,
    /// Whether a background look-up runs (at most one).
    looking_up: AtomicBool,
}

/// Why no connection could be had.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    /// The sentinels could not be asked, or named no primary that answers as one.
    #[error("no redis primary for {master:?} from the sentinels")]
    NoPrimary {
        master: String,
        #[source]
        source: RedisError,
    },
    #[error("no redis primary for {master:?}: the sentinels did not answer within {timeout:?}")]
    LookupTimeout { master: String, timeout: Duration },
    #[error("no connection to the redis cluster")]
    Cluster(#[source] RedisError),
}

impl Link {
    /// A link to one fixed server; connects lazily.
    pub(crate) fn fixed(
        client: Client,
        manager_config: ConnectionManagerConfig,
    ) -> Result<Self, RedisError> {
        let address = client.get_connection_info().addr().to_string();
        let manager = ConnectionManager::new_lazy_with_config(client, manager_config.clone())?;
        Ok(Self {
            inner: Arc::new(Inner {
                current: RwLock::new(Some(Current { manager, address })),
                manager_config,
                sentinel: None,
                cluster: None,
            }),
        })
    }

    /// A link to the primary the sentinels at `sentinels` (`host:port`) name for `master`,
    /// with the database and credentials of `url`. Asks nothing until the first call.
    pub(crate) fn sentinel(
        sentinels: &[String],
        master: &str,
        url: &str,
        manager_config: ConnectionManagerConfig,
        lookup_timeout: Duration,
    ) -> Result<Self, RedisError> {
        let redis_settings = url.into_connection_info()?.redis_settings().clone();
        let addresses = sentinels
            .iter()
            .map(|address| format!("redis://{address}"))
            .collect::<Vec<_>>();
        let sentinel = Sentinel::build(addresses)?;
        let node = SentinelNodeConnectionInfo::default().set_redis_connection_info(redis_settings);
        Ok(Self {
            inner: Arc::new(Inner {
                current: RwLock::new(None),
                manager_config,
                sentinel: Some(SentinelRoute {
                    sentinel: tokio::sync::Mutex::new(sentinel),
                    master: master.to_owned(),
                    node,
                    lookup_timeout,
                    looking_up: AtomicBool::new(false),
                }),
                cluster: None,
            }),
        })
    }

    /// A link to the Redis Cluster whose nodes include `nodes` (`host:port` or `redis://`
    /// URLs), with the user name and password of `url`. Connects at the first call.
    pub(crate) fn cluster(
        nodes: &[String],
        url: &str,
        manager_config: ConnectionManagerConfig,
        connect_timeout: Duration,
        response_timeout: Duration,
    ) -> Result<Self, RedisError> {
        let settings = url.into_connection_info()?.redis_settings().clone();
        let nodes = nodes
            .iter()
            .map(|node| {
                if node.contains("://") {
                    node.clone()
                } else {
                    format!("redis://{node}")
                }
            })
            .collect::<Vec<_>>();
        let mut builder = ClusterClient::builder(nodes)
            .connection_timeout(connect_timeout)
            .response_timeout(response_timeout)
            .retries(1);
        if let Some(username) = settings.username() {
            builder = builder.username(username);
        }
        if let Some(password) = settings.password() {
            builder = builder.password(password);
        }
        Ok(Self {
            inner: Arc::new(Inner {
                current: RwLock::new(None),
                manager_config,
                sentinel: None,
                cluster: Some(ClusterRoute {
                    client: builder.build()?,
                    connection: tokio::sync::OnceCell::new(),
                    connect_timeout,
                }),
            }),
        })
    }

    fn current(&self) -> Option<Current> {
        self.inner
            .current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The connection to use now; with Sentinel, the first call looks the primary up; with a
    /// cluster, the first call connects.
    pub(crate) async fn get(&self) -> Result<RedisConnection, LinkError> {
        if let Some(route) = &self.inner.cluster {
            let connection = route
                .connection
                .get_or_try_init(|| async {
                    tokio::time::timeout(route.connect_timeout, route.client.get_async_connection())
                        .await
                        .map_err(|_| {
                            RedisError::from(std::io::Error::from(std::io::ErrorKind::TimedOut))
                        })?
                })
                .await
                .map_err(LinkError::Cluster)?;
            return Ok(RedisConnection::Cluster(connection.clone()));
        }
        if let Some(current) = self.current() {
            return Ok(RedisConnection::Single(current.manager));
        }
        self.look_up().await.map(RedisConnection::Single)
    }

    /// A call on this link failed with `error`: with Sentinel, and when a failover may be the
    /// cause, looks the primary up again in the background.
    pub(crate) fn failed(&self, error: &RedisError) {
        let Some(route) = &self.inner.sentinel else {
            return;
        };
        if !is_transient(error) || route.looking_up.swap(true, Ordering::AcqRel) {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            route.looking_up.store(false, Ordering::Release);
            return;
        };
        let link = self.clone();
        runtime.spawn(async move {
            if let Err(error) = link.look_up().await {
                warn!(error = %error, "redis primary look-up failed; asking again at the next failure");
            }
            tokio::time::sleep(LOOKUP_PAUSE).await;
            if let Some(route) = &link.inner.sentinel {
                route.looking_up.store(false, Ordering::Release);
            }
        });
    }

    /// Asks the sentinels for the primary and switches to it when it moved.
    async fn look_up(&self) -> Result<ConnectionManager, LinkError> {
        let Some(route) = &self.inner.sentinel else {
            // A fixed link always has its connection.
            return self
                .current()
                .map(|current| current.manager)
                .ok_or_else(|| LinkError::NoPrimary {
                    master: String::new(),
                    source: RedisError::from(std::io::Error::from(
                        std::io::ErrorKind::NotConnected,
                    )),
                });
        };
        let mut sentinel = route.sentinel.lock().await;
        let client = tokio::time::timeout(
            route.lookup_timeout,
            sentinel.async_master_for(&route.master, Some(&route.node)),
        )
        .await
        .map_err(|_| LinkError::LookupTimeout {
            master: route.master.clone(),
            timeout: route.lookup_timeout,
        })?
        .map_err(|source| LinkError::NoPrimary {
            master: route.master.clone(),
            source,
        })?;
        let address = client.get_connection_info().addr().to_string();
        let previous = self.current();
        if let Some(previous) = &previous
            && previous.address == address
        {
            return Ok(previous.manager.clone());
        }
        let manager =
            ConnectionManager::new_lazy_with_config(client, self.inner.manager_config.clone())
                .map_err(|source| LinkError::NoPrimary {
                    master: route.master.clone(),
                    source,
                })?;
        info!(
            master = %route.master,
            primary = %address,
            previous = previous.as_ref().map_or("none", |previous| previous.address.as_str()),
            "redis primary found through the sentinels"
        );
        *self
            .inner
            .current
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Some(Current {
            manager: manager.clone(),
            address,
        });
        Ok(manager)
    }
}
