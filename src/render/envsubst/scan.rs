//! The scanner of fluxcd/pkg/envsubst, kept token for token: which characters end a name, when
//! `$$` is an escape, and where a `${` opens are decided here, and the grammar depends on them.
//! Positions count characters (Go counts bytes); every rule that looks at a position only
//! looks at ASCII characters, so both count alike.

pub type Accept = fn(char, usize) -> bool;

/// Mode bits: which tokens `scan` recognises.
pub const IDENT: u8 = 1;
pub const LBRACK: u8 = 2;
pub const RBRACK: u8 = 4;
pub const ESCAPE: u8 = 8;

/// Escape bits: which characters an escape may hide.
pub const DOLLAR: u8 = 1;
const BACKSLASH: u8 = 2;
pub const ALL: u8 = DOLLAR | BACKSLASH;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Token {
    Illegal,
    Eof,
    Ident,
    Lbrack,
    Rbrack,
}

pub struct Scanner {
    /// The text; an escape removes its first character from it, as the Go scanner does.
    buf: Vec<char>,
    pub pos: usize,
    start: usize,
    /// Characters the last `read` advanced (0 at the end).
    width: usize,
    pub mode: u8,
    pub escape: u8,
    pub accept: Accept,
}

impl Scanner {
    pub fn new(text: &str) -> Scanner {
        Scanner {
            buf: text.chars().collect(),
            pos: 0,
            start: 0,
            width: 0,
            mode: 0,
            escape: 0,
            accept: |_, _| false,
        }
    }

    pub fn read(&mut self) -> Option<char> {
        match self.buf.get(self.pos) {
            Some(c) => {
                self.width = 1;
                self.pos += 1;
                Some(*c)
            }
            None => {
                self.width = 0;
                None
            }
        }
    }

    pub fn unread(&mut self) {
        self.pos -= self.width;
    }

    /// Removes the character just read from the text.
    fn skip(&mut self) {
        self.buf.remove(self.pos - 1);
    }

    pub fn peek(&mut self) -> Option<char> {
        let c = self.read();
        self.unread();
        c
    }

    /// The text of the last token.
    pub fn string(&self) -> String {
        self.slice(self.start, self.pos)
    }

    pub fn slice(&self, from: usize, to: usize) -> String {
        self.buf[from.min(to)..to.min(self.buf.len())]
            .iter()
            .collect()
    }

    pub fn scan(&mut self) -> Token {
        self.start = self.pos;
        let Some(c) = self.read() else {
            return Token::Eof;
        };
        if self.lbrack(c) {
            Token::Lbrack
        } else if self.mode & RBRACK != 0 && c == '}' {
            Token::Rbrack
        } else if self.ident(c) {
            Token::Ident
        } else {
            Token::Illegal
        }
    }

    fn ident(&mut self, c: char) -> bool {
        if self.mode & IDENT == 0 {
            return false;
        }
        if self.escaped(c) {
            self.skip();
        } else if !(self.accept)(c, self.pos - self.start) {
            return false;
        }
        loop {
            let Some(c) = self.read() else {
                self.unread();
                break;
            };
            if self.lbrack(c) {
                self.unread();
                self.unread();
                break;
            }
            if self.escaped(c) {
                self.skip();
                continue;
            }
            if !(self.accept)(c, self.pos - self.start) {
                self.unread();
                break;
            }
        }
        true
    }

    fn lbrack(&mut self, c: char) -> bool {
        if self.mode & LBRACK == 0 || c != '$' {
            return false;
        }
        if self.read() == Some('{') {
            return true;
        }
        self.unread();
        false
    }

    fn escaped(&mut self, c: char) -> bool {
        if self.mode & ESCAPE == 0 {
            return false;
        }
        if c == '$' && self.escape & DOLLAR != 0 && self.peek() == Some('$') {
            return true;
        }
        c == '\\' && self.escape & BACKSLASH != 0 && matches!(self.peek(), Some('/' | '\\'))
    }
}

/// Which characters a token may hold, by position in it (Go's `accept*` functions).
pub mod accept {
    pub fn accept_rune(_: char, _: usize) -> bool {
        true
    }
    pub fn accept_ident(c: char, _: usize) -> bool {
        c.is_alphanumeric() || c == '_'
    }
    pub fn accept_colon(c: char, _: usize) -> bool {
        c == ':'
    }
    pub fn accept_one_hash(c: char, i: usize) -> bool {
        c == '#' && i == 1
    }
    pub fn accept_not_closing(c: char, _: usize) -> bool {
        c != '}'
    }
    pub fn accept_hash_func(c: char, i: usize) -> bool {
        c == '#' && i < 3
    }
    pub fn accept_percent_func(c: char, i: usize) -> bool {
        c == '%' && i < 3
    }
    pub fn accept_default_func(c: char, i: usize) -> bool {
        (i == 1 && c == ':') || (i == 2 && matches!(c, '=' | '-' | '?' | '+'))
    }
    pub fn accept_replace_func(c: char, i: usize) -> bool {
        (i == 1 && c == '/') || (i == 2 && matches!(c, '/' | '#' | '%'))
    }
    pub fn accept_one_equal(c: char, i: usize) -> bool {
        i == 1 && c == '='
    }
    pub fn accept_one_colon(c: char, i: usize) -> bool {
        i == 1 && c == ':'
    }
    pub fn reject_colon_close(c: char, _: usize) -> bool {
        c != ':' && c != '}'
    }
    pub fn accept_slash(c: char, _: usize) -> bool {
        c == '/'
    }
    pub fn accept_not_slash(c: char, _: usize) -> bool {
        c != '/'
    }
    pub fn accept_casing_func(c: char, i: usize) -> bool {
        (c == ',' || c == '^') && i < 3
    }
}
