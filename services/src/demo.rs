//! Demo data for the embedded default: one hospital tenant with realistic patients and results.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use portal_entities::*;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait,
    IntoActiveModel, QueryFilter,
};
use uuid::Uuid;

use crate::interpretation::interpret;
use portal_core::error::ServiceResult;

pub const DEMO_TENANT_SLUG: &str = "demo";

/// A demo account, for the start-up log and `portal token`.
#[derive(Debug, Clone)]
pub struct DemoAccount {
    pub label: &'static str,
    pub mrn: Option<&'static str>,
    pub subject: &'static str,
}

pub const DEMO_ACCOUNTS: [DemoAccount; 5] = [
    DemoAccount {
        label: "Alice Nguyen (patient)",
        mrn: Some("MRN1001"),
        subject: "alice",
    },
    DemoAccount {
        label: "Carol Johnson (patient, proxy for her son Ben)",
        mrn: Some("MRN1002"),
        subject: "carol",
    },
    DemoAccount {
        label: "David Kim (walk-in patient)",
        mrn: Some("MRN1004"),
        subject: "david",
    },
    DemoAccount {
        label: "Dr. Maya Patel (clinician)",
        mrn: None,
        subject: "dr.patel",
    },
    DemoAccount {
        label: "Riverside lab interface (lab)",
        mrn: None,
        subject: "lis.riverside",
    },
];

/// Seeds the demo tenant once; returns its id and whether it was created now.
pub async fn seed(db: &DatabaseConnection) -> ServiceResult<(Uuid, bool)> {
    if let Some(existing) = demo_tenant(db).await? {
        return Ok((existing, false));
    }
    // The new tenant's rows are written in a transaction bound to it (row-level security).
    let tenant_id = Uuid::now_v7();
    let scoped = portal_core::db::TenantDb::scoped(db.clone(), Some(tenant_id));
    let txn = portal_core::db::begin_write(&scoped).await?;
    Seeder::new(&txn, portal_core::clock::now(), tenant_id)
        .run()
        .await?;
    txn.commit().await?;
    Ok((tenant_id, true))
}

/// The demo tenant's id, if seeded.
pub async fn demo_tenant<C: ConnectionTrait>(db: &C) -> ServiceResult<Option<Uuid>> {
    Ok(tenant::Entity::find()
        .filter(tenant::Column::Slug.eq(DEMO_TENANT_SLUG))
        .one(db)
        .await?
        .map(|t| t.id))
}

struct Seeder<'a, C> {
    db: &'a C,
    now: DateTime<Utc>,
    tenant: Uuid,
}

struct Analyte {
    code: &'static str,
    name: &'static str,
    unit: &'static str,
    low: Option<f64>,
    high: Option<f64>,
}

const fn analyte(
    code: &'static str,
    name: &'static str,
    unit: &'static str,
    low: Option<f64>,
    high: Option<f64>,
) -> Analyte {
    Analyte {
        code,
        name,
        unit,
        low,
        high,
    }
}

const CBC: [Analyte; 5] = [
    analyte(
        "6690-2",
        "Leukocytes [#/volume] in Blood by Automated count",
        "10*3/uL",
        Some(4.5),
        Some(11.0),
    ),
    analyte(
        "789-8",
        "Erythrocytes [#/volume] in Blood by Automated count",
        "10*6/uL",
        Some(4.2),
        Some(5.4),
    ),
    analyte(
        "718-7",
        "Hemoglobin [Mass/volume] in Blood",
        "g/dL",
        Some(12.0),
        Some(15.5),
    ),
    analyte(
        "4544-3",
        "Hematocrit [Volume Fraction] of Blood by Automated count",
        "%",
        Some(36.0),
        Some(46.0),
    ),
    analyte(
        "777-3",
        "Platelets [#/volume] in Blood by Automated count",
        "10*3/uL",
        Some(150.0),
        Some(400.0),
    ),
];
const LIPID: [Analyte; 4] = [
    analyte(
        "2093-3",
        "Cholesterol [Mass/volume] in Serum or Plasma",
        "mg/dL",
        None,
        Some(200.0),
    ),
    analyte(
        "2571-8",
        "Triglyceride [Mass/volume] in Serum or Plasma",
        "mg/dL",
        None,
        Some(150.0),
    ),
    analyte(
        "2085-9",
        "Cholesterol in HDL [Mass/volume] in Serum or Plasma",
        "mg/dL",
        Some(40.0),
        None,
    ),
    analyte(
        "18262-6",
        "Cholesterol in LDL [Mass/volume] in Serum or Plasma by Direct assay",
        "mg/dL",
        None,
        Some(100.0),
    ),
];
const HBA1C: [Analyte; 1] = [analyte(
    "4548-4",
    "Hemoglobin A1c/Hemoglobin.total in Blood",
    "%",
    Some(4.0),
    Some(5.6),
)];

/// Catalog ids of the seeded tests.
struct Catalog {
    cbc: Uuid,
    lipid: Uuid,
    hba1c: Uuid,
    chest_xr: Uuid,
    hiv: Uuid,
}

/// Ids the results refer to.
struct Places {
    lab: Uuid,
    imaging: Uuid,
    dr_patel: Uuid,
    dr_okafor: Uuid,
}

impl<'a, C: ConnectionTrait> Seeder<'a, C> {
    fn new(db: &'a C, now: DateTime<Utc>, tenant: Uuid) -> Self {
        Self { db, now, tenant }
    }

    fn ago(&self, days: i64) -> DateTime<Utc> {
        self.now - Duration::days(days)
    }

    async fn run(self) -> ServiceResult<Uuid> {
        tenant::Model {
            id: self.tenant,
            slug: DEMO_TENANT_SLUG.to_owned(),
            name: "Riverside Health (demo)".to_owned(),
            created_at: self.now,
        }
        .into_active_model()
        .insert(self.db)
        .await?;
        let places = self.places().await?;
        let catalog = self.catalog().await?;
        self.alice(&places, &catalog).await?;
        self.johnsons(&places, &catalog).await?;
        self.david(&places, &catalog).await?;
        Ok(self.tenant)
    }

    async fn places(&self) -> ServiceResult<Places> {
        let lab = self
            .facility("Riverside Main Laboratory", "05D2101234")
            .await?;
        let imaging = self
            .facility("Riverside Imaging Center", "05D2105678")
            .await?;
        let dr_patel = self
            .clinician("dr.patel", "Dr. Maya Patel", "1234567893")
            .await?;
        let dr_okafor = self
            .clinician("dr.okafor", "Dr. James Okafor", "1245319599")
            .await?;
        Ok(Places {
            lab,
            imaging,
            dr_patel,
            dr_okafor,
        })
    }

    async fn facility(&self, name: &str, clia: &str) -> ServiceResult<Uuid> {
        let id = Uuid::now_v7();
        facility::Model {
            id,
            tenant_id: self.tenant,
            name: name.to_owned(),
            clia_number: Some(clia.to_owned()),
            address: Some("100 River Road, Springfield".to_owned()),
            created_at: self.now,
        }
        .into_active_model()
        .insert(self.db)
        .await?;
        Ok(id)
    }

    async fn clinician(&self, subject: &str, name: &str, npi: &str) -> ServiceResult<Uuid> {
        let id = Uuid::now_v7();
        clinician::Model {
            id,
            tenant_id: self.tenant,
            user_subject: Some(subject.to_owned()),
            display_name: name.to_owned(),
            npi: Some(npi.to_owned()),
            created_at: self.now,
        }
        .into_active_model()
        .insert(self.db)
        .await?;
        Ok(id)
    }

    async fn catalog(&self) -> ServiceResult<Catalog> {
        Ok(Catalog {
            cbc: self
                .test(
                    "58410-2",
                    "CBC panel - Blood by Automated count",
                    TestCategory::Lab,
                    Some("Blood"),
                    &CBC,
                    false,
                )
                .await?,
            lipid: self
                .test(
                    "57698-3",
                    "Lipid panel with direct LDL - Serum or Plasma",
                    TestCategory::Lab,
                    Some("Serum"),
                    &LIPID,
                    false,
                )
                .await?,
            hba1c: self
                .test(
                    "4548-4",
                    "Hemoglobin A1c/Hemoglobin.total in Blood",
                    TestCategory::Lab,
                    Some("Blood"),
                    &HBA1C,
                    false,
                )
                .await?,
            chest_xr: self
                .test(
                    "36643-5",
                    "XR Chest 2 Views",
                    TestCategory::Imaging,
                    None,
                    &[],
                    false,
                )
                .await?,
            hiv: self.hiv_test().await?,
        })
    }

    async fn test(
        &self,
        code: &str,
        name: &str,
        category: TestCategory,
        specimen: Option<&str>,
        analytes: &[Analyte],
        sensitive: bool,
    ) -> ServiceResult<Uuid> {
        let id = Uuid::now_v7();
        let single = (analytes.len() == 1).then(|| &analytes[0]);
        test_catalog::Model {
            id,
            tenant_id: self.tenant,
            code: code.to_owned(),
            code_system: CodeSystem::Loinc,
            display_name: name.to_owned(),
            category,
            specimen: specimen.map(str::to_owned),
            unit: single.map(|a| a.unit.to_owned()),
            reference_low: single.and_then(|a| a.low),
            reference_high: single.and_then(|a| a.high),
            reference_text: None,
            sensitive,
            created_at: self.now,
        }
        .into_active_model()
        .insert(self.db)
        .await?;
        for (position, a) in analytes.iter().enumerate() {
            catalog_analyte::Model {
                id: Uuid::now_v7(),
                tenant_id: self.tenant,
                test_id: id,
                position: position as i32,
                code: a.code.to_owned(),
                display_name: a.name.to_owned(),
                value_type: ValueType::Numeric,
                unit: Some(a.unit.to_owned()),
                reference_low: a.low,
                reference_high: a.high,
                reference_text: None,
            }
            .into_active_model()
            .insert(self.db)
            .await?;
        }
        Ok(id)
    }

    async fn hiv_test(&self) -> ServiceResult<Uuid> {
        let id = self
            .test(
                "56888-1",
                "HIV 1+2 Ab+HIV1 p24 Ag [Presence] in Serum or Plasma by Immunoassay",
                TestCategory::Lab,
                Some("Serum"),
                &[],
                true,
            )
            .await?;
        catalog_analyte::Model {
            id: Uuid::now_v7(),
            tenant_id: self.tenant,
            test_id: id,
            position: 0,
            code: "56888-1".to_owned(),
            display_name: "HIV 1+2 Ab+HIV1 p24 Ag".to_owned(),
            value_type: ValueType::Coded,
            unit: None,
            reference_low: None,
            reference_high: None,
            reference_text: Some("Nonreactive".to_owned()),
        }
        .into_active_model()
        .insert(self.db)
        .await?;
        Ok(id)
    }

    #[allow(clippy::too_many_arguments)]
    async fn patient(
        &self,
        mrn: &str,
        given: &str,
        family: &str,
        birth: NaiveDate,
        subject: Option<&str>,
        email: bool,
        sms: bool,
        push: bool,
    ) -> ServiceResult<Uuid> {
        let id = Uuid::now_v7();
        let handle = given.to_lowercase();
        patient::Model {
            id,
            tenant_id: self.tenant,
            mrn: mrn.to_owned(),
            given_name: given.to_owned(),
            family_name: family.to_owned(),
            birth_date: birth,
            email: subject.map(|_| format!("{handle}@example.org")),
            phone: subject.map(|_| "+15555550100".to_owned()),
            user_subject: subject.map(str::to_owned),
            created_at: self.now,
        }
        .into_active_model()
        .insert(self.db)
        .await?;
        notification_preference::Model {
            patient_id: id,
            tenant_id: self.tenant,
            email,
            sms,
            push,
            language: "en".to_owned(),
            hold_sensitive_results: false,
            updated_at: self.now,
        }
        .into_active_model()
        .insert(self.db)
        .await?;
        Ok(id)
    }

    #[allow(clippy::too_many_arguments)]
    async fn order(
        &self,
        patient_id: Uuid,
        facility_id: Uuid,
        test_id: Uuid,
        clinician: Option<Uuid>,
        source: OrderSource,
        status: OrderStatus,
        appointment_id: Option<Uuid>,
        ordered_days_ago: i64,
    ) -> ServiceResult<Uuid> {
        let id = Uuid::now_v7();
        let (ordering, referring) = match source {
            OrderSource::Referral => (None, clinician),
            _ => (clinician, None),
        };
        test_order::Model {
            id,
            tenant_id: self.tenant,
            patient_id,
            facility_id,
            test_id,
            ordering_clinician_id: ordering,
            referring_clinician_id: referring,
            appointment_id,
            source,
            status,
            accession_number: Some(format!("ACC-{}", &id.simple().to_string()[20..])),
            ordered_at: self.ago(ordered_days_ago),
            created_at: self.ago(ordered_days_ago),
        }
        .into_active_model()
        .insert(self.db)
        .await?;
        Ok(id)
    }

    /// Stores a result with numeric observations; `values` pairs with the analytes in order.
    #[allow(clippy::too_many_arguments)]
    async fn lab_result(
        &self,
        patient_id: Uuid,
        order_id: Uuid,
        test_id: Uuid,
        status: ResultStatus,
        issued: DateTime<Utc>,
        analytes: &[Analyte],
        values: &[f64],
        replaces: Option<(Uuid, Uuid, &str)>,
    ) -> ServiceResult<Uuid> {
        let id = self
            .result(
                patient_id,
                order_id,
                test_id,
                TestCategory::Lab,
                status,
                issued,
                replaces,
                None,
            )
            .await?;
        for (position, (a, value)) in analytes.iter().zip(values).enumerate() {
            observation::Model {
                id: Uuid::now_v7(),
                tenant_id: self.tenant,
                result_id: id,
                position: position as i32,
                code: a.code.to_owned(),
                display_name: a.name.to_owned(),
                value_type: ValueType::Numeric,
                value_numeric: Some(*value),
                value_text: None,
                value_code: None,
                unit: Some(a.unit.to_owned()),
                reference_low: a.low,
                reference_high: a.high,
                reference_text: None,
                interpretation: Some(interpret(*value, a.low, a.high)),
            }
            .into_active_model()
            .insert(self.db)
            .await?;
        }
        Ok(id)
    }

    #[allow(clippy::too_many_arguments)]
    async fn result(
        &self,
        patient_id: Uuid,
        order_id: Uuid,
        test_id: Uuid,
        category: TestCategory,
        status: ResultStatus,
        issued: DateTime<Utc>,
        replaces: Option<(Uuid, Uuid, &str)>,
        conclusion: Option<&str>,
    ) -> ServiceResult<Uuid> {
        let id = Uuid::now_v7();
        test_result::Model {
            id,
            tenant_id: self.tenant,
            patient_id,
            order_id,
            test_id,
            category,
            status,
            issued_at: issued,
            performing_lab: Some("Riverside Main Laboratory".to_owned()),
            conclusion: conclusion.map(str::to_owned),
            chain_id: replaces.map(|(_, chain, _)| chain).unwrap_or(id),
            replaces_result_id: replaces.map(|(original, _, _)| original),
            correction_reason: replaces.map(|(_, _, reason)| reason.to_owned()),
            idempotency_key: None,
            created_at: issued,
        }
        .into_active_model()
        .insert(self.db)
        .await?;
        Ok(id)
    }

    #[allow(clippy::too_many_arguments)]
    async fn appointment(
        &self,
        patient_id: Uuid,
        facility_id: Uuid,
        clinician_id: Option<Uuid>,
        kind: AppointmentKind,
        starts: DateTime<Utc>,
        status: AppointmentStatus,
        reason: &str,
    ) -> ServiceResult<Uuid> {
        let id = Uuid::now_v7();
        appointment::Model {
            id,
            tenant_id: self.tenant,
            patient_id,
            facility_id,
            clinician_id,
            kind,
            starts_at: starts,
            ends_at: starts + Duration::minutes(30),
            status,
            reason: Some(reason.to_owned()),
            created_at: self.ago(30),
            cancelled_at: None,
        }
        .into_active_model()
        .insert(self.db)
        .await?;
        Ok(id)
    }

    async fn alice(&self, p: &Places, c: &Catalog) -> ServiceResult<()> {
        let alice = self
            .patient(
                "MRN1001",
                "Alice",
                "Nguyen",
                date(1984, 3, 12),
                Some("alice"),
                true,
                true,
                false,
            )
            .await?;
        let draw = self
            .appointment(
                alice,
                p.lab,
                Some(p.dr_patel),
                AppointmentKind::LabDraw,
                self.ago(14),
                AppointmentStatus::Completed,
                "Annual blood work",
            )
            .await?;
        self.appointment(
            alice,
            p.lab,
            Some(p.dr_patel),
            AppointmentKind::Consult,
            self.now + Duration::days(5),
            AppointmentStatus::Booked,
            "Discuss lipid results",
        )
        .await?;
        self.appointment(
            alice,
            p.imaging,
            None,
            AppointmentKind::Imaging,
            self.ago(3),
            AppointmentStatus::Completed,
            "Chest X-ray",
        )
        .await?;

        let cbc_order = self
            .order(
                alice,
                p.lab,
                c.cbc,
                Some(p.dr_patel),
                OrderSource::Portal,
                OrderStatus::Completed,
                Some(draw),
                15,
            )
            .await?;
        self.lab_result(
            alice,
            cbc_order,
            c.cbc,
            ResultStatus::Final,
            self.ago(13),
            &CBC,
            &[6.1, 4.7, 13.8, 41.2, 265.0],
            None,
        )
        .await?;
        let lipid_order = self
            .order(
                alice,
                p.lab,
                c.lipid,
                Some(p.dr_patel),
                OrderSource::Portal,
                OrderStatus::Completed,
                Some(draw),
                15,
            )
            .await?;
        self.lab_result(
            alice,
            lipid_order,
            c.lipid,
            ResultStatus::Final,
            self.ago(12),
            &LIPID,
            &[236.0, 180.0, 38.0, 152.0],
            None,
        )
        .await?;

        // An HbA1c reported, then corrected after an analyser interface fault.
        let a1c_order = self
            .order(
                alice,
                p.lab,
                c.hba1c,
                Some(p.dr_patel),
                OrderSource::Portal,
                OrderStatus::Completed,
                Some(draw),
                15,
            )
            .await?;
        let original = self
            .lab_result(
                alice,
                a1c_order,
                c.hba1c,
                ResultStatus::Final,
                self.ago(12),
                &HBA1C,
                &[5.9],
                None,
            )
            .await?;
        self.lab_result(
            alice,
            a1c_order,
            c.hba1c,
            ResultStatus::Corrected,
            self.ago(11),
            &HBA1C,
            &[6.4],
            Some((
                original,
                original,
                "Analyser interface transposed digits; value re-run and verified",
            )),
        )
        .await?;

        let xr_order = self
            .order(
                alice,
                p.imaging,
                c.chest_xr,
                Some(p.dr_okafor),
                OrderSource::Referral,
                OrderStatus::Completed,
                None,
                4,
            )
            .await?;
        let xr = self
            .result(
                alice,
                xr_order,
                c.chest_xr,
                TestCategory::Imaging,
                ResultStatus::Final,
                self.ago(3),
                None,
                Some("No acute cardiopulmonary process."),
            )
            .await?;
        imaging_report::Model {
            result_id: xr,
            tenant_id: self.tenant,
            modality: "DX".to_owned(),
            study_instance_uid: "1.2.826.0.1.3680043.8.498.10594871384722309573".to_owned(),
            findings: "Lungs are clear. No pleural effusion or pneumothorax. Heart size is normal."
                .to_owned(),
            impression: "No acute cardiopulmonary process.".to_owned(),
        }
        .into_active_model()
        .insert(self.db)
        .await?;

        let hiv_order = self
            .order(
                alice,
                p.lab,
                c.hiv,
                Some(p.dr_patel),
                OrderSource::Portal,
                OrderStatus::Completed,
                Some(draw),
                15,
            )
            .await?;
        let hiv = self
            .result(
                alice,
                hiv_order,
                c.hiv,
                TestCategory::Lab,
                ResultStatus::Final,
                self.ago(12),
                None,
                None,
            )
            .await?;
        observation::Model {
            id: Uuid::now_v7(),
            tenant_id: self.tenant,
            result_id: hiv,
            position: 0,
            code: "56888-1".to_owned(),
            display_name: "HIV 1+2 Ab+HIV1 p24 Ag".to_owned(),
            value_type: ValueType::Coded,
            value_numeric: None,
            value_text: Some("Nonreactive".to_owned()),
            value_code: Some("260385009".to_owned()),
            unit: None,
            reference_low: None,
            reference_high: None,
            reference_text: Some("Nonreactive".to_owned()),
            interpretation: Some(Interpretation::Normal),
        }
        .into_active_model()
        .insert(self.db)
        .await?;

        // Drawn this morning, still PRELIMINARY: visible to the care team, never to Alice.
        let repeat = self
            .order(
                alice,
                p.lab,
                c.cbc,
                Some(p.dr_patel),
                OrderSource::Portal,
                OrderStatus::Pending,
                None,
                1,
            )
            .await?;
        self.lab_result(
            alice,
            repeat,
            c.cbc,
            ResultStatus::Preliminary,
            self.now - Duration::hours(2),
            &CBC,
            &[11.9, 4.5, 12.9, 39.0, 240.0],
            None,
        )
        .await?;

        self.coverage(alice, "Blue Harbor Health", "PPO Gold", "BHH123456789")
            .await
    }

    async fn johnsons(&self, p: &Places, c: &Catalog) -> ServiceResult<()> {
        let carol = self
            .patient(
                "MRN1002",
                "Carol",
                "Johnson",
                date(1979, 7, 30),
                Some("carol"),
                true,
                false,
                true,
            )
            .await?;
        let ben = self
            .patient(
                "MRN1003",
                "Ben",
                "Johnson",
                date(2016, 5, 2),
                None,
                false,
                false,
                false,
            )
            .await?;
        proxy_grant::Model {
            id: Uuid::now_v7(),
            tenant_id: self.tenant,
            patient_id: ben,
            grantee_subject: "carol".to_owned(),
            grantee_name: "Carol Johnson".to_owned(),
            relationship: "PARENT".to_owned(),
            scopes: "RESULTS,APPOINTMENTS,COVERAGE".to_owned(),
            valid_from: self.ago(365),
            valid_to: Some(self.now + Duration::days(365 * 8)),
            revoked_at: None,
            created_at: self.ago(365),
            expired_at: None,
        }
        .into_active_model()
        .insert(self.db)
        .await?;
        let order = self
            .order(
                ben,
                p.lab,
                c.cbc,
                Some(p.dr_okafor),
                OrderSource::Portal,
                OrderStatus::Completed,
                None,
                6,
            )
            .await?;
        self.lab_result(
            ben,
            order,
            c.cbc,
            ResultStatus::Final,
            self.ago(5),
            &CBC,
            &[7.2, 4.6, 12.4, 37.5, 310.0],
            None,
        )
        .await?;
        self.appointment(
            ben,
            p.lab,
            Some(p.dr_okafor),
            AppointmentKind::Consult,
            self.now + Duration::days(9),
            AppointmentStatus::Booked,
            "Well-child visit",
        )
        .await?;
        self.coverage(carol, "Blue Harbor Health", "Family HMO", "BHH987654321")
            .await?;
        Ok(())
    }

    async fn david(&self, p: &Places, c: &Catalog) -> ServiceResult<()> {
        let david = self
            .patient(
                "MRN1004",
                "David",
                "Kim",
                date(1958, 11, 20),
                Some("david"),
                false,
                true,
                false,
            )
            .await?;
        let order = self
            .order(
                david,
                p.lab,
                c.hba1c,
                None,
                OrderSource::WalkIn,
                OrderStatus::Completed,
                None,
                2,
            )
            .await?;
        self.lab_result(
            david,
            order,
            c.hba1c,
            ResultStatus::Final,
            self.ago(1),
            &HBA1C,
            &[7.8],
            None,
        )
        .await?;
        Ok(())
    }

    async fn coverage(
        &self,
        patient_id: Uuid,
        payer: &str,
        plan: &str,
        member: &str,
    ) -> ServiceResult<()> {
        let coverage_id = Uuid::now_v7();
        coverage::Model {
            id: coverage_id,
            tenant_id: self.tenant,
            patient_id,
            payer: payer.to_owned(),
            plan_name: plan.to_owned(),
            member_id: member.to_owned(),
            group_number: Some("GRP-4400".to_owned()),
            period_start: self.ago(200).date_naive(),
            period_end: Some((self.now + Duration::days(165)).date_naive()),
            status: CoverageStatus::Active,
            created_at: self.ago(200),
        }
        .into_active_model()
        .insert(self.db)
        .await?;
        let claims = [
            (
                "Complete blood count",
                14,
                8_500,
                4_200,
                1_000,
                ClaimStatus::Paid,
            ),
            (
                "Lipid panel",
                14,
                12_000,
                6_000,
                1_500,
                ClaimStatus::Processing,
            ),
            (
                "Chest X-ray, 2 views",
                3,
                24_000,
                11_000,
                2_500,
                ClaimStatus::Submitted,
            ),
        ];
        for (n, (description, days, billed, allowed, owed, status)) in
            claims.into_iter().enumerate()
        {
            claim::Model {
                id: Uuid::now_v7(),
                tenant_id: self.tenant,
                patient_id,
                coverage_id,
                claim_number: format!("CLM-{}-{}", &member[3..9], n + 1),
                service_date: self.ago(days).date_naive(),
                description: description.to_owned(),
                billed_cents: billed,
                allowed_cents: allowed,
                patient_responsibility_cents: owed,
                currency: "USD".to_owned(),
                status,
                created_at: self.ago(days),
            }
            .into_active_model()
            .insert(self.db)
            .await?;
        }
        Ok(())
    }
}

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap_or_default()
}
