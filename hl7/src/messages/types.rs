//! HL7 composite data types used by the mappings: HD, CX, EI, CWE/CE, XPN, XCN, XAD, XTN.

use crate::parse::{ComponentRef, Delimiters, RepetitionRef, escape};

fn text(c: ComponentRef<'_>) -> Option<String> {
    c.text().map(String::from)
}

fn sub(c: ComponentRef<'_>, n: usize) -> Option<String> {
    c.subcomponent(n).map(String::from)
}

/// HD: namespace id, universal id (e.g. a CLIA number or an OID), universal id type.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Hd {
    pub namespace: Option<String>,
    pub universal_id: Option<String>,
    pub universal_id_type: Option<String>,
}

impl Hd {
    /// HD as a field (components).
    pub fn from_field(r: RepetitionRef<'_>) -> Option<Self> {
        Self::non_empty(Self {
            namespace: text(r.component(1)),
            universal_id: text(r.component(2)),
            universal_id_type: text(r.component(3)),
        })
    }

    /// HD inside a component (subcomponents), as in CX.4 or PL.4.
    pub fn from_component(c: ComponentRef<'_>) -> Option<Self> {
        Self::non_empty(Self {
            namespace: sub(c, 1),
            universal_id: sub(c, 2),
            universal_id_type: sub(c, 3),
        })
    }

    fn non_empty(hd: Self) -> Option<Self> {
        (hd != Self::default()).then_some(hd)
    }

    /// Writes the HD back as a field with the given delimiters.
    pub fn encode(&self, d: &Delimiters) -> String {
        let parts = [&self.namespace, &self.universal_id, &self.universal_id_type];
        let mut out: Vec<String> = parts
            .iter()
            .map(|p| p.as_deref().map(|s| escape(s, d)).unwrap_or_default())
            .collect();
        while out.last().is_some_and(String::is_empty) {
            out.pop();
        }
        out.join(&d.component.to_string())
    }
}

/// CX: an identifier with its assigning authority and identifier type (e.g. MR, NPI).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cx {
    pub id: String,
    pub assigning_authority: Option<Hd>,
    pub id_type: Option<String>,
}

impl Cx {
    pub fn from_repetition(r: RepetitionRef<'_>) -> Option<Self> {
        Some(Self {
            id: text(r.component(1))?,
            assigning_authority: Hd::from_component(r.component(4)),
            id_type: text(r.component(5)),
        })
    }
}

/// EI: entity identifier (order numbers, appointment ids).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ei {
    pub id: String,
    pub namespace: Option<String>,
    pub universal_id: Option<String>,
}

impl Ei {
    pub fn from_repetition(r: RepetitionRef<'_>) -> Option<Self> {
        Some(Self {
            id: text(r.component(1))?,
            namespace: text(r.component(2)),
            universal_id: text(r.component(3)),
        })
    }
}

/// CWE / CE: a coded value with text and coding system, plus the alternate triplet.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Coded {
    pub code: Option<String>,
    pub text: Option<String>,
    pub system: Option<String>,
    pub alternate_code: Option<String>,
    pub alternate_text: Option<String>,
    pub alternate_system: Option<String>,
}

impl Coded {
    pub fn from_repetition(r: RepetitionRef<'_>) -> Option<Self> {
        let c = Self {
            code: text(r.component(1)),
            text: text(r.component(2)),
            system: text(r.component(3)),
            alternate_code: text(r.component(4)),
            alternate_text: text(r.component(5)),
            alternate_system: text(r.component(6)),
        };
        (c != Self::default()).then_some(c)
    }

    /// CWE inside a component (subcomponents), as the DCM code in some senders' OBX-3.
    pub fn from_component(c: ComponentRef<'_>) -> Option<Self> {
        let coded = Self {
            code: sub(c, 1),
            text: sub(c, 2),
            system: sub(c, 3),
            ..Self::default()
        };
        (coded != Self::default()).then_some(coded)
    }

    /// Whether this or the alternate triplet is `code` in `system`.
    pub fn is(&self, code: &str, system: &str) -> bool {
        let eq = |a: &Option<String>, b: &str| a.as_deref() == Some(b);
        (eq(&self.code, code) && eq(&self.system, system))
            || (eq(&self.alternate_code, code) && eq(&self.alternate_system, system))
    }
}

/// XPN: a person's name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PersonName {
    pub family: Option<String>,
    pub given: Option<String>,
    pub middle: Option<String>,
    pub suffix: Option<String>,
    pub prefix: Option<String>,
    pub name_type: Option<String>,
}

impl PersonName {
    pub fn from_repetition(r: RepetitionRef<'_>) -> Option<Self> {
        let n = Self {
            family: text(r.component(1)),
            given: text(r.component(2)),
            middle: text(r.component(3)),
            suffix: text(r.component(4)),
            prefix: text(r.component(5)),
            name_type: text(r.component(7)),
        };
        (n != Self::default()).then_some(n)
    }
}

/// XCN: a clinician: identifier (an NPI when XCN.13 or XCN.9 says so) and name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Clinician {
    pub id: Option<String>,
    pub family: Option<String>,
    pub given: Option<String>,
    pub assigning_authority: Option<Hd>,
    pub id_type: Option<String>,
}

impl Clinician {
    pub fn from_repetition(r: RepetitionRef<'_>) -> Option<Self> {
        let c = Self {
            id: text(r.component(1)),
            family: text(r.component(2)),
            given: text(r.component(3)),
            assigning_authority: Hd::from_component(r.component(9)),
            id_type: text(r.component(13)),
        };
        (c.id.is_some() || c.family.is_some()).then_some(c)
    }

    /// The id when it is declared an NPI (XCN.13 = NPI, or XCN.9 = NPI or the NPI OID).
    pub fn npi(&self) -> Option<&str> {
        let authority = self.assigning_authority.as_ref();
        let declared = self.id_type.as_deref() == Some("NPI")
            || authority.is_some_and(|a| {
                a.namespace.as_deref() == Some("NPI")
                    || a.universal_id.as_deref() == Some("2.16.840.1.113883.4.6")
            });
        declared.then_some(self.id.as_deref()).flatten()
    }
}

/// XAD: a postal address.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Address {
    pub street: Option<String>,
    pub other: Option<String>,
    pub city: Option<String>,
    pub state: Option<String>,
    pub postal_code: Option<String>,
    pub country: Option<String>,
    pub address_type: Option<String>,
}

impl Address {
    pub fn from_repetition(r: RepetitionRef<'_>) -> Option<Self> {
        let a = Self {
            street: text(r.component(1)),
            other: text(r.component(2)),
            city: text(r.component(3)),
            state: text(r.component(4)),
            postal_code: text(r.component(5)),
            country: text(r.component(6)),
            address_type: text(r.component(7)),
        };
        (a != Self::default()).then_some(a)
    }
}

/// XTN: a telephone number or, with XTN.3 = Internet, an email address (XTN.4).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Telecom {
    pub use_code: Option<String>,
    pub equipment: Option<String>,
    pub email: Option<String>,
    /// XTN.5-7 joined (`+country (area) local`), else the deprecated XTN.1.
    pub number: Option<String>,
    pub extension: Option<String>,
}

impl Telecom {
    pub fn from_repetition(r: RepetitionRef<'_>) -> Option<Self> {
        let parts: Vec<_> = [5, 6, 7]
            .iter()
            .filter_map(|&n| r.component(n).text())
            .collect();
        let number = if parts.is_empty() {
            text(r.component(1))
        } else {
            Some(parts.join(" "))
        };
        let t = Self {
            use_code: text(r.component(2)),
            equipment: text(r.component(3)),
            email: text(r.component(4)),
            number,
            extension: text(r.component(8)),
        };
        (t.email.is_some() || t.number.is_some()).then_some(t)
    }

    pub fn is_email(&self) -> bool {
        self.email.is_some()
            && (self.equipment.as_deref() == Some("Internet")
                || self.use_code.as_deref() == Some("NET"))
    }
}
