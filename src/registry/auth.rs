//! Registry credentials: from the environment or the Docker config file.
