//! Durations as Kubernetes writes them (`30s`, `5m`, `1h30m`, `30d`), for `#[serde(with)]`.

use std::time::Duration;

use serde::{Deserialize, Deserializer};

/// A duration that does not parse.
#[derive(Debug, thiserror::Error)]
#[error("bad duration {text:?}: {reason}")]
pub struct BadDuration {
    text: String,
    reason: humantime::DurationError,
}

pub fn parse(text: &str) -> Result<Duration, BadDuration> {
    humantime::parse_duration(text.trim()).map_err(|reason| BadDuration {
        text: text.to_string(),
        reason,
    })
}

pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let text = String::deserialize(d)?;
    parse(&text).map_err(serde::de::Error::custom)
}

pub fn serialize<S: serde::Serializer>(value: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&humantime::format_duration(*value).to_string())
}

/// An optional duration (`scan.interval`): absent or `null` is `None`.
pub mod optional {
    use super::*;

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        match Option::<String>::deserialize(d)? {
            Some(text) => parse(&text).map(Some).map_err(serde::de::Error::custom),
            None => Ok(None),
        }
    }

    pub fn serialize<S: serde::Serializer>(
        value: &Option<Duration>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Some(v) => super::serialize(v, s),
            None => s.serialize_none(),
        }
    }
}
