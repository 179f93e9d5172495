//! A sending facility's code map: the local codes its results carry (HL7 OBR-4, OBX-3 in a
//! triplet whose system is not LOINC) mapped to the codes of the organisation's catalog.
//! Kept on the facility (master data: `updateFacility(codeMap: …)`, `portal import
//! code-map`).

use portal_core::error::{ServiceError, ServiceResult};
use portal_entities::facility;
use serde::{Deserialize, Serialize};

/// Most entries one facility's map keeps.
pub const MAX_ENTRIES: usize = 5_000;
const MAX_LEN: usize = 100;

/// One local code and the catalog code it stands for.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodeMapEntry {
    /// The code as the sender writes it (CWE.1 or CWE.4).
    pub local_code: String,
    /// Its coding system (CWE.3 or CWE.6, e.g. `L`, `99LAB`); none: any system.
    pub local_system: Option<String>,
    /// The catalog test or analyte code.
    pub code: String,
}

/// The map stored on a facility (empty when the column is empty or unreadable).
pub fn of(facility: &facility::Model) -> Vec<CodeMapEntry> {
    facility
        .code_map
        .as_deref()
        .and_then(|json| serde_json::from_str(json).ok())
        .unwrap_or_default()
}

/// The catalog code a local code maps to: an entry of its system first, else one for any
/// system.
pub fn mapped<'a>(map: &'a [CodeMapEntry], code: &str, system: Option<&str>) -> Option<&'a str> {
    let exact = map.iter().find(|e| {
        e.local_code == code && e.local_system.is_some() && e.local_system.as_deref() == system
    });
    exact
        .or_else(|| {
            map.iter()
                .find(|e| e.local_code == code && e.local_system.is_none())
        })
        .map(|e| e.code.as_str())
}

/// The stored form of a map (`None` for an empty one).
pub fn stored(map: &[CodeMapEntry]) -> ServiceResult<Option<String>> {
    if map.is_empty() {
        return Ok(None);
    }
    serde_json::to_string(map)
        .map(Some)
        .map_err(|e| ServiceError::internal(e.to_string()))
}

/// Checks a map given to a master-data change: codes of 1 to 100 characters without HL7
/// delimiters or control characters, each local code (and system) once.
pub fn validated(field: &str, map: Vec<CodeMapEntry>) -> ServiceResult<Vec<CodeMapEntry>> {
    if map.len() > MAX_ENTRIES {
        return Err(ServiceError::bad_input(
            field,
            format!("at most {MAX_ENTRIES} entries"),
        ));
    }
    let mut kept: Vec<CodeMapEntry> = Vec::with_capacity(map.len());
    for (i, entry) in map.into_iter().enumerate() {
        let at = format!("{field}[{i}]");
        let clean = |value: &str, name: &str| -> ServiceResult<String> {
            let value = value.trim();
            if value.is_empty()
                || value.len() > MAX_LEN
                || value
                    .chars()
                    .any(|c| c.is_control() || "|^~\\&".contains(c))
            {
                return Err(ServiceError::bad_input(
                    format!("{at}.{name}"),
                    "1 to 100 characters, no HL7 delimiters",
                ));
            }
            Ok(value.to_owned())
        };
        let entry = CodeMapEntry {
            local_code: clean(&entry.local_code, "localCode")?,
            local_system: match entry.local_system.as_deref().map(str::trim) {
                None | Some("") => None,
                Some(system) => Some(clean(system, "localSystem")?),
            },
            code: clean(&entry.code, "code")?,
        };
        if kept
            .iter()
            .any(|k| k.local_code == entry.local_code && k.local_system == entry.local_system)
        {
            return Err(ServiceError::bad_input(
                format!("{at}.localCode"),
                "mapped twice",
            ));
        }
        kept.push(entry);
    }
    Ok(kept)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(code: &str, system: Option<&str>, to: &str) -> CodeMapEntry {
        CodeMapEntry {
            local_code: code.into(),
            local_system: system.map(String::from),
            code: to.into(),
        }
    }

    #[test]
    fn a_local_code_maps_by_its_system_first_then_for_any_system() {
        let map = vec![
            entry("GLU", None, "2345-7"),
            entry("GLU", Some("99LAB"), "2339-0"),
        ];
        assert_eq!(mapped(&map, "GLU", Some("99LAB")), Some("2339-0"));
        assert_eq!(mapped(&map, "GLU", Some("L")), Some("2345-7"));
        assert_eq!(mapped(&map, "NA", Some("L")), None);
    }

    #[test]
    fn a_code_map_refuses_delimiters_and_duplicates() {
        assert!(validated("m", vec![entry("A^B", None, "1")]).is_err());
        assert!(validated("m", vec![entry("A", None, "1"), entry("A", None, "2")]).is_err());
        let ok = validated("m", vec![entry(" A ", Some(" "), "1")]).expect("valid");
        assert_eq!(ok, vec![entry("A", None, "1")]);
    }
}
