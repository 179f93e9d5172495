//! One environment variable declared once (`Var`), the sections that group them, and the
//! typed getters every section reads its variables with.

use std::str::FromStr;
use std::time::Duration;

use super::{ConfigError, Secret, Vars, err};

/// An environment variable: its name, what its value is, its default, what it does and
/// whether it is a secret. The reference (docs/configuration.md), `portal config check` and
/// the test kit's list of secrets are all read from these declarations.
#[derive(Debug, Clone, Copy)]
pub struct Var {
    pub name: &'static str,
    /// What the value is, as the reference shows it (`integer`, `URL`, …).
    pub kind: &'static str,
    pub default: DefaultValue,
    pub help: &'static str,
    /// Never printed: `portal config check` shows `[secret]`, the field is a `Secret`.
    pub secret: bool,
    /// The accepted values, when there is a fixed set of them.
    pub choices: &'static [&'static str],
    pub min: Option<u64>,
    pub max: Option<u64>,
}

/// What an unset (or empty) variable means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DefaultValue {
    /// Unset: the feature is off or the value absent.
    Unset,
    /// Parsed exactly as if it were set to this.
    Value(&'static str),
    /// A value per `PORTAL_ENV`; `None` is unset.
    ByEnvironment {
        development: Option<&'static str>,
        production: Option<&'static str>,
    },
    /// Computed from other settings, as described (the section computes it).
    Derived(&'static str),
}

/// A group of variables with one purpose: one module of `config/`.
#[derive(Debug, Clone, Copy)]
pub struct Section {
    pub title: &'static str,
    pub intro: &'static str,
    pub vars: &'static [Var],
}

/// Declares a section's variables as constants and the section (`SECTION`) listing them
/// all, so a variable cannot be declared without being documented and checked.
macro_rules! section {
    (title: $title:literal, intro: $intro:literal, $($id:ident = $var:expr;)+) => {
        $(pub const $id: $crate::config::var::Var = $var;)+
        pub const SECTION: $crate::config::var::Section = $crate::config::var::Section {
            title: $title,
            intro: $intro,
            vars: &[$($id),+],
        };
    };
}
pub(crate) use section;

/// What a value is, as the reference's type column shows it.
pub mod kind {
    pub const BOOL: &str = "boolean";
    pub const INTEGER: &str = "integer";
    pub const MILLISECONDS: &str = "milliseconds";
    pub const SECONDS: &str = "seconds";
    pub const HOURS: &str = "hours";
    pub const DAYS: &str = "days";
    pub const ADDRESS: &str = "host:port";
    pub const URL: &str = "URL";
    pub const PATH: &str = "path";
    pub const TEXT: &str = "text";
    pub const LIST: &str = "list";
    pub const ONE_OF: &str = "one of";
}

impl Var {
    pub const fn new(name: &'static str, kind: &'static str, help: &'static str) -> Self {
        Self {
            name,
            kind,
            default: DefaultValue::Unset,
            help,
            secret: false,
            choices: &[],
            min: None,
            max: None,
        }
    }

    pub const fn default(mut self, value: &'static str) -> Self {
        self.default = DefaultValue::Value(value);
        self
    }

    pub const fn by_environment(
        mut self,
        development: Option<&'static str>,
        production: Option<&'static str>,
    ) -> Self {
        self.default = DefaultValue::ByEnvironment {
            development,
            production,
        };
        self
    }

    pub const fn derived(mut self, description: &'static str) -> Self {
        self.default = DefaultValue::Derived(description);
        self
    }

    pub const fn secret(mut self) -> Self {
        self.secret = true;
        self
    }

    pub const fn choices(mut self, choices: &'static [&'static str]) -> Self {
        self.choices = choices;
        self
    }

    pub const fn min(mut self, min: u64) -> Self {
        self.min = Some(min);
        self
    }

    pub const fn max(mut self, max: u64) -> Self {
        self.max = Some(max);
        self
    }

    pub const fn range(self, min: u64, max: u64) -> Self {
        self.min(min).max(max)
    }

    /// The default for an environment, as a value to parse (none: unset or derived).
    pub fn default_value(&self, development: bool) -> Option<&'static str> {
        match self.default {
            DefaultValue::Value(value) => Some(value),
            DefaultValue::ByEnvironment {
                development: dev,
                production,
            } => {
                if development {
                    dev
                } else {
                    production
                }
            }
            DefaultValue::Unset | DefaultValue::Derived(_) => None,
        }
    }

    /// "must be between 1 and 500", "must be at least 10", "must be at most 87600".
    fn bounds_text(&self) -> Option<String> {
        match (self.min, self.max) {
            (Some(min), Some(max)) => Some(format!("between {min} and {max}")),
            (Some(min), None) => Some(format!("at least {min}")),
            (None, Some(max)) => Some(format!("at most {max}")),
            (None, None) => None,
        }
    }

    /// The type column of the reference: kind, accepted values, bounds, secret-ness.
    pub fn type_text(&self) -> String {
        let mut text = if self.choices.is_empty() {
            self.kind.to_owned()
        } else {
            let choices: Vec<String> = self.choices.iter().map(|c| format!("`{c}`")).collect();
            format!("{} {}", self.kind, choices.join(", "))
        };
        if let Some(bounds) = self.bounds_text() {
            text = format!("{text}, {bounds}");
        }
        if self.secret {
            text.push_str(", **secret**");
        }
        text
    }

    /// The default column of the reference.
    pub fn default_text(&self) -> String {
        let code = |v: Option<&str>| v.map_or_else(|| "unset".to_owned(), |v| format!("`{v}`"));
        match self.default {
            DefaultValue::Unset => "—".to_owned(),
            DefaultValue::Value(value) => format!("`{value}`"),
            DefaultValue::ByEnvironment {
                development,
                production,
            } => format!(
                "{} in development, {} in production",
                code(development),
                code(production)
            ),
            DefaultValue::Derived(description) => description.to_owned(),
        }
    }
}

/// Reads declared variables from a `Vars` for one environment; every getter names the
/// variable in its error.
pub struct Reader<'a> {
    vars: &'a dyn Vars,
    pub development: bool,
}

impl<'a> Reader<'a> {
    pub fn new(vars: &'a dyn Vars, development: bool) -> Self {
        Self { vars, development }
    }

    /// The value set (an empty value counts as unset), without the default.
    pub fn set(&self, var: &Var) -> Option<String> {
        self.vars.get(var.name)
    }

    /// The value set, else the default for this environment.
    pub fn text(&self, var: &Var) -> Option<String> {
        self.set(var)
            .or_else(|| var.default_value(self.development).map(str::to_owned))
    }

    pub fn secret(&self, var: &Var) -> Option<Secret> {
        debug_assert!(
            var.secret,
            "{} is read as a secret but not declared one",
            var.name
        );
        self.text(var).map(Secret::from)
    }

    /// A declared default is required: a flag has a value either way.
    fn required(&self, var: &Var) -> Result<String, ConfigError> {
        self.text(var)
            .ok_or_else(|| err(format!("{} is required", var.name)))
    }

    pub fn flag(&self, var: &Var) -> Result<bool, ConfigError> {
        match self.required(var)?.trim() {
            "1" | "true" | "yes" | "on" => Ok(true),
            "0" | "false" | "no" | "off" => Ok(false),
            other => Err(err(format!(
                "{} must be true or false, not {other:?}",
                var.name
            ))),
        }
    }

    /// One of the declared `choices`.
    pub fn choice(&self, var: &Var) -> Result<&'static str, ConfigError> {
        let value = self.required(var)?;
        let value = value.trim();
        var.choices
            .iter()
            .find(|c| **c == value)
            .copied()
            .ok_or_else(|| {
                err(format!(
                    "{} must be {}, not {value:?}",
                    var.name,
                    alternatives(var.choices)
                ))
            })
    }

    /// Any `FromStr` value (addresses, …).
    pub fn parse<T: FromStr>(&self, var: &Var) -> Result<T, ConfigError> {
        let raw = self.required(var)?;
        raw.trim()
            .parse()
            .map_err(|_| err(format!("{} has an invalid value {raw:?}", var.name)))
    }

    /// A whole number within the declared bounds, as the type the field has.
    pub fn number<T: TryFrom<u64>>(&self, var: &Var) -> Result<T, ConfigError> {
        let raw = self.required(var)?;
        let invalid = || err(format!("{} has an invalid value {raw:?}", var.name));
        let value: u64 = raw.trim().parse().map_err(|_| invalid())?;
        let below = var.min.is_some_and(|min| value < min);
        let above = var.max.is_some_and(|max| value > max);
        if below || above {
            let bounds = var.bounds_text().unwrap_or_default();
            return Err(err(format!("{} must be {bounds}", var.name)));
        }
        T::try_from(value).map_err(|_| invalid())
    }

    pub fn millis(&self, var: &Var) -> Result<Duration, ConfigError> {
        debug_assert_eq!(var.kind, kind::MILLISECONDS, "{}", var.name);
        self.number(var).map(Duration::from_millis)
    }

    pub fn seconds(&self, var: &Var) -> Result<Duration, ConfigError> {
        debug_assert_eq!(var.kind, kind::SECONDS, "{}", var.name);
        self.number(var).map(Duration::from_secs)
    }
}

/// `a or b`, `a, b or c`.
fn alternatives(choices: &[&str]) -> String {
    match choices {
        [] => String::new(),
        [only] => (*only).to_owned(),
        [rest @ .., last] => format!("{} or {last}", rest.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    const LIMIT: Var = Var::new("TEST_LIMIT", kind::INTEGER, "a limit")
        .default("10")
        .range(1, 20);
    const MODE: Var = Var::new("TEST_MODE", kind::ONE_OF, "a mode")
        .default("a")
        .choices(&["a", "b", "c"]);

    fn reader(vars: &HashMap<String, String>) -> Reader<'_> {
        Reader::new(vars, true)
    }

    #[test]
    fn numbers_take_the_default_and_refuse_values_out_of_bounds_by_name() {
        let mut vars = HashMap::new();
        assert_eq!(reader(&vars).number::<u32>(&LIMIT).ok(), Some(10));
        vars.insert("TEST_LIMIT".to_owned(), "21".to_owned());
        let error = reader(&vars)
            .number::<u32>(&LIMIT)
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            error.as_deref(),
            Some("configuration error: TEST_LIMIT must be between 1 and 20")
        );
        vars.insert("TEST_LIMIT".to_owned(), "many".to_owned());
        let error = reader(&vars)
            .number::<u32>(&LIMIT)
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            error.as_deref(),
            Some("configuration error: TEST_LIMIT has an invalid value \"many\"")
        );
    }

    #[test]
    fn choices_list_what_is_accepted() {
        let vars: HashMap<String, String> = [("TEST_MODE".to_owned(), "d".to_owned())].into();
        let error = reader(&vars).choice(&MODE).err().map(|e| e.to_string());
        assert_eq!(
            error.as_deref(),
            Some("configuration error: TEST_MODE must be a, b or c, not \"d\"")
        );
        assert_eq!(MODE.type_text(), "one of `a`, `b`, `c`");
        assert_eq!(LIMIT.type_text(), "integer, between 1 and 20");
    }
}
