//! The command line as a user meets it: errors, replaying a failure, and
//! results as they come and when the run is stopped.

mod errors;
mod replay;
mod stop;
