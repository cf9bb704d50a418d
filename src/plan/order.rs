//! Build order: parents before children, cycles reported by name.
