//! `PORTAL_MLLP_*` and `PORTAL_HL7_RETENTION_DAYS`: the HL7 v2 inbound interface over MLLP
//! (docs/hl7.md); who may connect (TLS, allow-lists) is read in `mllp_tls`.

use std::net::SocketAddr;
use std::time::Duration;

use super::mllp_tls::{self, MllpTlsConfig};
use super::var::{Reader, Var, kind, section};
use super::{ConfigError, err};

section! {
    title: "HL7 v2 over MLLP",
    intro: "The HL7 v2 inbound interface (docs/hl7.md): where it listens, which tenant each connection or sending facility belongs to, which command runs it, how long raw messages are kept.",
    BIND = Var::new("PORTAL_MLLP_BIND", kind::LIST,
        "Comma-separated listen addresses, each optionally bound to a tenant by slug: `0.0.0.0:2575=riverside,0.0.0.0:2576=northside`. `off` listens nowhere; an empty value counts as unset. An address without a tenant routes by `PORTAL_MLLP_SENDERS`, or serves the demo tenant in development; production needs one or the other.")
        .by_environment(Some("127.0.0.1:2575"), Some("off"));
    SENDERS = Var::new("PORTAL_MLLP_SENDERS", kind::LIST,
        "For addresses without a tenant, the tenant of each sending facility by any of its identifiers in MSH-4: the universal id (HD.2: a CLIA number, an OID, a DNS name) or the namespace id (HD.1): `05D2101234=riverside,2.16.840.1.113883.3.999=northside,EASTLAB=east`; a facility not listed is answered AR.");
    RUN_IN = Var::new("PORTAL_MLLP_IN", kind::ONE_OF,
        "Which command runs the listeners: with API replicas and a `portal worker`, set `worker` everywhere so only the worker binds the port.")
        .default("serve")
        .choices(&["serve", "worker"]);
    TLS_BIND = Var::new("PORTAL_MLLP_TLS_BIND", kind::LIST,
        "Listen addresses served as MLLP over TLS (TLS 1.2+), each optionally bound to a tenant by slug, as in `PORTAL_MLLP_BIND`: `0.0.0.0:2576=riverside`. Needs `PORTAL_MLLP_TLS_CERT` and `PORTAL_MLLP_TLS_KEY`.");
    TLS_CERT = Var::new("PORTAL_MLLP_TLS_CERT", kind::PATH,
        "The TLS listeners' certificate chain (PEM). Reloaded when the file changes or on SIGHUP; a bad file keeps the old certificate and logs why.");
    TLS_KEY = Var::new("PORTAL_MLLP_TLS_KEY", kind::PATH,
        "The TLS listeners' private key (PEM), set together with `PORTAL_MLLP_TLS_CERT`. The file is the secret: keep it readable by the portal only.");
    TLS_CLIENT_CA = Var::new("PORTAL_MLLP_TLS_CLIENT_CA", kind::PATH,
        "A CA bundle (PEM): when set, every TLS connection must present a client certificate it issued, bound to facilities by `PORTAL_MLLP_TLS_SENDERS`.");
    TLS_SENDERS = Var::new("PORTAL_MLLP_TLS_SENDERS", kind::LIST,
        "Client certificates bound to sending facilities: `name=CLIA+CLIA,...`, the name a DNS or IP SAN of the certificate: `lis.riverside.example=05D2101234+05D2109999`. A message whose MSH-4 is not a facility bound to the presenting certificate is answered AR, not stored, and audited as denied. Required with `PORTAL_MLLP_TLS_CLIENT_CA`.");
    TLS_RELOAD = Var::new("PORTAL_MLLP_TLS_RELOAD_SECS", kind::SECONDS,
        "How often the certificate, key and CA files are checked for a change; 0: on SIGHUP only.")
        .default("30");
    ALLOW = Var::new("PORTAL_MLLP_ALLOW", kind::LIST,
        "Source networks allowed per listen address (plain or TLS): `0.0.0.0:2575=10.1.2.0/24+10.1.3.7/32`. A peer outside is closed and counted; an address without an entry admits any source. In production a plain listener on a non-loopback address needs one.");
    RETENTION = Var::new("PORTAL_HL7_RETENTION_DAYS", kind::DAYS,
        "Received messages (raw, they hold PHI) are deleted this many days after they arrived, by the scheduled jobs; replay the dead letter within this time. Results they stored stay.")
        .default("30")
        .range(1, 3650);
}

/// The HL7 v2 inbound interface over MLLP (docs/hl7.md).
#[derive(Debug, Clone)]
pub struct MllpConfig {
    /// Where to listen, each address optionally bound to a tenant slug; empty: nowhere.
    pub listeners: Vec<MllpListener>,
    /// For listeners without a tenant, the tenant of each sending facility by an identifier
    /// (MSH-4 universal id or namespace id).
    pub senders: Vec<(String, String)>,
    /// Which command runs the listeners (never both, so a port is never bound twice).
    pub run_in: MllpRunIn,
    /// TLS listeners, client certificates and allow-lists.
    pub tls: MllpTlsConfig,
}

/// One MLLP listen address and the tenant slug it serves (none: by sending facility).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MllpListener {
    pub addr: SocketAddr,
    pub tenant: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MllpRunIn {
    Serve,
    Worker,
}

pub(super) fn read(r: &Reader) -> Result<MllpConfig, ConfigError> {
    let listeners = listeners(r)?;
    let senders = senders(r)?;
    if !r.development && senders.is_empty() && listeners.iter().any(|l| l.tenant.is_none()) {
        return Err(err(format!(
            "{}: in production bind each address to a tenant (addr=tenant) or set {}",
            BIND.name, SENDERS.name
        )));
    }
    let run_in = match r.choice(&RUN_IN)? {
        "worker" => MllpRunIn::Worker,
        _ => MllpRunIn::Serve,
    };
    Ok(MllpConfig {
        tls: mllp_tls::read(r, &listeners)?,
        listeners,
        senders,
        run_in,
    })
}

/// How long received messages are kept (applied by the scheduled jobs).
pub(super) fn retention(r: &Reader) -> Result<Duration, ConfigError> {
    let days: u64 = r.number(&RETENTION)?;
    Ok(Duration::from_secs(days * 24 * 3600))
}

fn listeners(r: &Reader) -> Result<Vec<MllpListener>, ConfigError> {
    let bind = r.text(&BIND).unwrap_or_default();
    let mut listeners: Vec<MllpListener> = Vec::new();
    if bind.trim() == "off" {
        return Ok(listeners);
    }
    for entry in bind.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let (addr, tenant) = match entry.split_once('=') {
            Some((addr, tenant)) => (addr.trim(), Some(tenant.trim().to_owned())),
            None => (entry, None),
        };
        let addr: SocketAddr = addr.parse().map_err(|_| {
            err(format!(
                "{}: {addr:?} is not an address (host:port[=tenant])",
                BIND.name
            ))
        })?;
        if listeners.iter().any(|l| l.addr == addr) {
            return Err(err(format!("{} lists {addr} twice", BIND.name)));
        }
        listeners.push(MllpListener { addr, tenant });
    }
    Ok(listeners)
}

fn senders(r: &Reader) -> Result<Vec<(String, String)>, ConfigError> {
    let mut senders = Vec::new();
    for entry in r.text(&SENDERS).unwrap_or_default().split(',') {
        let entry = entry.trim();
        if entry.is_empty() {
            continue;
        }
        let (clia, tenant) = entry
            .split_once('=')
            .map(|(c, t)| (c.trim(), t.trim()))
            .filter(|(c, t)| !c.is_empty() && !t.is_empty())
            .ok_or_else(|| err(format!("{} entries are identifier=tenant", SENDERS.name)))?;
        senders.push((clia.to_owned(), tenant.to_owned()));
    }
    Ok(senders)
}
