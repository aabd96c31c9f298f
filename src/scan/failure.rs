//! Why the cluster could not be read for a kind: the text of each goes into the report's
//! errors (and the scan goes on), so it says what the apiserver said where it said anything.

/// A kube error as the report shows it: the apiserver's own message for an API error.
#[derive(Debug, thiserror::Error)]
pub enum ApiFailure {
    #[error("{message} ({code})")]
    Answered { code: u16, message: String },
    #[error("cannot build the request")]
    Request(#[source] kube::core::request::Error),
    #[error(transparent)]
    Other(kube::Error),
}

impl From<kube::Error> for ApiFailure {
    fn from(e: kube::Error) -> ApiFailure {
        match e {
            kube::Error::Api(status) if !status.message.is_empty() => ApiFailure::Answered {
                code: status.code,
                message: status.message.clone(),
            },
            e => ApiFailure::Other(e),
        }
    }
}

/// Why a kind cannot be listed: its text goes into the report's errors.
#[derive(Debug, thiserror::Error)]
pub enum Unlisted {
    #[error("the kind's resource is not known")]
    Unknown,
    #[error("the cluster serves no {kind} in {api_version}")]
    NotServed { kind: String, api_version: String },
    #[error("discovery of {api_version}")]
    Discovery {
        api_version: String,
        /// Shared: one discovery request answers for every kind of its group-version.
        #[source]
        source: std::sync::Arc<ApiFailure>,
    },
    #[error(transparent)]
    Api(#[from] ApiFailure),
    #[error("not a LIST response")]
    NotAList(#[source] serde_json::Error),
}
