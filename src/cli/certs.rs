//! `driftgate certs`: a CA and a serving certificate for the webhook Service, written to a
//! directory for `kubectl create secret tls` and `webhook-config --ca`.

use std::process::ExitCode;

use super::{fail_error, CertsArgs};
use crate::tls::certs;

pub fn run(args: CertsArgs) -> ExitCode {
    match certs::write(&args.out, &args.service, &args.namespace) {
        Ok(written) => {
            eprintln!(
                "wrote {}, {} and {} for {}",
                written.ca.display(),
                written.cert.display(),
                written.key.display(),
                certs::service_names(&args.service, &args.namespace).join(", ")
            );
            ExitCode::SUCCESS
        }
        Err(e) => fail_error(1, &e),
    }
}
