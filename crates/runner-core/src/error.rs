//! The one distinction the command line cares about: errors the user can fix by changing
//! their input (exit code 2) and everything else (exit code 1).

/// A problem with the user's input: a file, key, path, image or value. The message names
/// where the problem is.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct InputError(pub String);

/// Wraps a message as an [`InputError`].
pub fn input_error(message: impl Into<String>) -> anyhow::Error {
    InputError(message.into()).into()
}

/// Whether any error in the chain is an [`InputError`].
pub fn is_input_error(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| cause.is::<InputError>())
}

/// Returns early with an [`InputError`] built from a format string.
#[macro_export]
macro_rules! bail_input {
    ($($arg:tt)*) => {
        return Err($crate::error::input_error(format!($($arg)*)))
    };
}
