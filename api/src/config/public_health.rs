//! `PUBLIC_HEALTH_*`: the reporting worker's schedule, sizes, lease and endpoints.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use portal_messaging::public_health::{EndpointRules, Reporter};
use serde::Deserialize;

use super::var::{Reader, Var, kind, section};
use super::{ConfigError, Secret, Vars, check_http_url, err};

section! {
    title: "Public-health reporting",
    intro: "The reporting worker's schedule, sizes, lease and endpoints (docs/public-health.md). `portal config check` prints how many tenant bindings the endpoints file holds, never the URLs or keys.",
    WORKER = Var::new("PUBLIC_HEALTH_WORKER", kind::BOOL,
        "Whether the background work (`portal serve` in the embedded default, `portal worker`) runs the reporting worker.")
        .default("true");
    INTERVAL = Var::new("PUBLIC_HEALTH_INTERVAL_SECS", kind::SECONDS,
        "How often a pass runs. A pass sends until the queue is empty or the receiver fails.")
        .default("120")
        .min(1);
    DEQUEUE_BATCH = Var::new("PUBLIC_HEALTH_DEQUEUE_BATCH", kind::INTEGER,
        "Reports taken from the queue at a time while a batch is formed (SimpleReport's `DEQUEUE_BATCH_SIZE`).")
        .default("32")
        .range(1, 500);
    MAX_BATCH = Var::new("PUBLIC_HEALTH_MAX_BATCH", kind::INTEGER,
        "Most reports in one upload (`REPORT_STREAM_BATCH_MAXIMUM`).")
        .default("500")
        .range(1, 10_000);
    URL = Var::new("PUBLIC_HEALTH_URL", kind::URL,
        "The receiver, e.g. `https://prime.cdc.gov/api/reports`. Applies to every tenant without a binding of its own.")
        .secret();
    CLIENT = Var::new("PUBLIC_HEALTH_CLIENT", kind::TEXT,
        "Sent as the `client` header; also the CSV's `sender_id` (default: the tenant's slug).");
    AUTH_HEADER = Var::new("PUBLIC_HEALTH_AUTH_HEADER", kind::TEXT,
        "One header, `Name: value`, e.g. `x-functions-key: …` or `Authorization: Bearer …`.")
        .secret();
    ENDPOINTS_FILE = Var::new("PUBLIC_HEALTH_ENDPOINTS_FILE", kind::PATH,
        "Per-tenant endpoints for production: a JSON object `{\"<tenant slug or id>\": {\"url\", \"client\", \"auth_header\", \"accepts\": [\"<catalog test code>\", …], \"reporter\": {\"name\", \"clia\"}}}`, mounted as a secret.");
    ACCEPTS = Var::new("PUBLIC_HEALTH_ACCEPTS", kind::TEXT,
        "Comma-separated catalog test codes `PUBLIC_HEALTH_URL` accepts (e.g. the respiratory tests a COVID-19 upload takes). Reports of other tests wait in the error queue, saying so. Unset: every reportable test.");
    REPORTER_NAME = Var::new("PUBLIC_HEALTH_REPORTER_NAME", kind::TEXT,
        "The CSV's `reporting_facility_name` for `PUBLIC_HEALTH_URL` (with `PUBLIC_HEALTH_REPORTER_CLIA`). Unset: the testing lab.");
    REPORTER_CLIA = Var::new("PUBLIC_HEALTH_REPORTER_CLIA", kind::TEXT,
        "The reporter's CLIA number (`reporting_facility_clia`): two digits, D, seven digits.");
    DIR = Var::new("PUBLIC_HEALTH_DIR", kind::PATH,
        "Embedded default without a URL: each batch is written here as `<batch id>.csv`. Production never writes files.")
        .derived("`<PORTAL_DATA_DIR>/public-health` in development; unused in production");
    TIMEOUT = Var::new("PUBLIC_HEALTH_TIMEOUT_MS", kind::MILLISECONDS, "The upload request timeout.")
        .default("30000")
        .min(100);
    LEASE = Var::new("PUBLIC_HEALTH_LEASE_SECS", kind::SECONDS,
        "How long a worker holds a batch. At least 3 × `PUBLIC_HEALTH_TIMEOUT_MS`.")
        .default("300");
    BACKOFF = Var::new("PUBLIC_HEALTH_BACKOFF_MS", kind::MILLISECONDS,
        "The retry delay after a failed upload; it doubles each time, up to `PUBLIC_HEALTH_BACKOFF_MAX_MS`.")
        .default("60000");
    BACKOFF_MAX = Var::new("PUBLIC_HEALTH_BACKOFF_MAX_MS", kind::MILLISECONDS,
        "The longest retry delay; at least `PUBLIC_HEALTH_BACKOFF_MS`.")
        .default("3600000");
    PROCESSING_MODE = Var::new("PUBLIC_HEALTH_PROCESSING_MODE", kind::ONE_OF,
        "`processing_mode_code` of every row: `P` production, `T` training, `D` debugging.")
        .default("P")
        .choices(&["P", "T", "D"]);
}

/// Public-health reporting (docs/public-health.md).
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
    /// What the default endpoint accepts and whom it names as reporter
    /// (`PUBLIC_HEALTH_ACCEPTS`, `PUBLIC_HEALTH_REPORTER_*`).
    pub default_rules: EndpointRules,
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

/// One receiver: URL (may carry a key), `client` header, auth header (`Name: value`), the
/// tests it accepts and the reporter its rows name.
#[derive(Clone)]
pub struct Endpoint {
    pub url: Secret,
    pub client: Option<String>,
    pub auth_header: Option<Secret>,
    pub rules: EndpointRules,
}

/// One entry of `PUBLIC_HEALTH_ENDPOINTS_FILE`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileEndpoint {
    url: String,
    client: Option<String>,
    auth_header: Option<String>,
    accepts: Option<Vec<String>>,
    reporter: Option<FileReporter>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileReporter {
    name: String,
    clia: String,
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
    read(&Reader::new(vars, development), data_dir)
}

pub(super) fn read(r: &Reader, data_dir: &Path) -> Result<PublicHealthConfig, ConfigError> {
    let default_rules = rules(
        URL.name,
        r.text(&ACCEPTS).map(|list| {
            list.split(',')
                .map(|c| c.trim().to_owned())
                .filter(|c| !c.is_empty())
                .collect()
        }),
        match (r.text(&REPORTER_NAME), r.text(&REPORTER_CLIA)) {
            (Some(name), Some(clia)) => Some(FileReporter { name, clia }),
            (None, None) => None,
            _ => {
                return Err(err(format!(
                    "{} and {} are set together",
                    REPORTER_NAME.name, REPORTER_CLIA.name
                )));
            }
        },
    )?;
    let default = match r.set(&URL) {
        Some(url) => Some(endpoint(
            URL.name,
            url,
            r.text(&CLIENT),
            r.set(&AUTH_HEADER),
            default_rules.clone(),
        )?),
        None if r.set(&AUTH_HEADER).is_some() => {
            return Err(err(format!(
                "{} is set but {} is not",
                AUTH_HEADER.name, URL.name
            )));
        }
        None => None,
    };
    let per_tenant = match r.set(&ENDPOINTS_FILE) {
        Some(path) => endpoints_file(Path::new(&path))?,
        None => HashMap::new(),
    };
    let dir = (r.development && default.is_none()).then(|| {
        r.set(&DIR)
            .map_or_else(|| data_dir.join("public-health"), PathBuf::from)
    });
    let config = PublicHealthConfig {
        worker: r.flag(&WORKER)?,
        interval: r.seconds(&INTERVAL)?,
        dequeue_batch: r.number(&DEQUEUE_BATCH)?,
        max_batch: r.number(&MAX_BATCH)?,
        default,
        per_tenant,
        default_rules,
        dir,
        timeout: r.millis(&TIMEOUT)?,
        lease: r.seconds(&LEASE)?,
        backoff: r.millis(&BACKOFF)?,
        backoff_max: r.millis(&BACKOFF_MAX)?,
        processing_mode: r.choice(&PROCESSING_MODE)?.to_owned(),
    };
    validate(&config)?;
    Ok(config)
}

fn endpoint(
    name: &str,
    url: String,
    client: Option<String>,
    auth_header: Option<String>,
    rules: EndpointRules,
) -> Result<Endpoint, ConfigError> {
    check_http_url(name, &url)?;
    if let Some(header) = &auth_header {
        portal_messaging::public_health::parse_header(header)
            .map_err(|problem| err(format!("{name}: {problem}")))?;
    }
    Ok(Endpoint {
        url: Secret::from(url),
        client,
        auth_header: auth_header.map(Secret::from),
        rules,
    })
}

/// An endpoint's accepted tests and reporter; the reporter's CLIA number is checked.
fn rules(
    name: &str,
    accepts: Option<Vec<String>>,
    reporter: Option<FileReporter>,
) -> Result<EndpointRules, ConfigError> {
    if accepts.as_ref().is_some_and(Vec::is_empty) {
        return Err(err(format!(
            "{name}: `accepts` is empty; leave it out to accept every reportable test"
        )));
    }
    let reporter = match reporter {
        Some(r) => {
            let clia = r.clia.trim().to_uppercase();
            let b = clia.as_bytes();
            let valid = b.len() == 10
                && b[..2].iter().all(u8::is_ascii_digit)
                && b[2] == b'D'
                && b[3..].iter().all(u8::is_ascii_digit);
            if !valid || r.name.trim().is_empty() {
                return Err(err(format!(
                    "{name}: the reporter needs a name and a CLIA number (two digits, D, seven digits)"
                )));
            }
            Some(Reporter {
                name: r.name.trim().to_owned(),
                clia,
            })
        }
        None => None,
    };
    Ok(EndpointRules { accepts, reporter })
}

/// `{"<tenant id or slug>": {"url": "…", "client": "…", "auth_header": "Name: value"}}`.
fn endpoints_file(path: &Path) -> Result<HashMap<String, Endpoint>, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        err(format!(
            "{} {} cannot be read: {e}",
            ENDPOINTS_FILE.name,
            path.display()
        ))
    })?;
    let entries: HashMap<String, FileEndpoint> = serde_json::from_str(&text).map_err(|e| {
        err(format!(
            "{} is not a JSON object of endpoints: line {}",
            ENDPOINTS_FILE.name,
            e.line()
        ))
    })?;
    entries
        .into_iter()
        .map(|(tenant, e)| {
            let name = format!("{} entry {tenant:?}", ENDPOINTS_FILE.name);
            let rules = rules(&name, e.accepts, e.reporter)?;
            endpoint(&name, e.url, e.client, e.auth_header, rules).map(|e| (tenant, e))
        })
        .collect()
}

/// The rules between variables (each variable's own bounds are in its declaration).
fn validate(config: &PublicHealthConfig) -> Result<(), ConfigError> {
    // An upload must end well inside the lease, or another worker could send the batch too.
    if config.lease < config.timeout.saturating_mul(3) {
        return Err(err(format!(
            "{} must be at least three times {}",
            LEASE.name, TIMEOUT.name
        )));
    }
    if config.backoff_max < config.backoff {
        return Err(err(format!(
            "{} must not be less than {}",
            BACKOFF_MAX.name, BACKOFF.name
        )));
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

    #[test]
    fn an_endpoint_names_the_tests_it_accepts_and_its_reporter() {
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
            r#"{"riverside": {"url": "https://rs.example/api/reports", "accepts": ["94500-6"],
                              "reporter": {"name": "Riverside Reporting", "clia": "05d9876543"}}}"#,
        )
        .expect("write");
        let rules = read().expect("valid file").per_tenant["riverside"]
            .rules
            .clone();
        assert_eq!(rules.accepts, Some(vec!["94500-6".to_owned()]));
        assert_eq!(
            rules.reporter.map(|r| (r.name, r.clia)),
            Some(("Riverside Reporting".to_owned(), "05D9876543".to_owned()))
        );
        std::fs::write(
            &path,
            r#"{"riverside": {"url": "https://x", "reporter": {"name": "R", "clia": "123"}}}"#,
        )
        .expect("write");
        assert!(read().is_err(), "a reporter's CLIA number is checked");
        let default = from_vars(
            &vars(&[("PUBLIC_HEALTH_REPORTER_NAME", "Riverside Reporting")]),
            Path::new("/tmp"),
            false,
        );
        assert!(default.is_err(), "name and CLIA are set together");
    }
}
