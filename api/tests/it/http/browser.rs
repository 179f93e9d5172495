//! The README tour in a real browser: headless Chromium (Debian `chromium`, driven by
//! `puppeteer-core`, never a downloaded browser build) opens the playground of the real
//! binary, runs an example as Alice, subscribes in the live results panel, adds a result in
//! the lab tab and sees it arrive, sees the email with its link in the mailbox, opens a new
//! tab and the patient view, and sees the new point on the trend chart — then a second result
//! arrive there live — with no console error and no failed request. On failure the pages are
//! saved as PNGs in `<target dir>/browser-screenshots/` (docs/playground.md). Needs node,
//! chromium and `npm ci` in `api/tests/browser` (`.ci/run` does all three).

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
    let screenshots = screenshot_dir();
    let output = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .arg(dir.join("walkthrough.mjs"))
            .arg(base)
            .arg(screenshots)
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
            "playground rendered, first tab badged Alice Nguyen — patient",
            "example MyResults answered as Alice",
            "subscribed as Alice",
            "result added as the lab (tab badged Riverside LIS — lab)",
            "result arrived in the live panel",
            "email with its link in the mailbox",
            "new tab shows the welcome text",
            "patient view: results, flags, a corrected result with its history",
            "the new point is on the trend chart",
            "the trend chart updated live",
        ]
    );
}

/// `<target dir>/browser-screenshots`: this test binary is `<target dir>/<profile>/deps/it-…`,
/// so the folder follows `CARGO_TARGET_DIR` and CI can keep it as an artifact.
fn screenshot_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let target = exe.ancestors().nth(3).map(PathBuf::from);
    target
        .unwrap_or_else(|| PathBuf::from("target"))
        .join("browser-screenshots")
}
