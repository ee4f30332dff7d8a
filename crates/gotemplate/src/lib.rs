//! Go's `text/template` with the Sprig functions, as Argo CD's ApplicationSet controller
//! renders templates with `goTemplate: true`.
//!
//! Data is a JSON value (a generator's parameters): objects are Go maps, numbers float64.
//! The function map is Sprig's generic one less `env`, `expandenv` and `getHostByName`
//! (Argo CD removes them: a template must not read the controller's environment or resolve
//! names), plus Argo CD's `normalize`, `slugify`, `toYaml`, `fromYaml`, `fromYamlArray`.
//! Execution is bounded (output size, steps, nesting), so hostile templates fail with
//! [`Error::Limit`] rather than hang or exhaust memory.
//!
//! Known differences from Go: `now` gives Unix seconds (not a time.Time), integers are one
//! type (`typeOf` says `int` for Sprig's int64 results), methods are refused, `call`
//! reaches only the caller's [`HostFuncs`] (data holds no functions),
//! Sprig's crypto functions (`genCA`, `bcrypt`, ...) and `shuffle`/`randInt` are not defined.

mod date;
mod exec;
mod fmt;
mod funcs;
mod lex;
mod parse;
mod semver;
mod url;
mod value;
mod yaml;

/// Go's `url.QueryEscape`, for callers that escape as Go templates do.
pub use funcs::builtins::query_escape;
/// Argo CD's `normalize`, for callers that name things as its templates do.
pub use funcs::strings::normalize;
use std::sync::Arc;

/// A template, parsed once and executed many times.
#[derive(Clone, Debug)]
pub struct Template {
    tree: Arc<parse::Tree>,
}

impl Template {
    /// Parses `text` as Go would (`template.New("").Funcs(sprig).Parse(text)`).
    pub fn parse(text: &str) -> Result<Template, Error> {
        Ok(Template { tree: Arc::new(parse::parse(text)?) })
    }

    /// Executes the template with `data` as the cursor (`.`) and `$`.
    pub fn execute(&self, data: &serde_json::Value, options: &Options) -> Result<String, Error> {
        exec::execute(&self.tree, data, options, None)
    }

    /// [`Template::execute`], with `host`'s functions reachable through
    /// `call` (Argo CD's notification templates: `call .repo.RepoURLToHTTPS x`).
    pub fn execute_with(&self, data: &serde_json::Value, options: &Options, host: &HostFuncs) -> Result<String, Error> {
        exec::execute(&self.tree, data, options, Some(host))
    }
}

/// A host function: JSON arguments in, a JSON value or a message out.
pub type HostFn = Arc<dyn Fn(&[serde_json::Value]) -> Result<serde_json::Value, String> + Send + Sync>;

/// Functions a template reaches through `call`, by the field chain that
/// names them (`repo.RepoURLToHTTPS` for `call .repo.RepoURLToHTTPS`).
#[derive(Clone, Default)]
pub struct HostFuncs {
    funcs: std::collections::BTreeMap<String, HostFn>,
}

impl HostFuncs {
    /// Adds `f` under `name` (`repo.RepoURLToHTTPS`).
    pub fn with(mut self, name: &str, f: HostFn) -> HostFuncs {
        self.funcs.insert(name.to_string(), f);
        self
    }

    pub(crate) fn get(&self, name: &str) -> Option<&HostFn> {
        self.funcs.get(name)
    }
}

impl std::fmt::Debug for HostFuncs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.funcs.keys()).finish()
    }
}

/// Parses and executes `text`.
pub fn render(text: &str, data: &serde_json::Value, options: &Options) -> Result<String, Error> {
    Template::parse(text)?.execute(data, options)
}

/// Execution options (`goTemplateOptions`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Options {
    /// What a missing map key gives.
    pub missing_key: MissingKey,
}

/// Go's `missingkey` option.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum MissingKey {
    /// `missingkey=default` (or `invalid`): prints `<no value>`.
    #[default]
    Default,
    /// `missingkey=zero`: the map's zero value (for JSON data also `<no value>`).
    Zero,
    /// `missingkey=error`: execution stops with an error.
    Error,
}

impl Options {
    /// Reads an ApplicationSet's `goTemplateOptions` (later options win, as in Go).
    pub fn from_go_template_options(options: &[String]) -> Result<Options, Error> {
        let mut out = Options::default();
        for o in options {
            out.missing_key = match o.as_str() {
                "missingkey=default" | "missingkey=invalid" => MissingKey::Default,
                "missingkey=zero" => MissingKey::Zero,
                "missingkey=error" => MissingKey::Error,
                _ => return Err(Error::Option { option: o.clone() }),
            };
        }
        Ok(out)
    }
}

/// Why a template could not be parsed or executed. Messages read as Go's.
#[derive(Debug, thiserror::Error, Clone, PartialEq)]
pub enum Error {
    /// The text is not a valid template (`line` 1-based, `col` a 0-based byte offset).
    #[error("template: :{line}: {reason}")]
    Parse {
        /// The line of the error.
        line: usize,
        /// The byte offset in that line.
        col: usize,
        /// What is wrong, as Go says it.
        reason: String,
    },
    /// Execution failed at a node: `reason` is `executing "NAME" at <NODE>: WHY`.
    #[error("template: :{line}:{col}: {reason}")]
    Exec {
        /// The line of the node.
        line: usize,
        /// The node's byte offset in that line.
        col: usize,
        /// The template, the node and what went wrong.
        reason: String,
    },
    /// An unknown `goTemplateOptions` entry.
    #[error("unrecognized option: {option}")]
    Option {
        /// The option as written.
        option: String,
    },
    /// The template exceeded a limit (output size, steps, nesting, values made).
    #[error("template: {reason}")]
    Limit {
        /// Which limit.
        reason: String,
    },
}
