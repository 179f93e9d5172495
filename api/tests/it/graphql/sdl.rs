//! The SDL snapshot: `schema/schema.graphql` must match the schema, so API changes show up
//! in review. Regenerate with `UPDATE_SDL=1 cargo test sdl`.

#[test]
fn sdl_matches_the_committed_schema() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../schema/schema.graphql");
    let current = portal_schema::sdl();
    if std::env::var_os("UPDATE_SDL").is_some() {
        std::fs::write(path, &current).expect("write schema.graphql");
        return;
    }
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        committed == current,
        "schema/schema.graphql is out of date: run `UPDATE_SDL=1 cargo test sdl` and review the diff"
    );
}
