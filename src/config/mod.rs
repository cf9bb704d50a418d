//! Reading and validating what the user wrote.
