//! Who may connect to the MLLP listeners: TLS listeners with their certificate, client CA
//! and sender bindings, and an allow-list of source networks per listen address (the
//! variables are declared in `hl7.rs`; docs/hl7.md, "Connecting an LIS over TLS").

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use ipnet::IpNet;
use portal_hl7::{SenderBinding, TlsFiles};

use super::hl7::{
    ALLOW, BIND, MllpListener, TLS_BIND, TLS_CERT, TLS_CLIENT_CA, TLS_KEY, TLS_RELOAD, TLS_SENDERS,
};
use super::var::Reader;
use super::{ConfigError, err};

/// TLS listeners and allow-lists of the MLLP interface.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MllpTlsConfig {
    /// Listeners served over TLS (each bound to a tenant or routed by facility like the
    /// plain ones).
    pub listeners: Vec<MllpListener>,
    pub files: Option<TlsFiles>,
    pub senders: Vec<SenderBinding>,
    pub reload_every: Duration,
    /// Source networks per listen address; an address without an entry admits any source.
    pub allow: Vec<(SocketAddr, Vec<IpNet>)>,
}

impl MllpTlsConfig {
    /// The allow-list of one listen address (empty: any source).
    pub fn allow_for(&self, addr: SocketAddr) -> Vec<IpNet> {
        self.allow
            .iter()
            .find(|(a, _)| *a == addr)
            .map(|(_, nets)| nets.clone())
            .unwrap_or_default()
    }
}

/// Reads the variables; `plain` are the plain listeners (`PORTAL_MLLP_BIND`). In
/// production a plain listener on an address other than loopback needs an allow-list.
pub(super) fn read(r: &Reader, plain: &[MllpListener]) -> Result<MllpTlsConfig, ConfigError> {
    let listeners = listeners(r.text(&TLS_BIND))?;
    let path = |var| r.text(var).map(PathBuf::from);
    let files = match (path(&TLS_CERT), path(&TLS_KEY)) {
        (Some(cert), Some(key)) => Some(TlsFiles {
            cert,
            key,
            client_ca: path(&TLS_CLIENT_CA),
        }),
        (None, None) => None,
        _ => {
            return Err(err(format!(
                "{} and {} are set together",
                TLS_CERT.name, TLS_KEY.name
            )));
        }
    };
    if !listeners.is_empty() && files.is_none() {
        return Err(err(format!(
            "{} needs {} and {}",
            TLS_BIND.name, TLS_CERT.name, TLS_KEY.name
        )));
    }
    let senders = senders(r.text(&TLS_SENDERS))?;
    if files.as_ref().is_some_and(|f| f.client_ca.is_some()) && senders.is_empty() {
        return Err(err(format!(
            "{} needs {} (certificate name=facility identifiers)",
            TLS_CLIENT_CA.name, TLS_SENDERS.name
        )));
    }
    let reload_every = r.seconds(&TLS_RELOAD)?;
    let allow = allow(r.text(&ALLOW))?;
    let listened = |addr: &SocketAddr| plain.iter().chain(&listeners).any(|l| l.addr == *addr);
    if let Some((addr, _)) = allow.iter().find(|(addr, _)| !listened(addr)) {
        return Err(err(format!(
            "{} names {addr}, which no MLLP listener binds",
            ALLOW.name
        )));
    }
    if let Some(open) = plain.iter().find(|l| {
        !r.development && !l.addr.ip().is_loopback() && !allow.iter().any(|(a, _)| *a == l.addr)
    }) {
        return Err(err(format!(
            "{} {}: a plain (non-TLS) listener on a non-loopback address needs an allow-list of source networks in {} ({}=10.1.2.0/24), or use {}",
            BIND.name, open.addr, ALLOW.name, open.addr, TLS_BIND.name
        )));
    }
    Ok(MllpTlsConfig {
        listeners,
        files,
        senders,
        reload_every,
        allow,
    })
}

fn listeners(value: Option<String>) -> Result<Vec<MllpListener>, ConfigError> {
    let mut listeners: Vec<MllpListener> = Vec::new();
    for entry in entries(value) {
        let (addr, tenant) = match entry.split_once('=') {
            Some((addr, tenant)) => (addr.trim(), Some(tenant.trim().to_owned())),
            None => (entry.as_str(), None),
        };
        let addr: SocketAddr = addr.parse().map_err(|_| {
            err(format!(
                "{}: {addr:?} is not an address (host:port[=tenant])",
                TLS_BIND.name
            ))
        })?;
        if listeners.iter().any(|l| l.addr == addr) {
            return Err(err(format!("{} lists {addr} twice", TLS_BIND.name)));
        }
        listeners.push(MllpListener { addr, tenant });
    }
    Ok(listeners)
}

fn senders(value: Option<String>) -> Result<Vec<SenderBinding>, ConfigError> {
    entries(value)
        .map(|entry| {
            let (name, ids) = entry
                .split_once('=')
                .map(|(n, ids)| (n.trim(), ids))
                .filter(|(n, _)| !n.is_empty())
                .ok_or_else(|| {
                    err(format!(
                        "{} entries are name=identifier+identifier",
                        TLS_SENDERS.name
                    ))
                })?;
            let facilities: Vec<String> = ids
                .split('+')
                .map(str::trim)
                .filter(|id| !id.is_empty())
                .map(str::to_owned)
                .collect();
            if facilities.is_empty() {
                return Err(err(format!(
                    "{}: {name} is bound to no facility",
                    TLS_SENDERS.name
                )));
            }
            Ok(SenderBinding {
                name: name.to_owned(),
                facilities,
            })
        })
        .collect()
}

fn allow(value: Option<String>) -> Result<Vec<(SocketAddr, Vec<IpNet>)>, ConfigError> {
    entries(value)
        .map(|entry| {
            let bad = || err(format!("{}: {entry:?} is not addr=cidr+cidr", ALLOW.name));
            let (addr, nets) = entry.split_once('=').ok_or_else(bad)?;
            let addr: SocketAddr = addr.trim().parse().map_err(|_| bad())?;
            let nets = nets
                .split('+')
                .map(|n| n.trim().parse::<IpNet>().map_err(|_| bad()))
                .collect::<Result<Vec<_>, _>>()?;
            Ok((addr, nets))
        })
        .collect()
}

fn entries(value: Option<String>) -> impl Iterator<Item = String> {
    value
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .map(str::to_owned)
        .collect::<Vec<_>>()
        .into_iter()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Vars;
    use std::collections::HashMap;

    struct Map(HashMap<&'static str, &'static str>);

    impl Vars for Map {
        fn get(&self, name: &str) -> Option<String> {
            self.0.get(name).map(|v| (*v).to_owned())
        }
    }

    fn read(
        pairs: &[(&'static str, &'static str)],
        plain: &[&str],
        dev: bool,
    ) -> Result<MllpTlsConfig, ConfigError> {
        let plain: Vec<MllpListener> = plain
            .iter()
            .map(|a| MllpListener {
                addr: a.parse().expect("addr"),
                tenant: Some("riverside".into()),
            })
            .collect();
        super::read(
            &Reader::new(&Map(pairs.iter().copied().collect()), dev),
            &plain,
        )
    }

    #[test]
    fn a_plain_listener_on_all_addresses_without_an_allow_list_refuses_to_start_in_production() {
        let refused = read(&[], &["0.0.0.0:2575"], false).expect_err("refused");
        assert!(refused.0.contains("PORTAL_MLLP_ALLOW"), "{}", refused.0);
        assert!(read(&[], &["127.0.0.1:2575"], false).is_ok());
        assert!(
            read(&[], &["0.0.0.0:2575"], true).is_ok(),
            "development may"
        );
        let allowed = read(
            &[(
                "PORTAL_MLLP_ALLOW",
                "0.0.0.0:2575=10.1.2.0/24+192.168.7.9/32",
            )],
            &["0.0.0.0:2575"],
            false,
        )
        .expect("allowed");
        let nets = allowed.allow_for("0.0.0.0:2575".parse().expect("addr"));
        assert_eq!(nets.len(), 2);
        assert!(nets[0].contains(&"10.1.2.200".parse::<std::net::IpAddr>().expect("ip")));
    }

    #[test]
    fn tls_needs_its_files_and_a_client_ca_needs_sender_bindings() {
        assert!(read(&[("PORTAL_MLLP_TLS_BIND", "0.0.0.0:2576")], &[], false).is_err());
        let ca_without_senders = [
            ("PORTAL_MLLP_TLS_BIND", "0.0.0.0:2576"),
            ("PORTAL_MLLP_TLS_CERT", "/etc/portal/mllp.crt"),
            ("PORTAL_MLLP_TLS_KEY", "/etc/portal/mllp.key"),
            ("PORTAL_MLLP_TLS_CLIENT_CA", "/etc/portal/lis-ca.crt"),
        ];
        assert!(read(&ca_without_senders, &[], false).is_err());
        let mut full = ca_without_senders.to_vec();
        full.push((
            "PORTAL_MLLP_TLS_SENDERS",
            "lis.riverside.example=05D2101234+05D2109999, engine.example=11D0000001",
        ));
        let config = read(&full, &[], false).expect("valid");
        assert_eq!(config.senders[0].facilities, ["05D2101234", "05D2109999"]);
        assert_eq!(config.senders[1].name, "engine.example");
        assert_eq!(config.reload_every, Duration::from_secs(30));
    }

    #[test]
    fn an_allow_list_for_an_address_nobody_binds_is_a_mistake() {
        assert!(
            read(
                &[("PORTAL_MLLP_ALLOW", "127.0.0.1:9999=10.0.0.0/8")],
                &["127.0.0.1:2575"],
                false
            )
            .is_err()
        );
        assert!(
            read(
                &[("PORTAL_MLLP_ALLOW", "127.0.0.1:2575=not-a-net")],
                &["127.0.0.1:2575"],
                false
            )
            .is_err()
        );
    }
}
