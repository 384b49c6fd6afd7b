//! Evaluating a macro condition or `@EVAL` argument at expansion time.
//!
//! SQLMesh hands these to a Python executor, so the semantics are Python's: `10 / 4` is
//! `2.5`, `AND`/`OR` short-circuit and return an operand, `''` and `0` are false. Column
//! references have no value before the query runs: they compare equal only to the same
//! column (as in SQLMesh, where `@FILTER([a, b], x -> x = a)` keeps `a`); any other use of
//! one is reported instead of guessed.

use super::lexer::{Kind, Tok, matching, split_commas, trim};
use super::value::{Val, identifier, unquote_ident, unquote_string};

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    /// A column reference: no value until the query runs.
    Column(String),
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum EvalError {
    /// A `@variable` whose value is only known when the model runs.
    Deferred(String),
    /// A column used where a value is needed.
    Column(String),
    /// Anything else that cannot be computed here.
    Unsupported(String),
}

enum Expr {
    Lit(Value),
    Deferred(String),
    Unary(&'static str, Box<Expr>),
    Binary(String, Box<Expr>, Box<Expr>),
    IsNull(Box<Expr>, bool),
    In(Box<Expr>, Vec<Expr>, bool),
    Between(Box<Expr>, Box<Expr>, Box<Expr>, bool),
    Case(Option<Box<Expr>>, Vec<(Expr, Expr)>, Option<Box<Expr>>),
    Func(String, Vec<Expr>),
}

/// Evaluates SQL tokens (already macro-expanded) to a value.
pub(crate) fn evaluate(toks: &[Tok]) -> Result<Value, EvalError> {
    let toks: Vec<Tok> = toks.iter().filter(|t| !t.is_trivia()).cloned().collect();
    let mut p = Parser { toks: &toks, i: 0 };
    let expr = p.expr(0)?;
    if p.i < toks.len() {
        return Err(unsupported(&format!("unexpected '{}'", toks[p.i].text)));
    }
    expr.eval()
}

/// Python truthiness of a condition's value.
pub(crate) fn truthy(v: &Value) -> Result<bool, EvalError> {
    Ok(match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Int(i) => *i != 0,
        Value::Float(f) => *f != 0.0,
        Value::Str(s) => !s.is_empty(),
        Value::Column(c) => return Err(EvalError::Column(c.clone())),
    })
}

/// An evaluated value written back as SQL: a string becomes an identifier (as in SQLMesh),
/// NULL becomes nothing.
pub(crate) fn to_sql(v: &Value, pos: usize) -> Val {
    match v {
        Value::Null => Val::Nothing,
        Value::Bool(b) => Val::word(if *b { "TRUE" } else { "FALSE" }, pos),
        Value::Int(i) => Val::Sql(vec![Tok::new(Kind::Number, i.to_string(), pos)]),
        Value::Float(f) => Val::sql(&python_float(*f), pos),
        Value::Str(s) => Val::Sql(vec![identifier(s, pos)]),
        Value::Column(c) => Val::sql(c, pos),
    }
}

/// A float as Python prints it (`3.0`, `2.5`, `1e+16`).
pub(crate) fn python_float(f: f64) -> String {
    let s = format!("{f:?}");
    match s.split_once('e') {
        Some((m, e)) if !e.starts_with('-') => format!("{m}e+{e}"),
        _ => s,
    }
}

fn unsupported(what: &str) -> EvalError {
    EvalError::Unsupported(what.to_string())
}

struct Parser<'t> {
    toks: &'t [Tok],
    i: usize,
}

/// Binding power of infix operators (higher binds tighter).
fn infix_power(t: &Tok) -> Option<u8> {
    if t.kind == Kind::Word {
        return match t.text.to_ascii_uppercase().as_str() {
            "OR" => Some(1),
            "AND" => Some(2),
            "IS" | "IN" | "BETWEEN" | "NOT" => Some(4),
            _ => None,
        };
    }
    if t.kind != Kind::Punct {
        return None;
    }
    match t.text.as_str() {
        "=" | "==" | "<>" | "!=" | "<" | ">" | "<=" | ">=" => Some(4),
        "||" => Some(5),
        "+" | "-" => Some(6),
        "*" | "/" | "%" => Some(7),
        _ => None,
    }
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.i)
    }

    fn next(&mut self) -> Result<&Tok, EvalError> {
        let t = self
            .toks
            .get(self.i)
            .ok_or_else(|| unsupported("incomplete expression"))?;
        self.i += 1;
        Ok(t)
    }

    fn eat_word(&mut self, w: &str) -> bool {
        if self.peek().is_some_and(|t| t.is_word(w)) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn expect_word(&mut self, w: &str) -> Result<(), EvalError> {
        if self.eat_word(w) {
            Ok(())
        } else {
            Err(unsupported(&format!("expected {w}")))
        }
    }

    fn expr(&mut self, min: u8) -> Result<Expr, EvalError> {
        let mut left = self.prefix()?;
        while let Some(power) = self.peek().and_then(infix_power) {
            if power <= min {
                break;
            }
            let op = self.next()?.text.to_ascii_uppercase();
            left = match op.as_str() {
                "IS" => {
                    let negated = self.eat_word("NOT");
                    self.expect_word("NULL")?;
                    Expr::IsNull(Box::new(left), negated)
                }
                "NOT" | "IN" | "BETWEEN" => {
                    let negated = op == "NOT";
                    if negated && self.eat_word("IN") || op == "IN" {
                        Expr::In(Box::new(left), self.in_list()?, negated)
                    } else if negated && self.eat_word("BETWEEN") || op == "BETWEEN" {
                        let low = self.expr(4)?;
                        self.expect_word("AND")?;
                        let high = self.expr(4)?;
                        Expr::Between(Box::new(left), Box::new(low), Box::new(high), negated)
                    } else {
                        return Err(unsupported("NOT here"));
                    }
                }
                _ => Expr::Binary(op, Box::new(left), Box::new(self.expr(power)?)),
            };
        }
        Ok(left)
    }

    fn in_list(&mut self) -> Result<Vec<Expr>, EvalError> {
        let open = self.i;
        if !self.peek().is_some_and(|t| t.is_punct("(")) {
            return Err(unsupported("IN without a parenthesized list"));
        }
        let close = matching(self.toks, open).ok_or_else(|| unsupported("unclosed ("))?;
        self.i = close + 1;
        split_commas(&self.toks[open + 1..close])
            .into_iter()
            .map(sub_expr)
            .collect()
    }

    fn prefix(&mut self) -> Result<Expr, EvalError> {
        let t = self.next()?.clone();
        Ok(match t.kind {
            Kind::Number => Expr::Lit(number(&t.text)?),
            Kind::Str => Expr::Lit(Value::Str(unquote_string(&t.text))),
            Kind::QuotedIdent => Expr::Lit(Value::Column(unquote_ident(&t.text))),
            Kind::Var => Expr::Deferred(t.text),
            Kind::Punct if t.text == "-" || t.text == "+" => {
                let op = if t.text == "-" { "-" } else { "+" };
                Expr::Unary(op, Box::new(self.expr(7)?))
            }
            Kind::Punct if t.text == "(" => {
                let close = matching(self.toks, self.i - 1).ok_or_else(|| unsupported("("))?;
                let inner = sub_expr(&self.toks[self.i..close])?;
                self.i = close + 1;
                inner
            }
            Kind::Word => self.word(&t)?,
            _ => return Err(unsupported(&format!("'{}'", t.text))),
        })
    }

    fn word(&mut self, t: &Tok) -> Result<Expr, EvalError> {
        let upper = t.text.to_ascii_uppercase();
        Ok(match upper.as_str() {
            "NULL" => Expr::Lit(Value::Null),
            "TRUE" => Expr::Lit(Value::Bool(true)),
            "FALSE" => Expr::Lit(Value::Bool(false)),
            "NOT" => Expr::Unary("NOT", Box::new(self.expr(3)?)),
            "CASE" => self.case()?,
            _ if self.peek().is_some_and(|n| n.is_punct("(")) => {
                let open = self.i;
                let close = matching(self.toks, open).ok_or_else(|| unsupported("("))?;
                let inner = &self.toks[open + 1..close];
                let args = if trim(inner).is_empty() {
                    Vec::new()
                } else {
                    split_commas(inner)
                        .into_iter()
                        .map(sub_expr)
                        .collect::<Result<_, _>>()?
                };
                self.i = close + 1;
                Expr::Func(upper, args)
            }
            _ => {
                let mut name = t.text.clone();
                while self.peek().is_some_and(|n| n.is_punct(".")) {
                    self.i += 1;
                    name.push('.');
                    name.push_str(&self.next()?.text);
                }
                Expr::Lit(Value::Column(name))
            }
        })
    }

    fn case(&mut self) -> Result<Expr, EvalError> {
        let operand = if self.peek().is_some_and(|t| t.is_word("WHEN")) {
            None
        } else {
            Some(Box::new(self.expr(0)?))
        };
        let mut whens = Vec::new();
        while self.eat_word("WHEN") {
            let cond = self.expr(0)?;
            self.expect_word("THEN")?;
            whens.push((cond, self.expr(0)?));
        }
        let otherwise = if self.eat_word("ELSE") {
            Some(Box::new(self.expr(0)?))
        } else {
            None
        };
        self.expect_word("END")?;
        Ok(Expr::Case(operand, whens, otherwise))
    }
}

fn sub_expr(toks: &[Tok]) -> Result<Expr, EvalError> {
    let mut p = Parser { toks, i: 0 };
    let e = p.expr(0)?;
    if p.i < toks.len() {
        return Err(unsupported(&format!("unexpected '{}'", toks[p.i].text)));
    }
    Ok(e)
}

fn number(text: &str) -> Result<Value, EvalError> {
    if let Ok(i) = text.parse::<i64>() {
        return Ok(Value::Int(i));
    }
    text.parse::<f64>()
        .map(Value::Float)
        .map_err(|_| unsupported(text))
}

fn as_f64(v: &Value) -> Option<f64> {
    match v {
        Value::Int(i) => Some(*i as f64),
        Value::Float(f) => Some(*f),
        Value::Bool(b) => Some(f64::from(u8::from(*b))),
        _ => None,
    }
}

fn column_err(v: &Value) -> Option<EvalError> {
    match v {
        Value::Column(c) => Some(EvalError::Column(c.clone())),
        _ => None,
    }
}

fn equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Column(x), Value::Column(y)) => x.eq_ignore_ascii_case(y),
        (Value::Str(x), Value::Str(y)) => x == y,
        _ => match (as_f64(a), as_f64(b)) {
            (Some(x), Some(y)) => x == y,
            _ => false,
        },
    }
}

fn compare(op: &str, a: &Value, b: &Value) -> Result<Value, EvalError> {
    if matches!(a, Value::Null) || matches!(b, Value::Null) {
        return Ok(Value::Null);
    }
    match op {
        "=" | "==" => return Ok(Value::Bool(equal(a, b))),
        "<>" | "!=" => return Ok(Value::Bool(!equal(a, b))),
        _ => {}
    }
    if let Some(e) = column_err(a).or_else(|| column_err(b)) {
        return Err(e);
    }
    let ordering = match (a, b) {
        (Value::Str(x), Value::Str(y)) => x.partial_cmp(y),
        _ => match (as_f64(a), as_f64(b)) {
            (Some(x), Some(y)) => x.partial_cmp(&y),
            _ => None,
        },
    }
    .ok_or_else(|| unsupported("comparing a string with a number"))?;
    use std::cmp::Ordering::{Equal, Greater, Less};
    Ok(Value::Bool(match op {
        "<" => ordering == Less,
        ">" => ordering == Greater,
        "<=" => ordering != Greater,
        _ => ordering != Less && (ordering == Equal || ordering == Greater),
    }))
}

fn arithmetic(op: &str, a: &Value, b: &Value) -> Result<Value, EvalError> {
    if let Some(e) = column_err(a).or_else(|| column_err(b)) {
        return Err(e);
    }
    if matches!(a, Value::Null) || matches!(b, Value::Null) {
        return Ok(Value::Null);
    }
    if op == "||" {
        let s = |v: &Value| match v {
            Value::Str(s) => s.clone(),
            Value::Int(i) => i.to_string(),
            Value::Float(f) => python_float(*f),
            Value::Bool(b) => if *b { "true" } else { "false" }.to_string(),
            _ => String::new(),
        };
        return Ok(Value::Str(s(a) + &s(b)));
    }
    if let (Value::Int(x), Value::Int(y)) = (a, b) {
        let r = match op {
            "+" => Some(x.checked_add(*y)),
            "-" => Some(x.checked_sub(*y)),
            "*" => Some(x.checked_mul(*y)),
            "%" if *y != 0 => {
                // Python's modulo takes the divisor's sign.
                let r = x.rem_euclid(*y);
                Some(Some(if *y < 0 && r != 0 { r + y } else { r }))
            }
            _ => None,
        };
        if let Some(r) = r {
            return r
                .map(Value::Int)
                .ok_or_else(|| unsupported("integer overflow"));
        }
    }
    let (x, y) = match (as_f64(a), as_f64(b)) {
        (Some(x), Some(y)) => (x, y),
        _ => return Err(unsupported(&format!("'{op}' on a string"))),
    };
    if (op == "/" || op == "%") && y == 0.0 {
        return Err(unsupported("division by zero"));
    }
    Ok(Value::Float(match op {
        "+" => x + y,
        "-" => x - y,
        "*" => x * y,
        "/" => x / y,
        _ => x - y * (x / y).floor(),
    }))
}

impl Expr {
    fn eval(&self) -> Result<Value, EvalError> {
        match self {
            Expr::Lit(v) => Ok(v.clone()),
            Expr::Deferred(name) => Err(EvalError::Deferred(name.clone())),
            Expr::Unary("NOT", e) => Ok(Value::Bool(!truthy(&e.eval()?)?)),
            Expr::Unary(op, e) => match e.eval()? {
                Value::Int(i) if *op == "-" => Ok(Value::Int(-i)),
                Value::Float(f) if *op == "-" => Ok(Value::Float(-f)),
                v @ (Value::Int(_) | Value::Float(_) | Value::Null) => Ok(v),
                v => Err(column_err(&v).unwrap_or_else(|| unsupported("minus on a string"))),
            },
            Expr::Binary(op, a, b) => match op.as_str() {
                "AND" => {
                    let a = a.eval()?;
                    if truthy(&a)? { b.eval() } else { Ok(a) }
                }
                "OR" => {
                    let a = a.eval()?;
                    if truthy(&a)? { Ok(a) } else { b.eval() }
                }
                "=" | "==" | "<>" | "!=" | "<" | ">" | "<=" | ">=" => {
                    compare(op, &a.eval()?, &b.eval()?)
                }
                _ => arithmetic(op, &a.eval()?, &b.eval()?),
            },
            Expr::IsNull(e, negated) => Ok(Value::Bool((e.eval()? == Value::Null) != *negated)),
            Expr::In(e, list, negated) => {
                let v = e.eval()?;
                let mut found = false;
                for item in list {
                    found |= equal(&v, &item.eval()?);
                }
                Ok(Value::Bool(found != *negated))
            }
            Expr::Between(e, low, high, negated) => {
                let v = e.eval()?;
                let lo = compare(">=", &v, &low.eval()?)?;
                let hi = compare("<=", &v, &high.eval()?)?;
                let inside = truthy(&lo)? && truthy(&hi)?;
                Ok(Value::Bool(inside != *negated))
            }
            Expr::Case(operand, whens, otherwise) => {
                let operand = operand.as_ref().map(|o| o.eval()).transpose()?;
                for (cond, then) in whens {
                    let c = cond.eval()?;
                    let hit = match &operand {
                        Some(o) => equal(o, &c),
                        None => truthy(&c)?,
                    };
                    if hit {
                        return then.eval();
                    }
                }
                otherwise.as_ref().map_or(Ok(Value::Null), |e| e.eval())
            }
            Expr::Func(name, args) => call(name, args),
        }
    }
}

fn call(name: &str, args: &[Expr]) -> Result<Value, EvalError> {
    let values = args.iter().map(Expr::eval).collect::<Result<Vec<_>, _>>()?;
    if let Some(e) = values.iter().find_map(column_err) {
        return Err(e);
    }
    let s = |v: &Value| match v {
        Value::Str(s) => Ok(s.clone()),
        _ => Err(unsupported(&format!("{name} of a non-string"))),
    };
    Ok(match (name, values.as_slice()) {
        ("COALESCE", vs) => vs
            .iter()
            .find(|v| **v != Value::Null)
            .cloned()
            .unwrap_or(Value::Null),
        (_, [Value::Null, ..]) => Value::Null,
        ("UPPER", [v]) => Value::Str(s(v)?.to_uppercase()),
        ("LOWER", [v]) => Value::Str(s(v)?.to_lowercase()),
        ("LENGTH", [v]) => Value::Int(s(v)?.chars().count() as i64),
        ("CONCAT", vs) => Value::Str(
            vs.iter()
                .map(|v| arithmetic("||", &Value::Str(String::new()), v))
                .map(|r| r.and_then(|v| s(&v)))
                .collect::<Result<String, _>>()?,
        ),
        ("ABS", [Value::Int(i)]) => Value::Int(i.abs()),
        ("ABS", [Value::Float(f)]) => Value::Float(f.abs()),
        ("ROUND", [v, rest @ ..]) if rest.len() <= 1 => {
            let x = as_f64(v).ok_or_else(|| unsupported("ROUND of a string"))?;
            match rest.first() {
                None => Value::Int(x.round_ties_even() as i64),
                Some(Value::Int(n)) => {
                    let scale = 10f64.powi(*n as i32);
                    Value::Float((x * scale).round_ties_even() / scale)
                }
                Some(_) => return Err(unsupported("ROUND's digits")),
            }
        }
        _ => {
            return Err(unsupported(&format!(
                "function {name} (only COALESCE, UPPER, LOWER, LENGTH, CONCAT, ABS and ROUND can be computed while expanding)"
            )));
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::macros::lexer::lex;

    fn ev(s: &str) -> Result<Value, EvalError> {
        evaluate(&lex(s))
    }

    #[test]
    fn python_semantics() {
        assert_eq!(ev("10 / 4"), Ok(Value::Float(2.5)));
        assert_eq!(ev("10 / 5"), Ok(Value::Float(2.0)));
        assert_eq!(ev("2 * (3 + 1)"), Ok(Value::Int(8)));
        assert_eq!(ev("7 % 3"), Ok(Value::Int(1)));
        assert_eq!(ev("-7 % 3"), Ok(Value::Int(2)));
        assert_eq!(ev("1 = 1 OR 1 / 0 = 1"), Ok(Value::Bool(true)));
        assert_eq!(
            ev("3 BETWEEN 1 AND 5 AND 'a' <> 'b'"),
            Ok(Value::Bool(true))
        );
        assert_eq!(ev("'a' IN ('a', 'b')"), Ok(Value::Bool(true)));
        assert_eq!(ev("1 + NULL"), Ok(Value::Null));
        assert_eq!(ev("NULL IS NULL"), Ok(Value::Bool(true)));
        assert_eq!(
            ev("CASE WHEN 1 > 0 THEN 'y' ELSE 'n' END"),
            Ok(Value::Str("y".into()))
        );
        assert_eq!(ev("ROUND(2.567, 1)"), Ok(Value::Float(2.6)));
        assert_eq!(ev("UPPER('ab')"), Ok(Value::Str("AB".into())));
        assert_eq!(python_float(1e16), "1e+16");
        assert_eq!(python_float(1704067200.0), "1704067200.0");
    }

    #[test]
    fn columns_compare_only_by_name() {
        assert_eq!(ev("c <> 'c'"), Ok(Value::Bool(true)));
        assert_eq!(ev("a = a"), Ok(Value::Bool(true)));
        assert_eq!(ev("a > 0"), Err(EvalError::Column("a".into())));
        assert_eq!(
            ev("@start_ds > '2024'"),
            Err(EvalError::Deferred("@start_ds".into()))
        );
        assert!(matches!(ev("MD5('a')"), Err(EvalError::Unsupported(_))));
    }
}
