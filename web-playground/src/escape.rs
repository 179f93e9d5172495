//! Escaping of values written into the page.

use serde_json::Value;

/// `text` escaped for HTML text content and double- or single-quoted
/// attribute values.
pub(crate) fn html_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// `value` as JSON that is also a valid JavaScript expression and safe
/// inside a `<script>` element: `<`, `>` and `&` are written as `\u003c`,
/// `\u003e`, `\u0026` (so no `</script` or `<!--` can appear), and U+2028
/// and U+2029 as `\u2028`, `\u2029`.
///
/// Outside strings JSON has none of these characters, so replacing them
/// everywhere only touches string contents, where `\uXXXX` means the same.
pub(crate) fn script_json(value: &Value) -> String {
    let json = value.to_string();
    let mut out = String::with_capacity(json.len());
    for c in json.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn html_text_escapes_markup() {
        assert_eq!(
            html_text("<b a=\"1\" b='2'>&</b>"),
            "&lt;b a=&quot;1&quot; b=&#39;2&#39;&gt;&amp;&lt;/b&gt;"
        );
        assert_eq!(
            html_text("Development mode — demo data"),
            "Development mode — demo data"
        );
    }

    #[test]
    fn script_json_cannot_close_the_script_and_round_trips() {
        let value = json!({
            "a": "</script><script>alert(1)</script>",
            "b": "<!-- \u{2028}\u{2029} & \\u003c \"q\"",
        });
        let out = script_json(&value);
        assert!(!out.contains('<') && !out.contains('>') && !out.contains('&'));
        assert!(!out.contains('\u{2028}') && !out.contains('\u{2029}'));
        assert!(out.contains("\\u003c/script\\u003e"));
        let back: Value = serde_json::from_str(&out).expect("still JSON");
        assert_eq!(back, value);
    }
}
