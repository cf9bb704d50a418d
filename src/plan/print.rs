//! Printing a plan for people (`--dry-run`, `strata plan`) and machines (JSON).
