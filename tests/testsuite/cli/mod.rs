//! The command line as a user meets it: errors, replaying a failure,
//! several properties at once (`--jobs`), and results as they come and when
//! the run is stopped.

mod errors;
mod jobs;
mod replay;
mod stop;
