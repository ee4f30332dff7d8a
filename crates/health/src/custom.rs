//! Custom health checks: Lua scripts from `argocd-cm`, run in a sandbox.
//!
//! Argo CD runs these with gopher-lua (Lua 5.1); we use the reference Lua 5.1
//! through `mlua`. Each call gets a fresh interpreter, as in Argo CD, so one
//! script run cannot leak state into the next.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::{Duration, Instant};

use driftless_api::glob_match;
use mlua::chunk::ChunkMode;
use mlua::{Function, HookTriggers, Lua, LuaOptions, MultiValue, StdLib, Table, VmState};
use serde_json::Value;

use crate::{Error, GroupKind, Health, HealthStatusCode};

/// Prefix of the per-kind keys: `resource.customizations.health.<group>_<Kind>`
/// (or `...health.<Kind>` for the core group).
const HEALTH_KEY_PREFIX: &str = "resource.customizations.health.";
/// The older key holding YAML `<group>/<Kind>: {health.lua: ...}`.
const LEGACY_KEY: &str = "resource.customizations";
/// How often the time limit is checked, in VM instructions: rare enough to
/// cost nothing, frequent enough to stop within microseconds of the limit.
const HOOK_EVERY: u32 = 1000;
/// Chunk name in Lua's error messages ("health.lua:3: ..."): the file name
/// Argo CD gives these scripts; the key is named around it already.
const CHUNK_NAME: &str = "=health.lua";
/// Registry slot of the libraries `require` may return.
const LIBS_REGISTRY_KEY: &str = "driftless.health.libs";
/// Deepest JSON nesting handed to Lua; real objects stay far below it.
const MAX_DEPTH: usize = 128;
/// argocd-cm's switch for judging child Applications by their own state
/// (default on); `"false"` leaves them without health, as in Argo CD.
pub const CHILD_HEALTH_KEY: &str = "application.childHealth";

/// An argocd-cm setting of this crate whose value cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("argocd-cm {key}: {reason}")]
pub struct SettingError {
    /// The ConfigMap key.
    pub key: &'static str,
    /// What is wrong with its value.
    pub reason: String,
}

/// `application.childHealth` from argocd-cm's data: true unless set to a
/// false value. Booleans are spelled as Go's `strconv.ParseBool` takes them
/// (Argo CD's settings are); an empty value is unset.
pub fn child_health_setting(data: &BTreeMap<String, String>) -> Result<bool, SettingError> {
    let Some(value) = data.get(CHILD_HEALTH_KEY).map(|v| v.trim()).filter(|v| !v.is_empty()) else {
        return Ok(true);
    };
    match value {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Ok(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Ok(false),
        other => {
            // The user's text: quoted, and short enough for a condition.
            let shown: String = other.chars().take(64).collect();
            Err(SettingError { key: CHILD_HEALTH_KEY, reason: format!("{shown:?} is not a boolean: use \"true\" or \"false\"") })
        }
    }
}

/// Custom Lua health checks in Argo CD's format.
///
/// Scripts see the live object as the global `obj` and return a table
/// `{status = "Healthy" | ..., message = "..."}`. They run with the base
/// library (minus file loading and code loading), `string`, `table`, `math`
/// and Argo CD's "safe" `os` (`os.time`, `os.date`), under a time limit and a
/// memory limit.
#[derive(Clone, Debug)]
pub struct CustomChecks {
    /// Scripts by Argo CD override key (`group/Kind`, or `Kind` for core).
    exact: BTreeMap<String, String>,
    /// Scripts whose key has glob wildcards, tried in key order after `exact`.
    wildcard: BTreeMap<String, String>,
    timeout: Duration,
    memory_limit: usize,
    /// Whether a child Application (app-of-apps) has a health of its own
    /// judging (`application.childHealth`); a custom check for it wins.
    child_health: bool,
}

impl Default for CustomChecks {
    fn default() -> Self {
        Self::none()
    }
}

impl CustomChecks {
    /// Default wall-clock limit for one script run.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_millis(100);
    /// Default memory limit of one script's interpreter, object included.
    pub const DEFAULT_MEMORY_LIMIT: usize = 64 * 1024 * 1024;

    /// No custom checks: only the built-in ones apply.
    pub fn none() -> Self {
        CustomChecks {
            exact: BTreeMap::new(),
            wildcard: BTreeMap::new(),
            timeout: Self::DEFAULT_TIMEOUT,
            memory_limit: Self::DEFAULT_MEMORY_LIMIT,
            child_health: true,
        }
    }

    /// From the data of the `argocd-cm` ConfigMap: keys
    /// `resource.customizations.health.<group>_<Kind>` (for the core group
    /// `resource.customizations.health.<Kind>`; globs such as
    /// `resource.customizations.health.*.example.com_*` allowed) whose value is
    /// a Lua script, and the older `resource.customizations` key holding YAML
    /// `<group>/<Kind>: {health.lua: ...}`. The per-kind keys win over the
    /// older key for the same kind. Also `application.childHealth`
    /// ([`child_health_setting`]). Other keys are ignored.
    ///
    /// Errors when a key is malformed, the YAML does not parse, a script
    /// does not compile, or `application.childHealth` is not a boolean; the
    /// message names the key.
    pub fn from_argocd_cm(data: &BTreeMap<String, String>) -> Result<Self, Error> {
        let mut checks = Self::none().with_child_health(child_health_setting(data)?);
        if let Some(yaml) = data.get(LEGACY_KEY) {
            for (group_kind, script) in parse_legacy(yaml)? {
                let label = format!("{LEGACY_KEY}: {group_kind}");
                checks.insert(&label, group_kind, script)?;
            }
        }
        for (key, script) in data {
            let Some(group_kind) = key.strip_prefix(HEALTH_KEY_PREFIX) else {
                continue;
            };
            let group_kind = override_key(group_kind).ok_or_else(|| Error::InvalidCustomCheck {
                key: key.clone(),
                reason: "expected resource.customizations.health.<group>_<Kind> or resource.customizations.health.<Kind>".into(),
            })?;
            checks.insert(key, group_kind, script.clone())?;
        }
        Ok(checks)
    }

    /// Adds (or replaces) the script for an Argo CD override key such as
    /// `cert-manager.io/Certificate`, `Pod`, or a glob like `*.example.com/*`.
    ///
    /// Errors when the script does not compile.
    pub fn with_script(mut self, group_kind: &str, script: &str) -> Result<Self, Error> {
        self.insert(group_kind, group_kind.to_string(), script.to_string())?;
        Ok(self)
    }

    /// Sets the wall-clock limit for one script run.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sets the memory limit, in bytes, of one script run's interpreter.
    pub fn with_memory_limit(mut self, bytes: usize) -> Self {
        self.memory_limit = bytes;
        self
    }

    /// Sets whether child Applications are judged (see [`crate::assess`]).
    pub fn with_child_health(mut self, on: bool) -> Self {
        self.child_health = on;
        self
    }

    /// Whether child Applications are judged.
    pub(crate) fn child_health(&self) -> bool {
        self.child_health
    }

    /// Whether there are no custom checks at all.
    pub fn is_empty(&self) -> bool {
        self.exact.is_empty() && self.wildcard.is_empty()
    }

    /// Compiles `script` (so a broken one fails at load time, naming `label`)
    /// and stores it; an empty script means "no custom check", as in Argo CD.
    fn insert(&mut self, label: &str, group_kind: String, script: String) -> Result<(), Error> {
        if script.trim().is_empty() {
            return Ok(());
        }
        compile_check(label, &script)?;
        if group_kind.contains(['*', '?']) {
            self.wildcard.insert(group_kind, script);
        } else {
            self.exact.insert(group_kind, script);
        }
        Ok(())
    }

    /// Whether a script covers the kind with override key `key`.
    pub(crate) fn covers(&self, key: &str) -> bool {
        self.script(key).is_some()
    }

    fn script(&self, key: &str) -> Option<&String> {
        self.exact.get(key).or_else(|| self.wildcard.iter().find(|(pattern, _)| glob_match(pattern, key)).map(|(_, script)| script))
    }

    /// The custom health of `obj`, or `None` when no script covers its kind.
    pub(crate) fn run(&self, gk: &GroupKind<'_>, obj: &Value) -> Option<Health> {
        let key = gk.key();
        let script = self.script(&key)?;
        Some(match self.execute(script, obj) {
            Ok(health) => health,
            Err(reason) => Health::new(HealthStatusCode::Unknown, format!("custom health check for {key} failed: {reason}")),
        })
    }

    /// Runs one script against `obj`; `Err` carries a human reason.
    fn execute(&self, script: &str, obj: &Value) -> Result<Health, String> {
        let lua = sandbox().map_err(|e| format!("cannot start Lua: {e}"))?;
        let timed_out = Rc::new(Cell::new(false));
        install_pcall(&lua, &timed_out).map_err(|e| format!("cannot start Lua: {e}"))?;
        lua.set_memory_limit(self.memory_limit).map_err(|e| format!("cannot start Lua: {e}"))?;
        let deadline = Instant::now() + self.timeout;
        let flag = Rc::clone(&timed_out);
        lua.set_hook(HookTriggers::new().every_nth_instruction(HOOK_EVERY), move |_, _| {
            // Keep failing once past the deadline, so a script that
            // swallows one error is stopped at the next check.
            if flag.get() || Instant::now() >= deadline {
                flag.set(true);
                Err(mlua::Error::runtime("timeout"))
            } else {
                Ok(VmState::Continue)
            }
        })
        .map_err(|e| format!("cannot start Lua: {e}"))?;

        let outcome = to_lua(&lua, obj, 0)
            .and_then(|value| lua.globals().set("obj", value))
            .and_then(|()| lua.load(script).set_name(CHUNK_NAME).set_mode(ChunkMode::Text).call::<mlua::Value>(()));
        lua.remove_hook();
        let limit_ms = self.timeout.as_millis();
        let value = outcome.map_err(|e| {
            if timed_out.get() {
                format!("script timed out after {limit_ms}ms")
            } else if is_memory_error(&e) {
                format!("script exceeded the memory limit of {} bytes", self.memory_limit)
            } else {
                lua_error_text(&e)
            }
        })?;
        from_lua(value)
    }
}

/// Converts the `group_kind` suffix of a per-kind key to Argo CD's override
/// key: `cert-manager.io_Certificate` -> `cert-manager.io/Certificate`,
/// `Pod` -> `Pod`; `None` for anything else (as Argo CD rejects it). Every
/// `resource.customizations.<type>.<group_kind>` key of argocd-cm is read so.
pub fn override_key(group_kind: &str) -> Option<String> {
    let mut parts = group_kind.split('_');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(group), Some(kind), None) if !kind.is_empty() => {
            // An empty group (`_Pod`) means the core group, spelled `Pod`.
            Some(if group.is_empty() { kind.to_string() } else { format!("{group}/{kind}") })
        }
        (Some(kind), None, None) if !kind.is_empty() => Some(kind.to_string()),
        _ => None,
    }
}

/// The health scripts of the older `resource.customizations` YAML.
fn parse_legacy(yaml: &str) -> Result<Vec<(String, String)>, Error> {
    let invalid = |reason: String| Error::InvalidCustomCheck { key: LEGACY_KEY.into(), reason };
    let parsed: Option<BTreeMap<String, Value>> = serde_saphyr::from_str(yaml).map_err(|e| invalid(format!("invalid YAML: {e}")))?;
    let mut scripts = Vec::new();
    for (group_kind, entry) in parsed.unwrap_or_default() {
        match entry.get("health.lua") {
            None | Some(Value::Null) => {}
            Some(Value::String(script)) => scripts.push((group_kind, script.clone())),
            Some(_) => {
                return Err(invalid(format!("{group_kind}: health.lua must be a string")));
            }
        }
    }
    Ok(scripts)
}

/// Fails with the key named when `script` is not valid Lua 5.1.
fn compile_check(label: &str, script: &str) -> Result<(), Error> {
    let invalid = |reason: String| Error::InvalidCustomCheck { key: label.to_string(), reason };
    let lua = sandbox().map_err(|e| invalid(format!("cannot start Lua: {e}")))?;
    lua.load(script).set_name(CHUNK_NAME).set_mode(ChunkMode::Text).into_function().map(drop).map_err(|e| invalid(lua_error_text(&e)))
}

/// A fresh interpreter with only the libraries a health check may use.
fn sandbox() -> mlua::Result<Lua> {
    let lua = Lua::new_with(StdLib::TABLE | StdLib::STRING | StdLib::MATH | StdLib::OS, LuaOptions::default())?;
    let globals = lua.globals();

    // Argo CD's "safe" os: the clock only; no exit, execute, remove, getenv.
    let os: Table = globals.get("os")?;
    let safe_os = lua.create_table()?;
    for name in ["time", "date"] {
        safe_os.set(name, os.get::<Function>(name)?)?;
    }
    globals.set("os", safe_os)?;

    // No reading files, no loading code at run time (load/loadstring could
    // also take precompiled bytecode, which can crash the VM), no collector
    // control, no environment juggling; print would write to our stdout.
    // xpcall goes too: unlike our pcall it could swallow the time limit.
    for name in
        ["dofile", "loadfile", "load", "loadstring", "module", "collectgarbage", "gcinfo", "getfenv", "setfenv", "newproxy", "xpcall"]
    {
        globals.set(name, mlua::Value::Nil)?;
    }
    let string: Table = globals.get("string")?;
    string.set("dump", mlua::Value::Nil)?;
    globals.set("print", lua.create_function(|_, _: MultiValue| Ok(()))?)?;

    // Argo CD lets scripts `require("os")` and friends; nothing else loads.
    let libs = lua.create_table()?;
    for name in ["os", "string", "table", "math"] {
        libs.set(name, globals.get::<Table>(name)?)?;
    }
    // Kept in the registry, not captured: a callback holding a Lua value
    // would keep its own interpreter alive forever.
    lua.set_named_registry_value(LIBS_REGISTRY_KEY, libs)?;
    let require = lua.create_function(|lua, name: String| {
        let libs: Table = lua.named_registry_value(LIBS_REGISTRY_KEY)?;
        libs.get::<Option<Table>>(name.as_str())?.ok_or_else(|| mlua::Error::runtime(format!("module '{name}' not found")))
    })?;
    globals.set("require", require)?;
    Ok(lua)
}

/// Replaces `pcall` with one that does not swallow the time-limit or memory
/// errors, so a script cannot catch its own termination.
fn install_pcall(lua: &Lua, timed_out: &Rc<Cell<bool>>) -> mlua::Result<()> {
    let timed_out = Rc::clone(timed_out);
    let pcall = lua.create_function(move |lua, (f, args): (Function, MultiValue)| match f.call::<MultiValue>(args) {
        Ok(mut results) => {
            results.push_front(mlua::Value::Boolean(true));
            Ok(results)
        }
        Err(e) if timed_out.get() || is_memory_error(&e) => Err(e),
        Err(e) => {
            let msg = lua.create_string(lua_error_text(&e))?;
            Ok(MultiValue::from_iter([mlua::Value::Boolean(false), mlua::Value::String(msg)]))
        }
    })?;
    lua.globals().set("pcall", pcall)
}

/// Whether the error is (or wraps, through Rust callbacks) the memory limit.
fn is_memory_error(e: &mlua::Error) -> bool {
    match e {
        mlua::Error::MemoryError(_) => true,
        mlua::Error::CallbackError { cause, .. } => is_memory_error(cause),
        _ => false,
    }
}

/// The first line of an mlua error, without Rust-side wrapping and tracebacks.
fn lua_error_text(e: &mlua::Error) -> String {
    let inner = match e {
        mlua::Error::CallbackError { cause, .. } => return lua_error_text(cause),
        mlua::Error::RuntimeError(m) | mlua::Error::SyntaxError { message: m, .. } => m.clone(),
        other => other.to_string(),
    };
    inner.lines().next().unwrap_or_default().to_string()
}

/// JSON to Lua as Argo CD hands objects over: null becomes nil (so
/// `obj.x ~= nil` tests work), arrays become 1-based sequences.
fn to_lua(lua: &Lua, value: &Value, depth: usize) -> mlua::Result<mlua::Value> {
    if depth > MAX_DEPTH {
        return Err(mlua::Error::runtime("object nested too deeply"));
    }
    Ok(match value {
        Value::Null => mlua::Value::Nil,
        Value::Bool(b) => mlua::Value::Boolean(*b),
        Value::Number(n) => mlua::Value::Number(n.as_f64().unwrap_or(f64::NAN)),
        Value::String(s) => mlua::Value::String(lua.create_string(s)?),
        Value::Array(items) => {
            let table = lua.create_table_with_capacity(items.len(), 0)?;
            for (i, item) in items.iter().enumerate() {
                table.raw_set(i + 1, to_lua(lua, item, depth + 1)?)?;
            }
            mlua::Value::Table(table)
        }
        Value::Object(fields) => {
            let table = lua.create_table_with_capacity(0, fields.len())?;
            for (k, v) in fields {
                table.raw_set(k.as_str(), to_lua(lua, v, depth + 1)?)?;
            }
            mlua::Value::Table(table)
        }
    })
}

/// Reads the script's returned table; `Err` carries a human reason.
fn from_lua(value: mlua::Value) -> Result<Health, String> {
    let mlua::Value::Table(table) = value else {
        return Err(format!("expect table output from Lua script, not {}", lua_type_name(&value)));
    };
    let field = |name: &str| -> Result<Option<String>, String> {
        match table.raw_get::<mlua::Value>(name).map_err(|e| e.to_string())? {
            mlua::Value::Nil => Ok(None),
            mlua::Value::String(s) => Ok(Some(s.to_string_lossy())),
            other => Err(format!("{name} must be a string, not {}", lua_type_name(&other))),
        }
    };
    let status = field("status")?;
    let message = field("message")?.unwrap_or_default();
    Ok(match status.as_deref().and_then(HealthStatusCode::parse) {
        Some(status) => Health::new(status, message),
        // Argo CD's answer to a script returning a status it does not know.
        None => Health::new(HealthStatusCode::Unknown, "Lua returned an invalid health status"),
    })
}

/// Lua 5.1's name for a value's type (mlua calls exact numbers "integer").
fn lua_type_name(value: &mlua::Value) -> &'static str {
    match value {
        mlua::Value::Integer(_) => "number",
        other => other.type_name(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn override_keys() {
        assert_eq!(override_key("cert-manager.io_Certificate").as_deref(), Some("cert-manager.io/Certificate"));
        assert_eq!(override_key("Pod").as_deref(), Some("Pod"));
        assert_eq!(override_key("_Pod").as_deref(), Some("Pod"));
        assert_eq!(override_key("a_b_c"), None);
        assert_eq!(override_key(""), None);
        assert_eq!(override_key("group_"), None);
    }
}
