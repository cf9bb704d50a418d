//! Which of Docker's builders builds (`--builder`, `builder:`): a choice
//! the config makes and the engine carries out, so the type is the
//! engine's.

pub use crate::engine::Builder;
