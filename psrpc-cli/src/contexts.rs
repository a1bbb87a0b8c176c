//! Saved contexts: named bus URLs in `contexts.toml`, one of them current.
//!
//! The file is `$PSRPC_CONFIG` when set, else
//! `$XDG_CONFIG_HOME/psrpc/contexts.toml`, else
//! `~/.config/psrpc/contexts.toml`. It holds bus URLs, credentials
//! included, so it is written readable by its owner only (mode 0600).
//!
//! ```toml
//! current = "prod"
//!
//! [contexts.prod]
//! bus = "redis+sentinel://app:secret@s1:26379,s2:26379/mymaster"
//! ```

use std::collections::BTreeMap;
use std::path::PathBuf;

use clap::Subcommand;
use serde::{Deserialize, Serialize};

use crate::bus::redact;
use crate::exit::Failure;
use crate::out::Out;

/// `psrpc context …`
#[derive(Debug, Subcommand)]
pub(crate) enum ContextCommand {
    /// List the saved contexts (passwords hidden); `*` marks the current one.
    Ls,
    /// Save a bus URL under NAME.
    Add {
        /// The context's name.
        name: String,
        /// The bus URL (any form `--bus` takes).
        url: String,
        /// Make it the current context too.
        #[arg(long = "use")]
        make_current: bool,
    },
    /// Make NAME the current context: commands without --bus use its bus.
    Use {
        /// The context's name.
        name: String,
    },
    /// Delete a saved context.
    Rm {
        /// The context's name.
        name: String,
    },
}

/// The file's contents.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Contexts {
    /// The context used when neither `--bus` nor `--context` is given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    current: Option<String>,
    #[serde(default)]
    contexts: BTreeMap<String, Context>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Context {
    bus: String,
}

fn path() -> Result<PathBuf, Failure> {
    if let Some(file) = std::env::var_os("PSRPC_CONFIG") {
        return Ok(file.into());
    }
    let base = match std::env::var_os("XDG_CONFIG_HOME") {
        Some(dir) => PathBuf::from(dir),
        None => {
            PathBuf::from(std::env::var_os("HOME").ok_or_else(|| Failure::usage("no HOME to find ~/.config/psrpc in"))?)
                .join(".config")
        }
    };
    Ok(base.join("psrpc").join("contexts.toml"))
}

fn load() -> Result<Contexts, Failure> {
    let path = path()?;
    match std::fs::read_to_string(&path) {
        Ok(text) => toml::from_str(&text).map_err(|e| Failure::input(format!("{}: {e}", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Contexts::default()),
        Err(e) => Err(Failure::input(format!("{}: {e}", path.display()))),
    }
}

fn save(contexts: &Contexts) -> Result<(), Failure> {
    let path = path()?;
    let failed = |e: std::io::Error| Failure::input(format!("{}: {e}", path.display()));
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(failed)?;
    }
    let text = toml::to_string(contexts).map_err(|e| Failure::input(format!("contexts: {e}")))?;
    let mut open = std::fs::OpenOptions::new();
    open.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut open, 0o600);
    let mut file = open.open(&path).map_err(failed)?;
    std::io::Write::write_all(&mut file, text.as_bytes()).map_err(failed)
}

/// The bus URL of context `name`, or of the current context when `name` is
/// `None` (`Ok(None)` when there is no current context).
pub(crate) fn bus_of(name: Option<&str>) -> Result<Option<String>, Failure> {
    let contexts = load()?;
    let Some(name) = name.or(contexts.current.as_deref()) else { return Ok(None) };
    match contexts.contexts.get(name) {
        Some(context) => Ok(Some(context.bus.clone())),
        None => Err(unknown(name, &contexts)),
    }
}

fn unknown(name: &str, contexts: &Contexts) -> Failure {
    let names: Vec<&str> = contexts.contexts.keys().map(String::as_str).collect();
    Failure::usage(format!("no context named {name:?} (saved: {})", crate::list(&names)))
}

/// Runs `psrpc context …`.
pub(crate) fn run(command: ContextCommand, out: &Out) -> Result<(), Failure> {
    let mut contexts = load()?;
    match command {
        ContextCommand::Ls => {
            let current = contexts.current.as_deref();
            if out.json {
                for (name, context) in &contexts.contexts {
                    out.json(&serde_json::json!({
                        "name": name, "bus": redact(&context.bus), "current": current == Some(name.as_str())
                    }))?;
                }
                return Ok(());
            }
            let rows: Vec<Vec<String>> = contexts
                .contexts
                .iter()
                .map(|(name, context)| {
                    let mark = if current == Some(name.as_str()) { "*" } else { "" };
                    vec![mark.to_owned(), name.clone(), redact(&context.bus)]
                })
                .collect();
            out.text(&crate::show::table(&["", "NAME", "BUS"], &rows))
        }
        ContextCommand::Add { name, url, make_current } => {
            contexts.contexts.insert(name.clone(), Context { bus: url });
            if make_current {
                contexts.current = Some(name);
            }
            save(&contexts)
        }
        ContextCommand::Use { name } => {
            if !contexts.contexts.contains_key(&name) {
                return Err(unknown(&name, &contexts));
            }
            contexts.current = Some(name);
            save(&contexts)
        }
        ContextCommand::Rm { name } => {
            if contexts.contexts.remove(&name).is_none() {
                return Err(unknown(&name, &contexts));
            }
            if contexts.current.as_deref() == Some(name.as_str()) {
                contexts.current = None;
            }
            save(&contexts)
        }
    }
}
