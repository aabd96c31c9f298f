//! Text for people: values cut to fit a terminal line, and an error with its causes on one line.
//! Errors travel typed (each layer's enum wraps the one below as its `source`); they become text
//! only where someone reads them (a log line, `/readyz`, the command line), through [`chain`].

use std::fmt;

/// `text` cut to at most `max` characters, with `…` as the last one when it was cut.
pub fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let cut: String = text.chars().take(max.saturating_sub(1)).collect();
    format!("{cut}…")
}

/// An error and every cause under it, as one line: `fetch failed: connection failed: Connection
/// refused`. A cause whose text already ends the line (an error that prints its source itself)
/// is not repeated.
pub fn chain<'a>(error: &'a (dyn std::error::Error + 'static)) -> Chain<'a> {
    Chain(error)
}

/// See [`chain`]; built when displayed.
#[derive(Clone, Copy)]
pub struct Chain<'a>(&'a (dyn std::error::Error + 'static));

impl fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut text = self.0.to_string();
        let mut cause = self.0.source();
        while let Some(e) = cause {
            let next = e.to_string();
            if !next.is_empty() && !text.ends_with(&next) {
                text.push_str(": ");
                text.push_str(&next);
            }
            cause = e.source();
        }
        f.write_str(&text)
    }
}

impl fmt::Debug for Chain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    enum Outer {
        #[error("source fleet: fetch failed")]
        Fetch(#[source] Inner),
        #[error("cannot connect: {0}")]
        Printed(#[source] std::io::Error),
    }

    #[derive(Debug, thiserror::Error)]
    #[error("connection failed")]
    struct Inner(#[source] std::io::Error);

    fn refused() -> std::io::Error {
        std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "Connection refused")
    }

    #[test]
    fn every_cause_once_on_one_line() {
        let e = Outer::Fetch(Inner(refused()));
        assert_eq!(
            chain(&e).to_string(),
            "source fleet: fetch failed: connection failed: Connection refused"
        );
        // A message that already prints its source does not get it twice.
        let e = Outer::Printed(refused());
        assert_eq!(chain(&e).to_string(), "cannot connect: Connection refused");
    }

    #[test]
    fn shortening_counts_characters_and_marks_the_cut() {
        assert_eq!(shorten("short", 10), "short");
        assert_eq!(shorten("äöüäöüäöü", 4), "äöü…");
    }
}
