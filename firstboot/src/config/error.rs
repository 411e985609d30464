//! Configuration errors that name the file, document, field and value.

use std::fmt;

/// One problem found in a configuration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Which document, e.g. `document 2 (ClusterConfiguration)`; empty for file-level problems.
    pub document: String,
    /// Dotted field path, e.g. `networking.podSubnet`; empty when the whole document is at fault.
    pub field: String,
    /// The offending value as shown to the user (secrets are redacted); `None` if not applicable.
    pub value: Option<String>,
    /// What is wrong and what is expected.
    pub reason: String,
}

impl Problem {
    /// A problem with a field's value.
    pub fn field(
        document: impl Into<String>,
        field: impl Into<String>,
        value: impl Into<String>,
        reason: impl Into<String>,
    ) -> Self {
        Problem {
            document: document.into(),
            field: field.into(),
            value: Some(value.into()),
            reason: reason.into(),
        }
    }

    /// A problem with a whole document or the file.
    pub fn document(document: impl Into<String>, reason: impl Into<String>) -> Self {
        Problem {
            document: document.into(),
            field: String::new(),
            value: None,
            reason: reason.into(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.document.is_empty() {
            write!(f, "{}: ", self.document)?;
        }
        if !self.field.is_empty() {
            write!(f, "field {}: ", self.field)?;
        }
        if let Some(v) = &self.value {
            write!(f, "invalid value {v:?}: ")?;
        }
        f.write_str(&self.reason)
    }
}

/// Redacted display form of a secret value (tokens, certificate keys): never the secret itself.
pub fn redacted(secret: &str) -> String {
    format!("<redacted, {} characters>", secret.chars().count())
}

/// Why a configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read configuration file {path}: {source}")]
    Read {
        /// File path.
        path: String,
        /// Underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The file was read but is not a valid configuration.
    #[error("{}", render(file, problems))]
    Invalid {
        /// File path (or `<defaults>` when no file was given).
        file: String,
        /// Every problem found.
        problems: Vec<Problem>,
    },
}

fn render(file: &str, problems: &[Problem]) -> String {
    match problems {
        [one] => format!("invalid configuration {file}: {one}"),
        many => {
            let mut s = format!("invalid configuration {file} ({} problems):", many.len());
            for p in many {
                s.push_str("\n  - ");
                s.push_str(&p.to_string());
            }
            s
        }
    }
}

impl ConfigError {
    /// The problems of an [`ConfigError::Invalid`]; empty for read errors.
    pub fn problems(&self) -> &[Problem] {
        match self {
            ConfigError::Invalid { problems, .. } => problems,
            ConfigError::Read { .. } => &[],
        }
    }
}
