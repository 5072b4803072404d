//! Downloading one artifact: streamed into a `.part` file while its MD5 is computed, renamed
//! into place only when the MD5 matches; and the MD5 of a file already there.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use md5::{Digest, Md5};

use super::{io_err, url_err, Artifact, CHUNK};
use crate::data::DataError;

/// MD5 and size of the file at `path`, or `None` if there is none.
pub(super) fn existing_md5(path: &Path) -> Result<Option<(String, u64)>, DataError> {
    let meta = match fs::metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_err(path, e)),
    };
    if !meta.is_file() {
        return Err(DataError::Invalid {
            path: path.to_path_buf(),
            message: "exists but is not a regular file; expected the downloaded file or nothing"
                .to_string(),
        });
    }
    let mut file = File::open(path).map_err(|e| io_err(path, e))?;
    let mut hasher = Md5::new();
    let mut buf = vec![0u8; CHUNK];
    let mut len = 0u64;
    loop {
        let n = match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(io_err(path, e)),
        };
        hasher.update(&buf[..n]);
        len += n as u64;
    }
    Ok(Some((hex::encode(hasher.finalize()), len)))
}

fn part_path(dest: &Path) -> PathBuf {
    let mut name = dest.file_name().unwrap_or_default().to_os_string();
    name.push(".part");
    dest.with_file_name(name)
}

/// Streams `a.url` into `<dest>.part`, checks the MD5, and renames the file to `dest`.
pub(super) fn download(
    a: &Artifact,
    expected: &str,
    https: bool,
    dest: &Path,
    progress: &dyn Fn(&str, u64, Option<u64>),
) -> Result<(), DataError> {
    let part = part_path(dest);
    let result = stream_to_file(a, https, &part, progress).and_then(|actual| {
        if actual == expected {
            fs::rename(&part, dest).map_err(|e| io_err(dest, e))
        } else {
            Err(url_err(
                &a.url,
                format!(
                    "MD5 mismatch for {}: expected {expected}, got {actual}; \
                     the download was deleted",
                    a.file_name
                ),
            ))
        }
    });
    if result.is_err() {
        // Best effort: the .part file may not exist, and the first error is the one to report.
        let _ = fs::remove_file(&part);
    }
    result
}

/// Downloads into `part` and returns the MD5 (lowercase hex) of the bytes received.
fn stream_to_file(
    a: &Artifact,
    https: bool,
    part: &Path,
    progress: &dyn Fn(&str, u64, Option<u64>),
) -> Result<String, DataError> {
    let response = get(&a.url, https)?;
    let total = response
        .header("Content-Length")
        .and_then(|v| v.trim().parse::<u64>().ok());
    let mut reader = response.into_reader();
    let mut file = File::create(part).map_err(|e| io_err(part, e))?;
    let mut hasher = Md5::new();
    let mut buf = vec![0u8; CHUNK];
    let mut done = 0u64;
    progress(&a.file_name, 0, total);
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                let why = format!("download interrupted after {done} bytes: {e}");
                return Err(url_err(&a.url, why));
            }
        };
        hasher.update(&buf[..n]);
        file.write_all(&buf[..n]).map_err(|e| io_err(part, e))?;
        done += n as u64;
        progress(&a.file_name, done, total);
    }
    if let Some(total) = total.filter(|&t| t != done) {
        let why = format!("download truncated: received {done} bytes, expected {total}");
        return Err(url_err(&a.url, why));
    }
    file.sync_all().map_err(|e| io_err(part, e))?;
    Ok(hex::encode(hasher.finalize()))
}

/// Sends the GET request for `url` and returns the response, which must be 200 OK.
fn get(url: &str, https: bool) -> Result<ureq::Response, DataError> {
    let builder = ureq::AgentBuilder::new()
        .timeout_connect(Duration::from_secs(30))
        .timeout_read(Duration::from_secs(60));
    // HTTPS downloads may follow redirects (GitHub serves files that way), but only to HTTPS;
    // the loopback exception for plain HTTP does not extend to wherever a redirect points.
    let agent = if https {
        builder.https_only(true).redirects(5).build()
    } else {
        builder.redirects(0).build()
    };
    // `identity`: the bytes must arrive exactly as published, or the MD5 cannot match.
    let response = match agent.get(url).set("Accept-Encoding", "identity").call() {
        Ok(r) => r,
        Err(ureq::Error::Status(code, r)) => {
            return Err(url_err(
                url,
                format!(
                    "download failed: HTTP {code} {} (expected 200 OK)",
                    r.status_text()
                ),
            ))
        }
        Err(ureq::Error::Transport(t)) => {
            return Err(url_err(url, format!("download failed: {t}")))
        }
    };
    if response.status() != 200 {
        return Err(url_err(
            url,
            format!(
                "download failed: HTTP {} {} (expected 200 OK)",
                response.status(),
                response.status_text()
            ),
        ));
    }
    Ok(response)
}
