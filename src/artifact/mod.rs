//! Downloading, verifying and caching files that go into build contexts.
