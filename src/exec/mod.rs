//! The executor: the only stage with side effects.
