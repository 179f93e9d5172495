//! Who may open an MLLP connection: a listener's allow-list of source networks, and TLS
//! (rustls, 1.2 and 1.3) with an optional client certificate from a configured CA, bound
//! by its subject alternative name to the sending facilities it may speak for.

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, SystemTime};

use ipnet::IpNet;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::server::WebPkiClientVerifier;
use rustls::{CertificateError, RootCertStore, ServerConfig};
use sha2::{Digest, Sha256};
use tokio_rustls::TlsAcceptor;

use crate::error::Hl7Error;

/// How one listener admits connections.
#[derive(Clone, Default)]
pub struct Door {
    /// Source networks that may connect; empty admits every source (the configuration
    /// allows that only on a loopback address or behind TLS).
    pub allow: Vec<IpNet>,
    /// TLS, when the listener serves MLLP over TLS.
    pub tls: Option<Arc<Tls>>,
}

impl Door {
    pub fn admits(&self, ip: IpAddr) -> bool {
        self.allow.is_empty() || self.allow.iter().any(|net| net.contains(&ip))
    }
}

/// Why a connection was refused; `label` is the metric and audit reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The source address is outside the listener's allow-list.
    NotAllowed,
    /// The listener serves its maximum number of connections.
    ConnectionLimit,
    /// The client sent no certificate where one is required.
    NoCertificate,
    /// The client certificate is not signed by the configured CA.
    UnknownCa,
    /// The client certificate is expired or not yet valid.
    CertificateExpired,
    /// Any other TLS failure (protocol, version, timeout).
    HandshakeFailed,
    /// A valid certificate whose names are bound to no sender.
    UnboundCertificate,
}

impl Refusal {
    pub fn label(self) -> &'static str {
        match self {
            Self::NotAllowed => "not_allowed",
            Self::ConnectionLimit => "connection_limit",
            Self::NoCertificate => "no_certificate",
            Self::UnknownCa => "unknown_ca",
            Self::CertificateExpired => "certificate_expired",
            Self::HandshakeFailed => "handshake_failed",
            Self::UnboundCertificate => "unbound_certificate",
        }
    }

    /// Whether the refusal is a failed TLS handshake.
    pub fn is_handshake(self) -> bool {
        matches!(
            self,
            Self::NoCertificate
                | Self::UnknownCa
                | Self::CertificateExpired
                | Self::HandshakeFailed
        )
    }

    /// The refusal a failed handshake earns, from rustls's error.
    pub fn of_handshake(error: &std::io::Error) -> Self {
        let tls = error
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<rustls::Error>());
        match tls {
            Some(rustls::Error::NoCertificatesPresented) => Self::NoCertificate,
            Some(rustls::Error::InvalidCertificate(
                CertificateError::UnknownIssuer | CertificateError::BadSignature,
            )) => Self::UnknownCa,
            Some(rustls::Error::InvalidCertificate(
                CertificateError::Expired
                | CertificateError::ExpiredContext { .. }
                | CertificateError::NotValidYet
                | CertificateError::NotValidYetContext { .. },
            )) => Self::CertificateExpired,
            _ => Self::HandshakeFailed,
        }
    }
}

/// The sender a client certificate identifies: the bound names it carries, its SHA-256
/// fingerprint, and the sending facilities (MSH-4 identifiers) it may speak for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientIdentity {
    pub names: Vec<String>,
    pub fingerprint: String,
    pub facilities: Vec<String>,
}

impl ClientIdentity {
    /// Whether a message from this facility (MSH-4 identifier) may come over this
    /// certificate.
    pub fn speaks_for(&self, facility: Option<&str>) -> bool {
        facility.is_some_and(|f| self.facilities.iter().any(|bound| bound == f))
    }
}

/// One accepted or refused connection, as told to the handler (audit, metrics).
#[derive(Debug, Clone)]
pub struct ConnectionEvent {
    pub peer: SocketAddr,
    pub identity: Option<Arc<ClientIdentity>>,
    /// `None` when the connection was accepted.
    pub refused: Option<Refusal>,
}

/// A client certificate name (a DNS or IP subject alternative name) and the sending
/// facilities it is bound to; a renewed certificate with the same name needs no change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SenderBinding {
    pub name: String,
    pub facilities: Vec<String>,
}

/// Where the listener's certificate, key and client CA are read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
    /// When set, a client certificate signed by this CA is required.
    pub client_ca: Option<PathBuf>,
}

/// The TLS side of a listener: the current server configuration (swapped on reload; open
/// connections keep the one they started with) and the sender bindings.
pub struct Tls {
    files: TlsFiles,
    senders: Vec<SenderBinding>,
    current: RwLock<Loaded>,
}

struct Loaded {
    config: Arc<ServerConfig>,
    stamps: Vec<Option<SystemTime>>,
}

impl Tls {
    /// Reads the files; fails with the reason when one is missing or unusable.
    pub fn load(files: TlsFiles, senders: Vec<SenderBinding>) -> Result<Self, Hl7Error> {
        let loaded = load(&files)?;
        Ok(Self {
            files,
            senders,
            current: RwLock::new(loaded),
        })
    }

    pub fn acceptor(&self) -> TlsAcceptor {
        let current = self.current.read().unwrap_or_else(PoisonError::into_inner);
        TlsAcceptor::from(current.config.clone())
    }

    /// Reads the files again; on any error the current certificate stays and the error
    /// says why.
    pub fn reload(&self) -> Result<(), Hl7Error> {
        let loaded = load(&self.files)?;
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = loaded;
        Ok(())
    }

    /// Reloads when a file's modification time changed since the last load.
    pub fn reload_if_changed(&self) -> Result<bool, Hl7Error> {
        let changed = {
            let current = self.current.read().unwrap_or_else(PoisonError::into_inner);
            current.stamps != stamps(&self.files)
        };
        if changed {
            self.reload()?;
        }
        Ok(changed)
    }

    /// Reloads on SIGHUP and, every `every` (zero: never), when a file changed, until
    /// `stop` resolves. A failed reload is logged and the current certificate kept.
    pub async fn watch(self: Arc<Self>, every: Duration, stop: impl Future<Output = ()>) {
        let mut hangup =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
        let mut poll = tokio::time::interval(every.max(Duration::from_millis(100)));
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tokio::pin!(stop);
        loop {
            let hangup_signal = async {
                match hangup.as_mut() {
                    Some(signal) => signal.recv().await,
                    None => std::future::pending().await,
                }
            };
            let forced = tokio::select! {
                () = &mut stop => return,
                _ = hangup_signal => true,
                _ = poll.tick(), if !every.is_zero() => false,
            };
            let outcome = if forced {
                self.reload().map(|()| true)
            } else {
                self.reload_if_changed()
            };
            match outcome {
                Ok(true) => {
                    tracing::info!(cert = %self.files.cert.display(), "mllp.tls certificate reloaded")
                }
                Ok(false) => {}
                Err(error) => {
                    tracing::warn!(%error, "mllp.tls reload failed: the current certificate stays")
                }
            }
        }
    }

    /// The identity of a verified client certificate, or why it cannot send; `None` when
    /// the client sent none (allowed only when no client CA is configured).
    pub fn identify(
        &self,
        chain: Option<&[CertificateDer<'_>]>,
    ) -> Result<Option<ClientIdentity>, Refusal> {
        let Some(leaf) = chain.and_then(<[_]>::first) else {
            return match self.files.client_ca {
                Some(_) => Err(Refusal::NoCertificate),
                None => Ok(None),
            };
        };
        let cert = webpki::EndEntityCert::try_from(leaf).map_err(|_| Refusal::HandshakeFailed)?;
        let bound: Vec<&SenderBinding> = self
            .senders
            .iter()
            .filter(|binding| {
                ServerName::try_from(binding.name.as_str())
                    .is_ok_and(|name| cert.verify_is_valid_for_subject_name(&name).is_ok())
            })
            .collect();
        if bound.is_empty() {
            return Err(Refusal::UnboundCertificate);
        }
        let mut facilities: Vec<String> = bound
            .iter()
            .flat_map(|b| b.facilities.iter().cloned())
            .collect();
        facilities.sort();
        facilities.dedup();
        Ok(Some(ClientIdentity {
            names: bound.iter().map(|b| b.name.clone()).collect(),
            fingerprint: fingerprint(leaf),
            facilities,
        }))
    }
}

/// SHA-256 of the certificate's DER, in hex (what `openssl x509 -fingerprint -sha256`
/// prints, without the colons).
pub fn fingerprint(cert: &CertificateDer<'_>) -> String {
    Sha256::digest(cert.as_ref())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn stamps(files: &TlsFiles) -> Vec<Option<SystemTime>> {
    [
        Some(&files.cert),
        Some(&files.key),
        files.client_ca.as_ref(),
    ]
    .into_iter()
    .flatten()
    .map(|path| std::fs::metadata(path).and_then(|m| m.modified()).ok())
    .collect()
}

fn load(files: &TlsFiles) -> Result<Loaded, Hl7Error> {
    let stamps = stamps(files);
    let bad = |what: &str, path: &PathBuf, why: String| {
        Hl7Error::Tls(format!("{what} {}: {why}", path.display()))
    };
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&files.cert)
        .and_then(|certs| certs.collect::<Result<_, _>>())
        .map_err(|e| bad("certificate", &files.cert, e.to_string()))?;
    if chain.is_empty() {
        return Err(bad(
            "certificate",
            &files.cert,
            "no certificate in the file".into(),
        ));
    }
    let key = PrivateKeyDer::from_pem_file(&files.key)
        .map_err(|e| bad("key", &files.key, e.to_string()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| Hl7Error::Tls(e.to_string()))?;
    let builder = match &files.client_ca {
        None => builder.with_no_client_auth(),
        Some(path) => {
            let mut roots = RootCertStore::empty();
            for cert in CertificateDer::pem_file_iter(path)
                .map_err(|e| bad("client CA", path, e.to_string()))?
            {
                let cert = cert.map_err(|e| bad("client CA", path, e.to_string()))?;
                roots
                    .add(cert)
                    .map_err(|e| bad("client CA", path, e.to_string()))?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e| bad("client CA", path, e.to_string()))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let config = builder
        .with_single_cert(chain, key)
        .map_err(|e| bad("certificate and key", &files.cert, e.to_string()))?;
    Ok(Loaded {
        config: Arc::new(config),
        stamps,
    })
}
