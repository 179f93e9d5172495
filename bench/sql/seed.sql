-- bench/sql/seed.sql — the deterministic benchmark dataset, generated inside PostgreSQL.
--
-- Run after `portal migrate` and `portal seed` (the demo tenant, its facilities and its test
-- catalog). Adds, to the demo tenant, :patients patients (each with a portal account
-- `bench-patient-<i>`, email notifications on) and :results_per_patient FINAL CBC results
-- per patient, each with its completed order and the CBC panel's five observations.
-- Every id is md5 of a fixed text, so two runs produce the same rows.
-- psql -v patients=10000 -v results_per_patient=20 -f seed.sql
\set ON_ERROR_STOP 1
SET synchronous_commit = off;
BEGIN;

CREATE TEMP TABLE bench_ctx AS
SELECT t.id AS tenant_id,
       (SELECT f.id FROM facilities f WHERE f.tenant_id = t.id ORDER BY f.name LIMIT 1) AS facility_id,
       (SELECT c.id FROM test_catalog c WHERE c.tenant_id = t.id AND c.code = '58410-2') AS test_id,
       (SELECT k.id FROM clinicians k WHERE k.tenant_id = t.id ORDER BY k.display_name LIMIT 1) AS clinician_id
FROM tenants t
ORDER BY t.created_at
LIMIT 1;

DO $$ BEGIN
  IF (SELECT test_id FROM bench_ctx) IS NULL THEN
    RAISE EXCEPTION 'the demo tenant and its CBC panel (58410-2) are missing: run portal seed first';
  END IF;
END $$;

INSERT INTO patients (id, tenant_id, mrn, given_name, family_name, birth_date, email, phone,
                      user_subject, created_at)
SELECT md5('bench-patient-' || i)::uuid, c.tenant_id, 'BENCH' || lpad(i::text, 7, '0'),
       'Given' || i, 'Family' || i, date '1940-01-01' + (i * 37 % 25000),
       'bench' || i || '@example.org', NULL, 'bench-patient-' || i, timestamptz '2026-01-01'
FROM bench_ctx c, generate_series(1, :patients) AS i;

INSERT INTO notification_preferences (patient_id, tenant_id, email, sms, push, language,
                                      hold_sensitive_results, updated_at)
SELECT md5('bench-patient-' || i)::uuid, c.tenant_id, true, false, false, 'en', false,
       timestamptz '2026-01-01'
FROM bench_ctx c, generate_series(1, :patients) AS i;

CREATE TEMP TABLE bench_results AS
SELECT i, j,
       md5('bench-patient-' || i)::uuid AS patient_id,
       md5('bench-order-' || i || '-' || j)::uuid AS order_id,
       md5('bench-result-' || i || '-' || j)::uuid AS result_id,
       timestamptz '2024-01-01' + j * interval '30 days' + (i % 86400) * interval '1 second' AS issued_at
FROM generate_series(1, :patients) AS i, generate_series(1, :results_per_patient) AS j;

INSERT INTO test_orders (id, tenant_id, patient_id, facility_id, test_id, ordering_clinician_id,
                         referring_clinician_id, appointment_id, source, status, accession_number,
                         ordered_at, created_at)
SELECT r.order_id, c.tenant_id, r.patient_id, c.facility_id, c.test_id, c.clinician_id, NULL, NULL,
       'PORTAL', 'COMPLETED', 'BENCH-' || r.i || '-' || r.j, r.issued_at - interval '1 day',
       r.issued_at - interval '1 day'
FROM bench_results r, bench_ctx c;

INSERT INTO test_results (id, tenant_id, patient_id, order_id, test_id, category, status, issued_at,
                          performing_lab, conclusion, chain_id, replaces_result_id,
                          correction_reason, idempotency_key, created_at)
SELECT r.result_id, c.tenant_id, r.patient_id, r.order_id, c.test_id, 'LAB', 'FINAL', r.issued_at,
       'Bench Lab', NULL, r.result_id, NULL, NULL, NULL, r.issued_at
FROM bench_results r, bench_ctx c;

INSERT INTO observations (id, tenant_id, result_id, position, code, display_name, value_type,
                          value_numeric, value_text, value_code, unit, reference_low,
                          reference_high, reference_text, interpretation)
SELECT md5('bench-obs-' || r.i || '-' || r.j || '-' || a.position)::uuid, c.tenant_id, r.result_id,
       a.position, a.code, a.display_name, a.value_type, v.value, NULL, NULL, a.unit,
       a.reference_low, a.reference_high, a.reference_text,
       CASE WHEN v.value < a.reference_low THEN 'LOW'
            WHEN v.value > a.reference_high THEN 'HIGH'
            ELSE 'NORMAL' END
FROM bench_results r
CROSS JOIN bench_ctx c
JOIN catalog_analytes a ON a.test_id = c.test_id
CROSS JOIN LATERAL (
  SELECT round(((coalesce(a.reference_low, 1) + coalesce(a.reference_high, 2)) / 2
                * (0.6 + (abs(hashtext(r.i || '-' || r.j || '-' || a.position)) % 800) / 1000.0))::numeric, 2)::float8
         AS value
) v;

COMMIT;
ANALYZE;
SELECT (SELECT count(*) FROM patients) AS patients,
       (SELECT count(*) FROM test_results) AS results,
       (SELECT count(*) FROM observations) AS observations;
