//! The `driftgate` commands. Glue only: each command parses its flags, calls the library, and
//! maps the outcome to an exit code (0 ok, 1 runtime failure, 2 bad input or config, 3 denied).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::config::{self, Config};

pub mod certs;
pub mod check;
pub mod demo;
pub mod index;
pub mod report;
pub mod scan;
pub mod serve;
pub mod suggest;
pub mod webhook_config;

/// Exit code for bad input or config.
pub const EXIT_BAD_INPUT: u8 = 2;
/// Exit code of `check` when the review is denied.
pub const EXIT_DENIED: u8 = 3;

#[derive(Debug, Parser)]
#[command(
    name = "driftgate",
    version,
    about = "Admission webhook that keeps the cluster equal to Git"
)]
pub struct Cli {
    /// Log filter (tracing EnvFilter syntax); logs go to stderr.
    #[arg(long, global = true, env = "DRIFTGATE_LOG", default_value = "info")]
    pub log: String,
    /// Log as JSON lines.
    #[arg(long, global = true, env = "DRIFTGATE_LOG_JSON")]
    pub log_json: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the webhook (TLS) and the admin port.
    Serve(ServeArgs),
    /// Evaluate one AdmissionReview offline and print the answer /validate would give.
    Check(CheckArgs),
    /// Load the declared state and print a summary.
    Index(IndexArgs),
    /// Write a CA and a serving certificate for the webhook service.
    Certs(CertsArgs),
    /// Print the Validating/MutatingWebhookConfiguration for what Git declares.
    WebhookConfig(WebhookConfigArgs),
    /// Print the audit report.
    Report(ReportArgs),
    /// Print the Git change (a unified diff) that makes Git declare what a request or an
    /// object asks for; or apply it to a checkout, or commit it on a new branch.
    Suggest(SuggestArgs),
    /// Compare the live state of every declared object with Git (drift report).
    Scan(ScanArgs),
    /// A self-contained tour on an embedded example repository.
    Demo(DemoArgs),
}

/// Where the declared state comes from: a config file, or a repository given by flags.
#[derive(Debug, Clone, Args, Default)]
pub struct SourceArgs {
    /// Config file (YAML).
    #[arg(long, env = "DRIFTGATE_CONFIG")]
    pub config: Option<PathBuf>,
    /// Repository: local path or URL (overrides the config's sources with this one).
    #[arg(long, env = "DRIFTGATE_REPO")]
    pub repo: Option<String>,
    /// Branch, tag or commit id; default: the repository's HEAD.
    #[arg(long = "ref", env = "DRIFTGATE_REF")]
    pub git_ref: Option<String>,
    /// Paths inside the repository to read (repeat, or comma-separated in the env var).
    #[arg(long = "path", env = "DRIFTGATE_PATH", value_delimiter = ',')]
    pub paths: Vec<String>,
    /// Namespace for namespaced objects that declare none.
    #[arg(long, env = "DRIFTGATE_DEFAULT_NAMESPACE")]
    pub default_namespace: Option<String>,
}

impl SourceArgs {
    /// The config file (or defaults), with flags laid over it.
    pub fn load(&self) -> Result<Config, config::Error> {
        let mut config = match &self.config {
            Some(path) => Config::from_file(path)?,
            None => Config::default(),
        };
        if let Some(repo) = &self.repo {
            let existing = config.sources.first().cloned();
            let mut source: config::Source = config::Config::from_yaml(
                &format!("sources: [{{name: repo, url: {:?}}}]", repo),
                "--repo",
            )?
            .sources
            .remove(0);
            if let Some(existing) = existing {
                source.name = existing.name;
                source.default_namespace = existing.default_namespace;
                source.paths = existing.paths;
                source.git_ref = existing.git_ref;
            }
            config.sources = vec![source];
        }
        if let Some(source) = config.sources.first_mut() {
            if let Some(r) = &self.git_ref {
                source.git_ref = r.clone();
            }
            if !self.paths.is_empty() {
                source.paths = self.paths.clone();
            }
            if let Some(ns) = &self.default_namespace {
                source.default_namespace = ns.clone();
            }
        }
        if config.sources.is_empty() {
            return Err(config::Error::Invalid(
                "no source: give --repo or a --config with sources".into(),
            ));
        }
        config.validate()?;
        Ok(config)
    }
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    #[arg(long, env = "DRIFTGATE_CERT")]
    pub cert: Option<PathBuf>,
    #[arg(long, env = "DRIFTGATE_KEY")]
    pub key: Option<PathBuf>,
    #[arg(long, env = "DRIFTGATE_LISTEN")]
    pub listen: Option<String>,
    #[arg(long, env = "DRIFTGATE_ADMIN_LISTEN")]
    pub admin_listen: Option<String>,
    /// Who may read /report and /api/* on the admin port (server.adminAuth.mode).
    #[arg(long, env = "DRIFTGATE_ADMIN_AUTH", value_enum)]
    pub admin_auth: Option<config::AdminAuthMode>,
    /// Accepted bearer tokens, one a line, for --admin-auth token (server.adminAuth.tokenFile).
    #[arg(long, env = "DRIFTGATE_ADMIN_TOKEN_FILE")]
    pub admin_token_file: Option<PathBuf>,
    /// Protect /metrics like /report (server.adminAuth.protectMetrics).
    #[arg(long, env = "DRIFTGATE_ADMIN_PROTECT_METRICS", value_name = "BOOL")]
    pub admin_protect_metrics: Option<bool>,
    #[arg(long, env = "DRIFTGATE_MODE")]
    pub mode: Option<config::Mode>,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// AdmissionReview JSON file, or `-` for stdin.
    #[arg(long)]
    pub review: String,
    #[command(flatten)]
    pub source: SourceArgs,
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("input").required(true).args(["review", "object", "id"])))]
pub struct SuggestArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    /// An AdmissionReview (a denied request), file or `-` for stdin.
    #[arg(long)]
    pub review: Option<String>,
    /// An object as `kubectl get -o json|yaml` prints it, file or `-`: make Git declare what
    /// the cluster has now.
    #[arg(long)]
    pub object: Option<String>,
    /// The audit trail (SQLite file or postgres:// URL); default: the config's audit.path/url.
    #[arg(long, env = "DRIFTGATE_AUDIT", requires = "id")]
    pub audit: Option<String>,
    /// A recorded blocked edit: its record id (as the report shows it) or the request's uid.
    #[arg(long)]
    pub id: Option<String>,
    /// Apply the change to the checkout in this directory (with `git apply`).
    #[arg(long, conflicts_with = "commit")]
    pub write: Option<PathBuf>,
    /// Commit the change on a new branch (`--branch`) of a local clone, on top of the
    /// revision it was made at; the clone's working tree is not touched.
    #[arg(long, requires = "branch")]
    pub commit: bool,
    /// The branch `--commit` creates.
    #[arg(long, requires = "commit")]
    pub branch: Option<String>,
    /// The local clone to commit in; default: the source's repository when it is local.
    #[arg(long, requires = "commit")]
    pub clone: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct IndexArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    /// Print JSON instead of a summary.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct CertsArgs {
    #[arg(long, default_value = "driftgate")]
    pub service: String,
    #[arg(long, default_value = "driftgate-system")]
    pub namespace: String,
    #[arg(long, default_value = "certs")]
    pub out: PathBuf,
}

#[derive(Debug, Args)]
pub struct WebhookConfigArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    /// CA certificate whose PEM becomes caBundle.
    #[arg(long, default_value = "certs/ca.crt")]
    pub ca: PathBuf,
    #[arg(long, default_value = "driftgate")]
    pub service: String,
    #[arg(long, default_value = "driftgate-system")]
    pub namespace: String,
    /// Call the webhook at this URL instead of the Service (out-of-cluster testing).
    #[arg(long)]
    pub url: Option<String>,
    /// `yaml`: two documents for `kubectl apply -f -`; `json`: one `v1 List`.
    #[arg(long, value_enum, default_value = "yaml")]
    pub output: WebhookFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum WebhookFormat {
    Yaml,
    Json,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// SQLite file or postgres:// URL.
    #[arg(long, env = "DRIFTGATE_AUDIT")]
    pub audit: String,
    /// Oldest record: a duration ago (24h, 7d), a date (2026-11-26) or an RFC 3339 time.
    #[arg(long)]
    pub since: Option<String>,
    /// Newest record (exclusive), in the same forms as --since.
    #[arg(long)]
    pub until: Option<String>,
    /// Only this user's records.
    #[arg(long)]
    pub user: Option<String>,
    /// Only records in this namespace.
    #[arg(long)]
    pub namespace: Option<String>,
    /// table, json, csv or html (one self-contained page).
    #[arg(long, default_value = "table")]
    pub format: String,
}

#[derive(Debug, Args)]
pub struct ScanArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    /// Live objects from a file or directory (`kubectl get -A -o json` output: a List, or many
    /// files, JSON or YAML) instead of the cluster.
    #[arg(long)]
    pub objects: Option<PathBuf>,
    /// Also report objects in managed namespaces that Git does not declare.
    #[arg(long)]
    pub unmanaged: bool,
    #[arg(long, value_enum, default_value = "table")]
    pub format: ScanFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ScanFormat {
    Table,
    Json,
    /// One self-contained page.
    Html,
}

#[derive(Debug, Args)]
pub struct DemoArgs {}

fn init_logging(filter: &str, json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

/// Prints a message and returns the exit code for it.
pub fn fail(code: u8, message: impl std::fmt::Display) -> ExitCode {
    eprintln!("driftgate: {message}");
    ExitCode::from(code)
}

/// Prints an error with its causes (see [`crate::text::chain`]) and returns the exit code for it.
pub fn fail_error(code: u8, error: &(dyn std::error::Error + 'static)) -> ExitCode {
    fail(code, crate::text::chain(error))
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    // The demo's output is the tour; routine server logs would only interleave with it.
    let quiet_demo = matches!(cli.command, Command::Demo(_)) && cli.log == "info";
    init_logging(if quiet_demo { "warn" } else { &cli.log }, cli.log_json);
    match cli.command {
        Command::Check(args) => check::run(args),
        Command::Index(args) => index::run(args),
        Command::Report(args) => report::run(args),
        Command::Suggest(args) => suggest::run(args),
        Command::Scan(args) => scan::run(args),
        Command::Serve(args) => serve::run(args),
        Command::Certs(args) => certs::run(args),
        Command::WebhookConfig(args) => webhook_config::run(args),
        Command::Demo(args) => demo::run(args),
    }
}
