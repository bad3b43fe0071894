//! The sample events of `events/`, loaded as the tests feed them to the functions.

use std::path::PathBuf;

/// Load `events/<path>`, replacing each `(from, to)` string throughout (to give a test its own
/// bucket name, for example).
pub fn load(path: &str, replace: &[(&str, &str)]) -> serde_json::Value {
    let file = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../events")
        .join(path);
    let mut text =
        std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    for (from, to) in replace {
        text = text.replace(from, to);
    }
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", file.display()))
}
