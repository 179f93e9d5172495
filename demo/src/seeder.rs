//! Writes the parsed demo hospital into a new tenant, row by row in the order the data lists
//! them, resolving the keys rows use to refer to each other.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use portal_entities::{
    ValueType, appointment, catalog_analyte, claim, clinician, coverage, facility, imaging_report,
    notification_preference, observation, patient, patient_id_authority, proxy_grant, tenant,
    test_catalog, test_order, test_result,
};
use sea_orm::{ActiveModelTrait, ConnectionTrait, IntoActiveModel};
use uuid::Uuid;

use crate::data::{self, Demo, Value, When};
use crate::{DemoError, interpret};

/// Ids of the rows written so far, by the key the data uses for them.
type Ids<'a> = HashMap<&'a str, Uuid>;

pub(crate) struct Seeder<'a, C> {
    db: &'a C,
    demo: &'a Demo,
    now: DateTime<Utc>,
    tenant: Uuid,
    facilities: Ids<'a>,
    clinicians: Ids<'a>,
    tests: HashMap<&'a str, (Uuid, &'a data::CatalogTest)>,
    patients: Ids<'a>,
}

impl<'a, C: ConnectionTrait> Seeder<'a, C> {
    pub(crate) fn new(db: &'a C, demo: &'a Demo, now: DateTime<Utc>, tenant: Uuid) -> Self {
        Self {
            db,
            demo,
            now,
            tenant,
            facilities: HashMap::new(),
            clinicians: HashMap::new(),
            tests: HashMap::new(),
            patients: HashMap::new(),
        }
    }

    fn at(&self, when: When) -> DateTime<Utc> {
        when.relative_to(self.now)
    }

    pub(crate) async fn run(mut self) -> Result<(), DemoError> {
        let demo = self.demo;
        self.tenant_row(&demo.tenant).await?;
        for f in &demo.facilities {
            let id = self.facility(f).await?;
            remember(&mut self.facilities, "facility", &f.key, id)?;
        }
        for c in &demo.clinicians {
            let id = self.clinician(c).await?;
            remember(&mut self.clinicians, "clinician", &c.subject, id)?;
        }
        for t in &demo.catalog {
            let id = self.test(t).await?;
            if self.tests.insert(&t.key, (id, t)).is_some() {
                return Err(invalid(format!("test `{}` is listed twice", t.key)));
            }
        }
        for p in &demo.patients {
            let id = self.patient(p).await?;
            remember(&mut self.patients, "patient", &p.mrn, id)?;
        }
        for g in &demo.proxy_grants {
            self.proxy_grant(g).await?;
        }
        Ok(())
    }

    async fn tenant_row(&self, t: &data::Tenant) -> Result<(), DemoError> {
        tenant::Model {
            id: self.tenant,
            slug: t.slug.clone(),
            name: t.name.clone(),
            created_at: self.now,
        }
        .into_active_model()
        .insert(self.db)
        .await?;
        let own = &t.patient_id_authority;
        patient_id_authority::Model {
            id: Uuid::now_v7(),
            tenant_id: self.tenant,
            facility_id: None,
            namespace: Some(own.namespace.clone()),
            universal_id: Some(own.universal_id.clone()),
            universal_id_type: Some(own.universal_id_type.clone()),
            registers_patients: false,
            sends_result_links: false,
            created_at: self.now,
            updated_at: None,
        }
        .into_active_model()
        .insert(self.db)
        .await?;
        Ok(())
    }

    async fn facility(&self, f: &data::Facility) -> Result<Uuid, DemoError> {
        let row = facility::Model {
            id: Uuid::now_v7(),
            tenant_id: self.tenant,
            name: f.name.clone(),
            clia_number: Some(f.clia_number.clone()),
            address: Some(f.address.clone()),
            created_at: self.now,
            city: Some(f.city.clone()),
            state: Some(f.state.clone()),
            postal_code: Some(f.postal_code.clone()),
            country: Some(f.country.clone()),
            phone: Some(f.phone.clone()),
            updated_at: None,
            default_ordering_clinician_id: None,
            accept_valid_groups: false,
            identifiers: None,
            code_map: None,
        };
        Ok(row.into_active_model().insert(self.db).await?.id)
    }

    async fn clinician(&self, c: &data::Clinician) -> Result<Uuid, DemoError> {
        let row = clinician::Model {
            id: Uuid::now_v7(),
            tenant_id: self.tenant,
            user_subject: Some(c.subject.clone()),
            display_name: c.name.clone(),
            npi: Some(c.npi.clone()),
            created_at: self.now,
            given_name: Some(c.given_name.clone()),
            family_name: Some(c.family_name.clone()),
            updated_at: None,
        };
        Ok(row.into_active_model().insert(self.db).await?.id)
    }

    async fn test(&self, t: &data::CatalogTest) -> Result<Uuid, DemoError> {
        // A single-analyte test carries that analyte's unit and range itself.
        let single = match t.analytes.as_slice() {
            [only] => Some(only),
            _ => None,
        };
        let row = test_catalog::Model {
            id: Uuid::now_v7(),
            tenant_id: self.tenant,
            code: t.code.clone(),
            code_system: t.code_system,
            display_name: t.name.clone(),
            category: t.category,
            specimen: t.specimen.clone(),
            unit: single.and_then(|a| a.unit.clone()),
            reference_low: single.and_then(|a| a.low),
            reference_high: single.and_then(|a| a.high),
            reference_text: None,
            sensitive: t.sensitive,
            created_at: self.now,
            reportable: t.reportable,
            updated_at: None,
            device_model: t.device_model.clone(),
        };
        let id = row.into_active_model().insert(self.db).await?.id;
        for (position, a) in (0..).zip(&t.analytes) {
            self.analyte(id, position, a).await?;
        }
        Ok(id)
    }

    async fn analyte(
        &self,
        test_id: Uuid,
        position: i32,
        a: &data::Analyte,
    ) -> Result<(), DemoError> {
        catalog_analyte::Model {
            id: Uuid::now_v7(),
            tenant_id: self.tenant,
            test_id,
            position,
            code: a.code.clone(),
            display_name: a.name.clone(),
            value_type: a.value_type,
            unit: a.unit.clone(),
            reference_low: a.low,
            reference_high: a.high,
            reference_text: a.reference_text.clone(),
            reportable: true,
        }
        .into_active_model()
        .insert(self.db)
        .await?;
        Ok(())
    }

    /// The patient with their preferences, appointments, orders (with results) and coverage.
    async fn patient(&self, p: &'a data::Patient) -> Result<Uuid, DemoError> {
        let row = patient::Model {
            id: Uuid::now_v7(),
            tenant_id: self.tenant,
            mrn: p.mrn.clone(),
            given_name: p.given_name.clone(),
            family_name: p.family_name.clone(),
            birth_date: p.birth_date,
            email: p.email.clone(),
            phone: p.phone.clone(),
            user_subject: p.account.clone(),
            created_at: self.now,
            sex: Some(p.sex.clone()),
            race: Some(p.race.clone()),
            ethnicity: Some(p.ethnicity.clone()),
            address_line1: Some(p.address.line1.clone()),
            address_line2: p.address.line2.clone(),
            city: Some(p.address.city.clone()),
            state: Some(p.address.state.clone()),
            postal_code: Some(p.address.postal_code.clone()),
            county: p.address.county.clone(),
            country: Some(p.address.country.clone()),
            language: Some(p.language.clone()),
            updated_at: None,
        };
        let id = row.into_active_model().insert(self.db).await?.id;
        self.preferences(id, &p.preferences).await?;
        let mut visits = Ids::new();
        for a in &p.appointments {
            let visit = self.appointment(id, a).await?;
            remember(&mut visits, "appointment", &a.key, visit)?;
        }
        for o in &p.orders {
            self.order(id, o, &visits).await?;
        }
        for c in &p.coverages {
            self.coverage(id, c).await?;
        }
        Ok(id)
    }

    async fn preferences(&self, patient_id: Uuid, p: &data::Preferences) -> Result<(), DemoError> {
        notification_preference::Model {
            patient_id,
            tenant_id: self.tenant,
            email: p.email,
            sms: p.sms,
            push: p.push,
            language: p.language.clone(),
            hold_sensitive_results: p.hold_sensitive_results,
            updated_at: self.now,
        }
        .into_active_model()
        .insert(self.db)
        .await?;
        Ok(())
    }

    async fn appointment(
        &self,
        patient_id: Uuid,
        a: &data::Appointment,
    ) -> Result<Uuid, DemoError> {
        let starts = self.at(a.starts);
        let row = appointment::Model {
            id: Uuid::now_v7(),
            tenant_id: self.tenant,
            patient_id,
            facility_id: lookup(&self.facilities, "facility", &a.facility)?,
            clinician_id: lookup_optional(&self.clinicians, "clinician", a.clinician.as_deref())?,
            kind: a.kind,
            starts_at: starts,
            ends_at: starts + Duration::minutes(a.minutes),
            status: a.status,
            reason: Some(a.reason.clone()),
            created_at: self.at(a.booked),
            cancelled_at: None,
            external_id: None,
            order_number: None,
        };
        Ok(row.into_active_model().insert(self.db).await?.id)
    }

    async fn order(
        &self,
        patient_id: Uuid,
        o: &data::Order,
        visits: &Ids<'_>,
    ) -> Result<(), DemoError> {
        let &(test_id, test) = self
            .tests
            .get(o.test.as_str())
            .ok_or_else(|| invalid(format!("unknown test `{}`", o.test)))?;
        let id = Uuid::now_v7();
        let ordered = self.at(o.ordered);
        let row = test_order::Model {
            id,
            tenant_id: self.tenant,
            patient_id,
            facility_id: lookup(&self.facilities, "facility", &o.facility)?,
            test_id,
            ordering_clinician_id: lookup_optional(
                &self.clinicians,
                "clinician",
                o.ordering.as_deref(),
            )?,
            referring_clinician_id: lookup_optional(
                &self.clinicians,
                "clinician",
                o.referring.as_deref(),
            )?,
            appointment_id: lookup_optional(visits, "appointment", o.appointment.as_deref())?,
            source: o.source,
            status: o.status,
            accession_number: Some(accession_number(id)),
            placer_order_number: None,
            filler_order_number: None,
            ordering_provider_name: None,
            ordering_facility_name: None,
            ordering_facility_identifier: None,
            entering_organization: None,
            ordered_at: ordered,
            created_at: ordered,
            placer_group_number: None,
        };
        let order = row.into_active_model().insert(self.db).await?;
        let mut previous = None;
        for r in &o.results {
            previous = Some(self.result(&order, test, r, previous.as_ref()).await?);
        }
        Ok(())
    }

    /// A result of `order`; a correction replaces `previous` and joins its chain.
    async fn result(
        &self,
        order: &test_order::Model,
        test: &data::CatalogTest,
        r: &data::TestResult,
        previous: Option<&test_result::Model>,
    ) -> Result<test_result::Model, DemoError> {
        let replaces = match (&r.correction_reason, previous) {
            (None, _) => None,
            (Some(_), Some(original)) => Some(original),
            (Some(_), None) => {
                return Err(invalid(format!(
                    "the first `{}` result is a correction",
                    test.key
                )));
            }
        };
        let id = Uuid::now_v7();
        let issued = self.at(r.issued);
        let row = test_result::Model {
            id,
            tenant_id: self.tenant,
            patient_id: order.patient_id,
            order_id: order.id,
            test_id: order.test_id,
            category: test.category,
            status: r.status,
            issued_at: issued,
            performing_lab: Some(self.demo.performing_lab.clone()),
            conclusion: r.conclusion.clone(),
            chain_id: replaces.map_or(id, |original| original.chain_id),
            replaces_result_id: replaces.map(|original| original.id),
            correction_reason: r.correction_reason.clone(),
            idempotency_key: None,
            created_at: issued,
        };
        let result = row.into_active_model().insert(self.db).await?;
        self.observations(result.id, test, &r.values).await?;
        if let Some(report) = &r.imaging_report {
            self.imaging_report(result.id, report).await?;
        }
        Ok(result)
    }

    /// One observation per analyte of the test, in order.
    async fn observations(
        &self,
        result_id: Uuid,
        test: &data::CatalogTest,
        values: &[Value],
    ) -> Result<(), DemoError> {
        if values.len() != test.analytes.len() {
            return Err(invalid(format!(
                "a `{}` result has {} values for {} analytes",
                test.key,
                values.len(),
                test.analytes.len()
            )));
        }
        for (position, (a, value)) in (0..).zip(test.analytes.iter().zip(values)) {
            self.observation(result_id, position, a, value).await?;
        }
        Ok(())
    }

    /// The observation of analyte `a`; the value must be of the analyte's type.
    async fn observation(
        &self,
        result_id: Uuid,
        position: i32,
        a: &data::Analyte,
        value: &Value,
    ) -> Result<(), DemoError> {
        let mut row = observation::Model {
            id: Uuid::now_v7(),
            tenant_id: self.tenant,
            result_id,
            position,
            code: a.code.clone(),
            display_name: a.name.clone(),
            value_type: a.value_type,
            value_numeric: None,
            value_text: None,
            value_code: None,
            unit: a.unit.clone(),
            reference_low: a.low,
            reference_high: a.high,
            reference_text: a.reference_text.clone(),
            interpretation: None,
            abnormal_flags: None,
        };
        match value {
            Value::Numeric(v) if a.value_type == ValueType::Numeric => {
                row.value_numeric = Some(*v);
                row.interpretation = Some(interpret(*v, a.low, a.high));
            }
            Value::Coded {
                text,
                code,
                interpretation,
            } if a.value_type == ValueType::Coded => {
                row.value_text = Some(text.clone());
                row.value_code = Some(code.clone());
                row.interpretation = Some(*interpretation);
            }
            _ => {
                return Err(invalid(format!(
                    "a value of the wrong type for the {:?} analyte `{}`",
                    a.value_type, a.code
                )));
            }
        }
        row.into_active_model().insert(self.db).await?;
        Ok(())
    }

    async fn imaging_report(
        &self,
        result_id: Uuid,
        r: &data::ImagingReport,
    ) -> Result<(), DemoError> {
        imaging_report::Model {
            result_id,
            tenant_id: self.tenant,
            modality: r.modality.clone(),
            study_instance_uid: r.study_instance_uid.clone(),
            findings: r.findings.clone(),
            impression: r.impression.clone(),
        }
        .into_active_model()
        .insert(self.db)
        .await?;
        Ok(())
    }

    async fn coverage(&self, patient_id: Uuid, c: &data::Coverage) -> Result<(), DemoError> {
        let start = self.at(c.start);
        let row = coverage::Model {
            id: Uuid::now_v7(),
            tenant_id: self.tenant,
            patient_id,
            payer: c.payer.clone(),
            plan_name: c.plan_name.clone(),
            member_id: c.member_id.clone(),
            group_number: c.group_number.clone(),
            period_start: start.date_naive(),
            period_end: c.end.map(|end| self.at(end).date_naive()),
            status: c.status,
            created_at: start,
            payer_id: None,
            updated_at: None,
        };
        let coverage_id = row.into_active_model().insert(self.db).await?.id;
        for claim in &c.claims {
            self.claim(patient_id, coverage_id, claim).await?;
        }
        Ok(())
    }

    async fn claim(
        &self,
        patient_id: Uuid,
        coverage_id: Uuid,
        c: &data::Claim,
    ) -> Result<(), DemoError> {
        let service = self.at(c.service);
        claim::Model {
            id: Uuid::now_v7(),
            tenant_id: self.tenant,
            patient_id,
            coverage_id,
            claim_number: c.number.clone(),
            service_date: service.date_naive(),
            description: c.description.clone(),
            billed_cents: c.billed_cents,
            allowed_cents: c.allowed_cents,
            patient_responsibility_cents: c.patient_responsibility_cents,
            currency: c.currency.clone(),
            status: c.status,
            created_at: service,
            updated_at: None,
        }
        .into_active_model()
        .insert(self.db)
        .await?;
        Ok(())
    }

    async fn proxy_grant(&self, g: &data::ProxyGrant) -> Result<(), DemoError> {
        let valid_from = self.at(g.valid_from);
        proxy_grant::Model {
            id: Uuid::now_v7(),
            tenant_id: self.tenant,
            patient_id: lookup(&self.patients, "patient", &g.patient)?,
            grantee_subject: g.grantee_subject.clone(),
            grantee_name: g.grantee_name.clone(),
            relationship: g.relationship.clone(),
            scopes: g.scopes.clone(),
            valid_from,
            valid_to: g.valid_to.map(|to| self.at(to)),
            revoked_at: None,
            created_at: valid_from,
            expired_at: None,
        }
        .into_active_model()
        .insert(self.db)
        .await?;
        Ok(())
    }
}

/// The lab's accession number, from the order's id.
fn accession_number(order_id: Uuid) -> String {
    format!("ACC-{}", &order_id.simple().to_string()[20..])
}

fn invalid(message: String) -> DemoError {
    DemoError::Invalid(message)
}

fn remember<'a>(ids: &mut Ids<'a>, kind: &str, key: &'a str, id: Uuid) -> Result<(), DemoError> {
    match ids.insert(key, id) {
        None => Ok(()),
        Some(_) => Err(invalid(format!("{kind} `{key}` is listed twice"))),
    }
}

fn lookup(ids: &Ids<'_>, kind: &str, key: &str) -> Result<Uuid, DemoError> {
    ids.get(key)
        .copied()
        .ok_or_else(|| invalid(format!("unknown {kind} `{key}`")))
}

fn lookup_optional(
    ids: &Ids<'_>,
    kind: &str,
    key: Option<&str>,
) -> Result<Option<Uuid>, DemoError> {
    key.map(|key| lookup(ids, kind, key)).transpose()
}
