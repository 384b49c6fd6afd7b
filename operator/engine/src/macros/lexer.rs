//! SQL text with SQLMesh macros, split into tokens that remember where they came from.
//!
//! The lexer never fails: anything it does not recognise becomes a one-character punctuation
//! token, and an unterminated string or comment runs to the end of the text. Whitespace and
//! comments are kept as tokens, so printing the tokens back gives the text unchanged.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Space,
    Comment,
    /// A single-quoted string literal, quotes included.
    Str,
    /// A double-quoted (or back-quoted) identifier, quotes included.
    QuotedIdent,
    Number,
    /// An identifier or keyword; may contain `@x` / `@{x}` parts (`col_@x`, `@{s}_col`).
    Word,
    /// `@name` used as a value.
    Var,
    /// `@{name}`: the value of `name` as an identifier.
    Brace,
    /// `@name` followed by `(`: a macro function call (the text is `@name` only).
    Call,
    Punct,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Tok {
    pub kind: Kind,
    pub text: String,
    /// Byte offset in the model text of what produced the token.
    pub pos: usize,
}

impl Tok {
    pub fn new(kind: Kind, text: impl Into<String>, pos: usize) -> Tok {
        Tok {
            kind,
            text: text.into(),
            pos,
        }
    }

    /// Whitespace or a comment.
    pub fn is_trivia(&self) -> bool {
        matches!(self.kind, Kind::Space | Kind::Comment)
    }

    pub fn is_punct(&self, p: &str) -> bool {
        self.kind == Kind::Punct && self.text == p
    }

    /// A plain word equal to `w`, ignoring case.
    pub fn is_word(&self, w: &str) -> bool {
        self.kind == Kind::Word && self.text.eq_ignore_ascii_case(w)
    }

    /// The name of a `Var`, `Call` or `Brace` token, as written.
    pub fn macro_name(&self) -> &str {
        self.text
            .trim_start_matches('@')
            .trim_start_matches('{')
            .trim_end_matches('}')
    }

    /// A word or quoted identifier with `@` parts to fill in.
    pub fn is_templated(&self) -> bool {
        matches!(self.kind, Kind::Word | Kind::QuotedIdent) && self.text.contains('@')
    }
}

fn is_ident_start(c: char) -> bool {
    c.is_alphabetic() || c == '_'
}

fn is_ident_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == '$'
}

const OPERATORS: &[&str] = &[
    "->>", "::", ":=", "->", "<=", ">=", "<>", "!=", "||", "=>", "==",
];

struct Lexer<'a> {
    src: &'a str,
    i: usize,
}

impl Lexer<'_> {
    fn peek(&self, ahead: usize) -> Option<char> {
        self.src[self.i..].chars().nth(ahead)
    }

    fn char_at(&self, at: usize) -> Option<char> {
        self.src.get(at..).and_then(|s| s.chars().next())
    }

    /// End of the run of chars from `from` satisfying `f`.
    fn run(&self, from: usize, f: impl Fn(char) -> bool) -> usize {
        self.src[from..]
            .char_indices()
            .find(|&(_, c)| !f(c))
            .map_or(self.src.len(), |(n, _)| from + n)
    }

    /// End of a quoted run starting at `from` (the opening quote), where a doubled quote is
    /// an escaped one.
    fn quoted_end(&self, from: usize, quote: char) -> usize {
        let mut j = from + 1;
        while let Some(n) = self.src[j..].find(quote) {
            j += n + 1;
            if self.char_at(j) == Some(quote) {
                j += 1;
            } else {
                return j;
            }
        }
        self.src.len()
    }

    /// If an `@x` or `@{x}` part starts at `at`, where it ends.
    fn template_part_end(&self, at: usize) -> Option<usize> {
        if self.char_at(at) != Some('@') {
            return None;
        }
        match self.char_at(at + 1) {
            Some('{') => self.src[at..].find('}').map(|n| at + n + 1),
            Some(c) if is_ident_start(c) => Some(self.run(at + 1, is_ident_char)),
            _ => None,
        }
    }

    /// End of a word that may contain template parts, starting at `at`.
    fn word_end(&self, mut at: usize) -> usize {
        loop {
            match self.char_at(at) {
                Some(c) if is_ident_char(c) => at = self.run(at, is_ident_char),
                Some('@') => match self.template_part_end(at) {
                    Some(end) => at = end,
                    None => return at,
                },
                _ => return at,
            }
        }
    }

    fn continues_word(&self, at: usize) -> bool {
        match self.char_at(at) {
            Some(c) if is_ident_char(c) => true,
            Some('@') => self.template_part_end(at).is_some(),
            _ => false,
        }
    }

    fn next_token(&mut self) -> Option<Tok> {
        let start = self.i;
        let c = self.peek(0)?;
        let next = self.peek(1);
        let (kind, end) = match c {
            c if c.is_whitespace() => (Kind::Space, self.run(start, char::is_whitespace)),
            '-' if next == Some('-') => (
                Kind::Comment,
                self.src[start..]
                    .find('\n')
                    .map_or(self.src.len(), |n| start + n),
            ),
            '/' if next == Some('*') => (
                Kind::Comment,
                self.src[start + 2..]
                    .find("*/")
                    .map_or(self.src.len(), |n| start + 2 + n + 2),
            ),
            '\'' => (Kind::Str, self.quoted_end(start, '\'')),
            '"' => (Kind::QuotedIdent, self.quoted_end(start, '"')),
            '`' => (Kind::QuotedIdent, self.quoted_end(start, '`')),
            c if c.is_ascii_digit() || (c == '.' && next.is_some_and(|n| n.is_ascii_digit())) => {
                (Kind::Number, self.number_end(start))
            }
            c if is_ident_start(c) => (Kind::Word, self.word_end(start)),
            '@' => match self.template_part_end(start) {
                Some(end) if self.continues_word(end) => (Kind::Word, self.word_end(end)),
                Some(end) if next == Some('{') => (Kind::Brace, end),
                Some(end) => {
                    let after = self.run(end, char::is_whitespace);
                    if self.char_at(after) == Some('(') {
                        (Kind::Call, end)
                    } else {
                        (Kind::Var, end)
                    }
                }
                None => (Kind::Punct, start + 1),
            },
            _ => {
                let rest = &self.src[start..];
                let len = OPERATORS
                    .iter()
                    .find(|op| rest.starts_with(*op))
                    .map_or(c.len_utf8(), |op| op.len());
                (Kind::Punct, start + len)
            }
        };
        self.i = end;
        Some(Tok::new(kind, &self.src[start..end], start))
    }

    fn number_end(&self, start: usize) -> usize {
        let digits = |at| self.run(at, |c: char| c.is_ascii_digit());
        let mut j = digits(start);
        if self.char_at(j) == Some('.') {
            j = digits(j + 1);
        }
        if matches!(self.char_at(j), Some('e' | 'E')) {
            let mut k = j + 1;
            if matches!(self.char_at(k), Some('+' | '-')) {
                k += 1;
            }
            if self.char_at(k).is_some_and(|c| c.is_ascii_digit()) {
                j = digits(k);
            }
        }
        j
    }
}

/// Splits `src` into tokens; each token's `pos` is its byte offset in `src`.
pub(crate) fn lex(src: &str) -> Vec<Tok> {
    let mut lexer = Lexer { src, i: 0 };
    std::iter::from_fn(|| lexer.next_token()).collect()
}

/// Concatenates the tokens' text.
pub(crate) fn text(toks: &[Tok]) -> String {
    toks.iter().map(|t| t.text.as_str()).collect()
}

/// The tokens without leading and trailing whitespace and comments.
pub(crate) fn trim(toks: &[Tok]) -> &[Tok] {
    let start = toks
        .iter()
        .position(|t| !t.is_trivia())
        .unwrap_or(toks.len());
    let end = toks
        .iter()
        .rposition(|t| !t.is_trivia())
        .map_or(start, |p| p + 1);
    &toks[start..end]
}

/// Index of the token closing the bracket opened at `open` (`(` or `[`), if any.
pub(crate) fn matching(toks: &[Tok], open: usize) -> Option<usize> {
    let mut depth = 0usize;
    for (i, t) in toks.iter().enumerate().skip(open) {
        if t.kind != Kind::Punct {
            continue;
        }
        match t.text.as_str() {
            "(" | "[" => depth += 1,
            ")" | "]" => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}

/// Splits tokens at commas outside brackets.
pub(crate) fn split_commas(toks: &[Tok]) -> Vec<&[Tok]> {
    split_at_depth0(toks, |t| t.is_punct(","))
}

/// Splits tokens at the tokens outside brackets for which `sep` holds (separators dropped).
pub(crate) fn split_at_depth0(toks: &[Tok], sep: impl Fn(&Tok) -> bool) -> Vec<&[Tok]> {
    let mut parts = Vec::new();
    let mut depth = 0i32;
    let mut start = 0;
    for (i, t) in toks.iter().enumerate() {
        if t.kind == Kind::Punct {
            match t.text.as_str() {
                "(" | "[" => depth += 1,
                ")" | "]" => depth -= 1,
                _ => {}
            }
        }
        if depth == 0 && sep(t) {
            parts.push(&toks[start..i]);
            start = i + 1;
        }
    }
    parts.push(&toks[start..]);
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(src: &str) -> Vec<(Kind, String)> {
        lex(src)
            .into_iter()
            .filter(|t| !t.is_trivia())
            .map(|t| (t.kind, t.text))
            .collect()
    }

    #[test]
    fn macros_strings_and_templated_words() {
        let toks = kinds("SELECT @x, @EACH (a), @{s}_col, col_@x, @{t}, 'it''s @x' -- @c\n");
        let w = |k, s: &str| (k, s.to_string());
        assert_eq!(
            toks,
            vec![
                w(Kind::Word, "SELECT"),
                w(Kind::Var, "@x"),
                w(Kind::Punct, ","),
                w(Kind::Call, "@EACH"),
                w(Kind::Punct, "("),
                w(Kind::Word, "a"),
                w(Kind::Punct, ")"),
                w(Kind::Punct, ","),
                w(Kind::Word, "@{s}_col"),
                w(Kind::Punct, ","),
                w(Kind::Word, "col_@x"),
                w(Kind::Punct, ","),
                w(Kind::Brace, "@{t}"),
                w(Kind::Punct, ","),
                w(Kind::Str, "'it''s @x'"),
            ]
        );
    }

    #[test]
    fn operators_numbers_and_round_trip() {
        let src = "x -> x::INT >= 1e3 AND y := .5 /* c */ || \"q\"\"d\"";
        assert_eq!(text(&lex(src)), src);
        let toks = kinds(src);
        assert!(toks.contains(&(Kind::Punct, "->".into())));
        assert!(toks.contains(&(Kind::Number, "1e3".into())));
        assert!(toks.contains(&(Kind::Number, ".5".into())));
        assert!(toks.contains(&(Kind::QuotedIdent, "\"q\"\"d\"".into())));
    }
}
