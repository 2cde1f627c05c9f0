//! Where the configuration and the Bulwark home are found.

use std::path::{Path, PathBuf};

/// Where a configuration was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigSource {
    /// A file, named by `--config`, `$BULWARK_CONFIG` or `$BULWARK_HOME/bulwark.toml`.
    File(PathBuf),
    /// No file: built-in defaults.
    Defaults,
}

impl std::fmt::Display for ConfigSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConfigSource::File(p) => write!(f, "{}", p.display()),
            ConfigSource::Defaults => f.write_str("built-in defaults"),
        }
    }
}

/// `$BULWARK_HOME`, else `~/.bulwark`.
pub fn bulwark_home(env: &dyn Fn(&str) -> Option<String>) -> Option<PathBuf> {
    if let Some(h) = env("BULWARK_HOME").filter(|h| !h.is_empty()) {
        return Some(PathBuf::from(h));
    }
    env("HOME")
        .filter(|h| !h.is_empty())
        .map(|h| PathBuf::from(h).join(".bulwark"))
}

/// Find the configuration file: `explicit` (from `--config`), else `$BULWARK_CONFIG`, else
/// `$BULWARK_HOME/bulwark.toml` if it exists, else built-in defaults.
pub fn locate(explicit: Option<&Path>, env: &dyn Fn(&str) -> Option<String>) -> ConfigSource {
    if let Some(p) = explicit {
        return ConfigSource::File(p.to_path_buf());
    }
    if let Some(p) = env("BULWARK_CONFIG").filter(|p| !p.is_empty()) {
        return ConfigSource::File(PathBuf::from(p));
    }
    if let Some(home) = bulwark_home(env) {
        let p = home.join("bulwark.toml");
        if p.is_file() {
            return ConfigSource::File(p);
        }
    }
    ConfigSource::Defaults
}
