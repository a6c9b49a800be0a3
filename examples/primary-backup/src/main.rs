//! `pb-sim`: dsim's command line (`run`, `fuzz`, `check`, `list`) for the
//! primary-backup register, and nothing else.

use std::process::ExitCode;

fn main() -> ExitCode {
    dsim::cli::main(dsim::Registry::new().with::<pb_register::PrimaryBackup>())
}
