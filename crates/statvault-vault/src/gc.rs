//! Removing leftovers of interrupted writes.

use crate::repo::{ObjectName, CONFIG};
use crate::{Backend, Result, Vault, VaultError};

/// Removes temporary files of interrupted writes. Always safe under the write lock:
/// a temporary name is never part of a commit.
pub(crate) fn remove_temporaries(vault: &Vault) -> Result<Vec<String>> {
    remove(
        vault.backend().as_ref(),
        vault
            .backend()
            .list("tmp/")
            .map_err(list_err)?
            .into_iter()
            .map(|o| o.name)
            .collect(),
    )
}

/// `vault gc`: removes temporary files and every pack, index or snapshot that no log
/// entry commits (what a crashed or failed `add` left). It refuses a damaged log, and
/// with `kept_head` a log that lacks the head a custodian kept, so that a truncated log
/// cannot make it delete committed data. With `dry_run` it only lists.
pub fn gc(
    vault: &Vault,
    kept_head: Option<statvault_crypto::Hash>,
    dry_run: bool,
) -> Result<Vec<String>> {
    let backend = vault.backend();
    let _lock = backend.lock().map_err(|e| VaultError::Backend {
        name: "lock".into(),
        cause: e,
    })?;
    let state = vault.head()?;
    if let Some(kept) = kept_head {
        if !state.entries.iter().any(|(_, h)| *h == kept) {
            return Err(VaultError::corrupt("log", format!("the kept head {kept} is not in the log (truncated or rewritten); gc removes nothing")));
        }
    }
    let leftovers: Vec<String> = backend
        .list("")
        .map_err(list_err)?
        .into_iter()
        .map(|o| o.name)
        .filter(|n| {
            n.starts_with("tmp/")
                || (ObjectName::parse(n).is_some() && !state.objects.contains_key(n))
        })
        .filter(|n| n != CONFIG)
        .collect();
    if dry_run {
        return Ok(leftovers);
    }
    let scratch = vault.scratch_dir();
    let stale = crate::staging::remove_stale(&scratch).map_err(|e| VaultError::io(scratch, e))?;
    let mut removed = remove(backend.as_ref(), leftovers)?;
    removed.extend(stale.iter().map(|p| p.display().to_string()));
    Ok(removed)
}

fn remove(backend: &dyn Backend, names: Vec<String>) -> Result<Vec<String>> {
    for name in &names {
        backend.delete(name).map_err(|cause| VaultError::Backend {
            name: name.clone(),
            cause,
        })?;
    }
    Ok(names)
}

fn list_err(cause: std::io::Error) -> VaultError {
    VaultError::Backend {
        name: "repository listing".into(),
        cause,
    }
}
