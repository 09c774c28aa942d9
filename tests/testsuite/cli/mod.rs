//! The command line as a user meets it: errors, and replaying a failure.

mod errors;
mod replay;
