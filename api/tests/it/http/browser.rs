//! The README walk-through in a real browser: headless Chromium (Debian `chromium`, driven by
//! `puppeteer-core`, never a downloaded browser build) opens the playground of the real
//! binary, runs an example as Alice, subscribes in the live results panel, adds a result in
//! the lab tab and sees it arrive, then sees the email in the mailbox list — with no console
//! error. Needs node, chromium and `npm ci` in `api/tests/browser` (`.ci/run` does all three).

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

use crate::support::binary::start;

#[tokio::test]
async fn the_playground_walk_through_works_in_a_real_browser() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        Command::new("node")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success()),
        "node is missing: install Node.js 18+ (Debian package nodejs) — .ci/run does"
    );
    assert!(
        std::path::Path::new(&chromium).exists(),
        "{chromium} is missing: install the Debian package chromium (or set CHROMIUM) — .ci/run does"
    );
    assert!(
        dir.join("node_modules/puppeteer-core").is_dir(),
        "puppeteer-core is not installed: run `npm ci --prefix {}` — .ci/run does",
        dir.display()
    );
    let data = tempfile::tempdir().expect("dir");
    let server = start(data.path()).await;
    let base = server.base.clone();
    let output = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .arg(dir.join("walkthrough.mjs"))
            .arg(base)
            .env("CHROMIUM", chromium)
            .output()
            .expect("run node")
    })
    .await
    .expect("browser task");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let report: Value = stdout
        .lines()
        .rev()
        .find_map(|line| serde_json::from_str(line).ok())
        .unwrap_or_else(|| {
            panic!(
                "the browser script printed no report: {stdout}\n{}",
                String::from_utf8_lossy(&output.stderr)
            )
        });
    assert_eq!(report["ok"], true, "walk-through failed: {report:#}");
    let steps: Vec<&str> = report["steps"]
        .as_array()
        .map(|s| s.iter().filter_map(|s| s["step"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(
        steps,
        [
            "playground rendered",
            "example MyResults answered as Alice",
            "subscribed as Alice",
            "result added as the lab",
            "result arrived in the live panel",
            "email listed in the mailbox",
        ]
    );
}
