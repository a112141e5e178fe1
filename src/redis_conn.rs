//! The bridge's connection to the Redis its replicas share (the replay
//! store and the throttle budget): connections that are made and remade in
//! the background, so the bridge starts while Redis is down and recovers by
//! itself; every command bounded by `redis.timeout_ms`; the password file
//! re-read when it changes; a health check that drives `/ready` and the log.
//!
//! A standalone Redis is reached through `redis.pool_size` multiplexed
//! connection managers used in turn; several comma-separated URLs are the
//! seed nodes of a Redis Cluster. The password never leaves this module
//! except into the client library.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, FromRedisValue, IntoConnectionInfo, RedisFuture, Value};

use crate::config::{RedisOnError, RedisSettings, Secret};
use crate::credentials::Swappable;
use crate::error::{BridgeError, ErrorKind};

/// Why a Redis command gave no answer; `kind()` is a bounded metric label.
#[derive(Debug, Clone)]
pub enum RedisFailure {
    /// No answer within `redis.timeout_ms`.
    Timeout,
    /// No connection yet (never made, or a cluster still being joined).
    NotConnected(String),
    /// The client library's error, already rendered (never holds the password).
    Failed { kind: &'static str, detail: String },
}

impl RedisFailure {
    pub fn kind(&self) -> &'static str {
        match self {
            RedisFailure::Timeout => "timeout",
            RedisFailure::NotConnected(_) => "connection",
            RedisFailure::Failed { kind, .. } => kind,
        }
    }

    fn from_redis(e: &redis::RedisError) -> RedisFailure {
        let kind = if e.kind() == redis::ErrorKind::AuthenticationFailed
            || matches!(e.code(), Some("WRONGPASS" | "NOAUTH" | "NOPERM"))
        {
            "auth"
        } else if e.is_timeout() {
            "timeout"
        } else if e.is_io_error() || e.is_connection_refusal() || e.is_connection_dropped() {
            "connection"
        } else {
            "other"
        };
        RedisFailure::Failed {
            kind,
            detail: e.to_string(),
        }
    }
}

impl std::fmt::Display for RedisFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RedisFailure::Timeout => f.write_str("no answer in time"),
            RedisFailure::NotConnected(why) => write!(f, "not connected: {why}"),
            RedisFailure::Failed {
                kind: "auth",
                detail,
            } => write!(
                f,
                "authentication failed ({detail}): check redis.username and redis.password_file"
            ),
            RedisFailure::Failed { detail, .. } => f.write_str(detail),
        }
    }
}

/// One connection handle, whichever the deployment.
#[derive(Clone)]
pub enum Conn {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Conn::Single(c) => c.req_packed_command(cmd),
            Conn::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a redis::Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Conn::Single(c) => c.req_packed_commands(pipeline, offset, count),
            Conn::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Conn::Single(c) => c.get_db(),
            Conn::Cluster(c) => c.get_db(),
        }
    }
}

/// The current connections: remade when the password changes or a health
/// check fails for any reason but a slow answer.
enum Conns {
    Single(Vec<ConnectionManager>),
    Cluster(Option<ClusterConnection>),
}

pub struct SharedRedis {
    settings: RedisSettings,
    conns: Swappable<Conns>,
    next: AtomicUsize,
    timeout: Duration,
    password: Mutex<Option<Secret>>,
    /// The last health check's verdict: `None` when Redis answered.
    problem: Mutex<Option<String>>,
    /// Set while this replica serves from its own state (`on_error = local`)
    /// so the incident is logged once; cleared by the next command Redis
    /// answers.
    degraded: AtomicBool,
    /// Health checks in a row that timed out.
    slow_checks: AtomicUsize,
}

impl SharedRedis {
    /// Connections are made lazily: this never waits for Redis. Fails only
    /// on settings that can never work (a bad URL, an unreadable password
    /// file), naming the key.
    pub fn new(settings: &RedisSettings) -> Result<Arc<SharedRedis>, String> {
        let password = match &settings.password_file {
            Some(path) => Some(read_password(path)?),
            None => None,
        };
        let conns = connect_lazily(settings, password.as_ref())?;
        let redis = Arc::new(SharedRedis {
            settings: settings.clone(),
            conns: Swappable::new(conns),
            next: AtomicUsize::new(0),
            timeout: Duration::from_millis(settings.timeout_ms),
            password: Mutex::new(password),
            problem: Mutex::new(Some("not checked yet".into())),
            degraded: AtomicBool::new(false),
            slow_checks: AtomicUsize::new(0),
        });
        crate::metrics::redis_up(false);
        Ok(redis)
    }

    pub fn key_prefix(&self) -> &str {
        &self.settings.key_prefix
    }

    pub fn on_error(&self) -> RedisOnError {
        self.settings.on_error
    }

    /// Run one command (or script invocation, through `run`) on the next
    /// connection, within `redis.timeout_ms`, timed and counted under `op`.
    pub async fn query<T: FromRedisValue>(
        &self,
        op: &'static str,
        cmd: &Cmd,
    ) -> Result<T, RedisFailure> {
        let mut conn = self.conn()?;
        self.timed(op, cmd.query_async(&mut conn)).await
    }

    /// Invoke a Lua script (EVALSHA, loading it on first use).
    pub async fn script<T: FromRedisValue>(
        &self,
        op: &'static str,
        invocation: &redis::ScriptInvocation<'_>,
    ) -> Result<T, RedisFailure> {
        let mut conn = self.conn()?;
        self.timed(op, invocation.invoke_async(&mut conn)).await
    }

    async fn timed<T>(
        &self,
        op: &'static str,
        fut: impl std::future::Future<Output = redis::RedisResult<T>>,
    ) -> Result<T, RedisFailure> {
        let started = Instant::now();
        let result = match tokio::time::timeout(self.timeout, fut).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(RedisFailure::from_redis(&e)),
            Err(_) => Err(RedisFailure::Timeout),
        };
        match &result {
            Ok(_) => {
                crate::metrics::redis_call(op, started.elapsed());
                // A read first: the flag is written only when an incident ends.
                if self.degraded.load(Ordering::Relaxed)
                    && self.degraded.swap(false, Ordering::Relaxed)
                {
                    tracing::info!(url = %self.settings.url, "redis answers again; shared state in use");
                }
            }
            Err(e) => crate::metrics::redis_error(e.kind()),
        }
        result
    }

    fn conn(&self) -> Result<Conn, RedisFailure> {
        match &*self.conns.load() {
            Conns::Single(pool) => {
                let i = self.next.fetch_add(1, Ordering::Relaxed) % pool.len();
                Ok(Conn::Single(pool[i].clone()))
            }
            Conns::Cluster(Some(c)) => Ok(Conn::Cluster(c.clone())),
            Conns::Cluster(None) => Err(RedisFailure::NotConnected(
                "the cluster has not been joined yet".into(),
            )),
        }
    }

    /// `Err` with the reason while the last health check failed.
    pub fn ready(&self) -> Result<(), String> {
        match &*lock(&self.problem) {
            None => Ok(()),
            Some(why) => Err(format!("redis ({}): {why}", self.settings.url)),
        }
    }

    /// Note that a request fell back to this replica's own state; logs once
    /// per incident (until Redis answers a health check again).
    /// What a failed Redis step means for the request, per
    /// `redis.on_error`: `refuse` answers 4400 naming `store` (nothing is
    /// sent); `local` counts and logs the fall-back and lets the caller use
    /// this replica's own state (`Ok`).
    pub fn on_failure(
        &self,
        store: &str,
        what: &'static str,
        failure: &RedisFailure,
    ) -> Result<(), BridgeError> {
        match self.on_error() {
            RedisOnError::Refuse => Err(BridgeError::new(
                ErrorKind::RedisUnavailable,
                format!("the {store} (Redis) failed: {failure}; the request was not sent"),
            )),
            RedisOnError::Local => {
                self.fell_back(what, failure);
                Ok(())
            }
        }
    }

    pub fn fell_back(&self, what: &'static str, failure: &RedisFailure) {
        crate::metrics::redis_fallback(what);
        if !self.degraded.swap(true, Ordering::Relaxed) {
            tracing::error!(
                error = %failure,
                url = %self.settings.url,
                "redis failed; serving from this replica's own memory (redis.on_error = local) \
                 until it answers again: replays sent to other replicas are not seen meanwhile"
            );
        }
    }

    /// Check Redis every `every` and re-read the password file; runs until
    /// the process ends. The first check runs at once.
    pub async fn watch(self: Arc<Self>, every: Duration) {
        loop {
            self.check_once().await;
            tokio::time::sleep(every).await;
        }
    }

    /// One health check: PING (within the connect timeout, as it may have
    /// to connect), remaking the connections when the password changed or
    /// the check failed for any reason but slowness.
    pub async fn check_once(&self) {
        if let Err(e) = self.reload_password() {
            self.set_problem(Some(e));
            return;
        }
        if let Conns::Cluster(None) = &*self.conns.load() {
            if let Err(e) = self.join_cluster().await {
                self.set_problem(Some(e.to_string()));
                return;
            }
        }
        let started = Instant::now();
        let ping = self.ping_every_connection().await;
        match ping {
            Ok(()) => {
                self.slow_checks.store(0, Ordering::Relaxed);
                crate::metrics::redis_call("ping", started.elapsed());
                self.set_problem(None);
            }
            Err(e) => {
                crate::metrics::redis_error(e.kind());
                // A slow answer alone keeps the connections; a frozen Redis
                // (three checks in a row) gets fresh ones, which drops what
                // the stuck ones still hold for requests long answered.
                let slow = match e {
                    RedisFailure::Timeout => self.slow_checks.fetch_add(1, Ordering::Relaxed) + 1,
                    _ => 0,
                };
                if slow == 0 || slow >= 3 {
                    self.slow_checks.store(0, Ordering::Relaxed);
                    self.remake();
                }
                self.set_problem(Some(e.to_string()));
            }
        }
    }

    /// PING each connection of the pool (so each is connected before a
    /// request needs it), within the connect timeout as it may connect.
    async fn ping_every_connection(&self) -> Result<(), RedisFailure> {
        let conns: Vec<Conn> = match &*self.conns.load() {
            Conns::Single(pool) => pool.iter().cloned().map(Conn::Single).collect(),
            Conns::Cluster(Some(c)) => vec![Conn::Cluster(c.clone())],
            Conns::Cluster(None) => {
                return Err(RedisFailure::NotConnected(
                    "the cluster has not been joined yet".into(),
                ))
            }
        };
        let limit = Duration::from_millis(self.settings.connect_timeout_ms).max(self.timeout);
        for mut conn in conns {
            let ping = redis::cmd("PING");
            match tokio::time::timeout(limit, ping.query_async::<String>(&mut conn)).await {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => return Err(RedisFailure::from_redis(&e)),
                Err(_) => return Err(RedisFailure::Timeout),
            }
        }
        Ok(())
    }

    fn set_problem(&self, problem: Option<String>) {
        let mut current = lock(&self.problem);
        if *current == problem {
            return;
        }
        match &problem {
            None => tracing::info!(url = %self.settings.url, "redis answers"),
            Some(why) => tracing::error!(
                url = %self.settings.url,
                on_error = ?self.settings.on_error,
                "redis unavailable: {why}"
            ),
        }
        crate::metrics::redis_up(problem.is_none());
        *current = problem;
    }

    fn reload_password(&self) -> Result<(), String> {
        let Some(path) = &self.settings.password_file else {
            return Ok(());
        };
        let fresh = read_password(path)?;
        let mut held = lock(&self.password);
        if held.as_ref() != Some(&fresh) {
            *held = Some(fresh);
            drop(held);
            tracing::info!("redis.password_file changed; reconnecting to redis");
            crate::metrics::reload("redis-password", true);
            self.remake();
        }
        Ok(())
    }

    fn remake(&self) {
        let password = lock(&self.password).clone();
        match connect_lazily(&self.settings, password.as_ref()) {
            Ok(conns) => self.conns.store(conns),
            Err(e) => tracing::error!("cannot remake redis connections: {e}"),
        }
    }

    async fn join_cluster(&self) -> Result<(), RedisFailure> {
        let password = lock(&self.password).clone();
        let client = cluster_client(&self.settings, password.as_ref())
            .map_err(RedisFailure::NotConnected)?;
        let limit = Duration::from_millis(self.settings.connect_timeout_ms);
        let conn = match tokio::time::timeout(limit, client.get_async_connection()).await {
            Ok(Ok(c)) => c,
            Ok(Err(e)) => return Err(RedisFailure::from_redis(&e)),
            Err(_) => return Err(RedisFailure::Timeout),
        };
        self.conns.store(Conns::Cluster(Some(conn)));
        Ok(())
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

fn read_password(path: &PathBuf) -> Result<Secret, String> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        format!(
            "invalid configuration: redis.password_file: cannot read {}: {e}",
            path.display()
        )
    })?;
    Ok(Secret::new(text.trim_end_matches(['\r', '\n'])))
}

fn connect_lazily(settings: &RedisSettings, password: Option<&Secret>) -> Result<Conns, String> {
    let urls = settings.urls();
    if urls.len() > 1 {
        // Joining a cluster needs its nodes: done by the health check.
        cluster_client(settings, password)?;
        return Ok(Conns::Cluster(None));
    }
    let url = urls.first().copied().unwrap_or_default();
    let mut info = url
        .into_connection_info()
        .map_err(|e| format!("invalid configuration: redis.url: {e}"))?;
    let mut redis_info = info.redis_settings().clone();
    if let Some(user) = &settings.username {
        redis_info = redis_info.set_username(user);
    }
    if let Some(pw) = password {
        redis_info = redis_info.set_password(pw.expose());
    }
    info = info.set_redis_settings(redis_info);
    let client = match tls_roots(settings)? {
        Some(certs) => redis::Client::build_with_tls(info, certs),
        None => redis::Client::open(info),
    }
    .map_err(|e| format!("invalid configuration: redis.url: {e}"))?;
    // No response timeout of the library's own (its default is 500 ms):
    // `redis.timeout_ms` bounds every command from outside.
    let config = ConnectionManagerConfig::new()
        .set_response_timeout(None)
        .set_connection_timeout(Some(Duration::from_millis(settings.connect_timeout_ms)))
        .set_min_delay(Duration::from_millis(50))
        .set_max_delay(Duration::from_secs(1))
        .set_number_of_retries(3);
    let pool = (0..settings.pool_size)
        .map(|_| ConnectionManager::new_lazy_with_config(client.clone(), config.clone()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("redis: {e}"))?;
    Ok(Conns::Single(pool))
}

/// The trust roots of `redis.ca_file`, when set.
fn tls_roots(settings: &RedisSettings) -> Result<Option<redis::TlsCertificates>, String> {
    let Some(path) = &settings.ca_file else {
        return Ok(None);
    };
    let pem = std::fs::read(path).map_err(|e| {
        format!(
            "invalid configuration: redis.ca_file: cannot read {}: {e}",
            path.display()
        )
    })?;
    Ok(Some(redis::TlsCertificates {
        client_tls: None,
        root_cert: Some(pem),
    }))
}

fn cluster_client(
    settings: &RedisSettings,
    password: Option<&Secret>,
) -> Result<redis::cluster::ClusterClient, String> {
    let mut builder = redis::cluster::ClusterClientBuilder::new(settings.urls())
        .connection_timeout(Duration::from_millis(settings.connect_timeout_ms))
        .response_timeout(Duration::from_millis(
            settings.timeout_ms.max(settings.connect_timeout_ms),
        ));
    if let Some(user) = &settings.username {
        builder = builder.username(user);
    }
    if let Some(pw) = password {
        builder = builder.password(pw.expose());
    }
    if let Some(certs) = tls_roots(settings)? {
        builder = builder.certs(certs);
    }
    builder
        .build()
        .map_err(|e| format!("invalid configuration: redis.url: {e}"))
}
