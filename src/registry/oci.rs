//! [`Registry`](super::Registry) over the OCI distribution API.
