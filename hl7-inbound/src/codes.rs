//! Which catalog code a coded element of a result (OBR-4, OBX-3) stands for: LOINC first,
//! from the first or the alternate triplet (`SARS2^…^L^94500-6^…^LN` is 94500-6), else a
//! local code through the sending facility's code map, else the code as sent.

use portal_hl7::messages::Coded;
use portal_services::directory::code_map::{self, CodeMapEntry};

const LOINC: &str = "LN";

/// The catalog code of `coded` for a sender whose code map is `map`.
pub fn catalog_code(coded: &Coded, map: &[CodeMapEntry]) -> Option<String> {
    let first = (coded.code.as_deref(), coded.system.as_deref());
    let alternate = (
        coded.alternate_code.as_deref(),
        coded.alternate_system.as_deref(),
    );
    let loinc = [first, alternate]
        .into_iter()
        .find_map(|(code, system)| code.filter(|_| system == Some(LOINC)));
    let local = || {
        [first, alternate]
            .into_iter()
            .find_map(|(code, system)| code.and_then(|code| code_map::mapped(map, code, system)))
    };
    loinc
        .or_else(local)
        .or(first.0)
        .or(alternate.0)
        .or(coded.text.as_deref())
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cwe(parts: [&str; 6]) -> Coded {
        let v = |s: &str| (!s.is_empty()).then(|| s.to_owned());
        Coded {
            code: v(parts[0]),
            text: v(parts[1]),
            system: v(parts[2]),
            alternate_code: v(parts[3]),
            alternate_text: v(parts[4]),
            alternate_system: v(parts[5]),
        }
    }

    #[test]
    fn loinc_wins_from_either_triplet_then_the_code_map_then_the_code_as_sent() {
        let map = vec![CodeMapEntry {
            local_code: "GLU".into(),
            local_system: Some("L".into()),
            code: "2345-7".into(),
        }];
        let alternate = cwe([
            "SARS2",
            "SARS-CoV-2 RNA",
            "L",
            "94500-6",
            "SARS-CoV-2 RNA",
            "LN",
        ]);
        assert_eq!(catalog_code(&alternate, &map).as_deref(), Some("94500-6"));
        let first = cwe(["718-7", "Hemoglobin", "LN", "HGB", "Hgb", "L"]);
        assert_eq!(catalog_code(&first, &map).as_deref(), Some("718-7"));
        let local = cwe(["GLU", "Glucose", "L", "", "", ""]);
        assert_eq!(catalog_code(&local, &map).as_deref(), Some("2345-7"));
        let unmapped = cwe(["NA", "Sodium", "L", "", "", ""]);
        assert_eq!(catalog_code(&unmapped, &map).as_deref(), Some("NA"));
    }
}
