//! HTTPS credentials for a source: a token from a mounted file or an environment variable,
//! read again on every fetch so a rotated Secret is picked up. The token never reaches a log:
//! it lives in a type whose `Debug` hides it.

use crate::config::Source;

/// A token that prints as `***`.
#[derive(Clone)]
pub struct Token(String);

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(***)")
    }
}

/// Why a configured token cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("tokenFile {path}")]
    Read {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("tokenFile {path} is empty")]
    Empty { path: std::path::PathBuf },
    #[error("tokenEnv: environment variable {var} is not set")]
    Unset { var: String },
}

/// The source's token, if it has one configured. A configured but unreadable or empty token
/// is an error: fetching anonymously would only fail later with a less useful message.
pub fn token(source: &Source) -> Result<Option<Token>, Error> {
    if let Some(path) = &source.token_file {
        let text = std::fs::read_to_string(path).map_err(|e| Error::Read {
            path: path.clone(),
            source: e,
        })?;
        let text = text.trim();
        if text.is_empty() {
            return Err(Error::Empty { path: path.clone() });
        }
        return Ok(Some(Token(text.to_string())));
    }
    if let Some(var) = &source.token_env {
        return match std::env::var(var) {
            Ok(value) if !value.trim().is_empty() => Ok(Some(Token(value.trim().to_string()))),
            _ => Err(Error::Unset { var: var.clone() }),
        };
    }
    Ok(None)
}

/// What a fetch fails with when the server refuses it for want of credentials.
#[derive(Debug, thiserror::Error)]
pub enum Refused {
    #[error("the server asks for credentials: give the source a tokenFile or tokenEnv")]
    NoToken,
    /// gix reports ssh's "Permission denied" as a request for credentials; a token cannot
    /// help there, the key is what to look at.
    #[error(
        "the ssh server refused the key (Permission denied): check sshKeyFile, and that its \
         public key is authorized for the user in the URL"
    )]
    SshKey,
}

/// The credential callback gix calls when a server asks for authentication. Without a token,
/// or over ssh, it fails with [`Refused`]: never a prompt, and a message that says what to
/// configure.
pub fn answer(
    action: gix::credentials::helper::Action,
    username: &str,
    token: Option<&Token>,
) -> gix::Result<Option<gix::credentials::protocol::Outcome>> {
    use gix::credentials::helper::Action;
    match (action, token) {
        (Action::Get(context), _) if is_ssh(&context) => {
            Err(gix::Error::from_error(Refused::SshKey))
        }
        (Action::Get(_), None) => Err(gix::Error::from_error(Refused::NoToken)),
        (Action::Get(context), Some(token)) => Ok(Some(gix::credentials::protocol::Outcome {
            identity: gix::sec::identity::Account {
                username: username.to_string(),
                password: token.0.clone(),
                oauth_refresh_token: None,
            },
            next: context.into(),
        })),
        _ => Ok(None),
    }
}

fn is_ssh(context: &gix::credentials::protocol::Context) -> bool {
    context.protocol.as_deref() == Some("ssh")
        || context
            .url
            .as_ref()
            .is_some_and(|url| url.starts_with(b"ssh://"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(extra: &str) -> Source {
        crate::config::Config::from_yaml(
            &format!("sources: [{{name: s, url: https://h/r.git{extra}}}]"),
            "test",
        )
        .expect("config")
        .sources
        .remove(0)
    }

    #[test]
    fn token_from_file_is_trimmed_and_hidden() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("token");
        std::fs::write(&path, "s3cret\n").expect("write");
        let s = source(&format!(", tokenFile: {}", path.display()));
        let token = token(&s).expect("read").expect("some");
        assert!(!format!("{token:?}").contains("s3cret"));
        let outcome = answer(
            gix::credentials::helper::Action::get_for_url("https://h/r.git"),
            "git",
            Some(&token),
        )
        .expect("answer")
        .expect("identity");
        assert_eq!(outcome.identity.password, "s3cret");
    }

    #[test]
    fn ssh_refusals_point_at_the_key_not_a_token() {
        for token in [None, Some(Token("t".into()))] {
            let error = answer(
                gix::credentials::helper::Action::get_for_url("ssh://git@h/r.git"),
                "git",
                token.as_ref(),
            )
            .expect_err("refused")
            .to_string();
            assert!(error.contains("sshKeyFile"), "{error}");
        }
        let error = answer(
            gix::credentials::helper::Action::get_for_url("https://h/r.git"),
            "git",
            None,
        )
        .expect_err("refused")
        .to_string();
        assert!(error.contains("tokenFile"), "{error}");
    }

    #[test]
    fn missing_token_is_an_error_and_none_configured_is_none() {
        let s = source(", tokenFile: /nonexistent/token");
        assert!(token(&s).is_err());
        let s = source(", tokenEnv: DRIFTGATE_TEST_UNSET_TOKEN_VAR");
        assert!(token(&s).is_err());
        assert!(token(&source("")).expect("ok").is_none());
    }
}
