//! `Config::from_vars` as a whole: defaults, production rules, and refusals by name.

use std::collections::HashMap;

use super::*;

fn vars(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn development_needs_no_variables() {
    let config = Config::from_vars(&vars(&[])).expect("defaults are valid");
    assert!(config.is_development() && config.is_sqlite() && config.seed_demo);
    assert!(matches!(config.jwt.keys, JwtKeys::DevSecret));
    assert_eq!(config.bind.to_string(), "127.0.0.1:8080");
}

#[test]
fn production_requires_postgres_and_real_keys() {
    let missing = Config::from_vars(&vars(&[("PORTAL_ENV", "production")]));
    assert!(missing.is_err());
    let config = Config::from_vars(&vars(&[
        ("PORTAL_ENV", "production"),
        ("DATABASE_URL", "postgres://portal:pw@127.0.0.1/portal"),
        ("JWT_JWKS_URL", "http://127.0.0.1:9000/jwks"),
        ("JWT_ISSUER", "https://idp.example/realms/portal"),
        ("JWT_AUDIENCE", "portal"),
    ]))
    .expect("complete production config");
    assert!(!config.playground && !config.introspection && !config.seed_demo);
    let printed = format!("{:?}", config.database_url);
    assert!(
        printed.contains("REDACTED") && !printed.contains("pw"),
        "{printed}"
    );
}

#[test]
fn migrations_use_the_owner_url_when_one_is_set() {
    let app = "postgres://portal_app:pw@127.0.0.1/portal";
    let owner = "postgres://portal_owner:pw@127.0.0.1/portal";
    let config = Config::from_vars(&vars(&[("DATABASE_URL", app)])).expect("valid");
    assert_eq!(config.migration_url(), app);
    assert!(!config.allow_rls_bypass);
    let config = Config::from_vars(&vars(&[
        ("DATABASE_URL", app),
        ("DATABASE_MIGRATION_URL", owner),
    ]))
    .expect("valid");
    assert_eq!(config.migration_url(), owner);
    let printed = format!("{:?}", config.database_migration_url);
    assert!(
        printed.contains("REDACTED") && !printed.contains("pw"),
        "{printed}"
    );
    let sqlite = Config::from_vars(&vars(&[("DATABASE_MIGRATION_URL", owner)]));
    assert!(
        sqlite.is_err(),
        "a migration role makes no sense for SQLite"
    );
}

#[test]
fn notifications_default_to_the_mailbox_folder() {
    let config = Config::from_vars(&vars(&[("PORTAL_DATA_DIR", "/tmp/portal")]))
        .expect("defaults are valid");
    let notify = &config.notify;
    assert!(notify.smtp_url.is_none() && notify.sms.is_none() && notify.push.is_none());
    assert_eq!(notify.mailbox_dir, PathBuf::from("/tmp/portal/mailbox"));
    assert_eq!(notify.public_url, "http://127.0.0.1:8080");
    assert_eq!(
        (notify.max_attempts, notify.backoff),
        (5, Duration::from_secs(1))
    );
}

#[test]
fn notification_settings_are_validated_by_name() {
    for (name, value) in [
        ("SMTP_URL", "ftp://mail"),
        ("SMTP_FROM", "not an address"),
        ("SMS_PROVIDER_URL", "127.0.0.1:9000"),
        ("PUSH_PROVIDER_TOKEN", "token-without-url"),
        ("NOTIFY_MAX_ATTEMPTS", "0"),
        ("PORTAL_PUBLIC_URL", "portal.example"),
    ] {
        let error = Config::from_vars(&vars(&[(name, value)])).err();
        assert!(
            error.is_some_and(|e| e.to_string().contains(name)),
            "{name}={value} must be rejected by name"
        );
    }
    let config = Config::from_vars(&vars(&[
        ("SMTP_URL", "smtps://user:pw@127.0.0.1:465"),
        ("SMS_PROVIDER_URL", "http://127.0.0.1:9000/sms"),
        ("SMS_PROVIDER_TOKEN", "s3cret"),
    ]))
    .expect("valid notification settings");
    assert!(!crate::describe(&config).contains("s3cret"));
    assert!(!crate::describe(&config).contains("pw@"));
}

#[test]
fn public_url_defaults_to_loopback_and_must_be_http() {
    let config = Config::from_vars(&vars(&[])).expect("defaults are valid");
    assert_eq!(config.notify.public_url, "http://127.0.0.1:8080");
    let trimmed = Config::from_vars(&vars(&[("PORTAL_PUBLIC_URL", "https://portal.test/")]));
    assert_eq!(
        trimmed.map(|c| c.notify.public_url).ok().as_deref(),
        Some("https://portal.test")
    );
    assert!(Config::from_vars(&vars(&[("PORTAL_PUBLIC_URL", "portal.test")])).is_err());
}

#[test]
fn the_read_cache_is_on_by_default_with_a_bounded_ttl() {
    let config = Config::from_vars(&vars(&[])).expect("defaults are valid");
    assert!(config.cache_enabled);
    assert_eq!(config.cache_ttl, Duration::from_secs(60));
    for bad in ["29", "121", "0", "sixty"] {
        let error = Config::from_vars(&vars(&[("CACHE_TTL_SECS", bad)]))
            .err()
            .unwrap_or_else(|| panic!("CACHE_TTL_SECS={bad} must be refused"));
        assert!(error.to_string().contains("CACHE_TTL_SECS"), "{error}");
    }
    let config = Config::from_vars(&vars(&[
        ("CACHE_TTL_SECS", "120"),
        ("CACHE_ENABLED", "false"),
    ]))
    .expect("valid cache settings");
    assert!(!config.cache_enabled);
    assert_eq!(config.cache_ttl, Duration::from_secs(120));
    assert!(Config::from_vars(&vars(&[("CACHE_ENABLED", "maybe")])).is_err());
}

#[test]
fn redis_url_is_optional_validated_and_secret() {
    let config = Config::from_vars(&vars(&[])).expect("defaults are valid");
    assert!(config.redis_url.is_none());
    for bad in ["http://127.0.0.1:6379", "redis://[::1", "rediss://[::1"] {
        let error = Config::from_vars(&vars(&[("REDIS_URL", bad)])).err();
        assert!(
            error.is_some_and(|e| e.to_string().contains("REDIS_URL")),
            "{bad} must be rejected by name"
        );
    }
    Config::from_vars(&vars(&[("REDIS_URL", "rediss://redis.internal:6380/0")]))
        .expect("TLS is accepted");
    let config = Config::from_vars(&vars(&[("REDIS_URL", "redis://:s3cret@127.0.0.1:6379/0")]))
        .expect("valid Redis URL");
    let printed = format!("{:?}", config.redis_url);
    assert!(
        printed.contains("REDACTED") && !printed.contains("s3cret"),
        "{printed}"
    );
    assert!(!crate::describe(&config).contains("s3cret"));
}

#[test]
fn background_work_lease_and_jobs_have_defaults_and_are_validated() {
    let config = Config::from_vars(&vars(&[])).expect("defaults are valid");
    assert!(config.background && config.notify.worker);
    assert_eq!(config.notify.lease, Duration::from_secs(300));
    assert_eq!(config.notify.send_timeout, Duration::from_secs(10));
    assert_eq!(config.jobs.interval, Duration::from_secs(300));
    assert_eq!(config.worker_bind.to_string(), "127.0.0.1:8081");
    let short = Config::from_vars(&vars(&[
        ("PORTAL_BACKGROUND", "false"),
        ("NOTIFY_LEASE_SECS", "2"),
        ("NOTIFY_SEND_TIMEOUT_MS", "500"),
    ]))
    .expect("a short lease over a shorter send timeout");
    assert!(!short.background);
    let error = Config::from_vars(&vars(&[("NOTIFY_LEASE_SECS", "20")])).err();
    assert!(
        error.is_some_and(|e| e.to_string().contains("NOTIFY_LEASE_SECS")),
        "a lease shorter than three send timeouts must be refused"
    );
    assert_eq!(short.notify.concurrency, 16, "the default");
    for bad in ["0", "257"] {
        let error = Config::from_vars(&vars(&[("NOTIFY_CONCURRENCY", bad)])).err();
        assert!(
            error.is_some_and(|e| e.to_string().contains("NOTIFY_CONCURRENCY")),
            "NOTIFY_CONCURRENCY={bad} must be refused"
        );
    }
    let error = Config::from_vars(&vars(&[("PORTAL_IDEMPOTENCY_RETENTION_HOURS", "-1")])).err();
    assert!(error.is_some_and(|e| e.to_string().contains("PORTAL_IDEMPOTENCY_RETENTION_HOURS")));
}

#[test]
fn mllp_listens_on_2575_in_development_and_nowhere_unless_told_in_production() {
    let dev = Config::from_vars(&vars(&[])).expect("defaults are valid");
    assert_eq!(
        dev.mllp.listeners,
        vec![MllpListener {
            addr: "127.0.0.1:2575".parse().expect("addr"),
            tenant: None
        }]
    );
    assert_eq!(dev.mllp.run_in, MllpRunIn::Serve);
    assert_eq!(
        dev.jobs.retention.hl7_messages,
        Duration::from_secs(30 * 86400)
    );
    let off = Config::from_vars(&vars(&[("PORTAL_MLLP_BIND", "off")])).expect("off");
    assert!(off.mllp.listeners.is_empty());
    let empty = Config::from_vars(&vars(&[("PORTAL_MLLP_BIND", "")])).expect("unset");
    assert_eq!(
        empty.mllp.listeners.len(),
        1,
        "an empty value counts as unset"
    );
    let prod = [
        ("PORTAL_ENV", "production"),
        ("DATABASE_URL", "postgres://portal:pw@127.0.0.1/portal"),
        ("JWT_JWKS_URL", "http://127.0.0.1:9000/jwks"),
        ("JWT_ISSUER", "https://idp.example/realms/portal"),
        ("JWT_AUDIENCE", "portal"),
    ];
    let config = Config::from_vars(&vars(&prod)).expect("production");
    assert!(config.mllp.listeners.is_empty());
    let unbound = [&prod[..], &[("PORTAL_MLLP_BIND", "0.0.0.0:2575")]].concat();
    assert!(
        Config::from_vars(&vars(&unbound)).is_err(),
        "a listener needs a tenant"
    );
    let bound = [
        &prod[..],
        &[
            ("PORTAL_MLLP_BIND", "0.0.0.0:2575=riverside, 0.0.0.0:2576"),
            (
                "PORTAL_MLLP_SENDERS",
                "05D2101234=riverside,05D9999999=northside",
            ),
            ("PORTAL_MLLP_IN", "worker"),
            (
                "PORTAL_MLLP_ALLOW",
                "0.0.0.0:2575=10.1.2.0/24,0.0.0.0:2576=10.1.3.0/24",
            ),
        ],
    ]
    .concat();
    let config = Config::from_vars(&vars(&bound)).expect("bound listeners");
    assert_eq!(
        config.mllp.listeners[0].tenant.as_deref(),
        Some("riverside")
    );
    assert_eq!(config.mllp.senders.len(), 2);
    assert_eq!(config.mllp.run_in, MllpRunIn::Worker);
    for (name, value) in [
        ("PORTAL_MLLP_BIND", "nowhere"),
        ("PORTAL_MLLP_BIND", "127.0.0.1:2575,127.0.0.1:2575"),
        ("PORTAL_MLLP_SENDERS", "05D2101234"),
        ("PORTAL_MLLP_IN", "both"),
        ("PORTAL_HL7_RETENTION_DAYS", "0"),
    ] {
        let error = Config::from_vars(&vars(&[(name, value)])).err();
        assert!(
            error.is_some_and(|e| e.to_string().contains(name)),
            "{name}={value} must be refused by name"
        );
    }
}

#[test]
fn request_limits_and_persisted_queries_have_defaults_and_are_validated() {
    let config = Config::from_vars(&vars(&[])).expect("defaults are valid");
    assert_eq!(config.max_body_bytes, 1024 * 1024);
    let limits = &config.request_limits;
    assert_eq!(
        (
            limits.max_query_bytes,
            limits.max_tokens,
            limits.max_selections
        ),
        (32 * 1024, 5_000, 2_000)
    );
    assert_eq!((limits.max_aliases, limits.max_directives), (50, 5));
    assert_eq!(config.persisted_queries, PersistedQueries::Automatic);
    let config = Config::from_vars(&vars(&[
        ("PORTAL_MAX_ALIASES", "3"),
        ("PORTAL_PERSISTED_QUERIES", "registered"),
        ("PORTAL_OPERATIONS_MANIFEST", "/etc/portal/operations.json"),
    ]))
    .expect("valid");
    assert_eq!(config.request_limits.max_aliases, 3);
    assert_eq!(
        config.persisted_queries,
        PersistedQueries::Registered("/etc/portal/operations.json".into())
    );
    for (bad, name) in [
        (
            vec![("PORTAL_PERSISTED_QUERIES", "registered")],
            "PORTAL_OPERATIONS_MANIFEST",
        ),
        (
            vec![("PORTAL_PERSISTED_QUERIES", "sometimes")],
            "PORTAL_PERSISTED_QUERIES",
        ),
        (
            vec![
                ("PORTAL_MAX_QUERY_BYTES", "4096"),
                ("PORTAL_MAX_BODY_BYTES", "2048"),
            ],
            "PORTAL_MAX_QUERY_BYTES",
        ),
        (vec![("PORTAL_MAX_TOKENS", "0")], "PORTAL_MAX_TOKENS"),
    ] {
        let error = Config::from_vars(&vars(&bad)).err();
        assert!(
            error.is_some_and(|e| e.to_string().contains(name)),
            "{bad:?} must be refused naming {name}"
        );
    }
}

#[test]
fn bad_values_are_reported_by_name() {
    let error = Config::from_vars(&vars(&[("PORTAL_MAX_PAGE_SIZE", "lots")])).err();
    assert!(error.is_some_and(|e| e.to_string().contains("PORTAL_MAX_PAGE_SIZE")));
}
