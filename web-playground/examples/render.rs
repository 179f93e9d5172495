//! Writes the playground page and its assets into a folder laid out as the
//! portal binary serves them (`index.html`, `playground/assets/…`), to look
//! at the page without the server:
//!
//! ```sh
//! cargo run -p portal-web-playground --example render -- /tmp/playground
//! python3 -m http.server --bind 127.0.0.1 8765 --directory /tmp/playground
//! # open http://127.0.0.1:8765/index.html (requests to /graphql fail there)
//! ```

use std::path::PathBuf;
use std::{env, fs, io};

use portal_web_playground::{ASSET_PREFIX, PlaygroundPage, asset, asset_names, asset_url, render};

const EXAMPLE_QUERY: &str = "# Operations run against the demo data.
query Hello {
  __typename
}

subscription Ticks {
  __typename
}
";

fn main() -> io::Result<()> {
    let Some(out) = env::args_os().nth(1).map(PathBuf::from) else {
        eprintln!("usage: render OUT_DIR");
        std::process::exit(2);
    };
    let page = PlaygroundPage {
        graphql_path: "/graphql",
        default_token: Some("dev.jwt.token"),
        default_query: EXAMPLE_QUERY,
        banner: "Development mode — demo data",
        demo: None,
    };
    fs::create_dir_all(&out)?;
    fs::write(out.join("index.html"), render(&page))?;

    let assets_dir = out.join(ASSET_PREFIX.trim_matches('/'));
    fs::create_dir_all(&assets_dir)?;
    for name in asset_names() {
        let url = asset_url(name).unwrap_or_default();
        let hashed = url.trim_start_matches(ASSET_PREFIX);
        if let Some(file) = asset(name) {
            fs::write(assets_dir.join(hashed), file.body)?;
        }
    }
    println!("wrote {}", out.display());
    Ok(())
}
