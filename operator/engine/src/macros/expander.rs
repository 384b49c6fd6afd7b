//! The walk over a model's tokens that replaces every macro with what it stands for.
//!
//! Errors do not stop the walk: each is recorded with its position and the walk goes on with
//! the next token, so one pass reports every problem. A macro whose arguments failed is not
//! evaluated itself (its own error would only repeat theirs).

use std::collections::{BTreeSet, HashMap};
use std::rc::Rc;

use super::lexer::{Kind, Tok, matching, split_commas, trim};
use super::names::{CLAUSE_WORDS, clause_keyword, is_builtin};
use super::value::{Lambda, ListStyle, Val, identifier};
use super::{MacroContext, MacroError, MacroErrorKind};

/// An error was recorded; the caller skips what depended on it.
#[derive(Debug)]
pub(crate) struct Failed;

pub(crate) type R<T> = Result<T, Failed>;

/// Names bound by the lambdas being applied, innermost last.
pub(crate) type Scope = Vec<(String, Val)>;

/// One argument of a macro call.
pub(crate) struct Arg {
    /// `name := value`
    pub name: Option<String>,
    pub val: Val,
    pub pos: usize,
}

pub(crate) struct Expander<'c> {
    pub ctx: &'c MacroContext<'c>,
    src: &'c str,
    pub errors: Vec<MacroError>,
    /// `@DEF` definitions, by lower-cased name.
    pub defs: HashMap<String, Val>,
    /// Project, gateway and blueprint variables read.
    pub variables: BTreeSet<String>,
    /// Variables left as `@name` for run time.
    pub deferred: BTreeSet<String>,
    /// Whether the statement being expanded is the model query (FULL and VIEW queries have
    /// no start/end time variables).
    pub in_query: bool,
}

/// Words after which a list of expressions (an `@EACH` result) may start.
const LIST_OPENERS: &[&str] = &["SELECT", "BY", "DISTINCT", "ALL", "VALUES"];

/// Line and column (1-based) of a byte offset.
pub(crate) fn line_col(src: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(src.len());
    let before = &src[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |p| p + 1);
    (line, before[line_start..].chars().count() + 1)
}

fn sig(toks: &[Tok]) -> impl DoubleEndedIterator<Item = (usize, &Tok)> {
    toks.iter().enumerate().filter(|(_, t)| !t.is_trivia())
}

impl<'c> Expander<'c> {
    pub fn new(ctx: &'c MacroContext<'c>, src: &'c str) -> Self {
        Expander {
            ctx,
            src,
            errors: Vec::new(),
            defs: HashMap::new(),
            variables: BTreeSet::new(),
            deferred: BTreeSet::new(),
            in_query: false,
        }
    }

    /// Records an error at byte offset `pos` of the model text.
    pub fn fail(
        &mut self,
        pos: usize,
        construct: &str,
        kind: MacroErrorKind,
        message: impl Into<String>,
    ) -> Failed {
        let (line, column) = line_col(self.src, pos);
        self.errors.push(MacroError {
            line,
            column,
            file: None,
            construct: construct.to_string(),
            kind,
            message: message.into(),
        });
        Failed
    }

    /// Expands every macro in `toks`.
    pub fn expand_seq(&mut self, toks: &[Tok], scope: &Scope) -> R<Vec<Tok>> {
        let mut out = Vec::new();
        let mut failed = false;
        let mut i = 0;
        while i < toks.len() {
            let t = &toks[i];
            let step = match t.kind {
                Kind::Call => self.call_at(toks, &mut i, scope, &mut out),
                Kind::Var => {
                    i += 1;
                    self.lookup(t, scope)
                        .and_then(|v| self.place(v, t, &mut out, toks, &mut i))
                }
                Kind::Brace => {
                    i += 1;
                    self.brace(t, scope).map(|tok| out.push(tok))
                }
                _ if t.is_templated() => {
                    i += 1;
                    self.template(t, scope).map(|tok| out.push(tok))
                }
                Kind::Punct if t.text == "{" && self.jinja_outside_block(toks, i) => {
                    i = skip_jinja(toks, i);
                    Err(self.fail(
                        t.pos,
                        "{{ }}",
                        MacroErrorKind::Syntax,
                        "Jinja is only rendered inside JINJA_QUERY_BEGIN; ... JINJA_END; or \
                         JINJA_STATEMENT_BEGIN; ... JINJA_END; blocks (SQLMesh would read this \
                         as a DuckDB struct literal)",
                    ))
                }
                _ => {
                    out.push(t.clone());
                    i += 1;
                    Ok(())
                }
            };
            failed |= step.is_err();
        }
        if failed { Err(Failed) } else { Ok(out) }
    }

    fn jinja_outside_block(&self, toks: &[Tok], i: usize) -> bool {
        toks.get(i + 1)
            .is_some_and(|n| n.is_punct("{") || n.is_punct("%"))
    }

    /// A macro call at `toks[*i]`: evaluates it and places its value in `out`.
    fn call_at(&mut self, toks: &[Tok], i: &mut usize, scope: &Scope, out: &mut Vec<Tok>) -> R<()> {
        let t = &toks[*i];
        let open = (*i + 1..toks.len()).find(|&j| !toks[j].is_trivia());
        let close = open.and_then(|o| matching(toks, o));
        let Some((open, close)) = open.zip(close) else {
            *i = toks.len();
            return Err(self.fail(
                t.pos,
                &format!("@{}", t.macro_name()),
                MacroErrorKind::Syntax,
                "the macro call's '(' is never closed",
            ));
        };
        let args = &toks[open + 1..close];
        if let Some(keyword) = clause_keyword(t.macro_name()) {
            return self.clause(toks, i, close, keyword, scope, out);
        }
        *i = close + 1;
        let v = self.call(t, args, scope)?;
        self.place(v, t, out, toks, i)
    }

    /// Puts a macro's value where the macro was: `toks[*i..]` is what follows it.
    fn place(
        &mut self,
        v: Val,
        at: &Tok,
        out: &mut Vec<Tok>,
        toks: &[Tok],
        i: &mut usize,
    ) -> R<()> {
        let construct = construct(at);
        let prev = sig(out).next_back();
        let next = sig(&toks[*i..]).next().map(|(n, t)| (n + *i, t));
        match v {
            Val::Many(mut items) if items.len() <= 1 => {
                let one = items.pop().unwrap_or(Val::Nothing);
                self.place(one, at, out, toks, i)
            }
            Val::Many(items) => {
                let opens = prev.is_none_or(|(_, p)| {
                    p.is_punct(",")
                        || p.is_punct("(")
                        || p.is_punct("[")
                        || LIST_OPENERS.iter().any(|w| p.is_word(w))
                });
                let closes = next.is_none_or(|(_, n)| {
                    [",", ")", "]", ";"].iter().any(|p| n.is_punct(p))
                        || CLAUSE_WORDS.iter().any(|w| n.is_word(w))
                });
                if !(opens && closes) {
                    return Err(self.fail(
                        at.pos,
                        &construct,
                        MacroErrorKind::InvalidArguments,
                        format!(
                            "produces {} expressions here, where SQL takes one (use it in a \
                             SELECT list, a function's arguments or another macro)",
                            items.len()
                        ),
                    ));
                }
                out.extend(Val::Many(items).tokens(at.pos));
                Ok(())
            }
            Val::Nothing => {
                let prev = prev.map(|(n, _)| n);
                self.remove(at, &construct, out, toks, prev, next, i)
            }
            Val::Lambda(_) => Err(self.fail(
                at.pos,
                &construct,
                MacroErrorKind::InvalidArguments,
                format!(
                    "is a macro function: call it with arguments, {}(...)",
                    construct
                ),
            )),
            Val::Sql(_) if prev.is_some_and(|(_, p)| p.is_word("AS")) && v.as_str().is_some() => {
                out.push(identifier(&v.as_str().unwrap_or_default(), at.pos));
                Ok(())
            }
            other => {
                out.extend(other.tokens(at.pos));
                Ok(())
            }
        }
    }

    /// A macro that produced nothing: its list item goes, with one adjacent comma.
    #[allow(clippy::too_many_arguments)]
    fn remove(
        &mut self,
        at: &Tok,
        construct: &str,
        out: &mut Vec<Tok>,
        toks: &[Tok],
        prev: Option<usize>,
        next: Option<(usize, &Tok)>,
        i: &mut usize,
    ) -> R<()> {
        let next_is = |p: &str| next.is_some_and(|(_, n)| n.is_punct(p));
        let ends_item = next.is_none_or(|(_, n)| {
            n.is_punct(",")
                || n.is_punct(")")
                || n.is_punct("]")
                || n.is_punct(";")
                || CLAUSE_WORDS.iter().any(|w| n.is_word(w))
        });
        match prev.map(|p| &out[p]) {
            Some(p) if p.is_punct(",") && ends_item => {
                out.truncate(prev.unwrap_or_default());
                return Ok(());
            }
            None => {
                if let Some((n, _)) = next.filter(|_| next_is(",")) {
                    *i = n + 1;
                    while toks.get(*i).is_some_and(|t| t.kind == Kind::Space) {
                        *i += 1;
                    }
                }
                if next.is_none() || next_is(",") {
                    return Ok(());
                }
            }
            Some(p)
                if (p.is_punct("(") || p.is_punct("[") || p.is_word("SELECT")) && next_is(",") =>
            {
                if let Some((n, _)) = next {
                    *i = n + 1;
                }
                return Ok(());
            }
            Some(p) if (p.is_punct("(") || p.is_punct("[")) && (next_is(")") || next_is("]")) => {
                return Ok(());
            }
            _ => {}
        }
        Err(self.fail(
            at.pos,
            construct,
            MacroErrorKind::InvalidArguments,
            "produces nothing here, which leaves the SQL around it incomplete (a macro that \
             can produce nothing must be a whole list item or statement)",
        ))
    }

    /// Evaluates one macro argument (or any macro expression) to a value. A lambda,
    /// `[list]`, `(tuple)` or a lone macro keep their shape; anything else is expanded SQL.
    pub fn arg_value(&mut self, toks: &[Tok], scope: &Scope) -> R<Val> {
        let toks = trim(toks);
        let Some(first) = toks.first() else {
            return Ok(Val::Nothing);
        };
        if let Some(lambda) = parse_lambda(toks) {
            return Ok(Val::Lambda(Rc::new(lambda)));
        }
        let spans_all = |open: usize| matching(toks, open) == Some(toks.len() - 1);
        if first.is_punct("[") && spans_all(0) {
            return self.list(&toks[1..toks.len() - 1], scope).map(Val::Array);
        }
        if first.is_punct("(") && spans_all(0) && split_commas(&toks[1..toks.len() - 1]).len() > 1 {
            return self.list(&toks[1..toks.len() - 1], scope).map(Val::Tuple);
        }
        if toks.len() == 1 && first.kind == Kind::Var {
            return self.lookup(first, scope);
        }
        if first.kind == Kind::Call
            && clause_keyword(first.macro_name()).is_none()
            && let Some((open, _)) = sig(&toks[1..]).next()
            && spans_all(open + 1)
        {
            return self.call(first, &toks[open + 2..toks.len() - 1], scope);
        }
        self.expand_seq(toks, scope).map(Val::Sql)
    }

    fn list(&mut self, toks: &[Tok], scope: &Scope) -> R<Vec<Val>> {
        let mut items = Vec::new();
        let mut failed = false;
        for part in split_commas(toks) {
            if trim(part).is_empty() {
                continue;
            }
            match self.arg_value(part, scope) {
                Ok(Val::Many(more)) => items.extend(more),
                Ok(v) => items.push(v),
                Err(_) => failed = true,
            }
        }
        if failed { Err(Failed) } else { Ok(items) }
    }

    /// A call's arguments, evaluated. With `spread`, a value produced by `@EACH` & co. is
    /// several positional arguments (`@SAFE_ADD(@EACH(...))`).
    pub fn args(&mut self, toks: &[Tok], scope: &Scope, spread: bool) -> R<Vec<Arg>> {
        let mut args = Vec::new();
        let mut failed = false;
        if trim(toks).is_empty() {
            return Ok(args);
        }
        for part in split_commas(toks) {
            let part = trim(part);
            let pos = part.first().map_or(0, |t| t.pos);
            let (name, value) = match sig(part).take(2).collect::<Vec<_>>().as_slice() {
                [(_, n), (k, op)] if n.kind == Kind::Word && op.is_punct(":=") => {
                    (Some(n.text.to_ascii_lowercase()), &part[k + 1..])
                }
                _ => (None, part),
            };
            match self.arg_value(value, scope) {
                Ok(Val::Many(items)) if spread && name.is_none() => {
                    args.extend(items.into_iter().map(|val| Arg {
                        name: None,
                        val,
                        pos,
                    }))
                }
                Ok(val) => args.push(Arg { name, val, pos }),
                Err(_) => failed = true,
            }
        }
        if failed { Err(Failed) } else { Ok(args) }
    }

    /// Applies a lambda: its parameters are replaced by the arguments' SQL, textually and
    /// without added parentheses, except inside nested macro calls (where the parameter is
    /// reached as `@x`). Both behaviours are SQLMesh's.
    pub fn apply(&mut self, lambda: &Lambda, args: Vec<Val>, at: &Tok, scope: &Scope) -> R<Val> {
        if args.len() != lambda.params.len() {
            return Err(self.fail(
                at.pos,
                &construct(at),
                MacroErrorKind::InvalidArguments,
                format!(
                    "the function takes {} argument(s) ({}), {} given",
                    lambda.params.len(),
                    lambda.params.join(", "),
                    args.len()
                ),
            ));
        }
        let body = substitute(&lambda.body, &lambda.params, &args);
        let mut inner = scope.clone();
        inner.extend(lambda.params.iter().cloned().zip(args));
        self.arg_value(&body, &inner)
    }

    /// Evaluates a macro condition to true or false.
    pub fn condition(&mut self, val: &Val, at: &Tok) -> R<bool> {
        let toks = val.tokens(at.pos);
        let result = super::eval::evaluate(&toks).and_then(|v| super::eval::truthy(&v));
        result.map_err(|e| self.eval_error(e, at))
    }

    pub fn eval_error(&mut self, e: super::eval::EvalError, at: &Tok) -> Failed {
        use super::eval::EvalError;
        let construct = construct(at);
        match e {
            EvalError::Deferred(name) => self.needs_run_time(at, &name),
            EvalError::Column(c) => self.fail(
                at.pos,
                &construct,
                MacroErrorKind::Evaluation,
                format!(
                    "the condition uses the column {c}, which has no value while macros are \
                     expanded (before the query runs)"
                ),
            ),
            EvalError::Unsupported(what) => self.fail(
                at.pos,
                &construct,
                MacroErrorKind::Evaluation,
                format!("cannot be computed while macros are expanded: {what}"),
            ),
        }
    }

    pub fn needs_run_time(&mut self, at: &Tok, name: &str) -> Failed {
        self.fail(
            at.pos,
            &construct(at),
            MacroErrorKind::NeedsRunTime,
            format!(
                "computes with @{name}, which is only known when the model runs; Sluice expands \
                 macros when it loads the project, so a macro may pass @{name} on into the SQL \
                 but not compute with it (in a condition, an identifier or @EVAL)"
            ),
        )
    }

    /// A call to a `@DEF` function, a Python macro or a built-in.
    pub fn call(&mut self, t: &Tok, args: &[Tok], scope: &Scope) -> R<Val> {
        let name = t.macro_name().to_ascii_lowercase();
        let construct = construct(t);
        let local = scope
            .iter()
            .rev()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.clone())
            .or_else(|| self.defs.get(&name).cloned());
        if let Some(Val::Lambda(lambda)) = &local {
            let args = self.args(args, scope, true)?;
            if let Some(a) = args.iter().find(|a| a.name.is_some()) {
                return Err(self.fail(
                    a.pos,
                    &construct,
                    MacroErrorKind::InvalidArguments,
                    "a function defined with @DEF takes its arguments by position",
                ));
            }
            let vals = args.into_iter().map(|a| a.val).collect();
            return self.apply(lambda, vals, t, scope);
        }
        if name == "def" {
            return Err(self.fail(
                t.pos,
                &construct,
                MacroErrorKind::Syntax,
                "@DEF must be a statement of its own: @DEF(name, value);",
            ));
        }
        if self.ctx.is_python_macro(&name) {
            return Err(self.fail(
                t.pos,
                &construct,
                MacroErrorKind::PythonMacro,
                "is a Python macro (defined in macros/*.py): it needs Python, which Sluice does \
                 not run",
            ));
        }
        if is_builtin(&name) {
            return self.builtin(&name, t, args, scope);
        }
        let hint = if local.is_some() || self.variable(&name, ListStyle::Tuple, t.pos).is_some() {
            format!("; {construct} is a macro variable, not a function")
        } else {
            String::new()
        };
        Err(self.fail(
            t.pos,
            &construct,
            MacroErrorKind::UnknownFunction,
            format!(
                "unknown macro function: not a SQLMesh built-in, not defined by @DEF in this \
                 model and not a Python macro of the project{hint}"
            ),
        ))
    }
}

/// How an error names the macro token: `@EACH`, `@x`.
pub(crate) fn construct(t: &Tok) -> String {
    match t.kind {
        Kind::Call | Kind::Var => format!("@{}", t.macro_name()),
        _ => t.text.clone(),
    }
}

/// Skips a `{{ ... }}` / `{% ... %}` outside a Jinja block.
fn skip_jinja(toks: &[Tok], i: usize) -> usize {
    (i + 2..toks.len())
        .find(|&j| {
            toks[j].is_punct("}") && (toks[j - 1].is_punct("}") || toks[j - 1].is_punct("%"))
        })
        .map_or(toks.len(), |j| j + 1)
}

/// `x -> body` or `(x, y) -> body`.
fn parse_lambda(toks: &[Tok]) -> Option<Lambda> {
    let s: Vec<(usize, &Tok)> = sig(toks).collect();
    let (params, arrow) = match s.as_slice() {
        [(_, w), (a, arrow), ..] if w.kind == Kind::Word && arrow.is_punct("->") => {
            (vec![w.text.to_ascii_lowercase()], *a)
        }
        [(o, open), ..] if open.is_punct("(") => {
            let close = matching(toks, *o)?;
            let (a, arrow) = sig(&toks[close + 1..]).next()?;
            if !arrow.is_punct("->") {
                return None;
            }
            let params = split_commas(&toks[o + 1..close])
                .into_iter()
                .map(|p| match trim(p) {
                    [w] if w.kind == Kind::Word => Some(w.text.to_ascii_lowercase()),
                    _ => None,
                })
                .collect::<Option<Vec<_>>>()?;
            (params, close + 1 + a)
        }
        _ => return None,
    };
    Some(Lambda {
        params,
        body: trim(&toks[arrow + 1..]).to_vec(),
    })
}

/// Replaces the lambda's parameters in its body (not in nested macro calls, not function
/// names).
fn substitute(body: &[Tok], params: &[String], args: &[Val]) -> Vec<Tok> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < body.len() {
        let t = &body[i];
        if t.kind == Kind::Call {
            let end = (i + 1..body.len())
                .find(|&j| !body[j].is_trivia())
                .and_then(|o| matching(body, o))
                .map_or(body.len(), |c| c + 1);
            out.extend_from_slice(&body[i..end]);
            i = end;
            continue;
        }
        let is_function = sig(&body[i + 1..])
            .next()
            .is_some_and(|(_, n)| n.is_punct("("));
        let param = (t.kind == Kind::Word && !t.text.contains('@') && !is_function)
            .then(|| params.iter().position(|p| t.text.eq_ignore_ascii_case(p)))
            .flatten();
        match param {
            Some(p) => out.extend(args[p].tokens(t.pos)),
            None => out.push(t.clone()),
        }
        i += 1;
    }
    out
}
