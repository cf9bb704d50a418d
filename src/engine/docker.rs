//! [`Engine`](super::Engine) over the Docker Engine API with bollard.
