//! The command line: parses arguments, runs a stage pipeline, maps to exit codes.

pub fn main() -> i32 {
    0
}
