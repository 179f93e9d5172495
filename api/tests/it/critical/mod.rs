//! Critical results reach a clinician (issue 27): alerts raised in the result's transaction
//! from GraphQL, a batch and HL7; updated and closed by later versions; acknowledged with a
//! read-back by an addressee only; master data for contacts, the facility switch and chain,
//! and critical limits; row-level security on the new tables.

mod alerts;
mod escalation;
mod hl7;
