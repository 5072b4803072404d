//! Checks of an artifact made before anything is downloaded: a plain file name, an MD5 of 32
//! hex digits, and an HTTPS URL (or plain HTTP to a loopback host).

use std::path::Path;

use super::{url_err, Artifact};
use crate::data::DataError;

/// The file name must be one plain path component, so the file stays inside the target folder.
pub(super) fn check_file_name(a: &Artifact) -> Result<(), DataError> {
    let name = a.file_name.as_str();
    let plain = !name.is_empty()
        && name != "."
        && name != ".."
        && !name.contains(['/', '\\', '\0'])
        && Path::new(name).components().count() == 1;
    if plain {
        Ok(())
    } else {
        Err(url_err(
            &a.url,
            format!("file name {name:?} is not a plain file name; expected e.g. \"data.tar.gz\""),
        ))
    }
}

pub(super) fn expected_md5(a: &Artifact) -> Result<String, DataError> {
    let md5 = a.md5.trim().to_ascii_lowercase();
    if md5.len() == 32 && md5.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(md5)
    } else {
        Err(url_err(
            &a.url,
            format!("expected MD5 {:?} is not 32 hex digits", a.md5),
        ))
    }
}

/// Accepts `https://` URLs (returns true) and `http://` URLs to a loopback host (returns false).
pub(super) fn check_url(url: &str) -> Result<bool, DataError> {
    let lower = url.trim().to_ascii_lowercase();
    if let Some(rest) = lower.strip_prefix("https://") {
        if url_host(rest).is_empty() {
            return Err(url_err(url, "URL has no host".to_string()));
        }
        return Ok(true);
    }
    if let Some(rest) = lower.strip_prefix("http://") {
        if matches!(url_host(rest), "127.0.0.1" | "localhost" | "[::1]") {
            return Ok(false);
        }
        return Err(url_err(
            url,
            "HTTPS is required: plain http:// is refused except to a loopback host \
             (127.0.0.1, localhost, [::1]); use an https:// URL"
                .to_string(),
        ));
    }
    Err(url_err(
        url,
        "unsupported URL scheme: HTTPS is required (expected an https:// URL)".to_string(),
    ))
}

/// The host of the part of a URL after `scheme://`: IPv6 literals keep their brackets.
fn url_host(rest: &str) -> &str {
    let authority = rest.split(['/', '\\', '?', '#']).next().unwrap_or("");
    let host_port = authority.rsplit('@').next().unwrap_or("");
    if host_port.starts_with('[') {
        match host_port.find(']') {
            Some(end) => &host_port[..=end],
            None => host_port,
        }
    } else {
        host_port.split(':').next().unwrap_or("")
    }
}
