//! End to end with the real `portal` binary: its MLLP listener registers a patient from
//! ADT^A04 and takes an ORU^R01 for them; the patient's `resultReady` subscription receives
//! the result and the email is in the mailbox folder. Dead letter and replay by the CLI.

use std::time::{Duration, Instant};

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::hl7::rig::{edited, fixture};
use crate::support::binary::{graphql, portal, start_with, token};
use crate::support::ws::WsClient;

/// Sends one framed message and returns MSA-1 and the whole ACK.
pub(crate) async fn send(port: u16, message: &[u8]) -> (String, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect to MLLP");
    let mut frame = vec![0x0B];
    frame.extend_from_slice(message);
    frame.extend_from_slice(&[0x1C, 0x0D]);
    stream.write_all(&frame).await.expect("send");
    let mut ack = Vec::new();
    let mut chunk = [0u8; 4096];
    while !ack.ends_with(&[0x1C, 0x0D]) {
        let n = tokio::time::timeout(Duration::from_secs(30), stream.read(&mut chunk))
            .await
            .expect("ACK in time")
            .expect("read");
        assert!(n > 0, "closed without an ACK");
        ack.extend_from_slice(&chunk[..n]);
    }
    let text = String::from_utf8_lossy(&ack[1..ack.len() - 2]).into_owned();
    let code = text
        .split('\r')
        .find(|s| s.starts_with("MSA|"))
        .and_then(|msa| msa.split('|').nth(1))
        .unwrap_or_default()
        .to_owned();
    (code, text)
}

pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

fn cli(dir: &std::path::Path, args: &[&str]) -> String {
    let out = portal(dir).args(args).output().expect("run portal");
    assert!(
        out.status.success(),
        "portal {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test]
async fn adt_then_oru_over_mllp_reach_the_subscriber_and_the_mailbox_and_the_cli_replays_the_dead_letter()
 {
    let dir = tempfile::tempdir().expect("dir");
    let port = free_port();
    let bind = format!("127.0.0.1:{port}");
    let server = start_with(dir.path(), &[("PORTAL_MLLP_BIND", bind.as_str())]).await;

    // Alice's registration changes her email address by ADT^A04; her result follows.
    let alice = token(dir.path(), &["--patient", "MRN1001"]);
    let (_, body) = graphql(&server, Some(&alice), "{ viewer { patient { id } } }").await;
    let alice_gid = body["data"]["viewer"]["patient"]["id"].clone();
    assert!(alice_gid.is_string(), "{body:#}");
    let register = edited(
        "adt_a08.hl7",
        &[
            ("ADT^A08^ADT_A01", "ADT^A04^ADT_A01"),
            ("EVN|A08", "EVN|A04"),
        ],
    );
    let (code, ack) = send(port, &register).await;
    assert_eq!(code, "AA", "{ack}");

    let mut client = WsClient::connect(server.addr(), Some(&alice)).await;
    let mark = uuid::Uuid::now_v7();
    client
        .subscribe(
            "1",
            "subscription($p: ID!, $a: ID) { resultReady(patientId: $p, after: $a) { result { status order { accessionNumber } } } }",
            json!({ "p": alice_gid, "a": mark.to_string() }),
        )
        .await;
    let (code, ack) = send(port, &fixture("oru_r01_v251_cbc.hl7")).await;
    assert_eq!(code, "AA", "{ack}");
    let data = client.expect_next("1").await;
    assert_eq!(data["resultReady"]["result"]["status"], "FINAL", "{data:#}");
    assert_eq!(
        data["resultReady"]["result"]["order"]["accessionNumber"],
        "LAB-77120"
    );

    let mailbox = dir.path().join("data").join("mailbox");
    let deadline = Instant::now() + Duration::from_secs(15);
    let email = loop {
        let found = std::fs::read_dir(&mailbox).ok().and_then(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
                .find(|text| text.contains("alice.nguyen@example.org"))
        });
        if let Some(email) = found {
            break email;
        }
        assert!(
            Instant::now() < deadline,
            "no email to the address ADT gave within 15 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(email.contains("A new result is ready"), "{email}");
    assert!(
        !email.contains("11.9") && !email.contains("Johnson^Ben"),
        "no PHI: {email}"
    );

    // A result for a patient not registered yet waits in the dead letter; the CLI lists it
    // without content and replays it once the registration has come.
    let for_elena = edited(
        "oru_r01_imaging.hl7",
        &[
            ("MRN1001^^^", "MRN1005^^^"),
            ("Nguyen^Alice", "Garcia^Elena"),
        ],
    );
    let (code, ack) = send(port, &for_elena).await;
    assert_eq!(code, "AE", "{ack}");
    let listed = cli(dir.path(), &["hl7", "dead-letter", "list"]);
    assert!(
        listed.contains("RAD20260304-0311") && listed.contains("PID^1^3") && listed.contains("204"),
        "{listed}"
    );
    assert!(
        !listed.contains("Garcia") && !listed.contains("MRN1005"),
        "no PHI: {listed}"
    );
    let dry = cli(dir.path(), &["hl7", "replay", "--dead-letter", "--dry-run"]);
    assert!(
        dry.contains("1 dead-letter HL7 message(s) would be replayed"),
        "{dry}"
    );
    let (code, ack) = send(port, &fixture("adt_a28.hl7")).await;
    assert_eq!(code, "AA", "{ack}");
    let replayed = cli(dir.path(), &["hl7", "replay", "--dead-letter"]);
    assert!(replayed.contains("1 accepted"), "{replayed}");
    let listed = cli(dir.path(), &["hl7", "dead-letter", "list"]);
    assert!(!listed.contains("RAD20260304-0311"), "{listed}");
    let staff = token(dir.path(), &["--role", "staff"]);
    let (_, body) = graphql(
        &server,
        Some(&staff),
        "{ viewer { patients(first: 50) { edges { node { mrn results(first: 10) { edges { node { category } } } } } } } }",
    )
    .await;
    let elena = body["data"]["viewer"]["patients"]["edges"]
        .as_array()
        .expect("patients")
        .iter()
        .find(|e| e["node"]["mrn"] == "MRN1005")
        .cloned()
        .unwrap_or_else(|| panic!("Elena registered: {body:#}"));
    assert_eq!(
        elena["node"]["results"]["edges"][0]["node"]["category"], "IMAGING",
        "{elena:#}"
    );
}

#[tokio::test]
async fn with_mllp_in_worker_only_the_worker_holds_the_port_and_serve_starts_beside_it() {
    use crate::support::binary::start_worker;

    let dir = tempfile::tempdir().expect("dir");
    let port = free_port();
    let bind = format!("127.0.0.1:{port}");
    let env = [
        ("PORTAL_MLLP_BIND", bind.as_str()),
        ("PORTAL_MLLP_IN", "worker"),
    ];
    let _worker = start_worker(dir.path(), &env).await;
    let (code, ack) = send(port, &fixture("siu_s12.hl7")).await;
    assert_eq!(code, "AA", "the worker answers: {ack}");
    // The same configuration for `portal serve` does not bind the port (it would fail if it did).
    let server = start_with(dir.path(), &env).await;
    let staff = token(dir.path(), &["--role", "staff"]);
    let (_, body) = graphql(
        &server,
        Some(&staff),
        "{ viewer { patients(first: 50) { edges { node { mrn appointments(first: 20) { edges { node { reason } } } } } } } }",
    )
    .await;
    assert!(body.to_string().contains("Lab work"), "{body:#}");
}
