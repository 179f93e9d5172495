//! Refusals sent before the body is read reach ordinary clients: a 20 MiB POST to
//! `/graphql`, too large (413) or not JSON (415), is answered to `curl` and to node's
//! `fetch` on a real socket, instead of a reset connection.

use std::path::Path;
use std::process::Command;

use crate::support::binary::start_with;

const BODY_BYTES: usize = 20 * 1024 * 1024;

fn curl(url: &str, content_type: &str, body: &Path) -> String {
    let out = Command::new("curl")
        .args(["-sS", "-o", "/dev/null", "-w", "%{http_code}", "-H"])
        .arg(format!("Content-Type: {content_type}"))
        .arg("--data-binary")
        .arg(format!("@{}", body.display()))
        .arg(url)
        .output()
        .expect("run curl");
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn node_fetch(url: &str, content_type: &str) -> String {
    let script = format!(
        "fetch({url:?}, {{ method: 'POST', headers: {{ 'content-type': {content_type:?} }}, \
         body: Buffer.alloc({BODY_BYTES}, 32) }})\
         .then(r => console.log(r.status))\
         .catch(e => console.log('network error', e.cause && e.cause.code))"
    );
    let out = Command::new("node")
        .args(["-e", &script])
        .output()
        .expect("run node");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

#[tokio::test]
async fn a_twenty_mib_post_refused_before_its_body_is_read_is_answered_to_curl_and_node() {
    let dir = tempfile::tempdir().expect("dir");
    let server = start_with(dir.path(), &[]).await;
    let url = format!("{}/graphql", server.base);
    let body = dir.path().join("body.json");
    std::fs::write(&body, vec![b' '; BODY_BYTES]).expect("body");

    assert_eq!(curl(&url, "application/json", &body), "413");
    assert_eq!(curl(&url, "text/plain", &body), "415");
    assert_eq!(node_fetch(&url, "application/json"), "413");
    assert_eq!(node_fetch(&url, "text/plain"), "415");
}
