//! Reporters: they listen to events and render them.
