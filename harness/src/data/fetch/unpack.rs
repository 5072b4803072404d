//! Unpacking a downloaded tar.gz: regular files and directories only, never outside the
//! target folder.

use std::fs::File;
use std::io::{self, BufReader};
use std::path::{Component, Path};

use super::io_err;
use crate::data::DataError;

/// Why an archive entry's path is refused, if it is.
fn entry_path_problem(path: &Path) -> Option<&'static str> {
    for c in path.components() {
        match c {
            Component::RootDir | Component::Prefix(_) => {
                return Some("absolute paths are refused; expected a path relative to the archive")
            }
            Component::ParentDir => {
                return Some("`..` components are refused; expected a path inside the archive")
            }
            Component::CurDir | Component::Normal(_) => {}
        }
    }
    None
}

/// Unpacks the tar.gz at `archive` into `to`: regular files and directories only.
pub(super) fn extract_tar_gz(archive: &Path, to: &Path) -> Result<(), DataError> {
    let corrupt = |e: io::Error| DataError::Invalid {
        path: archive.to_path_buf(),
        message: format!("cannot read as tar.gz: {e}"),
    };
    let file = File::open(archive).map_err(|e| io_err(archive, e))?;
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(BufReader::new(file)));
    tar.set_preserve_permissions(false);
    tar.set_unpack_xattrs(false);
    tar.set_overwrite(true);
    for entry in tar.entries().map_err(corrupt)? {
        let mut entry = entry.map_err(corrupt)?;
        let path = entry.path().map_err(corrupt)?.into_owned();
        let refuse = |why: String| DataError::Invalid {
            path: archive.to_path_buf(),
            message: format!("entry {:?}: {why}", path.display().to_string()),
        };
        if let Some(why) = entry_path_problem(&path) {
            return Err(refuse(why.to_string()));
        }
        let kind = entry.header().entry_type();
        match kind {
            tar::EntryType::Regular | tar::EntryType::Continuous | tar::EntryType::Directory => {}
            // Archive-wide PAX metadata, not a file.
            tar::EntryType::XGlobalHeader => continue,
            other => {
                return Err(refuse(format!(
                    "entry type {other:?} is refused; expected only regular files and directories"
                )))
            }
        }
        let target = to.join(&path);
        match entry.unpack_in(to) {
            Ok(true) => {}
            Ok(false) => return Err(refuse("would unpack outside the target folder".to_string())),
            Err(e) => return Err(io_err(&target, e)),
        }
    }
    Ok(())
}
