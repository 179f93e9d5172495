//! Who may connect to the MLLP listeners: TLS listeners with their certificate, client CA
//! and sender bindings, and an allow-list of source networks per listen address. Read
//! from these variables (docs/hl7.md, "Connecting an LIS over TLS"):
//!
//! | variable | type | default | help |
//! |---|---|---|---|
//! | `PORTAL_MLLP_TLS_BIND` | `addr[=tenant],...` | none | listen addresses served over TLS |
//! | `PORTAL_MLLP_TLS_CERT` | path | none (required with TLS) | PEM certificate chain |
//! | `PORTAL_MLLP_TLS_KEY` | path | none (required with TLS) | PEM private key (the file is the secret) |
//! | `PORTAL_MLLP_TLS_CLIENT_CA` | path | none | PEM CA; when set a client certificate is required |
//! | `PORTAL_MLLP_TLS_SENDERS` | `name=id+id,...` | none | client certificate SAN → sending facility identifiers (CLIA) |
//! | `PORTAL_MLLP_TLS_RELOAD_SECS` | seconds | 30 | how often the files are checked for a change (0: SIGHUP only) |
//! | `PORTAL_MLLP_ALLOW` | `addr=cidr+cidr,...` | none | source networks allowed per listen address |

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use ipnet::IpNet;
use portal_hl7::{SenderBinding, TlsFiles};

use super::{ConfigError, MllpListener, Vars, err};

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

    /// Reads the variables; `plain` are the plain listeners (`PORTAL_MLLP_BIND`). In
    /// production a plain listener on an address other than loopback needs an allow-list.
    pub fn from_vars(
        vars: &impl Vars,
        plain: &[MllpListener],
        dev: bool,
    ) -> Result<Self, ConfigError> {
        let listeners = listeners(vars.get("PORTAL_MLLP_TLS_BIND"))?;
        let path = |name: &str| vars.get(name).map(PathBuf::from);
        let files = match (path("PORTAL_MLLP_TLS_CERT"), path("PORTAL_MLLP_TLS_KEY")) {
            (Some(cert), Some(key)) => Some(TlsFiles {
                cert,
                key,
                client_ca: path("PORTAL_MLLP_TLS_CLIENT_CA"),
            }),
            (None, None) => None,
            _ => {
                return Err(err(
                    "PORTAL_MLLP_TLS_CERT and PORTAL_MLLP_TLS_KEY are set together",
                ));
            }
        };
        if !listeners.is_empty() && files.is_none() {
            return Err(err(
                "PORTAL_MLLP_TLS_BIND needs PORTAL_MLLP_TLS_CERT and PORTAL_MLLP_TLS_KEY",
            ));
        }
        let senders = senders(vars.get("PORTAL_MLLP_TLS_SENDERS"))?;
        if files.as_ref().is_some_and(|f| f.client_ca.is_some()) && senders.is_empty() {
            return Err(err(
                "PORTAL_MLLP_TLS_CLIENT_CA needs PORTAL_MLLP_TLS_SENDERS (certificate name=facility identifiers)",
            ));
        }
        let reload_secs = vars
            .get("PORTAL_MLLP_TLS_RELOAD_SECS")
            .map_or(Ok(30), |v| v.trim().parse::<u64>())
            .map_err(|_| err("PORTAL_MLLP_TLS_RELOAD_SECS must be a whole number of seconds"))?;
        let allow = allow(vars.get("PORTAL_MLLP_ALLOW"))?;
        let listened = |addr: &SocketAddr| plain.iter().chain(&listeners).any(|l| l.addr == *addr);
        if let Some((addr, _)) = allow.iter().find(|(addr, _)| !listened(addr)) {
            return Err(err(format!(
                "PORTAL_MLLP_ALLOW names {addr}, which no MLLP listener binds"
            )));
        }
        if let Some(open) = plain.iter().find(|l| {
            !dev && !l.addr.ip().is_loopback() && !allow.iter().any(|(a, _)| *a == l.addr)
        }) {
            return Err(err(format!(
                "PORTAL_MLLP_BIND {}: a plain (non-TLS) listener on a non-loopback address needs an allow-list of source networks in PORTAL_MLLP_ALLOW ({}=10.1.2.0/24), or use PORTAL_MLLP_TLS_BIND",
                open.addr, open.addr
            )));
        }
        Ok(Self {
            listeners,
            files,
            senders,
            reload_every: Duration::from_secs(reload_secs),
            allow,
        })
    }
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
                "PORTAL_MLLP_TLS_BIND: {addr:?} is not an address (host:port[=tenant])"
            ))
        })?;
        if listeners.iter().any(|l| l.addr == addr) {
            return Err(err(format!("PORTAL_MLLP_TLS_BIND lists {addr} twice")));
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
                    err("PORTAL_MLLP_TLS_SENDERS entries are name=identifier+identifier")
                })?;
            let facilities: Vec<String> = ids
                .split('+')
                .map(str::trim)
                .filter(|id| !id.is_empty())
                .map(str::to_owned)
                .collect();
            if facilities.is_empty() {
                return Err(err(format!(
                    "PORTAL_MLLP_TLS_SENDERS: {name} is bound to no facility"
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
            let bad = || {
                err(format!(
                    "PORTAL_MLLP_ALLOW: {entry:?} is not addr=cidr+cidr"
                ))
            };
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
        MllpTlsConfig::from_vars(&Map(pairs.iter().copied().collect()), &plain, dev)
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
