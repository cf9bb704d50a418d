//! Alias rules: tag templates evaluated over every image; the newest wins.
