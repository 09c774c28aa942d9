//! What a client and the server under test say to each other: the server
//! model's rules hold whatever the server serves, so a [`Server`](super::Server)
//! says which protocol its clients speak.

use std::sync::Arc;

use crate::workload::http::Site;

/// What the clients of a server say, and what answers them.
#[derive(Clone, Debug)]
pub enum Protocol {
    /// The echo profile: every byte a client sends comes back to it.
    Echo,
    /// The http profile: one request per connection for a file of the
    /// document root the server was started on (`{dir}`).
    Http(Arc<Site>),
}
