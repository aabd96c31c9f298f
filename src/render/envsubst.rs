//! The substitution language of Flux's `postBuild` (fluxcd/pkg/envsubst, a fork of
//! drone/envsubst), reproduced rule for rule, because what kustomize-controller applies is what
//! its scanner makes of the text: `${VAR}`, nested defaults `${A:-${B}}`, `:=`, `:-`, `=`
//! (every default form means "when empty or unset": the lookup cannot tell them apart),
//! `$${VAR}` for a literal `${VAR}`, `$$` for `$`, substrings, case, length, replace and trim
//! functions. A bare `$VAR` is text. `${A-x}`, `${A?x}`, `${A+x}` and a `${` that does not
//! close are errors, and so is any name that is not an identifier (`${@}`): Flux fails the
//! build on them, and so does driftgate.
//!
//! One extension: a variable may be *unknown* (it comes from a Secret that Git holds
//! encrypted). An expression whose value depends on one is left as written, rather than
//! guessed.

use std::collections::BTreeMap;

mod funcs;
mod glob;
mod scan;

use funcs::{apply, lookup, Func};
use scan::accept::*;
use scan::{Scanner, Token, ALL, DOLLAR, ESCAPE, IDENT, LBRACK, RBRACK};

/// Why a text cannot be substituted; the message is Flux's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("bad substitution")]
    BadSubstitution,
    #[error("missing closing brace")]
    MissingClosingBrace,
    #[error("unable to parse variable name")]
    ParseVariableName,
    #[error("unable to parse substitution within function")]
    ParseFuncSubstitution,
    #[error("unable to parse default function")]
    ParseDefaultFunction,
    #[error("variable not set (strict mode): {0:?}")]
    NotSet(String),
}

/// A variable's value as far as driftgate can know it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub enum Value {
    Known(String),
    /// Set, but Git holds it encrypted.
    Unknown,
}

/// The variables of one build, and whether an unset one is an error (Flux's
/// `StrictPostBuildSubstitutions`).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Vars {
    pub values: BTreeMap<String, Value>,
    pub strict: bool,
}

#[derive(Debug, Clone, PartialEq)]
enum Node {
    Text(String),
    Func {
        param: String,
        name: String,
        args: Vec<Node>,
        /// The expression as written, kept for when its value is unknown.
        source: String,
    },
}

/// Substitutes every expression of `text`.
pub fn substitute(text: &str, vars: &Vars) -> Result<String, Error> {
    let nodes = parse(text)?;
    let mut out = String::with_capacity(text.len());
    for node in &nodes {
        match (eval(node, vars)?, node) {
            (Some(value), _) => out.push_str(&value),
            (None, Node::Func { source, .. }) => out.push_str(source),
            (None, Node::Text(text)) => out.push_str(text),
        }
    }
    Ok(out)
}

/// Variable names Flux accepts (`^[_[:alpha:]][_[:alpha:][:digit:]]*$`).
pub fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
}

fn parse(text: &str) -> Result<Vec<Node>, Error> {
    let mut p = Parser {
        s: Scanner::new(text),
    };
    let mut nodes = Vec::new();
    loop {
        p.s.accept = accept_rune;
        p.s.mode = IDENT | LBRACK | ESCAPE;
        p.s.escape = DOLLAR;
        let start = p.s.pos;
        match p.s.scan() {
            Token::Ident => nodes.push(Node::Text(p.s.string())),
            Token::Eof => return Ok(nodes),
            Token::Lbrack => {
                let mut node = p.func()?;
                if let Node::Func { source, .. } = &mut node {
                    *source = p.s.slice(start, p.s.pos);
                }
                nodes.push(node);
            }
            _ => return Err(Error::BadSubstitution),
        }
    }
}

struct Parser {
    s: Scanner,
}

fn func_node(param: String, name: &str, args: Vec<Node>) -> Node {
    Node::Func {
        param,
        name: name.to_string(),
        args,
        source: String::new(),
    }
}

impl Parser {
    fn func(&mut self) -> Result<Node, Error> {
        self.s.escape = ALL;
        if self.s.peek() == Some('#') {
            return self.len_func();
        }
        self.s.accept = accept_ident;
        self.s.mode = IDENT;
        let name = match self.s.scan() {
            Token::Ident => self.s.string(),
            _ => return Err(Error::ParseVariableName),
        };
        match self.s.peek() {
            Some(':') => return self.default_or_substr(name),
            Some('=') => return self.default_func(name),
            Some(',') | Some('^') => return self.casing_func(name),
            Some('/') => return self.replace_func(name),
            Some('#') => return self.remove_func(name, accept_hash_func),
            Some('%') => return self.remove_func(name, accept_percent_func),
            _ => {}
        }
        self.s.accept = accept_ident;
        self.s.mode = RBRACK;
        match self.s.scan() {
            Token::Rbrack => Ok(func_node(name, "", Vec::new())),
            _ => Err(Error::MissingClosingBrace),
        }
    }

    fn param(&mut self, accept: scan::Accept, mode: u8) -> Result<Node, Error> {
        self.s.accept = accept;
        self.s.mode = mode | LBRACK;
        match self.s.scan() {
            Token::Lbrack => self.func(),
            Token::Ident | Token::Rbrack => Ok(Node::Text(self.s.string())),
            _ => Err(Error::ParseFuncSubstitution),
        }
    }

    fn default_or_substr(&mut self, name: String) -> Result<Node, Error> {
        self.s.read();
        let next = self.s.peek();
        self.s.unread();
        match next {
            Some('=' | '-' | '?' | '+') => self.default_func(name),
            _ => self.substr_func(name),
        }
    }

    fn substr_func(&mut self, name: String) -> Result<Node, Error> {
        self.s.accept = accept_one_colon;
        self.s.mode = IDENT;
        let op = match self.s.scan() {
            Token::Ident => self.s.string(),
            _ => return Err(Error::BadSubstitution),
        };
        let mut args = vec![self.param(reject_colon_close, IDENT)?];
        self.s.accept = accept_colon;
        self.s.mode = IDENT | RBRACK;
        match self.s.scan() {
            Token::Rbrack => return Ok(func_node(name, &op, args)),
            Token::Ident => {}
            _ => return Err(Error::BadSubstitution),
        }
        args.push(self.param(accept_not_closing, IDENT)?);
        self.close()?;
        Ok(func_node(name, &op, args))
    }

    fn remove_func(&mut self, name: String, accept: scan::Accept) -> Result<Node, Error> {
        self.s.accept = accept;
        self.s.mode = IDENT;
        let op = match self.s.scan() {
            Token::Ident => self.s.string(),
            _ => return Err(Error::BadSubstitution),
        };
        let args = vec![self.param(accept_not_closing, IDENT)?];
        self.close()?;
        Ok(func_node(name, &op, args))
    }

    fn replace_func(&mut self, name: String) -> Result<Node, Error> {
        self.s.accept = accept_replace_func;
        self.s.mode = IDENT;
        let op = match self.s.scan() {
            Token::Ident => self.s.string(),
            _ => return Err(Error::BadSubstitution),
        };
        let mut args = Vec::new();
        if self.s.peek() == Some('/') {
            args.push(Node::Text(String::new()));
        } else {
            args.push(self.param(accept_not_slash, IDENT | ESCAPE)?);
        }
        self.s.accept = accept_slash;
        self.s.mode = IDENT;
        match self.s.scan() {
            Token::Ident => {}
            _ => return Err(Error::BadSubstitution),
        }
        if self.s.peek() == Some('}') {
            self.close()?;
            return Ok(func_node(name, &op, args));
        }
        args.push(self.param(accept_not_closing, IDENT | ESCAPE)?);
        self.close()?;
        Ok(func_node(name, &op, args))
    }

    fn default_func(&mut self, name: String) -> Result<Node, Error> {
        self.s.accept = if self.s.peek() == Some('=') {
            accept_one_equal
        } else {
            accept_default_func
        };
        self.s.mode = IDENT;
        let op = match self.s.scan() {
            Token::Ident => self.s.string(),
            _ => return Err(Error::ParseDefaultFunction),
        };
        let mut args = Vec::new();
        loop {
            if self.s.peek() == Some('}') {
                self.close()?;
                return Ok(func_node(name, &op, args));
            }
            args.push(self.param(accept_not_closing, IDENT)?);
        }
    }

    fn casing_func(&mut self, name: String) -> Result<Node, Error> {
        self.s.accept = accept_casing_func;
        self.s.mode = IDENT;
        let op = match self.s.scan() {
            Token::Ident => self.s.string(),
            _ => return Err(Error::BadSubstitution),
        };
        self.close()?;
        Ok(func_node(name, &op, Vec::new()))
    }

    fn len_func(&mut self) -> Result<Node, Error> {
        self.s.accept = accept_one_hash;
        self.s.mode = IDENT;
        let op = match self.s.scan() {
            Token::Ident => self.s.string(),
            _ => return Err(Error::BadSubstitution),
        };
        self.s.accept = accept_ident;
        self.s.mode = IDENT;
        let param = match self.s.scan() {
            Token::Ident => self.s.string(),
            _ => return Err(Error::BadSubstitution),
        };
        self.close()?;
        Ok(func_node(param, &op, Vec::new()))
    }

    fn close(&mut self) -> Result<(), Error> {
        self.s.mode = RBRACK;
        match self.s.scan() {
            Token::Rbrack => Ok(()),
            _ => Err(Error::BadSubstitution),
        }
    }
}

/// A node's value; `None` when it depends on an unknown variable. Arguments are evaluated
/// before the variable is looked up, as Flux does (so strict mode fails on an unset variable
/// in a default that is not needed).
fn eval(node: &Node, vars: &Vars) -> Result<Option<String>, Error> {
    let (param, name, args) = match node {
        Node::Text(text) => return Ok(Some(text.clone())),
        Node::Func {
            param, name, args, ..
        } => (param, name, args),
    };
    let mut values = Vec::with_capacity(args.len());
    for arg in args {
        values.push(eval(arg, vars)?);
    }
    let value = match vars.values.get(param) {
        Some(Value::Known(v)) => v.clone(),
        Some(Value::Unknown) => return Ok(None),
        None if vars.strict && !is_default_op(name) => return Err(Error::NotSet(param.clone())),
        None => String::new(),
    };
    let func = lookup(name, args.len());
    if func == Func::Default && !value.is_empty() {
        return Ok(Some(value));
    }
    let Some(args) = values.into_iter().collect::<Option<Vec<String>>>() else {
        return Ok(None);
    };
    Ok(Some(apply(func, &value, &args)))
}

fn is_default_op(name: &str) -> bool {
    matches!(name, "-" | "+" | "=" | "?" | ":-" | ":+" | ":=" | ":?")
}

#[cfg(test)]
mod tests;
