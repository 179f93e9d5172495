//! Token verification: dev HS256, PEM public keys and JWKS (with its cache), and every way a
//! token must be rejected: expired, wrongly signed, `alg: none`, wrong audience or issuer.

use std::process::Command;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use portal_api::auth::{Claims, JwtSettings, KeySource, Role, TokenVerifier};
use portal_services::ErrorCode;
use serde_json::json;
use uuid::Uuid;

use crate::support::{Backend, TestApp};

fn claims(aud: &str, iss: &str, exp_offset: i64) -> Claims {
    let now = chrono::Utc::now().timestamp();
    Claims {
        sub: "p1".into(),
        tid: Uuid::now_v7().to_string(),
        roles: vec!["patient".into()],
        pid: Some(Uuid::now_v7().to_string()),
        exp: now + exp_offset,
        iat: now,
        iss: Some(iss.into()),
        aud: Some(aud.into()),
    }
}

fn dev_secret(app: &TestApp) -> Vec<u8> {
    portal_api::auth::load_or_create_dev_secret(app.data_dir()).expect("dev secret")
}

async fn rejected(verifier: &TokenVerifier, token: &str) -> ErrorCode {
    verifier
        .verify(token)
        .await
        .err()
        .map(|e| e.code())
        .expect("token must be rejected")
}

#[tokio::test]
async fn bad_tokens_are_rejected_as_unauthenticated() {
    let app = TestApp::init(Backend::Sqlite).await;
    let verifier = &app.state.verifier;
    let secret = dev_secret(&app);
    let sign = |c: &Claims, key: &[u8]| {
        encode(
            &Header::new(Algorithm::HS256),
            c,
            &EncodingKey::from_secret(key),
        )
        .expect("sign")
    };

    let good = sign(&claims("portal", "portal-dev", 600), &secret);
    assert!(
        verifier.verify(&good).await.is_ok(),
        "a well-formed dev token verifies"
    );

    let expired = sign(&claims("portal", "portal-dev", -3600), &secret);
    let wrong_key = sign(
        &claims("portal", "portal-dev", 600),
        b"not the dev secret at all, no...",
    );
    let wrong_audience = sign(&claims("another-app", "portal-dev", 600), &secret);
    let wrong_issuer = sign(&claims("portal", "https://evil.example", 600), &secret);
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let body = URL_SAFE_NO_PAD
        .encode(serde_json::to_vec(&claims("portal", "portal-dev", 600)).expect("json"));
    let alg_none = format!("{header}.{body}.");
    let mut no_roles = claims("portal", "portal-dev", 600);
    no_roles.roles = vec!["superuser".into()];
    let no_roles = sign(&no_roles, &secret);
    for (what, token) in [
        ("expired", expired),
        ("wrong key", wrong_key),
        ("wrong audience", wrong_audience),
        ("wrong issuer", wrong_issuer),
        ("alg none", alg_none),
        ("unknown roles only", no_roles),
        ("garbage", "abc.def".to_owned()),
    ] {
        assert_eq!(
            rejected(verifier, &token).await,
            ErrorCode::Unauthenticated,
            "{what}"
        );
    }
}

/// An RSA key pair made with the openssl command line: (private PEM, public PEM, modulus hex).
pub(crate) fn rsa_key_pair(dir: &std::path::Path) -> (Vec<u8>, Vec<u8>, String) {
    let private = dir.join("private.pem");
    let public = dir.join("public.pem");
    let run = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .output()
            .expect("openssl must be installed for this test");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf8")
    };
    let p = private.to_str().expect("path");
    run(&[
        "genpkey",
        "-algorithm",
        "RSA",
        "-pkeyopt",
        "rsa_keygen_bits:2048",
        "-out",
        p,
    ]);
    run(&[
        "pkey",
        "-in",
        p,
        "-pubout",
        "-out",
        public.to_str().expect("path"),
    ]);
    let modulus = run(&["rsa", "-in", p, "-noout", "-modulus"]);
    let modulus = modulus.trim().trim_start_matches("Modulus=").to_owned();
    (
        std::fs::read(&private).expect("read"),
        std::fs::read(&public).expect("read"),
        modulus,
    )
}

fn settings() -> JwtSettings {
    JwtSettings {
        issuer: "https://idp.test/realms/portal".into(),
        audience: "portal".into(),
        leeway_seconds: 0,
    }
}

pub(crate) fn rs256(private: &[u8], kid: Option<&str>) -> String {
    let mut header = Header::new(Algorithm::RS256);
    header.kid = kid.map(str::to_owned);
    let claims = claims("portal", "https://idp.test/realms/portal", 600);
    encode(
        &header,
        &claims,
        &EncodingKey::from_rsa_pem(private).expect("rsa key"),
    )
    .expect("sign")
}

#[tokio::test]
async fn a_pem_public_key_verifies_rs256_and_refuses_algorithm_confusion() {
    let dir = tempfile::tempdir().expect("dir");
    let (private, public, _) = rsa_key_pair(dir.path());
    let verifier = TokenVerifier::new(
        settings(),
        KeySource::Pem {
            algorithm: Algorithm::RS256,
            pem: public.clone(),
        },
    )
    .expect("verifier");
    let viewer = verifier
        .verify(&rs256(&private, None))
        .await
        .expect("valid RS256 token");
    assert_eq!(viewer.roles, vec![Role::Patient]);
    // HS256 "signed" with the public key as the secret: the classic confusion attack.
    let forged = encode(
        &Header::new(Algorithm::HS256),
        &claims("portal", "https://idp.test/realms/portal", 600),
        &EncodingKey::from_secret(&public),
    )
    .expect("sign");
    assert_eq!(
        rejected(&verifier, &forged).await,
        ErrorCode::Unauthenticated
    );
}

#[tokio::test]
async fn jwks_keys_are_cached_through_an_identity_provider_outage() {
    let dir = tempfile::tempdir().expect("dir");
    let (private, _, modulus) = rsa_key_pair(dir.path());
    let n = URL_SAFE_NO_PAD.encode(hex::decode(modulus).expect("hex modulus"));
    let jwks = json!({ "keys": [{ "kty": "RSA", "kid": "k1", "alg": "RS256", "use": "sig", "n": n, "e": "AQAB" }] });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/jwks", listener.local_addr().expect("addr"));
    let router = axum::Router::new().route(
        "/jwks",
        axum::routing::get(move || async move { axum::Json(jwks) }),
    );
    let server = tokio::spawn(async move { axum::serve(listener, router).await });

    let source = |ttl, max_stale| KeySource::Jwks {
        url: url.clone(),
        ttl,
        max_stale,
    };
    let cached = TokenVerifier::new(
        settings(),
        source(Duration::ZERO, Duration::from_secs(3600)),
    )
    .expect("verifier");
    let token = rs256(&private, Some("k1"));
    cached
        .verify(&token)
        .await
        .expect("verifies with a fetched key");
    assert_eq!(
        rejected(&cached, &rs256(&private, Some("unknown"))).await,
        ErrorCode::Unauthenticated
    );

    server.abort();
    let _ = server.await;
    cached
        .verify(&token)
        .await
        .expect("the cached key keeps working while the provider is down");
    let cold = TokenVerifier::new(
        settings(),
        source(Duration::ZERO, Duration::from_secs(3600)),
    )
    .expect("verifier");
    assert_eq!(
        rejected(&cold, &token).await,
        ErrorCode::Unavailable,
        "no cached key and no provider"
    );
}
