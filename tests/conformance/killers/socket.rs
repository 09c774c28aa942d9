//! Socket mutants: none yet; the socket properties run on the kernel only.

use super::Killer;

/// The socket killers.
pub fn killers() -> Vec<Killer> {
    Vec::new()
}
