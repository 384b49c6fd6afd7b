//! SQLMesh's built-in macro functions that compute with values: `@IF`, `@EACH`, `@REDUCE`,
//! `@FILTER`, `@EVAL`, `@SQL`, `@VAR`, `@BLUEPRINT_VAR`, `@AND`, `@OR`, and the clause
//! macros (`@WHERE(cond) ...`). The ones that write SQL are in `generators`.

use super::MacroErrorKind;
use super::eval::{evaluate, to_sql};
use super::expander::{Arg, Expander, R, Scope, construct};
use super::lexer::{Kind, Tok, lex, split_commas, trim};
use super::names::{CLAUSE_WORDS, clause_keyword};
use super::value::{ListStyle, Val, at};

/// Statement keywords: `@IF(cond, CREATE TABLE t AS SELECT a, b ...)` takes the whole
/// statement as its second argument, commas included.
const STATEMENT_WORDS: &[&str] = &[
    "CREATE", "INSERT", "UPDATE", "DELETE", "DROP", "ALTER", "MERGE", "TRUNCATE", "COPY", "ATTACH",
    "DETACH", "CALL", "GRANT", "ANALYZE", "VACUUM", "PRAGMA", "INSTALL", "LOAD", "EXPORT",
    "IMPORT", "SET", "USE",
];

/// Where a clause macro's clause ends: at the next clause of the query.
fn clause_end(toks: &[Tok], from: usize, keyword: &str) -> usize {
    const JOINS: &[&str] = &["JOIN", "LEFT", "RIGHT", "INNER", "FULL", "CROSS", "NATURAL"];
    let mut depth = 0i32;
    for (i, t) in toks.iter().enumerate().skip(from) {
        if t.kind == Kind::Punct {
            match t.text.as_str() {
                "(" | "[" => depth += 1,
                ")" | "]" if depth == 0 => return i,
                ")" | "]" => depth -= 1,
                ";" if depth == 0 => return i,
                _ => {}
            }
            continue;
        }
        if depth > 0 {
            continue;
        }
        let ends = if keyword == "WITH" {
            t.is_word("SELECT")
        } else {
            CLAUSE_WORDS.iter().chain(JOINS).any(|w| t.is_word(w))
                && !matches!(t.text.to_ascii_uppercase().as_str(), "FROM" | "INTO")
        };
        if ends || (t.kind == Kind::Call && clause_keyword(t.macro_name()).is_some()) {
            return i;
        }
    }
    toks.len()
}

impl Expander<'_> {
    pub(crate) fn builtin(&mut self, name: &str, t: &Tok, raw: &[Tok], scope: &Scope) -> R<Val> {
        match name {
            "if" => self.if_macro(t, raw, scope),
            "each" | "reduce" | "filter" => self.list_macro(name, t, raw, scope),
            "eval" => {
                let [v] = self.fixed::<1>(t, raw, scope, &["expression"], 1)?;
                let toks = v.unwrap_or(Val::Nothing).tokens(t.pos);
                evaluate(&toks)
                    .map(|v| to_sql(&v, t.pos))
                    .map_err(|e| self.eval_error(e, t))
            }
            "sql" => {
                let [s, into] = self.fixed::<2>(t, raw, scope, &["sql", "into"], 1)?;
                let sql = self.string(t, s, "its first argument", None)?;
                self.string(t, into, "`into`", Some(""))?;
                let toks = at(lex(&sql), t.pos);
                self.expand_seq(&toks, scope).map(Val::Sql)
            }
            "var" | "blueprint_var" => {
                let [n, default] = self.fixed::<2>(t, raw, scope, &["var_name", "default"], 1)?;
                let var = self.string(t, n, "the variable name", None)?;
                let found = if name == "var" {
                    self.project_variable(&var, ListStyle::Array, t.pos)
                } else {
                    self.blueprint_variable(&var, t.pos)
                };
                Ok(found
                    .or(default)
                    .unwrap_or_else(|| Val::word("NULL", t.pos)))
            }
            "and" | "or" => {
                let args = self.args(raw, scope, true)?;
                let operands: Vec<String> = args
                    .iter()
                    .filter(|a| !a.val.is_null())
                    .map(|a| parenthesize_connector(&a.val))
                    .collect();
                if operands.is_empty() {
                    return Ok(Val::word("TRUE", t.pos));
                }
                let sep = if name == "and" { " AND " } else { " OR " };
                Ok(Val::sql(&operands.join(sep), t.pos))
            }
            _ => self.generate(name, t, raw, scope),
        }
    }

    /// `@WHERE(cond) ...` & co.: the clause when the condition holds, nothing otherwise.
    pub(crate) fn clause(
        &mut self,
        toks: &[Tok],
        i: &mut usize,
        close: usize,
        keyword: &str,
        scope: &Scope,
        out: &mut Vec<Tok>,
    ) -> R<()> {
        let t = &toks[*i];
        let open = (*i + 1..close)
            .find(|&j| toks[j].is_punct("("))
            .unwrap_or(close);
        let end = clause_end(toks, close + 1, keyword);
        *i = end;
        let cond = self.arg_value(&toks[open + 1..close], scope)?;
        if self.condition(&cond, t)? {
            out.push(Tok::new(Kind::Word, keyword, t.pos));
            out.extend(self.expand_seq(&toks[close + 1..end], scope)?);
        }
        Ok(())
    }

    fn if_macro(&mut self, t: &Tok, raw: &[Tok], scope: &Scope) -> R<Val> {
        let mut parts = split_commas(raw);
        let takes_statement = parts.get(1).is_some_and(|p| {
            trim(p)
                .first()
                .is_some_and(|w| STATEMENT_WORDS.iter().any(|s| w.is_word(s)))
        });
        if takes_statement {
            let rest = &raw[parts[0].len() + 1..];
            parts.truncate(1);
            parts.push(rest);
        }
        if !(2..=3).contains(&parts.len()) {
            return Err(self.invalid(t, "takes a condition, a value and an optional else value"));
        }
        let cond = self.arg_value(parts[0], scope)?;
        let then = self.arg_value(parts[1], scope);
        let otherwise = parts.get(2).map(|p| self.arg_value(p, scope)).transpose();
        let (then, otherwise) = (then?, otherwise?);
        Ok(if self.condition(&cond, t)? {
            then
        } else {
            otherwise.unwrap_or(Val::Nothing)
        })
    }

    fn list_macro(&mut self, name: &str, t: &Tok, raw: &[Tok], scope: &Scope) -> R<Val> {
        let [items, func] = self.fixed::<2>(t, raw, scope, &["items", "func"], 2)?;
        let items = items.unwrap_or(Val::Nothing).items();
        let Some(Val::Lambda(lambda)) = func else {
            return Err(self.invalid(t, "takes a list and a function (x -> ...) as arguments"));
        };
        match name {
            "each" => {
                let mut out = Vec::new();
                for item in items {
                    match self.apply(&lambda, vec![item], t, scope)? {
                        Val::Many(more) => out.extend(more),
                        Val::Nothing => {}
                        v => out.push(v),
                    }
                }
                Ok(Val::Many(out))
            }
            "filter" => {
                let mut out = Vec::new();
                for item in items {
                    let keep = self.apply(&lambda, vec![item.clone()], t, scope)?;
                    if self.condition(&keep, t)? {
                        out.push(item);
                    }
                }
                Ok(Val::Many(out))
            }
            _ => {
                let mut items = items.into_iter();
                let Some(mut acc) = items.next() else {
                    return Ok(Val::Nothing);
                };
                for item in items {
                    acc = self.apply(&lambda, vec![acc, item], t, scope)?;
                }
                Ok(acc)
            }
        }
    }

    /// Binds arguments to parameter names (positional first, then `name := value`), without
    /// spreading lists; the first `required` are mandatory.
    pub(crate) fn fixed<const N: usize>(
        &mut self,
        t: &Tok,
        raw: &[Tok],
        scope: &Scope,
        params: &[&str; N],
        required: usize,
    ) -> R<[Option<Val>; N]> {
        let args = self.args(raw, scope, false)?;
        self.bind(t, args, params, required)
    }

    pub(crate) fn bind<const N: usize>(
        &mut self,
        t: &Tok,
        args: Vec<Arg>,
        params: &[&str; N],
        required: usize,
    ) -> R<[Option<Val>; N]> {
        let mut out: [Option<Val>; N] = std::array::from_fn(|_| None);
        let mut next = 0;
        for arg in args {
            let slot = match &arg.name {
                None if next < N => {
                    next += 1;
                    next - 1
                }
                None => {
                    return Err(self.invalid(t, &format!("takes at most {N} argument(s)")));
                }
                Some(name) => match params.iter().position(|p| p == name) {
                    Some(slot) => slot,
                    None => {
                        let message = format!(
                            "has no argument named '{name}' (its arguments: {})",
                            params.join(", ")
                        );
                        return Err(self.invalid(t, &message));
                    }
                },
            };
            if out[slot].is_some() {
                return Err(self.invalid(t, &format!("'{}' is given twice", params[slot])));
            }
            out[slot] = Some(arg.val);
        }
        if let Some(missing) = (0..required).find(|&i| out[i].is_none()) {
            return Err(self.invalid(t, &format!("needs the argument '{}'", params[missing])));
        }
        Ok(out)
    }

    /// A string-literal argument; `default` when absent (`None`: required).
    pub(crate) fn string(
        &mut self,
        t: &Tok,
        v: Option<Val>,
        what: &str,
        default: Option<&str>,
    ) -> R<String> {
        match (v, default) {
            (None, Some(d)) => Ok(d.to_string()),
            (Some(v), _) if v.as_str().is_some() => Ok(v.as_str().unwrap_or_default()),
            (v, _) => {
                let given = v.map(|v| v.text()).unwrap_or_default();
                Err(self.invalid(
                    t,
                    &format!("{what} must be a string literal, not '{given}'"),
                ))
            }
        }
    }

    /// A boolean argument (a condition), `default` when absent.
    pub(crate) fn flag(&mut self, t: &Tok, v: Option<Val>, default: bool) -> R<bool> {
        match v {
            None => Ok(default),
            Some(v) => self.condition(&v, t),
        }
    }

    pub(crate) fn invalid(&mut self, t: &Tok, message: &str) -> super::expander::Failed {
        self.fail(
            t.pos,
            &construct(t),
            MacroErrorKind::InvalidArguments,
            message,
        )
    }
}

/// An `@AND`/`@OR` operand that is itself an AND/OR goes in parentheses.
fn parenthesize_connector(v: &Val) -> String {
    let toks = v.tokens(0);
    let mut depth = 0i32;
    let mut between = false;
    let mut connector = false;
    for t in toks.iter().filter(|t| !t.is_trivia()) {
        match t.text.as_str() {
            "(" | "[" => depth += 1,
            ")" | "]" => depth -= 1,
            _ if depth > 0 => {}
            _ if t.is_word("BETWEEN") => between = true,
            _ if t.is_word("AND") && between => between = false,
            _ if t.is_word("AND") || t.is_word("OR") => connector = true,
            _ => {}
        }
    }
    let text = v.text();
    if connector { format!("({text})") } else { text }
}
