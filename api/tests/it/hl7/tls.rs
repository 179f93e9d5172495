//! MLLP over TLS on the real `portal` binary, with a CA, server and client certificates
//! made now by `openssl`: the bound client is accepted; no certificate, an unknown CA, an
//! expired certificate are refused at the handshake; a certificate bound to another
//! facility gets AR for the first facility's messages, which are not stored and leave a
//! denied audit row; the server certificate is reloaded on SIGHUP while a connection stays
//! open. A plain listener's allow-list closes and counts a peer outside it.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, RootCertStore};
use sea_orm::{ConnectionTrait, Database, Statement};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use crate::hl7::e2e::free_port;
use crate::hl7::rig::edited;
use crate::support::binary::{Server, portal, start_with};

const CERTS: &str = r#"
set -e
key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1.key" 2>/dev/null; }
ca() { key "$1"; openssl req -x509 -new -key "$1.key" -days 2 -subj "/CN=$1" -out "$1.crt"; }
csr() { key "$1"; openssl req -new -key "$1.key" -subj "/CN=$1" -out "$1.csr"; printf 'subjectAltName=%s\n' "$2" > "$1.ext"; }
signed() { csr "$1" "$3"; openssl x509 -req -in "$1.csr" -CA "$2.crt" -CAkey "$2.key" -CAcreateserial -days 2 -extfile "$1.ext" -out "$1.crt" 2>/dev/null; }
ca ca; ca rogue
signed server ca "IP:127.0.0.1,DNS:localhost"
signed renewed ca "IP:127.0.0.1,DNS:localhost"
signed lis ca "DNS:lis.riverside.example"
signed other ca "DNS:engine.other.example"
signed impostor rogue "DNS:lis.riverside.example"
csr expired "DNS:lis.riverside.example"
printf '[ca]\ndefault_ca=t\n[t]\ndatabase=index.txt\nnew_certs_dir=.\nserial=serial\ndefault_md=sha256\npolicy=p\nunique_subject=no\n[p]\ncommonName=supplied\n' > ca.cnf
: > index.txt; echo 01 > serial
openssl ca -batch -config ca.cnf -cert ca.crt -keyfile ca.key -startdate 20200101000000Z -enddate 20200201000000Z -extfile expired.ext -notext -in expired.csr -out expired.crt 2>/dev/null
cp server.crt mllp.crt; cp server.key mllp.key
"#;

fn make_certificates(dir: &Path) {
    let out = std::process::Command::new("sh")
        .args(["-c", CERTS])
        .current_dir(dir)
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "openssl: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn connector(dir: &Path, client: Option<&str>) -> TlsConnector {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(dir.join("ca.crt")).expect("ca") {
        roots.add(cert.expect("ca cert")).expect("root");
    }
    let builder =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_root_certificates(roots);
    let config = match client {
        None => builder.with_no_client_auth(),
        Some(name) => {
            let chain = CertificateDer::pem_file_iter(dir.join(format!("{name}.crt")))
                .expect("chain")
                .collect::<Result<Vec<_>, _>>()
                .expect("certs");
            let key = PrivateKeyDer::from_pem_file(dir.join(format!("{name}.key"))).expect("key");
            builder
                .with_client_auth_cert(chain, key)
                .expect("client cert")
        }
    };
    TlsConnector::from(Arc::new(config))
}

async fn connect(
    dir: &Path,
    port: u16,
    client: Option<&str>,
) -> std::io::Result<TlsStream<TcpStream>> {
    let tcp = TcpStream::connect(("127.0.0.1", port)).await?;
    let name = ServerName::try_from("127.0.0.1").expect("name").to_owned();
    connector(dir, client).connect(name, tcp).await
}

/// Sends one framed message; MSA-1 and the ACK, or `None` when the server closed or
/// failed the connection instead of answering.
async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    message: &[u8],
) -> Option<(String, String)> {
    let mut frame = vec![0x0B];
    frame.extend_from_slice(message);
    frame.extend_from_slice(&[0x1C, 0x0D]);
    stream.write_all(&frame).await.ok()?;
    stream.flush().await.ok()?;
    let mut ack = Vec::new();
    let mut chunk = [0u8; 4096];
    while !ack.ends_with(&[0x1C, 0x0D]) {
        let n = tokio::time::timeout(Duration::from_secs(30), stream.read(&mut chunk))
            .await
            .expect("an answer or a close in time")
            .ok()?;
        if n == 0 {
            return None;
        }
        ack.extend_from_slice(&chunk[..n]);
    }
    let text = String::from_utf8_lossy(&ack[1..ack.len() - 2]).into_owned();
    let code = text
        .split('\r')
        .find_map(|s| s.strip_prefix("MSA|"))
        .and_then(|msa| msa.split('|').next())
        .unwrap_or_default()
        .to_owned();
    Some((code, text))
}

/// Whether a client with this certificate gets any answer.
async fn answered(dir: &Path, port: u16, client: Option<&str>, message: &[u8]) -> bool {
    match connect(dir, port, client).await {
        Ok(mut stream) => exchange(&mut stream, message).await.is_some(),
        Err(_) => false,
    }
}

fn cbc(control_id: &str) -> Vec<u8> {
    let accession = format!("ACC-{control_id}");
    let placer = format!("ORD-{control_id}");
    edited(
        "oru_r01_v251_cbc.hl7",
        &[
            ("LAB20260301-0001", control_id),
            ("LAB-77120", &accession),
            ("ORD-448812", &placer),
        ],
    )
}

async fn metric(server: &Server, outcome: &str) -> u64 {
    let body = reqwest::get(format!("{}/metrics", server.base))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("body");
    let wanted = format!("portal_hl7_connections_total{{outcome=\"{outcome}\"}}");
    body.lines()
        .find_map(|l| l.strip_prefix(&wanted))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

async fn count(dir: &Path, sql: &str) -> i64 {
    let url = format!("sqlite://{}/data/portal.db?mode=ro", dir.display());
    let db = Database::connect(url)
        .await
        .expect("open the portal's database");
    let row = db
        .query_one_raw(Statement::from_string(db.get_database_backend(), sql))
        .await
        .expect("query")
        .expect("row");
    row.try_get_by_index::<i64>(0).expect("count")
}

/// Waits until `sql` counts `expected` (audit rows are appended after the answer).
async fn eventually(dir: &Path, sql: &str, expected: i64) {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let found = count(dir, sql).await;
        if found == expected {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{sql}: {found}, expected {expected}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn peer_fingerprint(stream: &TlsStream<TcpStream>) -> Vec<u8> {
    stream
        .get_ref()
        .1
        .peer_certificates()
        .expect("server certificate")[0]
        .to_vec()
}

#[tokio::test]
async fn mllp_over_tls_admits_bound_client_certificates_only_and_reloads_its_certificate() {
    let dir = tempfile::tempdir().expect("dir");
    let certs = dir.path().join("certs");
    std::fs::create_dir(&certs).expect("certs dir");
    make_certificates(&certs);
    let port = free_port();
    let path = |name: &str| certs.join(name).display().to_string();
    let (bind, cert, key, ca) = (
        format!("127.0.0.1:{port}"),
        path("mllp.crt"),
        path("mllp.key"),
        path("ca.crt"),
    );
    let server = start_with(
        dir.path(),
        &[
            ("PORTAL_MLLP_TLS_BIND", bind.as_str()),
            ("PORTAL_MLLP_TLS_CERT", cert.as_str()),
            ("PORTAL_MLLP_TLS_KEY", key.as_str()),
            ("PORTAL_MLLP_TLS_CLIENT_CA", ca.as_str()),
            (
                "PORTAL_MLLP_TLS_SENDERS",
                "lis.riverside.example=05D2101234,engine.other.example=11D0000001",
            ),
            ("PORTAL_MLLP_TLS_RELOAD_SECS", "0"),
        ],
    )
    .await;

    // The bound laboratory is accepted.
    let mut lis = connect(&certs, port, Some("lis")).await.expect("handshake");
    let before = peer_fingerprint(&lis);
    let (code, ack) = exchange(&mut lis, &cbc("TLS-1")).await.expect("answered");
    assert_eq!(code, "AA", "{ack}");

    // A certificate bound to another facility cannot send for Riverside (MSH-4).
    let mut other = connect(&certs, port, Some("other"))
        .await
        .expect("handshake");
    let (code, ack) = exchange(&mut other, &cbc("TLS-2")).await.expect("answered");
    assert_eq!(code, "AR", "{ack}");
    assert!(ack.contains("ERR||MSH^1^4|204"), "{ack}");

    // Refused at the handshake: none, an unknown CA, an expired certificate.
    assert!(
        !answered(&certs, port, None, &cbc("TLS-3")).await,
        "no certificate"
    );
    assert!(
        !answered(&certs, port, Some("impostor"), &cbc("TLS-4")).await,
        "unknown CA"
    );
    assert!(
        !answered(&certs, port, Some("expired"), &cbc("TLS-5")).await,
        "expired"
    );

    // A renewed server certificate, reloaded on SIGHUP: the open connection goes on, a
    // new one is served with the new certificate.
    std::fs::copy(certs.join("renewed.crt"), certs.join("mllp.crt")).expect("cert");
    std::fs::copy(certs.join("renewed.key"), certs.join("mllp.key")).expect("key");
    let hup = std::process::Command::new("kill")
        .args(["-HUP", &server.child.id().to_string()])
        .status()
        .expect("kill -HUP");
    assert!(hup.success());
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let fresh = connect(&certs, port, Some("lis")).await.expect("handshake");
        if peer_fingerprint(&fresh) != before {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no reload within 20 s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (code, ack) = exchange(&mut lis, &cbc("TLS-6"))
        .await
        .expect("still served");
    assert_eq!(code, "AA", "{ack}");

    assert_eq!(metric(&server, "no_certificate").await, 1);
    assert_eq!(metric(&server, "unknown_ca").await, 1);
    assert_eq!(metric(&server, "certificate_expired").await, 1);
    assert!(metric(&server, "accepted").await >= 3);
    let stored = |id: &str| format!("SELECT COUNT(*) FROM hl7_messages WHERE control_id = '{id}'");
    let dir = dir.path();
    eventually(dir, &stored("TLS-1"), 1).await;
    eventually(
        dir,
        "SELECT COUNT(*) FROM audit_events WHERE action = 'hl7.receive' AND outcome = 'DENIED'",
        1,
    )
    .await;
    eventually(
        dir,
        "SELECT COUNT(*) FROM audit_events WHERE action = 'hl7.connect' AND outcome = 'DENIED' AND reason LIKE 'unknown_ca peer=127.0.0.1:%'",
        1,
    )
    .await;
    assert_eq!(count(dir, &stored("TLS-2")).await, 0, "denied: not stored");
    assert_eq!(
        count(
            dir,
            "SELECT COUNT(*) FROM audit_events WHERE action = 'hl7.connect' AND reason LIKE '%Nguyen%'"
        )
        .await,
        0,
        "no patient data in connection audit rows"
    );
    drop(server);
}

#[tokio::test]
async fn a_plain_listener_closes_and_counts_a_peer_outside_its_allow_list() {
    let dir = tempfile::tempdir().expect("dir");
    let port = free_port();
    let bind = format!("127.0.0.1:{port}");
    let allow = format!("{bind}=10.0.0.0/8");
    let server = start_with(
        dir.path(),
        &[
            ("PORTAL_MLLP_BIND", bind.as_str()),
            ("PORTAL_MLLP_ALLOW", allow.as_str()),
        ],
    )
    .await;
    let mut stream = TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    assert!(
        exchange(&mut stream, &cbc("ALLOW-1")).await.is_none(),
        "closed without an ACK"
    );
    assert_eq!(metric(&server, "not_allowed").await, 1);
}

/// PostgreSQL, served as the NOBYPASSRLS application role: a refused connection's audit row
/// (it has no tenant) is written under row-level security too.
#[tokio::test]
async fn a_refused_connection_is_audited_on_postgres_under_row_level_security() {
    let database = portal_testkit::postgres::fresh_app_database();
    let dir = tempfile::tempdir().expect("dir");
    let port = free_port();
    let bind = format!("127.0.0.1:{port}");
    let allow = format!("{bind}=10.0.0.0/8");
    let server = start_with(
        dir.path(),
        &[
            ("DATABASE_URL", database.app_url.as_str()),
            ("DATABASE_MIGRATION_URL", database.owner_url.as_str()),
            ("PORTAL_MLLP_BIND", bind.as_str()),
            ("PORTAL_MLLP_ALLOW", allow.as_str()),
        ],
    )
    .await;
    let mut stream = TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    assert!(
        exchange(&mut stream, &cbc("ALLOW-PG")).await.is_none(),
        "closed without an ACK"
    );
    assert_eq!(metric(&server, "not_allowed").await, 1);
    let owner = Database::connect(database.owner_url.as_str())
        .await
        .expect("connect as the owner");
    let sql = "SELECT COUNT(*) FROM audit_events WHERE action = 'hl7.connect' \
               AND outcome = 'DENIED' AND tenant_id IS NULL AND reason LIKE 'not_allowed peer=127.0.0.1:%'";
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let row = owner
            .query_one_raw(Statement::from_string(owner.get_database_backend(), sql))
            .await
            .expect("query")
            .expect("row");
        let found: i64 = row.try_get_by_index(0).expect("count");
        if found == 1 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the refused connection was not audited: {found} rows"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[test]
fn production_refuses_a_plain_listener_on_all_addresses_without_an_allow_list() {
    let dir = tempfile::tempdir().expect("dir");
    let out = portal(dir.path())
        .args(["serve"])
        .envs([
            ("PORTAL_ENV", "production"),
            ("DATABASE_URL", "postgres://portal:pw@127.0.0.1:1/portal"),
            ("JWT_JWKS_URL", "http://127.0.0.1:9/jwks"),
            ("JWT_ISSUER", "https://idp.example/realms/portal"),
            ("JWT_AUDIENCE", "portal"),
            ("PORTAL_MLLP_BIND", "0.0.0.0:2575=riverside"),
        ])
        .output()
        .expect("run portal");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("PORTAL_MLLP_ALLOW"), "{stderr}");
}
