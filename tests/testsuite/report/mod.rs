//! Reports: every format, and the replay line.

mod formats;
mod quoting;
mod replay;
