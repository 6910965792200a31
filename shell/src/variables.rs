//! Shell variables: a name, a value, and whether programs the shell starts see it
//! (exported, the environment) or only the shell does.
//!
//! Names are always valid ([`crate::parse::is_name`]); `?` is not stored here but computed
//! from the last status.

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;

#[derive(Clone, Debug, PartialEq, Eq)]
struct Variable {
    value: String,
    exported: bool,
}

/// The shell's variables, in name order.
#[derive(Clone, Debug, Default)]
pub struct Variables {
    variables: BTreeMap<String, Variable>,
}

impl Variables {
    /// No variables.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `name` to `value`, keeping its exported flag (a new variable is not exported).
    /// Returns `false`, changing nothing, if `name` is not a variable name.
    pub fn set(&mut self, name: &str, value: &str) -> bool {
        if !crate::parse::is_name(name) {
            return false;
        }
        match self.variables.get_mut(name) {
            Some(variable) => variable.value = value.into(),
            None => {
                self.variables.insert(name.into(), Variable { value: value.into(), exported: false });
            }
        }
        true
    }

    /// Marks `name` exported, creating it empty if it does not exist. Returns `false`,
    /// changing nothing, if `name` is not a variable name.
    pub fn export(&mut self, name: &str) -> bool {
        if !crate::parse::is_name(name) {
            return false;
        }
        self.variables
            .entry(name.into())
            .or_insert(Variable { value: String::new(), exported: false })
            .exported = true;
        true
    }

    /// Forgets `name`.
    pub fn unset(&mut self, name: &str) {
        self.variables.remove(name);
    }

    /// The value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.variables.get(name).map(|variable| variable.value.as_str())
    }

    /// Every variable, in name order, with whether it is exported.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str, bool)> {
        self.variables
            .iter()
            .map(|(name, variable)| (name.as_str(), variable.value.as_str(), variable.exported))
    }

    /// The exported variables, in name order: what a program gets as its environment.
    pub fn environment(&self) -> Vec<(String, String)> {
        self.iter()
            .filter(|(_, _, exported)| *exported)
            .map(|(name, value, _)| (name.into(), value.into()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_export_unset() {
        let mut variables = Variables::new();
        assert!(variables.set("A", "1"));
        assert!(variables.set("B", "2"));
        assert!(!variables.set("1B", "x"));
        assert!(!variables.export("a-b"));
        assert_eq!(variables.environment(), []);
        assert!(variables.export("B"));
        assert!(variables.export("C"));
        assert!(variables.set("B", "3"));
        assert_eq!(variables.environment(), [("B".into(), "3".into()), ("C".into(), String::new())]);
        variables.unset("B");
        assert_eq!(variables.get("B"), None);
        assert_eq!(variables.get("A"), Some("1"));
        let all: Vec<_> = variables.iter().collect();
        assert_eq!(all, [("A", "1", false), ("C", "", true)]);
    }
}
