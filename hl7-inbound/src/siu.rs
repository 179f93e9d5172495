//! SIU^S12/S13/S14/S15/S26: appointments of the scheduling system, by its appointment id
//! (SCH-2), through `portal_services::appointments::scheduling` (the booking rules, past allowed).

use portal_core::RequestContext;
use portal_entities::{AppointmentKind, AppointmentStatus};
use portal_hl7::messages::{Appointment, SiuEvent};
use portal_hl7::{ErrorCode, Issue, Location, Message};
use portal_services::ServiceError;
use portal_services::appointments::booking::BookingInput;
use portal_services::appointments::scheduling::{self, ExternalAppointment, Synced};
use uuid::Uuid;

use crate::failure::{Applied, Failure};
use crate::lookup;
use crate::patient_match::Identified;

pub async fn apply(
    ctx: &RequestContext,
    message: &Message,
    siu: &Appointment,
) -> Result<Applied, Failure> {
    let external_id = siu.filler_id.id.as_str();
    let synced = match siu.event {
        SiuEvent::Cancel => scheduling::set_status(ctx, external_id, AppointmentStatus::Cancelled)
            .await
            .map(|(_, s)| s)
            .map_err(failure)?,
        SiuEvent::NoShow => scheduling::set_status(ctx, external_id, AppointmentStatus::NoShow)
            .await
            .map(|(_, s)| s)
            .map_err(failure)?,
        SiuEvent::Book | SiuEvent::Reschedule | SiuEvent::Modify => {
            return book(ctx, message, siu).await;
        }
    };
    Ok(Applied {
        changed: synced != Synced::Unchanged,
        ..Applied::default()
    })
}

async fn book(
    ctx: &RequestContext,
    message: &Message,
    siu: &Appointment,
) -> Result<Applied, Failure> {
    let tenant = ctx.tenant().ok_or_else(Failure::system)?;
    let mut applied = Applied::default();
    let patient_id = patient(ctx, tenant, siu).await?;
    let facility_id = facility(ctx, tenant, siu).await?;
    let clinician_id = match siu.provider.as_ref() {
        Some(provider) => {
            let found = match provider.npi() {
                Some(npi) => lookup::clinician_by_npi(ctx, tenant, npi)
                    .await
                    .map_err(failure)?,
                None => None,
            };
            if found.is_none() {
                applied.warnings.push(
                    Issue::warning(
                        ErrorCode::UnknownKeyIdentifier,
                        "the provider's NPI is not known to the portal; booked without a clinician",
                    )
                    .at(Location::field("AIP", 1, 3)),
                );
            }
            found.map(|c| c.id)
        }
        None => None,
    };
    let sch11 = || Location::field("SCH", 1, 11);
    let offset = siu.header.default_offset();
    let starts_at = siu.starts_at.map(|t| t.to_utc(offset)).ok_or_else(|| {
        Failure::content(
            ErrorCode::RequiredFieldMissing,
            sch11().with_component(4),
            "appointment start missing",
        )
    })?;
    let ends_at = siu.ends_at.map(|t| t.to_utc(offset)).ok_or_else(|| {
        Failure::content(
            ErrorCode::RequiredFieldMissing,
            sch11().with_component(5),
            "appointment end missing (SCH-11.5, or a duration in AIS-7 / SCH-9)",
        )
    })?;
    let input = ExternalAppointment {
        external_id: siu.filler_id.id.clone(),
        patient_id,
        booking: BookingInput {
            facility_id,
            clinician_id,
            kind: kind(siu),
            starts_at,
            ends_at,
            reason: siu
                .reason
                .as_ref()
                .and_then(|r| r.text.clone().or_else(|| r.code.clone())),
        },
        order_number: message
            .segment("SCH")
            .and_then(|sch| sch.field(26).component(1).text())
            .map(String::from),
    };
    let create = siu.event == SiuEvent::Book;
    let (_, synced) = scheduling::sync(ctx, &input, create)
        .await
        .map_err(failure)?;
    applied.changed = synced != Synced::Unchanged;
    Ok(applied)
}

/// The patient named in PID, else (a change without PID) the appointment's own.
async fn patient(ctx: &RequestContext, tenant: Uuid, siu: &Appointment) -> Result<Uuid, Failure> {
    let pid = Location::field("PID", 1, 3);
    if let Some(identity) = &siu.patient {
        let identified = Identified::read(ctx, tenant, &siu.header, identity).await?;
        return identified
            .find(ctx, tenant)
            .await?
            .map(|p| p.id)
            .ok_or_else(|| identified.unmatched());
    }
    scheduling::find_external(ctx, &siu.filler_id.id)
        .await
        .map_err(failure)?
        .map(|a| a.patient_id)
        .ok_or_else(|| {
            Failure::content(
                ErrorCode::RequiredFieldMissing,
                pid.clone(),
                "PID segment missing for a new appointment",
            )
        })
}

/// The facility of AIL-3 (PL.4), else the sending facility (MSH-4): by CLIA number or any
/// alias identifier.
async fn facility(ctx: &RequestContext, tenant: Uuid, siu: &Appointment) -> Result<Uuid, Failure> {
    let ail = Location::field("AIL", 1, 3);
    let from_place = siu.place.as_ref().and_then(|p| p.facility.as_ref());
    let msh4 = siu.header.sending_facility.as_ref();
    if from_place.is_none() && msh4.is_none() {
        return Err(Failure::content(
            ErrorCode::RequiredFieldMissing,
            ail,
            "the facility is required (AIL-3.4 or MSH-4)",
        ));
    }
    for hd in [from_place, msh4].into_iter().flatten() {
        if let Some(found) = lookup::sender(ctx, tenant, Some(hd))
            .await
            .map_err(failure)?
        {
            return Ok(found.id);
        }
    }
    Err(Failure::content(
        ErrorCode::UnknownKeyIdentifier,
        ail,
        "the facility (AIL-3.4 or MSH-4) is not a facility of the portal",
    ))
}

/// LAB_DRAW or IMAGING when the service (AIS-3) or reason (SCH-7) says so, else CONSULT.
fn kind(siu: &Appointment) -> AppointmentKind {
    const LAB: [&str; 5] = ["LAB", "LABWORK", "DRAW", "BLOODDRAW", "PHLEBOTOMY"];
    const IMAGING: [&str; 8] = [
        "XR",
        "RAD",
        "IMAGING",
        "CT",
        "MRI",
        "US",
        "ULTRASOUND",
        "MAMMO",
    ];
    let words: Vec<String> = [siu.service.as_ref(), siu.reason.as_ref()]
        .into_iter()
        .flatten()
        .flat_map(|c| [c.code.clone(), c.text.clone()])
        .flatten()
        .flat_map(|t| {
            t.split(|ch: char| !ch.is_ascii_alphanumeric())
                .map(str::to_ascii_uppercase)
                .collect::<Vec<_>>()
        })
        .collect();
    let any = |set: &[&str]| words.iter().any(|w| set.contains(&w.as_str()));
    if any(&LAB) {
        AppointmentKind::LabDraw
    } else if any(&IMAGING) {
        AppointmentKind::Imaging
    } else {
        AppointmentKind::Consult
    }
}

fn failure(error: ServiceError) -> Failure {
    Failure::from_service(error, |field| match field.trim_start_matches("input.") {
        "startsAt" | "endsAt" => Location::field("SCH", 1, 11),
        "facilityId" => Location::field("AIL", 1, 3),
        "clinicianId" => Location::field("AIP", 1, 3),
        "reason" => Location::field("SCH", 1, 7),
        _ => Location::field("SCH", 1, 2),
    })
}

#[cfg(test)]
mod tests {
    use portal_hl7::messages::{Hl7Message, interpret};

    use super::*;

    fn appointment(name: &str, edit: (&str, &str)) -> Appointment {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../hl7/tests/fixtures")
            .join(name);
        let text = std::fs::read_to_string(path)
            .expect("fixture")
            .replace(edit.0, edit.1);
        let message = portal_hl7::parse(text.as_bytes()).expect("parses");
        match interpret(&message).expect("maps") {
            Hl7Message::Siu(siu) => *siu,
            other => panic!("not SIU: {other:?}"),
        }
    }

    #[test]
    fn the_kind_comes_from_the_service_or_reason_words() {
        assert_eq!(
            kind(&appointment("siu_s12.hl7", ("", ""))),
            AppointmentKind::LabDraw
        );
        let xray = appointment(
            "siu_s12.hl7",
            ("BLOODDRAW^Blood draw^L", "XR-CHEST^Chest XR^L"),
        );
        let xray = Appointment {
            reason: None,
            ..xray
        };
        assert_eq!(kind(&xray), AppointmentKind::Imaging);
        let visit = Appointment {
            service: None,
            reason: None,
            ..xray
        };
        assert_eq!(kind(&visit), AppointmentKind::Consult);
    }
}
