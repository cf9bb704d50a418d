//! Expanding a native matrix config into images and rendered files.
