//! The tar build context: a folder filtered by `.dockerignore`, plus extra files.
