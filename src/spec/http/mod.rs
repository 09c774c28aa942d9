//! Properties of the `http` profile: a static-file web server, started as a
//! command with `{port}` or `{socket}` and `{dir}` (a document root the
//! check generates, [`crate::workload::http::Site`]), is checked black-box
//! to serve it as the lecture's appendix draws it (Appendix: A web server)
//! and RFC 9112 requires.

pub mod exchange;
