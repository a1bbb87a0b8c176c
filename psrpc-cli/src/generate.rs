//! Shell completions and man pages, generated from the command definitions.

use std::path::Path;

use clap::CommandFactory as _;
use clap_complete::Shell;

use crate::Cli;
use crate::exit::Failure;

/// Prints the completion script for `shell` (e.g. `psrpc completions bash > /etc/bash_completion.d/psrpc`).
pub(crate) fn completions(shell: Shell) -> Result<(), Failure> {
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "psrpc", &mut script);
    crate::out::write(&script)
}

/// Prints the `psrpc(1)` man page, or with `dir` writes one page per command
/// there (`psrpc.1`, `psrpc-call.1`, …).
pub(crate) fn man(dir: Option<&Path>) -> Result<(), Failure> {
    let command = Cli::command();
    let Some(dir) = dir else {
        let mut page = Vec::new();
        clap_mangen::Man::new(command).render(&mut page).map_err(|e| Failure::input(format!("man page: {e}")))?;
        return crate::out::write(&page);
    };
    std::fs::create_dir_all(dir).map_err(|e| Failure::input(format!("{}: {e}", dir.display())))?;
    clap_mangen::generate_to(command, dir).map_err(|e| Failure::input(format!("{}: {e}", dir.display())))
}
