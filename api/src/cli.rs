//! The `portal` command line: serve (default), worker, migrate, seed, token, schema, config
//! check, replay, import, report, hl7 (dead letter and replay of received HL7 messages),
//! audit (verify and seal the audit trail).

mod audit;
mod report;

use crate::auth::Role;
use anyhow::{Context as _, bail};
use clap::{Parser, Subcommand, ValueEnum};
use portal_core::db;
use portal_messaging::delivery;
use portal_services::patients;
use uuid::Uuid;

use crate::config::Config;
use crate::state::{AppState, apply_migrations, open_database};

#[derive(Parser)]
#[command(name = "portal", version, about = "Patient Portal Results API")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand)]
pub enum Command {
    /// Start the HTTP server (the default).
    Serve,
    /// Run only the background work (outbox relay, notifications, scheduled jobs), with
    /// `/health`, `/ready` and `/metrics` on `PORTAL_WORKER_BIND`.
    Worker,
    /// Apply pending database migrations.
    Migrate,
    /// Seed the demo tenant (development only; does nothing if already seeded).
    Seed,
    /// Mint a development token (development only).
    Token(TokenArgs),
    /// Print the GraphQL schema (SDL).
    Schema,
    /// Put dead-letter notifications back in the delivery queue.
    Replay(ReplayArgs),
    /// Registered operations (persisted queries) for `PORTAL_PERSISTED_QUERIES=registered`.
    Operations {
        #[command(subcommand)]
        command: OperationsCommand,
    },
    /// Import master data from CSV (see docs/master-data.md for the columns); all or nothing.
    Import(ImportArgs),
    /// Public-health reporting: the error queue and its replay.
    Report {
        #[command(subcommand)]
        command: report::ReportCommand,
    },
    /// The HL7 v2 inbound interface: its dead letter and replay.
    Hl7 {
        #[command(subcommand)]
        command: Hl7Command,
    },
    /// The audit trail: verify its chains, seal what is pending.
    Audit {
        #[command(subcommand)]
        command: audit::AuditCommand,
    },
    /// Configuration commands.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
}

#[derive(Subcommand)]
pub enum ConfigCommand {
    /// Validate the configuration from the environment and print a summary and every
    /// variable's value (no secrets).
    Check,
    /// Print the configuration reference (Markdown, as in docs/configuration.md).
    Reference,
}

#[derive(Subcommand)]
pub enum Hl7Command {
    /// The messages answered AE (DEAD) or AR after a failure here (ERROR): no content is
    /// printed, only id, tenant, received, type, control id, status, error code and field.
    DeadLetter {
        #[command(subcommand)]
        command: DeadLetterCommand,
    },
    /// Apply dead-letter messages again from their stored bytes (once their cause is fixed).
    Replay(ReplayArgs),
}

#[derive(Subcommand)]
pub enum DeadLetterCommand {
    List {
        /// Only messages received at or after this time (RFC 3339).
        #[arg(long, value_parser = parse_rfc3339)]
        since: Option<chrono::DateTime<chrono::Utc>>,
        /// At most this many messages per tenant.
        #[arg(long, default_value_t = 100)]
        limit: u64,
    },
}

#[derive(Subcommand)]
pub enum OperationsCommand {
    /// Print a persisted-query manifest (Apollo's format) with one operation per file, to
    /// use as `PORTAL_OPERATIONS_MANIFEST`.
    Manifest {
        /// `.graphql` files, each one document (its operations and fragments).
        #[arg(required = true)]
        files: Vec<std::path::PathBuf>,
    },
}

#[derive(clap::Args)]
#[group(required = true, multiple = false)]
pub struct TokenArgs {
    /// A demo patient by MRN (e.g. MRN1001) or patient id.
    #[arg(long)]
    pub patient: Option<String>,
    /// A staff-side role.
    #[arg(long, value_enum)]
    pub role: Option<StaffRole>,
}

#[derive(clap::Args)]
pub struct ImportArgs {
    /// What the file holds.
    #[arg(value_enum)]
    pub kind: ImportKind,
    /// The CSV file (UTF-8, a header row first).
    pub file: std::path::PathBuf,
    /// The organisation (tenant slug) the rows belong to, e.g. `demo`.
    #[arg(long)]
    pub tenant: String,
    /// For `code-map`: the sending facility, by CLIA number or alias identifier.
    #[arg(long)]
    pub facility: Option<String>,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum ImportKind {
    /// Catalog tests, one row per analyte.
    Catalog,
    /// Patients, one row each.
    Patients,
    /// A sending facility's local codes mapped to catalog codes (needs `--facility`).
    CodeMap,
}

#[derive(clap::Args)]
pub struct ReplayArgs {
    /// Replay DEAD notifications (the only queue there is; required so the intent is explicit).
    #[arg(long, required = true)]
    pub dead_letter: bool,
    /// Only notifications created at or after this time (RFC 3339, e.g. 2026-11-23T00:00:00Z).
    #[arg(long, value_parser = parse_rfc3339)]
    pub since: Option<chrono::DateTime<chrono::Utc>>,
    /// Count what would be replayed; change nothing.
    #[arg(long)]
    pub dry_run: bool,
}

fn parse_rfc3339(text: &str) -> Result<chrono::DateTime<chrono::Utc>, String> {
    chrono::DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&chrono::Utc))
        .map_err(|e| format!("not an RFC 3339 time: {e}"))
}

#[derive(Clone, Copy, ValueEnum)]
pub enum StaffRole {
    Clinician,
    Lab,
    Staff,
    Admin,
}

impl Cli {
    /// Whether the command needs no configuration (so it runs however the environment is set).
    pub fn runs_without_configuration(&self) -> bool {
        matches!(
            self.command,
            Some(Command::Config {
                command: ConfigCommand::Reference
            })
        )
    }
}

/// The commands `runs_without_configuration` names.
pub fn run_without_configuration(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Some(Command::Config {
            command: ConfigCommand::Reference,
        }) => {
            print_reference();
            Ok(())
        }
        _ => bail!("this command needs the configuration"),
    }
}

fn print_reference() {
    print!("{}", crate::config::reference::markdown());
}

pub async fn run(cli: Cli, config: Config) -> anyhow::Result<()> {
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => crate::serve(config).await,
        Command::Worker => crate::worker::run(AppState::build(config).await?).await,
        Command::Migrate => {
            let db = open_database(&config).await?;
            apply_migrations(&config, &db).await?;
            println!("migrations applied");
            Ok(())
        }
        Command::Seed => {
            if !config.is_development() {
                bail!("refusing to seed demo data outside development");
            }
            let db = open_database(&config).await?;
            apply_migrations(&config, &db).await?;
            let (tenant, created) = portal_demo::seed(&db).await?;
            println!(
                "demo tenant {tenant} {}",
                if created { "seeded" } else { "already present" }
            );
            Ok(())
        }
        Command::Token(args) => token(config, args).await,
        Command::Replay(args) => replay(config, args).await,
        Command::Operations {
            command: OperationsCommand::Manifest { files },
        } => operations_manifest(&files),
        Command::Import(args) => import(config, args).await,
        Command::Report { command } => report::run(config, command).await,
        Command::Hl7 { command } => hl7(config, command).await,
        Command::Audit { command } => audit::run(config, command).await,
        Command::Schema => {
            print!("{}", portal_schema::sdl());
            Ok(())
        }
        Command::Config {
            command: ConfigCommand::Check,
        } => {
            println!("{}", crate::describe(&config));
            if !config.is_sqlite() {
                println!("  database role: {}", database_role(&config).await);
            }
            println!(
                "{}",
                crate::config::reference::listing(
                    &crate::config::ProcessEnv,
                    config.is_development()
                )
            );
            Ok(())
        }
        Command::Config {
            command: ConfigCommand::Reference,
        } => {
            print_reference();
            Ok(())
        }
    }
}

/// The connected role and whether row-level security applies to it; a database that cannot
/// be reached is reported, not fatal (the configuration itself is valid).
async fn database_role(config: &Config) -> String {
    let db = match open_database(config).await {
        Ok(db) => db,
        Err(e) => return format!("not checked (cannot connect: {e})"),
    };
    let line = match db::role_check(&db).await {
        Ok(Some(role)) if role.bypasses_rls() => {
            format!("WARNING: {}", crate::state::describe_role(&role))
        }
        Ok(Some(role)) => crate::state::describe_role(&role),
        Ok(None) => "SQLite (no roles)".to_owned(),
        Err(e) => format!("not checked ({e})"),
    };
    let _ = db.close().await;
    line
}

async fn import(config: Config, args: ImportArgs) -> anyhow::Result<()> {
    let file = std::fs::File::open(&args.file)
        .with_context(|| format!("cannot open {}", args.file.display()))?;
    let db = open_database(&config).await?;
    if config.auto_migrate {
        apply_migrations(&config, &db).await?;
    }
    let cache = crate::state::read_cache(&config)?;
    let tenant = crate::import::tenant_by_slug(&db, &args.tenant).await?;
    let kind = match args.kind {
        ImportKind::Catalog => crate::import::Kind::Catalog,
        ImportKind::Patients => crate::import::Kind::Patients,
        ImportKind::CodeMap => crate::import::Kind::CodeMap {
            facility: args
                .facility
                .clone()
                .context("`portal import code-map` needs --facility (CLIA number or identifier)")?,
        },
    };
    let imported = crate::import::run(&db, &cache, tenant, kind, std::io::BufReader::new(file))
        .await
        .with_context(|| format!("{} not imported", args.file.display()))?;
    println!("{}: {imported}", args.file.display());
    Ok(())
}

async fn replay(config: Config, args: ReplayArgs) -> anyhow::Result<()> {
    let db = open_database(&config).await?;
    if config.auto_migrate {
        apply_migrations(&config, &db).await?;
    }
    let count = delivery::replay_dead(&db, args.since, args.dry_run)
        .await
        .context("replaying dead-letter notifications")?;
    if args.dry_run {
        println!("{count} dead-letter notification(s) would be replayed (dry run)");
    } else {
        println!("{count} dead-letter notification(s) moved back to PENDING");
    }
    Ok(())
}

async fn hl7(config: Config, command: Hl7Command) -> anyhow::Result<()> {
    let db = open_database(&config).await?;
    if config.auto_migrate {
        apply_migrations(&config, &db).await?;
    }
    match command {
        Hl7Command::DeadLetter {
            command: DeadLetterCommand::List { since, limit },
        } => {
            println!(
                "id\ttenant\treceived_at\ttype\tcontrol_id\tstatus\tack\terror\tfield\tattempts"
            );
            let mut count = 0;
            for scope in db::tenant_scopes(&db).await? {
                for row in portal_hl7_inbound::store::dead_letter(&scope, since, limit).await? {
                    count += 1;
                    let text = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
                    println!(
                        "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
                        row.id,
                        row.tenant_id,
                        row.received_at.to_rfc3339(),
                        row.message_type,
                        text(&row.control_id),
                        sea_orm::ActiveEnum::to_value(&row.status),
                        text(&row.ack_code),
                        text(&row.error_code),
                        text(&row.error_location),
                        row.attempts,
                    );
                }
            }
            eprintln!("{count} dead-letter HL7 message(s)");
        }
        Hl7Command::Replay(args) => {
            let report = portal_hl7_inbound::replay::dead_letter(&db, args.since, args.dry_run)
                .await
                .context("replaying dead-letter HL7 messages")?;
            if args.dry_run {
                println!(
                    "{} dead-letter HL7 message(s) would be replayed (dry run)",
                    report.selected
                );
            } else {
                println!(
                    "{} dead-letter HL7 message(s) replayed: {} accepted, {} still failing",
                    report.selected, report.accepted, report.still_failing
                );
            }
        }
    }
    Ok(())
}

async fn token(config: Config, args: TokenArgs) -> anyhow::Result<()> {
    if !config.is_development() {
        bail!("`portal token` mints development tokens and is refused in production configuration");
    }
    let mut config = config;
    config.seed_demo = true;
    config.auto_migrate = true;
    let state = AppState::build(config).await?;
    let (Some(dev), Some(tenant)) = (
        state.dev.as_ref(),
        state.dev.as_ref().and_then(|d| d.demo_tenant),
    ) else {
        bail!("development tokens need the dev signing key and the demo tenant");
    };
    let ttl = chrono::Duration::hours(24);
    let token = if let Some(patient) = args.patient {
        let found = match Uuid::parse_str(&patient) {
            Ok(id) => portal_entities_patient(&state, tenant, id).await?,
            Err(_) => {
                let db = db::TenantDb::scoped(state.app.db.clone(), Some(tenant));
                patients::find_by_mrn(&db, tenant, &patient).await?
            }
        };
        let patient = found.with_context(|| format!("no demo patient {patient}"))?;
        let subject = patient.user_subject.clone().with_context(|| {
            format!(
                "patient {} has no portal account (a proxy sees them)",
                patient.mrn
            )
        })?;
        dev.signer
            .mint(&subject, tenant, &[Role::Patient], Some(patient.id), ttl)?
    } else {
        let (role, subject) = match args.role {
            Some(StaffRole::Clinician) => (Role::Clinician, "dr.patel"),
            Some(StaffRole::Lab) => (Role::Lab, "lis.riverside"),
            Some(StaffRole::Staff) => (Role::Staff, "staff.riverside"),
            Some(StaffRole::Admin) | None => (Role::Admin, "admin.riverside"),
        };
        dev.signer.mint(subject, tenant, &[role], None, ttl)?
    };
    println!("{token}");
    Ok(())
}

async fn portal_entities_patient(
    state: &AppState,
    tenant: Uuid,
    id: Uuid,
) -> anyhow::Result<Option<portal_entities::patient::Model>> {
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    let db = db::TenantDb::scoped(state.app.db.clone(), Some(tenant));
    Ok(portal_entities::patient::Entity::find_by_id(id)
        .filter(portal_entities::patient::Column::TenantId.eq(tenant))
        .one(&db)
        .await?)
}

/// Reads each file as one document (it must parse) and prints the manifest.
fn operations_manifest(files: &[std::path::PathBuf]) -> anyhow::Result<()> {
    let mut documents = Vec::with_capacity(files.len());
    for path in files {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let document = async_graphql::parser::parse_query(&text)
            .with_context(|| format!("{} is not a GraphQL document", path.display()))?;
        let name = document
            .operations
            .iter()
            .find_map(|(name, _)| name.map(|n| n.to_string()))
            .or_else(|| path.file_stem().map(|s| s.to_string_lossy().into_owned()))
            .unwrap_or_default();
        documents.push((name, text));
    }
    let manifest = portal_schema::persisted::Manifest::from_documents(
        documents
            .iter()
            .map(|(name, text)| (name.as_str(), text.as_str())),
    );
    println!("{}", serde_json::to_string_pretty(&manifest)?);
    Ok(())
}
