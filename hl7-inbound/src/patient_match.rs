//! Who a message is about: PID-3 matched by (assigning authority CX.4, id CX.1) among the
//! tenant's authorities (`portal_services::patients::identity`), never by id alone. For an
//! ORU of a sending facility that registers walk-ins, an identifier no patient holds
//! registers the patient from PID (the ADT rules) — unless a patient with the same name and
//! birth date exists: then the message is AE and waits in the staff matching queue. See
//! docs/hl7.md, "How a patient is matched".

use portal_core::RequestContext;
use portal_entities::{patient, patient_id_authority};
use portal_hl7::messages::{Cx, Demographics as Pid, Hd, Header, PatientIdentity};
use portal_hl7::{ErrorCode, Issue, Location, Message};
use portal_services::patients::identity::{self, Assigner, Authorities, Authority};
use portal_services::patients::matching::Unmatched;
use portal_services::patients::registration::{self, Linked, walk_in_mrn};
use portal_services::walk_in::auto::{self, WalkInLinks};
use uuid::Uuid;

use crate::failure::Failure;
use crate::lookup;

/// PID-3, where identity errors are reported.
fn pid3() -> Location {
    Location::field("PID", 1, 3)
}

/// One PID-3 identifier whose authority the tenant knows.
#[derive(Debug, Clone)]
struct Known {
    assigner: Assigner,
    value: String,
}

/// The identifiers of a PID, sorted by what the tenant knows of their authorities.
#[derive(Debug)]
pub(crate) struct Identified {
    known: Vec<Known>,
    /// 1-based PID-3 repetitions whose CX.4 names an authority the tenant does not know.
    unknown: Vec<usize>,
    /// The sending facility (MSH-4) when it is a facility of the tenant.
    sender: Option<Uuid>,
    authorities: Authorities,
}

impl Identified {
    /// Reads the tenant's authorities and sorts PID-3 (or the MRN the parser chose from
    /// PID-2) by them, the tenant's own first.
    pub(crate) async fn read(
        ctx: &RequestContext,
        tenant: Uuid,
        header: &Header,
        identity: &PatientIdentity,
    ) -> Result<Self, Failure> {
        let fail = |e| Failure::from_service(e, |_| pid3());
        let authorities = Authorities::of_tenant(ctx.db(), tenant)
            .await
            .map_err(fail)?;
        // The sending facility by its CLIA number or any alias identifier (MSH-4).
        let sender = lookup::sender(ctx, tenant, header.sending_facility.as_ref())
            .await
            .map_err(fail)?
            .map(|f| f.id);
        let sent: Vec<&Cx> = if identity.identifiers.is_empty() {
            vec![&identity.mrn]
        } else {
            identity.identifiers.iter().collect()
        };
        let mut known = Vec::new();
        let mut unknown = Vec::new();
        for (index, cx) in sent.into_iter().enumerate() {
            let named = cx.assigning_authority.as_ref().map(authority);
            match authorities.resolve(named.as_ref(), sender) {
                Some(assigner) => known.push(Known {
                    assigner,
                    value: cx.id.clone(),
                }),
                None => unknown.push(index + 1),
            }
        }
        known.sort_by_key(|k| !matches!(k.assigner, Assigner::Own));
        Ok(Self {
            known,
            unknown,
            sender,
            authorities,
        })
    }

    /// The patient the first known identifier names, if any.
    pub(crate) async fn find(
        &self,
        ctx: &RequestContext,
        tenant: Uuid,
    ) -> Result<Option<patient::Model>, Failure> {
        for known in &self.known {
            let found = identity::find(ctx.db(), tenant, &known.assigner, &known.value)
                .await
                .map_err(|e| Failure::from_service(e, |_| pid3()))?;
            if found.is_some() {
                return Ok(found);
            }
        }
        Ok(None)
    }

    /// The AE for a PID-3 that names nobody: an unknown authority is said so (an id alone
    /// matches nobody), else the patient is unknown.
    pub(crate) fn unmatched(&self) -> Failure {
        if self.known.is_empty() {
            let at = self
                .unknown
                .first()
                .map_or_else(pid3, |r| pid3().with_repetition(*r).with_component(4));
            return Failure::content(
                ErrorCode::UnknownKeyIdentifier,
                at,
                "unknown assigning authority (PID-3.4): the patient identifier is not matched by its id alone; register the authority in master data",
            );
        }
        Failure::content(
            ErrorCode::UnknownKeyIdentifier,
            pid3(),
            "unknown patient: no patient holds this identifier (PID-3) of its assigning authority",
        )
    }

    /// The MRN (the tenant's own identifier) the PID carries, if any.
    pub(crate) fn own_mrn(&self) -> Option<&str> {
        self.known
            .iter()
            .find(|k| k.assigner == Assigner::Own)
            .map(|k| k.value.as_str())
    }

    /// The identifiers of sending facilities' authorities, to record with a registration.
    pub(crate) fn linked(&self, walk_in: bool) -> Vec<Linked> {
        self.known
            .iter()
            .filter_map(|k| match &k.assigner {
                Assigner::Facility(a) => Some(Linked {
                    authority_id: a.id,
                    value: k.value.clone(),
                    walk_in,
                }),
                Assigner::Own => None,
            })
            .collect()
    }

    /// The known authority that registers walk-ins, the sending facility's first.
    fn registering(&self) -> Option<(&patient_id_authority::Model, &str)> {
        let facility_ids = self.known.iter().filter_map(|k| match &k.assigner {
            Assigner::Facility(a) if a.registers_patients => Some((a, k.value.as_str())),
            _ => None,
        });
        let mut candidates: Vec<_> = facility_ids.collect();
        candidates.sort_by_key(|(a, _)| a.facility_id != self.sender);
        candidates.into_iter().next()
    }

    /// The sending facility's authority (its walk-in rules), if it has one.
    fn sender_authority(&self) -> Option<&patient_id_authority::Model> {
        self.sender.and_then(|f| self.authorities.of_facility(f))
    }
}

fn authority(hd: &Hd) -> Authority {
    Authority {
        namespace: hd.namespace.clone(),
        universal_id: hd.universal_id.clone(),
        universal_id_type: hd.universal_id_type.clone(),
    }
}

/// The patient of an ORU, and the authority whose walk-in rules apply to them.
pub(crate) struct OruPatient {
    pub patient: patient::Model,
    sender_authority: Option<patient_id_authority::Model>,
}

/// Finds (or, for a walk-in, registers) the patient of an ORU; see the module.
pub(crate) async fn oru_patient(
    ctx: &RequestContext,
    tenant: Uuid,
    message: &Message,
    header: &Header,
    identity: &PatientIdentity,
    row_id: Uuid,
) -> Result<OruPatient, Failure> {
    let identified = Identified::read(ctx, tenant, header, identity).await?;
    let sender_authority = identified.sender_authority().cloned();
    if let Some(patient) = identified.find(ctx, tenant).await? {
        return Ok(OruPatient {
            patient,
            sender_authority,
        });
    }
    let Some((walk_in, value)) = identified.registering() else {
        return Err(identified.unmatched());
    };
    let pid = Pid::from_message(message).map_err(|e| Failure::from_hl7(&e))?;
    let mut demographics = crate::adt::demographics(&pid)?;
    let candidates = identity::same_name_and_birth_date(
        ctx.db(),
        tenant,
        &demographics.given_name,
        &demographics.family_name,
        demographics.birth_date,
    )
    .await
    .map_err(|e| Failure::from_service(e, |_| pid3()))?;
    if let Some(candidate) = candidates.first() {
        let unmatched = Unmatched {
            hl7_message_id: row_id,
            authority_id: walk_in.id,
            value: value.to_owned(),
            given_name: demographics.given_name.clone(),
            family_name: demographics.family_name.clone(),
            birth_date: demographics.birth_date,
        };
        // Written by the interface after the refused message's transaction is rolled back.
        let mut failure = Failure::content(
            ErrorCode::UnknownKeyIdentifier,
            pid3(),
            "no patient holds this identifier (PID-3), but a patient with the same name and birth date exists: the message waits for staff in the patient matching queue",
        );
        failure.queued_match = Some(Box::new(crate::failure::QueuedMatch {
            unmatched,
            candidate: candidate.clone(),
        }));
        return Err(failure);
    }
    demographics.mrn = walk_in_mrn();
    let links = vec![Linked {
        authority_id: walk_in.id,
        value: value.to_owned(),
        walk_in: true,
    }];
    let (patient, _) = registration::register_identified(ctx, demographics, &links)
        .await
        .map_err(|e| Failure::from_service(e, crate::adt::pid_location))?;
    Ok(OruPatient {
        patient,
        sender_authority,
    })
}

/// After an ORU's results are stored: the result links a walk-in of the sending facility
/// is owed (see `portal_services::walk_in::auto`). A link that cannot be sent is a warning
/// on the ACK (the results are stored), with no patient data.
pub(crate) async fn send_walk_in_links(
    ctx: &RequestContext,
    oru: &OruPatient,
    public_url: Option<&str>,
) -> Option<Issue> {
    let (Some(authority), Some(url)) = (&oru.sender_authority, public_url) else {
        return None;
    };
    match auto::send_to_walk_in(ctx, &oru.patient, authority, url).await {
        Ok(WalkInLinks::Sent(n)) => {
            tracing::info!(links = n, "hl7.walk_in result links queued");
            None
        }
        Ok(other) => {
            tracing::debug!(reason = ?other, "hl7.walk_in no result link");
            None
        }
        Err(error) => {
            let code = error.code();
            tracing::warn!(code = %code, "hl7.walk_in result link not sent");
            Some(Issue::warning(
                ErrorCode::InternalError,
                "the result was stored; the walk-in result link could not be sent",
            ))
        }
    }
}

/// A registration's MRN and the identifiers it links, from an ADT's PID-3: the patient a
/// known identifier names keeps their MRN; a new patient without an MRN of the tenant's
/// own gets a generated one. An unknown authority alone is AE.
pub(crate) async fn adt_identity(
    ctx: &RequestContext,
    tenant: Uuid,
    header: &Header,
    identity: &PatientIdentity,
) -> Result<(String, Vec<Linked>), Failure> {
    let identified = Identified::read(ctx, tenant, header, identity).await?;
    if identified.known.is_empty() {
        return Err(identified.unmatched());
    }
    let mrn = match identified.find(ctx, tenant).await? {
        Some(patient) => patient.mrn,
        None => identified.own_mrn().map_or_else(walk_in_mrn, str::to_owned),
    };
    Ok((mrn, identified.linked(false)))
}
