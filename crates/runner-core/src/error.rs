//! What the command line's exit code tells: errors the user can fix by changing their
//! input (2), a run the user interrupted (130, as a shell reports Ctrl-C) and everything
//! else (1).

use std::process::ExitCode;

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
    error
        .chain()
        .any(<dyn std::error::Error + 'static>::is::<InputError>)
}

/// The user stopped the work (Ctrl-C, SIGTERM) before it ended; what was done is recorded.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Interrupted(pub String);

/// The exit code for `error`: 130 when interrupted, 2 for input errors, 1 otherwise.
pub fn exit_code(error: &anyhow::Error) -> ExitCode {
    if error
        .chain()
        .any(<dyn std::error::Error + 'static>::is::<Interrupted>)
    {
        ExitCode::from(130)
    } else if is_input_error(error) {
        ExitCode::from(2)
    } else {
        ExitCode::from(1)
    }
}

/// Returns early with an [`InputError`] built from a format string.
#[macro_export]
macro_rules! bail_input {
    ($($arg:tt)*) => {
        return Err($crate::error::input_error(format!($($arg)*)))
    };
}
