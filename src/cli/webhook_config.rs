//! `driftgate webhook-config`: the webhook registrations for what Git declares, on stdout.

use std::process::ExitCode;

use super::{fail_error, WebhookConfigArgs, WebhookFormat, EXIT_BAD_INPUT};
use crate::policy::Policy;
use crate::sync;
use crate::webhook_config::{self, Registration, Target};

pub fn run(args: WebhookConfigArgs) -> ExitCode {
    let config = match args.source.load() {
        Ok(c) => c,
        Err(e) => return fail_error(EXIT_BAD_INPUT, &e),
    };
    let ca_pem = match webhook_config::read_ca(&args.ca) {
        Ok(pem) => pem,
        Err(e) => return fail_error(EXIT_BAD_INPUT, &e),
    };
    let target = match &args.url {
        Some(url) => match Target::url(url) {
            Ok(t) => t,
            Err(e) => return fail_error(EXIT_BAD_INPUT, &e),
        },
        None => Target::Service {
            name: args.service.clone(),
            namespace: args.namespace.clone(),
        },
    };
    let snapshot = match sync::load_once(&config) {
        Ok(s) => s,
        Err(e) => return fail_error(EXIT_BAD_INPUT, &e),
    };
    for err in &snapshot.errors {
        tracing::warn!(file = %err.file, line = err.line, "skipped: {}", err.message);
    }
    let registration =
        Registration::build(&snapshot, &Policy::from_config(&config), &target, &ca_pem);
    for warning in &registration.warnings {
        tracing::warn!("{warning}");
    }
    let text = match args.output {
        WebhookFormat::Yaml => registration.to_yaml(),
        WebhookFormat::Json => registration.to_json().map(|v| format!("{v:#}\n")),
    };
    match text {
        Ok(text) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Err(e) => fail_error(1, &e),
    }
}
