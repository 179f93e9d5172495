//! What this server serves, as one table: the resource types, their interactions and search
//! parameters. The CapabilityStatement is written from it, and the search handlers refuse
//! every parameter it does not list, so the statement cannot drift from the server.

use serde_json::{Value, json};

/// A search parameter as FHIR types it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamType {
    Token,
    Date,
    Reference,
    String,
}

impl ParamType {
    fn as_str(self) -> &'static str {
        match self {
            Self::Token => "token",
            Self::Date => "date",
            Self::Reference => "reference",
            Self::String => "string",
        }
    }
}

pub struct SearchParam {
    pub name: &'static str,
    pub kind: ParamType,
    pub definition: &'static str,
    pub doc: &'static str,
}

impl SearchParam {
    /// A date searched by R4's rules.
    pub fn ranged(&self) -> bool {
        self.kind == ParamType::Date
    }

    fn documentation(&self) -> String {
        if self.ranged() {
            format!("{} {DATE_RULES}", self.doc)
        } else {
            self.doc.to_owned()
        }
    }
}

pub struct Served {
    pub kind: &'static str,
    /// `vread` and `history-instance` (correction chains).
    pub history: bool,
    /// `search-type` with these parameters (none: read only).
    pub search: &'static [SearchParam],
    pub includes: &'static [&'static str],
    /// `_sort` values accepted (the first is the default).
    pub sorts: &'static [&'static str],
    pub doc: &'static str,
}

const fn param(
    name: &'static str,
    kind: ParamType,
    definition: &'static str,
    doc: &'static str,
) -> SearchParam {
    SearchParam {
        name,
        kind,
        definition,
        doc,
    }
}

/// `patient` as R4 defines it for `definition` (clinical-patient or the type's own).
const fn patient(definition: &'static str) -> SearchParam {
    param(
        "patient",
        ParamType::Reference,
        definition,
        "Required: `Patient/{id}` or `{id}`.",
    )
}

const CLINICAL_PATIENT: SearchParam =
    patient("http://hl7.org/fhir/SearchParameter/clinical-patient");

/// How every date parameter reads its values (docs/fhir.md has the examples).
const DATE_RULES: &str = "Prefixes eq, ne, lt, le, gt, ge, sa, eb, ap on the range of the \
    value's precision (year to fraction of a second; UTC when no zone is given); may repeat \
    (AND), a comma is OR.";

pub const SERVED: &[Served] = &[
    Served {
        kind: "Patient",
        history: false,
        search: &[
            param(
                "identifier",
                ParamType::Token,
                "http://hl7.org/fhir/SearchParameter/Patient-identifier",
                "The MRN: `[urn:portal:mrn|]MRN`.",
            ),
            param(
                "name",
                ParamType::String,
                "http://hl7.org/fhir/SearchParameter/Patient-name",
                "Given or family name starting with the value, in any case.",
            ),
            param(
                "birthdate",
                ParamType::Date,
                "http://hl7.org/fhir/SearchParameter/individual-birthdate",
                "The birth date (a whole day, in UTC).",
            ),
        ],
        includes: &[],
        sorts: &[],
        doc: "The patients the viewer may see, by id.",
    },
    Served {
        kind: "DiagnosticReport",
        history: true,
        search: &[
            CLINICAL_PATIENT,
            param(
                "category",
                ParamType::Token,
                "http://hl7.org/fhir/SearchParameter/DiagnosticReport-category",
                "v2-0074: LAB or RAD.",
            ),
            param(
                "date",
                ParamType::Date,
                "http://hl7.org/fhir/SearchParameter/clinical-date",
                "effective[x] (the issue time).",
            ),
            param(
                "issued",
                ParamType::Date,
                "http://hl7.org/fhir/SearchParameter/DiagnosticReport-issued",
                "The issue time.",
            ),
            param(
                "status",
                ParamType::Token,
                "http://hl7.org/fhir/SearchParameter/DiagnosticReport-status",
                "preliminary, final, corrected, entered-in-error (comma-separated).",
            ),
            param(
                "code",
                ParamType::Token,
                "http://hl7.org/fhir/SearchParameter/clinical-code",
                "The test's code, `[system|]code` (LOINC or urn:portal:code).",
            ),
        ],
        includes: &["DiagnosticReport:result"],
        sorts: &["-date"],
        doc: "Current versions of lab panels (LAB) and imaging reports (RAD), newest first. \
              The logical id is the id of a correction chain's first version; every version is \
              under _history.",
    },
    Served {
        kind: "Observation",
        history: false,
        search: &[
            CLINICAL_PATIENT,
            param(
                "code",
                ParamType::Token,
                "http://hl7.org/fhir/SearchParameter/clinical-code",
                "The analyte's code, `[system|]code`.",
            ),
            param(
                "date",
                ParamType::Date,
                "http://hl7.org/fhir/SearchParameter/clinical-date",
                "effective[x] (the result's issue time).",
            ),
            param(
                "category",
                ParamType::Token,
                "http://hl7.org/fhir/SearchParameter/Observation-category",
                "laboratory or imaging.",
            ),
        ],
        includes: &[],
        sorts: &["-date"],
        doc: "Observations of the current versions of a patient's results, newest first.",
    },
    Served {
        kind: "Appointment",
        history: false,
        search: &[
            patient("http://hl7.org/fhir/SearchParameter/Appointment-patient"),
            param(
                "date",
                ParamType::Date,
                "http://hl7.org/fhir/SearchParameter/Appointment-date",
                "The start.",
            ),
        ],
        includes: &[],
        sorts: &[],
        doc: "A patient's appointments, earliest first.",
    },
    Served {
        kind: "Coverage",
        history: false,
        search: &[patient(
            "http://hl7.org/fhir/SearchParameter/Coverage-patient",
        )],
        includes: &[],
        sorts: &[],
        doc: "A patient's coverages, latest period first (scope COVERAGE).",
    },
    Served {
        kind: "ExplanationOfBenefit",
        history: false,
        search: &[patient(
            "http://hl7.org/fhir/SearchParameter/ExplanationOfBenefit-patient",
        )],
        includes: &[],
        sorts: &[],
        doc: "A patient's claims, latest service date first (scope COVERAGE).",
    },
    Served {
        kind: "ServiceRequest",
        history: false,
        search: &[CLINICAL_PATIENT],
        includes: &[],
        sorts: &[],
        doc: "A patient's test orders, newest first.",
    },
    Served {
        kind: "Organization",
        history: false,
        search: &[],
        includes: &[],
        sorts: &[],
        doc: "Facilities, the viewer's own organisation, and payers (a payer's id is the id of \
              the Coverage naming it).",
    },
    Served {
        kind: "Practitioner",
        history: false,
        search: &[],
        includes: &[],
        sorts: &[],
        doc: "Clinicians.",
    },
    Served {
        kind: "Location",
        history: false,
        search: &[],
        includes: &[],
        sorts: &[],
        doc: "Facilities as places.",
    },
];

pub fn served(kind: &str) -> Option<&'static Served> {
    SERVED.iter().find(|s| s.kind == kind)
}

/// The CapabilityStatement of this server (`GET /metadata`).
pub fn statement(base: &str) -> Value {
    let resources: Vec<Value> = SERVED.iter().map(resource).collect();
    json!({
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": "2026-12-01",
        "publisher": "Patient Portal",
        "kind": "instance",
        "software": { "name": "portal", "version": env!("CARGO_PKG_VERSION") },
        "implementation": {
            "description": "Patient Portal FHIR R4 read API",
            "url": base,
        },
        "fhirVersion": "4.0.1",
        "format": ["application/fhir+json"],
        "rest": [{
            "mode": "server",
            "documentation": "Read only. Searches take _count (1 to the server's page size) \
                and follow Bundle.link next (an opaque _cursor). Unknown parameters are \
                refused with 400.",
            "security": {
                "cors": false,
                "service": [{
                    "coding": [{
                        "system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
                        "code": "OAuth",
                    }],
                }],
                "description": "Bearer JWT, the same token as the GraphQL API.",
            },
            "resource": resources,
        }],
    })
}

fn resource(served: &Served) -> Value {
    let mut interactions = vec![json!({ "code": "read" })];
    if served.history {
        interactions.push(json!({ "code": "vread" }));
        interactions.push(json!({ "code": "history-instance" }));
    }
    if !served.search.is_empty() {
        interactions.push(json!({ "code": "search-type" }));
    }
    let mut resource = json!({
        "type": served.kind,
        "documentation": served.doc,
        "interaction": interactions,
        "versioning": if served.history { "versioned" } else { "no-version" },
        "readHistory": served.history,
    });
    if !served.search.is_empty() {
        resource["searchParam"] = served
            .search
            .iter()
            .map(|p| {
                json!({
                    "name": p.name,
                    "definition": p.definition,
                    "type": p.kind.as_str(),
                    "documentation": p.documentation(),
                })
            })
            .collect();
    }
    if !served.includes.is_empty() {
        resource["searchInclude"] = json!(served.includes);
    }
    if served.kind == "Patient" {
        resource["operation"] = json!([{
            "name": "everything",
            "definition": "http://hl7.org/fhir/OperationDefinition/Patient-everything",
            "documentation": "The patient's compartment the viewer may see (release policy and \
                proxy scopes apply), paged; _type, _since (meta.lastUpdated; resources without \
                an update time are kept), _count.",
        }]);
    }
    resource
}
