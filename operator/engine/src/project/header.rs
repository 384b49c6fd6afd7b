//! Tokenizer and parser for `MODEL (...)` and `AUDIT (...)` header blocks.
//!
//! Headers are a small property language (`key value, key (nested, list)`), not SQL, so they
//! get their own lexer: it only has to understand enough to find where each property and each
//! nested group ends, and to hand back the exact source text of values (audit arguments are kept
//! as raw SQL). Everything carries a 1-based line and column for error messages.

use std::fmt;

/// A problem at a position in a file; the caller adds the file name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Located {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl Located {
    pub fn new(pos: Pos, message: impl Into<String>) -> Self {
        Located {
            line: pos.line,
            column: pos.column,
            message: message.into(),
        }
    }
}

/// A 1-based line and column (in characters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Pos {
    pub line: usize,
    pub column: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TokenKind {
    /// Identifier, keyword or number; dots are part of the word (`stg.orders`, `0.9`).
    Word,
    /// A single-quoted string, unescaped.
    Str(String),
    /// A double-quoted identifier, unescaped.
    QuotedIdent(String),
    Open(char),
    Close(char),
    Comma,
    Semicolon,
    /// `:=`, the keyword-argument operator.
    Assign,
    /// Any other punctuation (`=`, `>`, `-`, ...), one character per token.
    Op,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Token {
    pub kind: TokenKind,
    /// Byte range in the source.
    pub start: usize,
    pub end: usize,
    pub pos: Pos,
}

impl Token {
    pub fn text<'a>(&self, src: &'a str) -> &'a str {
        &src[self.start..self.end]
    }
}

/// A lexer over a whole file that can be resumed at any byte offset.
pub(crate) struct Lexer<'a> {
    src: &'a str,
    offset: usize,
    pos: Pos,
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | '.' | '$' | '@')
}

impl<'a> Lexer<'a> {
    pub fn new(src: &'a str) -> Self {
        Lexer {
            src,
            offset: 0,
            pos: Pos { line: 1, column: 1 },
        }
    }

    /// A lexer positioned at byte `offset` of `src`.
    pub fn at(src: &'a str, offset: usize) -> Self {
        Lexer {
            src,
            offset,
            pos: pos_at(src, offset),
        }
    }

    pub fn offset(&self) -> usize {
        self.offset
    }

    /// Position of the next character (after skipping nothing).
    pub fn pos(&self) -> Pos {
        self.pos
    }

    fn peek(&self) -> Option<char> {
        self.src[self.offset..].chars().next()
    }

    fn peek2(&self) -> Option<char> {
        self.src[self.offset..].chars().nth(1)
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.offset += c.len_utf8();
        if c == '\n' {
            self.pos.line += 1;
            self.pos.column = 1;
        } else {
            self.pos.column += 1;
        }
        Some(c)
    }

    /// Skips whitespace and `--` / `/* */` comments.
    pub fn skip_trivia(&mut self) -> Result<(), Located> {
        loop {
            match (self.peek(), self.peek2()) {
                (Some(c), _) if c.is_whitespace() => {
                    self.bump();
                }
                (Some('-'), Some('-')) => {
                    while self.peek().is_some_and(|c| c != '\n') {
                        self.bump();
                    }
                }
                (Some('/'), Some('*')) => {
                    let start = self.pos;
                    self.bump();
                    self.bump();
                    loop {
                        match (self.peek(), self.peek2()) {
                            (Some('*'), Some('/')) => {
                                self.bump();
                                self.bump();
                                break;
                            }
                            (Some(_), _) => {
                                self.bump();
                            }
                            (None, _) => {
                                return Err(Located::new(start, "unterminated /* comment"));
                            }
                        }
                    }
                }
                _ => return Ok(()),
            }
        }
    }

    /// The next token, or `None` at the end of input.
    pub fn next_token(&mut self) -> Result<Option<Token>, Located> {
        self.skip_trivia()?;
        let start = self.offset;
        let pos = self.pos;
        let Some(c) = self.bump() else {
            return Ok(None);
        };
        let kind = match c {
            '\'' => TokenKind::Str(self.quoted('\'', pos, "string")?),
            '"' => TokenKind::QuotedIdent(self.quoted('"', pos, "quoted identifier")?),
            '(' | '[' => TokenKind::Open(c),
            ')' | ']' => TokenKind::Close(c),
            ',' => TokenKind::Comma,
            ';' => TokenKind::Semicolon,
            ':' if self.peek() == Some('=') => {
                self.bump();
                TokenKind::Assign
            }
            c if is_word_char(c) => {
                while self.peek().is_some_and(is_word_char) {
                    self.bump();
                }
                TokenKind::Word
            }
            _ => TokenKind::Op,
        };
        Ok(Some(Token {
            kind,
            start,
            end: self.offset,
            pos,
        }))
    }

    /// Reads the rest of a quoted literal whose opening quote was consumed; a doubled quote is
    /// an escaped quote.
    fn quoted(&mut self, quote: char, start: Pos, what: &str) -> Result<String, Located> {
        let mut out = String::new();
        loop {
            match self.bump() {
                Some(c) if c == quote => {
                    if self.peek() == Some(quote) {
                        self.bump();
                        out.push(quote);
                    } else {
                        return Ok(out);
                    }
                }
                Some(c) => out.push(c),
                None => return Err(Located::new(start, format!("unterminated {what}"))),
            }
        }
    }
}

/// A token or a parenthesized/bracketed group of comma-separated items.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Node {
    Token(Token),
    Group {
        open: Token,
        /// Byte offset just after the closing delimiter.
        end: usize,
        items: Vec<Item>,
    },
}

impl Node {
    pub fn start(&self) -> usize {
        match self {
            Node::Token(t) => t.start,
            Node::Group { open, .. } => open.start,
        }
    }

    pub fn end(&self) -> usize {
        match self {
            Node::Token(t) => t.end,
            Node::Group { end, .. } => *end,
        }
    }

    pub fn pos(&self) -> Pos {
        match self {
            Node::Token(t) => t.pos,
            Node::Group { open, .. } => open.pos,
        }
    }

    /// The items of a `(...)` or `[...]` group.
    pub fn group_items(&self) -> Option<&[Item]> {
        match self {
            Node::Group { items, .. } => Some(items),
            Node::Token(_) => None,
        }
    }

    pub fn word<'a>(&self, src: &'a str) -> Option<&'a str> {
        match self {
            Node::Token(t) if t.kind == TokenKind::Word => Some(t.text(src)),
            _ => None,
        }
    }
}

/// One comma-separated element of a group: a sequence of nodes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Item {
    pub nodes: Vec<Node>,
}

impl Item {
    pub fn pos(&self) -> Pos {
        self.nodes.first().map(Node::pos).unwrap_or_default()
    }
}

/// The exact source text spanned by `nodes` (comments between them included).
pub(crate) fn source_text<'a>(src: &'a str, nodes: &[Node]) -> &'a str {
    match (nodes.first(), nodes.last()) {
        (Some(first), Some(last)) => &src[first.start()..last.end()],
        _ => "",
    }
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// Parses the rest of a group whose opening delimiter `open` was just read.
pub(crate) fn parse_group(lexer: &mut Lexer<'_>, open: Token) -> Result<Node, Located> {
    let TokenKind::Open(open_char) = open.kind else {
        unreachable!("parse_group is called on an opening delimiter");
    };
    let close_char = if open_char == '(' { ')' } else { ']' };
    let mut items = Vec::new();
    let mut current = Vec::new();
    loop {
        let Some(token) = lexer.next_token()? else {
            return Err(Located::new(
                open.pos,
                format!("unterminated '{open_char}': no matching '{close_char}'"),
            ));
        };
        match token.kind {
            TokenKind::Close(c) if c == close_char => {
                if !current.is_empty() {
                    items.push(Item { nodes: current });
                }
                return Ok(Node::Group {
                    open,
                    end: token.end,
                    items,
                });
            }
            TokenKind::Close(c) => {
                return Err(Located::new(
                    token.pos,
                    format!(
                        "unexpected '{c}': expected '{close_char}' to close the '{open_char}' at line {}",
                        open.pos.line
                    ),
                ));
            }
            TokenKind::Semicolon => {
                return Err(Located::new(
                    token.pos,
                    format!(
                        "unexpected ';' inside '{open_char}' opened at line {}",
                        open.pos.line
                    ),
                ));
            }
            TokenKind::Comma => {
                if current.is_empty() {
                    return Err(Located::new(token.pos, "unexpected ','"));
                }
                items.push(Item {
                    nodes: std::mem::take(&mut current),
                });
            }
            TokenKind::Open(_) => current.push(parse_group(lexer, token)?),
            _ => current.push(Node::Token(token)),
        }
    }
}

/// A parsed `KEYWORD ( ... );` header block.
#[derive(Debug, Clone)]
pub(crate) struct Block {
    pub keyword_pos: Pos,
    pub properties: Vec<Item>,
    /// Byte offset just after the block (and its `;`, if any).
    pub end: usize,
}

/// Parses a `keyword ( ... )` block starting at the lexer's position, followed by an optional
/// `;`. Returns `Ok(None)` when the next token is not `keyword`.
pub(crate) fn parse_block(lexer: &mut Lexer<'_>, keyword: &str) -> Result<Option<Block>, Located> {
    let src = lexer.src;
    let Some(first) = lexer.next_token()? else {
        return Ok(None);
    };
    if first.kind != TokenKind::Word || !first.text(src).eq_ignore_ascii_case(keyword) {
        return Ok(None);
    }
    let open = match lexer.next_token()? {
        Some(t) if t.kind == TokenKind::Open('(') => t,
        other => {
            let pos = other.map_or(lexer.pos(), |t| t.pos);
            return Err(Located::new(pos, format!("expected '(' after {keyword}")));
        }
    };
    let group = parse_group(lexer, open)?;
    let mut end = group.end();
    let Node::Group { items, .. } = group else {
        unreachable!("parse_group returns a group");
    };
    // An optional `;` ends the header; anything else belongs to the query.
    let mut probe = Lexer {
        src,
        offset: lexer.offset,
        pos: lexer.pos,
    };
    if let Ok(Some(t)) = probe.next_token()
        && t.kind == TokenKind::Semicolon
    {
        end = t.end;
        *lexer = probe;
    }
    Ok(Some(Block {
        keyword_pos: first.pos,
        properties: items,
        end,
    }))
}

/// Position of byte `offset` in `src`.
pub(crate) fn pos_at(src: &str, offset: usize) -> Pos {
    let before = &src[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    Pos {
        line,
        column: before[line_start..].chars().count() + 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(src: &str) -> Vec<TokenKind> {
        let mut lexer = Lexer::new(src);
        let mut out = Vec::new();
        while let Some(t) = lexer.next_token().unwrap() {
            out.push(t.kind);
        }
        out
    }

    #[test]
    fn lexes_strings_with_escapes_assign_and_comments() {
        let kinds = tokens("a := 'it''s' -- note\n /* x */ \"Q\"\"t\" >= 0.9");
        assert_eq!(
            kinds,
            vec![
                TokenKind::Word,
                TokenKind::Assign,
                TokenKind::Str("it's".into()),
                TokenKind::QuotedIdent("Q\"t".into()),
                TokenKind::Op,
                TokenKind::Op,
                TokenKind::Word,
            ]
        );
    }

    #[test]
    fn unterminated_string_reports_its_start() {
        let mut lexer = Lexer::new("x\n  'abc");
        lexer.next_token().unwrap();
        let err = lexer.next_token().unwrap_err();
        assert_eq!((err.line, err.column), (2, 3));
        assert!(err.message.contains("unterminated string"));
    }

    #[test]
    fn groups_nest_and_keep_source_text() {
        let src = "MODEL (a (b, [c, 'd,e']), f x > (1));\nSELECT 1";
        let mut lexer = Lexer::new(src);
        let block = parse_block(&mut lexer, "model").unwrap().unwrap();
        assert_eq!(block.properties.len(), 2);
        assert_eq!(&src[block.end..], "\nSELECT 1");
        let inner = block.properties[0].nodes[1].group_items().unwrap();
        assert_eq!(source_text(src, &inner[1].nodes), "[c, 'd,e']");
        assert_eq!(source_text(src, &block.properties[1].nodes[1..]), "x > (1)");
    }

    #[test]
    fn unbalanced_parens_name_the_opening_line() {
        let src = "MODEL (\n  name a.b,\n  kind FULL (x\n";
        let err = parse_block(&mut Lexer::new(src), "MODEL").unwrap_err();
        assert_eq!((err.line, err.column), (3, 13));
        let err = parse_block(&mut Lexer::new("MODEL (a ]"), "MODEL").unwrap_err();
        assert!(err.message.contains("expected ')'"), "{}", err.message);
    }

    #[test]
    fn pos_at_counts_lines_and_columns() {
        assert_eq!(pos_at("ab\ncd", 4), Pos { line: 2, column: 2 });
    }
}
