//! Where a vault is: a local directory or `s3://BUCKET/PREFIX`.

use std::path::PathBuf;
use std::sync::Arc;

use crate::backend::{Backend, LocalBackend};
use crate::s3::{Location, S3Backend};

/// A vault's address as the command line takes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Repository {
    /// A directory on a local file system.
    Local(PathBuf),
    /// `s3://BUCKET/PREFIX`, checked.
    S3(String),
}

impl std::str::FromStr for Repository {
    type Err = String;
    fn from_str(text: &str) -> Result<Repository, String> {
        if text.starts_with("s3://") {
            Location::parse(text)?;
            return Ok(Repository::S3(text.to_string()));
        }
        if let Some((scheme, _)) = text.split_once("://") {
            return Err(format!(
                "{scheme}:// is not a vault address: use a directory or s3://BUCKET/PREFIX"
            ));
        }
        if text.is_empty() {
            return Err("an empty vault address".into());
        }
        Ok(Repository::Local(PathBuf::from(text)))
    }
}

impl std::fmt::Display for Repository {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Repository::Local(path) => write!(f, "{}", path.display()),
            Repository::S3(url) => f.write_str(url),
        }
    }
}

impl Repository {
    /// The backend that reads and writes it (for S3, configured from `AWS_*`).
    pub fn backend(&self) -> std::io::Result<Arc<dyn Backend>> {
        Ok(match self {
            Repository::Local(path) => Arc::new(LocalBackend::new(path)),
            Repository::S3(url) => Arc::new(S3Backend::from_env(url)?),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_parse_or_say_why_not() {
        assert_eq!(
            "s3://census-vault/primary".parse(),
            Ok(Repository::S3("s3://census-vault/primary".into()))
        );
        assert_eq!(
            "/srv/vault".parse(),
            Ok(Repository::Local("/srv/vault".into()))
        );
        assert!("s3://A_B/x".parse::<Repository>().is_err());
        assert!("s3://bucket/../x".parse::<Repository>().is_err());
        assert!("https://host/x".parse::<Repository>().is_err());
        assert_eq!(Location::parse("s3://bucket/a/b/").unwrap().prefix, "a/b/");
        assert_eq!(Location::parse("s3://bucket").unwrap().prefix, "");
    }
}
