//! How the expander finds the value of `@name`: lambda parameters, `@DEF`s, predefined
//! variables (times, `@this_model`, ...), blueprint, gateway and project variables; and
//! identifiers built from them (`@{name}`, `col_@name`).

use super::expander::{Expander, R, Scope};
use super::lexer::{Kind, Tok};
use super::value::{ListStyle, Val, identifier, unquote_ident};
use super::{MacroErrorKind, time};
use crate::model::ModelKind;

impl<'c> Expander<'c> {
    /// The value of `@name`.
    pub fn lookup(&mut self, t: &Tok, scope: &Scope) -> R<Val> {
        let name = t.macro_name().to_ascii_lowercase();
        if let Some((_, v)) = scope.iter().rev().find(|(n, _)| *n == name) {
            return Ok(v.clone());
        }
        if let Some(v) = self.defs.get(&name) {
            return Ok(v.clone());
        }
        if let Some(v) = self.predefined(t, &name)? {
            return Ok(v);
        }
        if let Some(v) = self.variable(&name, ListStyle::Tuple, t.pos) {
            return Ok(v);
        }
        let hint = if self.ctx.is_python_macro(&name) || super::names::is_builtin(&name) {
            format!(
                "; @{} is a macro function, called as @{}(...)",
                t.macro_name(),
                t.macro_name()
            )
        } else {
            String::new()
        };
        Err(self.fail(
            t.pos,
            &t.text,
            MacroErrorKind::UnknownVariable,
            format!(
                "unknown macro variable: not defined by @DEF in this model, not a project, \
                 gateway or blueprint variable, and not a predefined variable{hint}"
            ),
        ))
    }

    /// A variable of the project: blueprint, then gateway, then root (names ignore case).
    pub fn variable(&mut self, name: &str, lists: ListStyle, pos: usize) -> Option<Val> {
        self.blueprint_variable(name, pos)
            .or_else(|| self.project_variable(name, lists, pos))
    }

    pub fn blueprint_variable(&mut self, name: &str, pos: usize) -> Option<Val> {
        let found = find(&self.ctx.blueprint_variables, name).map(|sql| Val::sql(sql, pos));
        if found.is_some() {
            self.variables.insert(name.to_string());
        }
        found
    }

    /// A variable of the gateway, else of `variables:` in config.yaml.
    pub fn project_variable(&mut self, name: &str, lists: ListStyle, pos: usize) -> Option<Val> {
        let ctx = self.ctx;
        let found = find(&ctx.gateway_variables, name)
            .or_else(|| find(&ctx.variables, name))
            .map(|v| Val::from_json(v, lists, pos));
        if found.is_some() {
            self.variables.insert(name.to_string());
        }
        found
    }

    /// Time variables, `@this_model`, `@gateway`, `@runtime_stage`.
    fn predefined(&mut self, t: &Tok, name: &str) -> R<Option<Val>> {
        let ctx = self.ctx;
        let deferred = |me: &mut Self| {
            me.deferred.insert(name.to_string());
            Ok(Some(Val::Sql(vec![Tok::new(Kind::Var, &t.text, t.pos)])))
        };
        if let Some((part, suffix)) = time::parse(name) {
            let whole_table = matches!(ctx.kind, ModelKind::Full | ModelKind::View);
            if self.in_query && whole_table && part != time::Part::Execution {
                return Err(self.fail(
                    t.pos,
                    &t.text,
                    MacroErrorKind::UnknownVariable,
                    format!(
                        "is not defined in a {} model's query: FULL and VIEW models are built \
                         whole, so only the @execution_* time variables exist (as in SQLMesh)",
                        ctx.kind.name()
                    ),
                ));
            }
            return match &ctx.times {
                Some(times) => Ok(Some(Val::sql(&time::sql(part, suffix, times), t.pos))),
                None => deferred(self),
            };
        }
        match name {
            "this_model" => match &ctx.this_model {
                Some(table) => Ok(Some(Val::sql(table, t.pos))),
                None => deferred(self),
            },
            "gateway" => match &ctx.gateway {
                Some(g) => Ok(Some(Val::string(g, t.pos))),
                None => Ok(None),
            },
            "runtime_stage" => Ok(Some(Val::string(ctx.runtime_stage.as_str(), t.pos))),
            _ => Ok(None),
        }
    }

    /// `@{name}`: the value as an identifier.
    pub(super) fn brace(&mut self, t: &Tok, scope: &Scope) -> R<Tok> {
        let name = self.name_of(t, t.macro_name(), scope)?;
        Ok(identifier(&name, t.pos))
    }

    /// The text a variable stands for inside an identifier.
    fn name_of(&mut self, at: &Tok, var: &str, scope: &Scope) -> R<String> {
        let var_tok = Tok::new(Kind::Var, format!("@{var}"), at.pos);
        let v = self.lookup(&var_tok, scope)?;
        if let Some(d) = v.deferred() {
            return Err(self.needs_run_time(at, &d));
        }
        v.name().ok_or_else(|| {
            self.fail(
                at.pos,
                &at.text,
                MacroErrorKind::InvalidArguments,
                format!("@{var} is a list or a function, which cannot be part of an identifier"),
            )
        })
    }

    /// `col_@x`, `@{s}_col`, `"x_@y"`: the identifier with its parts filled in.
    pub(super) fn template(&mut self, t: &Tok, scope: &Scope) -> R<Tok> {
        let quoted = t.kind == Kind::QuotedIdent;
        let raw = if quoted {
            unquote_ident(&t.text)
        } else {
            t.text.clone()
        };
        let mut result = String::new();
        let mut rest = raw.as_str();
        while let Some(at) = rest.find('@') {
            result.push_str(&rest[..at]);
            let after = &rest[at + 1..];
            let (var, len) = if let Some(inner) = after.strip_prefix('{') {
                match inner.find('}') {
                    Some(end) => (&inner[..end], end + 2),
                    None => ("", 0),
                }
            } else {
                let end = after
                    .find(|c: char| !(c.is_alphanumeric() || c == '_'))
                    .unwrap_or(after.len());
                (&after[..end], end)
            };
            if var.is_empty() {
                result.push('@');
                rest = after;
                continue;
            }
            result.push_str(&self.name_of(t, var, scope)?);
            rest = &after[len..];
        }
        result.push_str(rest);
        Ok(if quoted {
            Tok::new(Kind::QuotedIdent, super::value::quote_ident(&result), t.pos)
        } else {
            identifier(&result, t.pos)
        })
    }
}

fn find<'m, V>(map: &'m std::collections::BTreeMap<String, V>, name: &str) -> Option<&'m V> {
    map.iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
}
