//! Properties of the `socket` profile.

use super::{Property, Suite};

/// Every `socket` property, in catalog order.
pub static PROPERTIES: &[Property<()>] = &[];

/// The kernel's and the reference's suites.
pub fn reference_suites() -> Vec<Suite> {
    Vec::new()
}
