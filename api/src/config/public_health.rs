//! `PUBLIC_HEALTH_*`: the reporting worker's schedule, sizes, lease and endpoints.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::{ConfigError, Secret, Vars, check_http_url, err, flag, parse};

/// Public-health reporting (see README "Public-health reporting").
#[derive(Clone)]
pub struct PublicHealthConfig {
    /// Whether the background work includes the reporting worker (`PUBLIC_HEALTH_WORKER`).
    pub worker: bool,
    /// How often a pass runs (`PUBLIC_HEALTH_INTERVAL_SECS`).
    pub interval: Duration,
    /// Reports taken at a time while forming a batch (`PUBLIC_HEALTH_DEQUEUE_BATCH`).
    pub dequeue_batch: usize,
    /// Most reports per upload (`PUBLIC_HEALTH_MAX_BATCH`).
    pub max_batch: usize,
    /// The default tenant's endpoint (`PUBLIC_HEALTH_URL`, `PUBLIC_HEALTH_CLIENT`,
    /// `PUBLIC_HEALTH_AUTH_HEADER`).
    pub default: Option<Endpoint>,
    /// Endpoints bound per tenant (`PUBLIC_HEALTH_ENDPOINTS_FILE`), by tenant id or slug.
    pub per_tenant: HashMap<String, Endpoint>,
    /// Where batches are written when no endpoint applies: the embedded default only
    /// (`PUBLIC_HEALTH_DIR`, default `<PORTAL_DATA_DIR>/public-health`).
    pub dir: Option<PathBuf>,
    pub timeout: Duration,
    pub lease: Duration,
    pub backoff: Duration,
    pub backoff_max: Duration,
    /// `processing_mode_code` of every row (`PUBLIC_HEALTH_PROCESSING_MODE`: P, T or D).
    pub processing_mode: String,
}

/// One receiver: URL (may carry a key), `client` header, auth header (`Name: value`).
#[derive(Clone)]
pub struct Endpoint {
    pub url: Secret,
    pub client: Option<String>,
    pub auth_header: Option<Secret>,
}

/// One entry of `PUBLIC_HEALTH_ENDPOINTS_FILE`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileEndpoint {
    url: String,
    client: Option<String>,
    auth_header: Option<String>,
}

impl PublicHealthConfig {
    /// The settings from `vars` alone (tests replace `Config::public_health` with these).
    pub fn from_vars(
        vars: &impl Vars,
        data_dir: &Path,
        development: bool,
    ) -> Result<Self, ConfigError> {
        from_vars(vars, data_dir, development)
    }
}

pub(super) fn from_vars(
    vars: &impl Vars,
    data_dir: &Path,
    development: bool,
) -> Result<PublicHealthConfig, ConfigError> {
    let default = match vars.get("PUBLIC_HEALTH_URL") {
        Some(url) => Some(endpoint(
            "PUBLIC_HEALTH_URL",
            url,
            vars.get("PUBLIC_HEALTH_CLIENT"),
            vars.get("PUBLIC_HEALTH_AUTH_HEADER"),
        )?),
        None if vars.get("PUBLIC_HEALTH_AUTH_HEADER").is_some() => {
            return Err(err(
                "PUBLIC_HEALTH_AUTH_HEADER is set but PUBLIC_HEALTH_URL is not",
            ));
        }
        None => None,
    };
    let per_tenant = match vars.get("PUBLIC_HEALTH_ENDPOINTS_FILE") {
        Some(path) => endpoints_file(Path::new(&path))?,
        None => HashMap::new(),
    };
    let dir = (development && default.is_none()).then(|| {
        vars.get("PUBLIC_HEALTH_DIR")
            .map_or_else(|| data_dir.join("public-health"), PathBuf::from)
    });
    let config = PublicHealthConfig {
        worker: flag(vars, "PUBLIC_HEALTH_WORKER", true)?,
        interval: Duration::from_secs(parse(vars, "PUBLIC_HEALTH_INTERVAL_SECS", "120")?),
        dequeue_batch: parse(vars, "PUBLIC_HEALTH_DEQUEUE_BATCH", "32")?,
        max_batch: parse(vars, "PUBLIC_HEALTH_MAX_BATCH", "500")?,
        default,
        per_tenant,
        dir,
        timeout: Duration::from_millis(parse(vars, "PUBLIC_HEALTH_TIMEOUT_MS", "30000")?),
        lease: Duration::from_secs(parse(vars, "PUBLIC_HEALTH_LEASE_SECS", "300")?),
        backoff: Duration::from_millis(parse(vars, "PUBLIC_HEALTH_BACKOFF_MS", "60000")?),
        backoff_max: Duration::from_millis(parse(vars, "PUBLIC_HEALTH_BACKOFF_MAX_MS", "3600000")?),
        processing_mode: vars
            .get("PUBLIC_HEALTH_PROCESSING_MODE")
            .unwrap_or_else(|| "P".into()),
    };
    validate(&config)?;
    Ok(config)
}

fn endpoint(
    name: &str,
    url: String,
    client: Option<String>,
    auth_header: Option<String>,
) -> Result<Endpoint, ConfigError> {
    check_http_url(name, &url)?;
    if let Some(header) = &auth_header {
        portal_messaging::public_health::parse_header(header)
            .map_err(|problem| err(format!("{name}: {problem}")))?;
    }
    Ok(Endpoint {
        url: Secret(url),
        client,
        auth_header: auth_header.map(Secret),
    })
}

/// `{"<tenant id or slug>": {"url": "…", "client": "…", "auth_header": "Name: value"}}`.
fn endpoints_file(path: &Path) -> Result<HashMap<String, Endpoint>, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        err(format!(
            "PUBLIC_HEALTH_ENDPOINTS_FILE {} cannot be read: {e}",
            path.display()
        ))
    })?;
    let entries: HashMap<String, FileEndpoint> = serde_json::from_str(&text).map_err(|e| {
        err(format!(
            "PUBLIC_HEALTH_ENDPOINTS_FILE is not a JSON object of endpoints: line {}",
            e.line()
        ))
    })?;
    entries
        .into_iter()
        .map(|(tenant, e)| {
            let name = format!("PUBLIC_HEALTH_ENDPOINTS_FILE entry {tenant:?}");
            endpoint(&name, e.url, e.client, e.auth_header).map(|e| (tenant, e))
        })
        .collect()
}

fn validate(config: &PublicHealthConfig) -> Result<(), ConfigError> {
    if config.interval.is_zero() {
        return Err(err("PUBLIC_HEALTH_INTERVAL_SECS must be at least 1"));
    }
    if !(1..=500).contains(&config.dequeue_batch) {
        return Err(err("PUBLIC_HEALTH_DEQUEUE_BATCH must be between 1 and 500"));
    }
    if !(1..=10_000).contains(&config.max_batch) {
        return Err(err("PUBLIC_HEALTH_MAX_BATCH must be between 1 and 10000"));
    }
    if config.timeout < Duration::from_millis(100) {
        return Err(err("PUBLIC_HEALTH_TIMEOUT_MS must be at least 100"));
    }
    // An upload must end well inside the lease, or another worker could send the batch too.
    if config.lease < config.timeout.saturating_mul(3) {
        return Err(err(
            "PUBLIC_HEALTH_LEASE_SECS must be at least three times PUBLIC_HEALTH_TIMEOUT_MS",
        ));
    }
    if config.backoff_max < config.backoff {
        return Err(err(
            "PUBLIC_HEALTH_BACKOFF_MAX_MS must not be less than PUBLIC_HEALTH_BACKOFF_MS",
        ));
    }
    if !matches!(config.processing_mode.as_str(), "P" | "T" | "D") {
        return Err(err("PUBLIC_HEALTH_PROCESSING_MODE must be P, T or D"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn the_embedded_default_writes_files_with_the_documented_sizes() {
        let config = from_vars(&vars(&[]), Path::new("/tmp/portal"), true).expect("defaults");
        assert_eq!(config.dir, Some(PathBuf::from("/tmp/portal/public-health")));
        assert_eq!((config.dequeue_batch, config.max_batch), (32, 500));
        assert_eq!(config.interval, Duration::from_secs(120));
        let production = from_vars(&vars(&[]), Path::new("/tmp/portal"), false).expect("valid");
        assert!(
            production.dir.is_none(),
            "production never writes PHI files"
        );
    }

    #[test]
    fn settings_are_refused_by_name_and_secrets_never_quoted() {
        for (name, value) in [
            ("PUBLIC_HEALTH_URL", "reportstream.example"),
            ("PUBLIC_HEALTH_LEASE_SECS", "10"),
            ("PUBLIC_HEALTH_DEQUEUE_BATCH", "0"),
            ("PUBLIC_HEALTH_PROCESSING_MODE", "X"),
            ("PUBLIC_HEALTH_AUTH_HEADER", "x-functions-key: k"),
        ] {
            let error = from_vars(&vars(&[(name, value)]), Path::new("/tmp"), true).err();
            assert!(
                error.is_some_and(|e| e.to_string().contains(name)),
                "{name}={value} must be refused by name"
            );
        }
        let error = from_vars(
            &vars(&[
                ("PUBLIC_HEALTH_URL", "http://127.0.0.1:9/api/reports"),
                ("PUBLIC_HEALTH_AUTH_HEADER", "no-colon-s3cret"),
            ]),
            Path::new("/tmp"),
            true,
        )
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
        assert!(
            error.contains("PUBLIC_HEALTH_URL") && !error.contains("s3cret"),
            "{error}"
        );
    }

    #[test]
    fn tenants_bind_their_own_endpoints_in_a_file() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("endpoints.json");
        let file = path.display().to_string();
        let read = || {
            from_vars(
                &vars(&[("PUBLIC_HEALTH_ENDPOINTS_FILE", file.as_str())]),
                Path::new("/tmp"),
                false,
            )
        };
        std::fs::write(
            &path,
            r#"{"riverside": {"url": "https://rs.example/api/reports", "client": "riverside.default",
                              "auth_header": "x-functions-key: s3cret"},
                "lakeside": {"url": "https://elr.example/upload"}}"#,
        )
        .expect("write");
        let config = read().expect("valid file");
        assert_eq!(config.per_tenant.len(), 2);
        assert_eq!(
            config.per_tenant["riverside"].client.as_deref(),
            Some("riverside.default")
        );
        std::fs::write(
            &path,
            r#"{"riverside": {"url": "https://x", "auth_header": "s3cret"}}"#,
        )
        .expect("write");
        let error = read().err().map(|e| e.to_string()).unwrap_or_default();
        assert!(
            error.contains("riverside") && !error.contains("s3cret"),
            "{error}"
        );
    }
}
