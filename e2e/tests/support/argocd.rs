//! Argo CD's health checks (`config/argocd/sluice.dev/<Kind>/health.lua`) run as Argo CD runs
//! them: Lua 5.1 with only the base, table, string and math libraries.

use mlua::{Lua, LuaOptions, StdLib};
use serde_json::Value;

use super::repo;

/// A JSON value as Argo CD hands it to Lua: objects and arrays become tables (arrays
/// 1-based), null becomes nil, numbers are Lua numbers.
fn to_lua(lua: &Lua, v: &Value) -> mlua::Result<mlua::Value> {
    Ok(match v {
        Value::Null => mlua::Value::Nil,
        Value::Bool(b) => mlua::Value::Boolean(*b),
        Value::Number(n) => mlua::Value::Number(n.as_f64().unwrap()),
        Value::String(s) => mlua::Value::String(lua.create_string(s)?),
        Value::Array(items) => {
            let table = lua.create_table()?;
            for (i, item) in items.iter().enumerate() {
                table.set(i + 1, to_lua(lua, item)?)?;
            }
            mlua::Value::Table(table)
        }
        Value::Object(fields) => {
            let table = lua.create_table()?;
            for (k, item) in fields {
                table.set(k.as_str(), to_lua(lua, item)?)?;
            }
            mlua::Value::Table(table)
        }
    })
}

/// Runs `<Kind>/health.lua` on `object` in a fresh Lua 5.1 state with only the libraries
/// Argo CD opens for health checks (base, table, string, math): (status, message).
pub fn lua_health(kind: &str, object: &Value) -> (String, String) {
    let script = std::fs::read_to_string(
        repo()
            .join("config/argocd/sluice.dev")
            .join(kind)
            .join("health.lua"),
    )
    .unwrap();
    let lua = Lua::new_with(
        StdLib::TABLE | StdLib::STRING | StdLib::MATH,
        LuaOptions::default(),
    )
    .unwrap();
    lua.globals()
        .set("obj", to_lua(&lua, object).unwrap())
        .unwrap();
    let hs: mlua::Table = lua
        .load(&script)
        .set_name(format!("{kind}/health.lua"))
        .eval()
        .unwrap_or_else(|e| panic!("{kind}/health.lua failed: {e}"));
    let status: String = hs.get("status").unwrap();
    let message: Option<String> = hs.get("message").unwrap();
    (status, message.unwrap_or_default())
}
