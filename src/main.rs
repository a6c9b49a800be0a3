//! `dsim`: run scenarios, fuzz them, check histories, list what is
//! available, for every protocol of this repository (see [`dsim::cli`]).

use std::process::ExitCode;

fn main() -> ExitCode {
    dsim::cli::main(dsim::Registry::bundled())
}
