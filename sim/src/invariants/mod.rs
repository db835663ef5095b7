//! The properties of docs/design.md, one module each, checked while a seed runs.

pub mod cleanup;
pub mod counts;
pub mod delete_safety;
pub mod no_result_from_dead;
pub mod nothing_lost;
pub mod one_owner;
pub mod progress;

use std::fmt;

/// A property that did not hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// Which property.
    pub invariant: &'static str,
    /// What happened.
    pub message: String,
}

impl Violation {
    /// A violation of `invariant`.
    pub fn new(invariant: &'static str, message: impl Into<String>) -> Violation {
        Violation {
            invariant,
            message: message.into(),
        }
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invariant {} violated: {}", self.invariant, self.message)
    }
}

/// The result of a check.
pub type Check = Result<(), Violation>;
