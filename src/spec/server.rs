//! Properties of the `server` profile.

use super::{Property, References, Suite};
use crate::target::{CommandSpec, TargetError};

/// Every `server` property, in catalog order.
pub static PROPERTIES: &[Property<()>] = &[];

/// The reference implementations' suites.
pub fn reference_suites(_refs: &References) -> Vec<Suite> {
    Vec::new()
}

/// The suite for a target command.
pub fn target_suite(
    command: CommandSpec,
    _variant: Option<&str>,
    _refs: &References,
) -> Result<Suite, TargetError> {
    Err(TargetError::Command(format!(
        "{}: not implemented yet",
        command.display()
    )))
}
