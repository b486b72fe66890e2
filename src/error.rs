//! The one error type of the core.
use thiserror::Error;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, Error)]
pub enum Error {
    /// Bad input data or parameters. `column` names the column (or parameter)
    /// at fault, `count` how many rows are affected, `example` one bad value.
    #[error("{message}")]
    Input { message: String, column: Option<String>, count: Option<u64>, example: Option<String> },
    /// A statistical model could not be fitted (no convergence, an
    /// unidentified parameter, too little data); the message says what to try.
    #[error("{0}")]
    Fit(String),
    /// The caller asked to stop (Ctrl-C).
    #[error("interrupted")]
    Interrupted,
    /// A failure inside kpiforge itself (a bug): never the user's fault.
    #[error("internal error in kpiforge: {0}")]
    Internal(String),
}

impl Error {
    /// An input error about a parameter or the whole table (no column).
    pub fn param(message: impl Into<String>) -> Self {
        Error::Input { message: message.into(), column: None, count: None, example: None }
    }

    /// An input error about one column.
    pub fn column(column: &str, message: impl Into<String>) -> Self {
        Error::Input { message: message.into(), column: Some(column.to_string()), count: None, example: None }
    }
}
