//! Docker's `.dockerignore` rules, on globset.
