//! `strata schema`: the JSON Schema of the native matrix file, on stdout.

use crate::error::{RunError, EXIT_OK};

use super::output::print_stdout;

pub fn run() -> Result<i32, RunError> {
    print_stdout(&crate::config::schema::native_text());
    Ok(EXIT_OK)
}
