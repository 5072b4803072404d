//! Downloader for the official data-set files: HTTPS only, MD5 checked while streaming, atomic
//! renames, and a tar.gz unpacker that refuses entries which would land outside the target folder.
//!
//! This file: the catalogue of official files (and mirrors) and [`fetch`]; `check`: the URL, file
//! name and MD5 checks made before any download; `download`: streaming with the MD5; `unpack`:
//! the tar.gz unpacker.

mod check;
mod download;
mod unpack;

use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use check::{check_file_name, check_url, expected_md5};
use download::{download, existing_md5};
use unpack::extract_tar_gz;

use super::DataError;

/// Environment variable the CLI reads to replace the official download base (see [`mirror`]).
pub const MIRROR_ENV: &str = "DDBENCH_DATA_MIRROR";

/// Where the CIFAR archives are published (Alex Krizhevsky's page at the University of Toronto).
const CIFAR_BASE: &str = "https://www.cs.toronto.edu/~kriz/";

/// The official Fashion-MNIST base. It serves plain HTTP only, so it is not used directly.
pub const FASHION_MNIST_OFFICIAL_BASE: &str =
    "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/";

/// The HTTPS copy of the same four files in the official Zalando Research repository.
const FASHION_MNIST_HTTPS_BASE: &str =
    "https://github.com/zalandoresearch/fashion-mnist/raw/master/data/fashion/";

/// Read and write in chunks of this size while streaming.
const CHUNK: usize = 256 * 1024;

/// A data set that `ddbench data fetch` can download.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dataset {
    Cifar10,
    Cifar100,
    FashionMnist,
}

impl Dataset {
    /// Every data set, in the order the CLI lists them.
    pub const ALL: [Dataset; 3] = [Dataset::Cifar10, Dataset::Cifar100, Dataset::FashionMnist];

    /// The name used on the command line: "cifar10", "cifar100" or "fashion-mnist".
    pub fn name(self) -> &'static str {
        match self {
            Dataset::Cifar10 => "cifar10",
            Dataset::Cifar100 => "cifar100",
            Dataset::FashionMnist => "fashion-mnist",
        }
    }
}

impl fmt::Display for Dataset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Dataset {
    type Err = DataError;

    /// Parses "cifar10", "cifar100" or "fashion-mnist" (ASCII case is ignored).
    fn from_str(s: &str) -> Result<Self, DataError> {
        Dataset::ALL
            .into_iter()
            .find(|d| d.name().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| {
                DataError::Other(format!(
                    "unknown data set {s:?}: expected one of cifar10, cifar100, fashion-mnist"
                ))
            })
    }
}

/// One file to download, with the MD5 its publisher lists for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Artifact {
    /// Where to download it from: `https://`, or `http://` to a loopback host only.
    pub url: String,
    /// Plain file name (no folders) it is stored under in the target folder.
    pub file_name: String,
    /// Expected MD5 of the downloaded bytes, 32 hex digits.
    pub md5: String,
    /// Whether the file is a tar.gz archive to unpack into the target folder.
    pub extract: bool,
}

fn artifact(base: &str, file_name: &str, md5: &str, extract: bool) -> Artifact {
    Artifact {
        url: format!("{base}{file_name}"),
        file_name: file_name.to_string(),
        md5: md5.to_string(),
        extract,
    }
}

/// The official files of a data set, over HTTPS, with their published MD5s.
///
/// - CIFAR-10: `cifar-10-binary.tar.gz`, unpacked into `cifar-10-batches-bin/`.
/// - CIFAR-100: `cifar-100-binary.tar.gz`, unpacked into `cifar-100-binary/`.
/// - Fashion-MNIST: the four IDX `.gz` files, kept compressed (the IDX reader reads `.gz`).
///   Their official home, [`FASHION_MNIST_OFFICIAL_BASE`], does not serve HTTPS, so they are
///   taken from the HTTPS copy in the zalandoresearch/fashion-mnist repository; the MD5s are
///   the same ones torchvision checks for the official files.
pub fn official_artifacts(ds: Dataset) -> Vec<Artifact> {
    match ds {
        Dataset::Cifar10 => vec![artifact(
            CIFAR_BASE,
            "cifar-10-binary.tar.gz",
            "c32a1d4ab5d03f1284b67883e8d87530",
            true,
        )],
        Dataset::Cifar100 => vec![artifact(
            CIFAR_BASE,
            "cifar-100-binary.tar.gz",
            "03b5dce01913d631647c71ecec9e9cb8",
            true,
        )],
        Dataset::FashionMnist => [
            (
                "train-images-idx3-ubyte.gz",
                "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
            ),
            (
                "train-labels-idx1-ubyte.gz",
                "25c81989df183df01b3e8a0aad5dffbe",
            ),
            (
                "t10k-images-idx3-ubyte.gz",
                "bef4ecab320f06d8554ea6380940ec79",
            ),
            (
                "t10k-labels-idx1-ubyte.gz",
                "bb300cfdad3c16e7a12a480ee83cd310",
            ),
        ]
        .into_iter()
        .map(|(name, md5)| artifact(FASHION_MNIST_HTTPS_BASE, name, md5, false))
        .collect(),
    }
}

/// Points every artifact at `base` instead of its official location: the URL becomes
/// `base` + `/` + `file_name` (one slash between them whether or not `base` ends with one).
///
/// The CLI calls this when the environment variable `DDBENCH_DATA_MIRROR` ([`MIRROR_ENV`]) is
/// set, e.g. `DDBENCH_DATA_MIRROR=https://mirror.example.org/datasets/` fetches
/// `https://mirror.example.org/datasets/cifar-10-binary.tar.gz`. The expected MD5s are kept, so
/// a mirror must serve byte-identical copies of the official files, flat under one base. A
/// mirror must use HTTPS, except on a loopback host (127.0.0.1, localhost, \[::1\]).
pub fn mirror(artifacts: Vec<Artifact>, base: &str) -> Vec<Artifact> {
    let base = base.trim().trim_end_matches('/');
    artifacts
        .into_iter()
        .map(|a| Artifact {
            url: format!("{base}/{}", a.file_name),
            ..a
        })
        .collect()
}

/// Downloads `artifacts` into the folder `to` (created if missing) and returns the paths of
/// the downloaded files, in order.
///
/// For each artifact: a file already at `to/<file_name>` with the expected MD5 is kept and not
/// downloaded again. Otherwise the file is streamed into `to/<file_name>.part` while its MD5 is
/// computed; on a mismatch (or any failure) the `.part` file is deleted and an error names the
/// URL and the expected and actual MD5; on a match it is renamed to `to/<file_name>`. If
/// `extract` is set, the tar.gz is then unpacked into `to`; entries with absolute paths or `..`
/// components, links and special files are refused.
///
/// `progress(file_name, bytes_done, total)` is called as bytes arrive (`total` from the
/// server's Content-Length, when given) and once, with the file size, for a file kept as is.
///
/// All URLs, file names and MD5s are checked before anything is downloaded: URLs must be
/// `https://`, except `http://` to a loopback host (127.0.0.1, localhost, \[::1\]).
pub fn fetch(
    artifacts: &[Artifact],
    to: &Path,
    progress: &dyn Fn(&str, u64, Option<u64>),
) -> Result<Vec<PathBuf>, DataError> {
    let mut checked = Vec::with_capacity(artifacts.len());
    for a in artifacts {
        check_file_name(a)?;
        let md5 = expected_md5(a)?;
        let https = check_url(&a.url)?;
        checked.push((a, md5, https));
    }
    fs::create_dir_all(to).map_err(|e| io_err(to, e))?;

    let mut out = Vec::with_capacity(artifacts.len());
    for (a, expected, https) in checked {
        let dest = to.join(&a.file_name);
        match existing_md5(&dest)? {
            Some((md5, len)) if md5 == expected => progress(&a.file_name, len, Some(len)),
            _ => download(a, &expected, https, &dest, progress)?,
        }
        if a.extract {
            extract_tar_gz(&dest, to)?;
        }
        out.push(dest);
    }
    Ok(out)
}

fn io_err(path: &Path, source: io::Error) -> DataError {
    DataError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn url_err(url: &str, message: String) -> DataError {
    DataError::Invalid {
        path: PathBuf::from(url),
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use md5::{Digest, Md5};
    use std::cell::RefCell;
    use std::collections::HashMap;
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::thread;
    use std::time::Duration;
    use std::time::Instant;

    /// A minimal HTTP/1.1 server on 127.0.0.1 serving files from memory. It stops after
    /// `max_conns` connections, 10 seconds, or when dropped, whichever comes first.
    struct Server {
        base: String,
        hits: Arc<AtomicUsize>,
        stop: Arc<AtomicBool>,
        handle: Option<thread::JoinHandle<()>>,
    }

    impl Server {
        fn start(files: &[(&str, &[u8])], max_conns: usize) -> Server {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            listener.set_nonblocking(true).unwrap();
            let base = format!("http://{}/", listener.local_addr().unwrap());
            let files: HashMap<String, Vec<u8>> = files
                .iter()
                .map(|(p, b)| (format!("/{p}"), b.to_vec()))
                .collect();
            let hits = Arc::new(AtomicUsize::new(0));
            let stop = Arc::new(AtomicBool::new(false));
            let (hits2, stop2) = (hits.clone(), stop.clone());
            let handle = thread::spawn(move || {
                let deadline = Instant::now() + Duration::from_secs(10);
                let mut served = 0;
                while served < max_conns && !stop2.load(Ordering::SeqCst) {
                    if Instant::now() > deadline {
                        break;
                    }
                    match listener.accept() {
                        Ok((stream, _)) => {
                            served += 1;
                            let _ = answer(stream, &files, &hits2);
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                            thread::sleep(Duration::from_millis(2))
                        }
                        Err(_) => break,
                    }
                }
            });
            Server {
                base,
                hits,
                stop,
                handle: Some(handle),
            }
        }

        fn hits(&self) -> usize {
            self.hits.load(Ordering::SeqCst)
        }
    }

    impl Drop for Server {
        fn drop(&mut self) {
            self.stop.store(true, Ordering::SeqCst);
            if let Some(h) = self.handle.take() {
                let _ = h.join();
            }
        }
    }

    fn answer(
        mut stream: TcpStream,
        files: &HashMap<String, Vec<u8>>,
        hits: &AtomicUsize,
    ) -> io::Result<()> {
        stream.set_nonblocking(false)?;
        stream.set_read_timeout(Some(Duration::from_secs(2)))?;
        let mut request = Vec::new();
        let mut buf = [0u8; 1024];
        while !request.windows(4).any(|w| w == b"\r\n\r\n") && request.len() < 16 * 1024 {
            let n = stream.read(&mut buf)?;
            if n == 0 {
                return Ok(());
            }
            request.extend_from_slice(&buf[..n]);
        }
        hits.fetch_add(1, Ordering::SeqCst);
        let text = String::from_utf8_lossy(&request);
        let path = text.split_whitespace().nth(1).unwrap_or("");
        let (status, body): (&str, &[u8]) = match files.get(path) {
            Some(b) => ("200 OK", b),
            None => ("404 Not Found", b"not found"),
        };
        write!(
            stream,
            "HTTP/1.1 {status}\r\nContent-Length: {}\r\nContent-Type: application/octet-stream\r\n\
             Connection: close\r\n\r\n",
            body.len()
        )?;
        stream.write_all(body)?;
        stream.flush()
    }

    fn md5_hex(bytes: &[u8]) -> String {
        hex::encode(Md5::digest(bytes))
    }

    fn no_progress(_: &str, _: u64, _: Option<u64>) {}

    /// Two 3073-byte CIFAR-10 records (label byte + 3072 pixels), different for each `seed`.
    fn cifar_records(seed: u8) -> Vec<u8> {
        let mut out = Vec::new();
        for r in 0..2u8 {
            out.push((seed + r) % 10);
            out.extend((0..3072u32).map(|i| (i as u8).wrapping_mul(seed + 1).wrapping_add(r)));
        }
        out
    }

    /// The files of the CIFAR-10 binary archive, as (path inside the archive, contents).
    fn cifar10_files() -> Vec<(String, Vec<u8>)> {
        let dir = "cifar-10-batches-bin";
        let mut files: Vec<(String, Vec<u8>)> = (1..=5u8)
            .map(|i| (format!("{dir}/data_batch_{i}.bin"), cifar_records(i)))
            .collect();
        files.push((format!("{dir}/test_batch.bin"), cifar_records(6)));
        let meta = "airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n\n";
        files.push((format!("{dir}/batches.meta.txt"), meta.as_bytes().to_vec()));
        files.push((format!("{dir}/readme.html"), b"<html></html>\n".to_vec()));
        files
    }

    fn tar_gz(dirs: &[&str], files: &[(String, Vec<u8>)]) -> Vec<u8> {
        let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        let mut builder = tar::Builder::new(gz);
        for d in dirs {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(tar::EntryType::Directory);
            h.set_mode(0o755);
            h.set_size(0);
            builder.append_data(&mut h, d, io::empty()).unwrap();
        }
        for (path, data) in files {
            let mut h = tar::Header::new_gnu();
            h.set_mode(0o644);
            h.set_size(data.len() as u64);
            builder.append_data(&mut h, path, &data[..]).unwrap();
        }
        builder.into_inner().unwrap().finish().unwrap()
    }

    /// A tar.gz with one regular file whose header name is written raw, bypassing the checks
    /// `tar::Header::set_path` makes, as a malicious archive would.
    fn tar_gz_raw_name(name: &[u8], data: &[u8]) -> Vec<u8> {
        let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        let mut builder = tar::Builder::new(gz);
        let mut h = tar::Header::new_gnu();
        h.as_old_mut().name[..name.len()].copy_from_slice(name);
        h.set_entry_type(tar::EntryType::Regular);
        h.set_mode(0o644);
        h.set_size(data.len() as u64);
        h.set_cksum();
        builder.append(&h, data).unwrap();
        builder.into_inner().unwrap().finish().unwrap()
    }

    fn dir_entries(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn dataset_names_round_trip() {
        for ds in Dataset::ALL {
            assert_eq!(ds.to_string().parse::<Dataset>().unwrap(), ds);
        }
        assert_eq!(
            "fashion-mnist".parse::<Dataset>().unwrap(),
            Dataset::FashionMnist
        );
        let err = "mnist".parse::<Dataset>().unwrap_err().to_string();
        assert!(
            err.contains("\"mnist\"") && err.contains("cifar100"),
            "{err}"
        );
    }

    #[test]
    fn official_artifacts_are_https_with_md5s() {
        let c10 = official_artifacts(Dataset::Cifar10);
        assert_eq!(c10.len(), 1);
        assert_eq!(
            c10[0].url,
            "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"
        );
        assert!(c10[0].extract);
        let c100 = official_artifacts(Dataset::Cifar100);
        assert_eq!(c100[0].file_name, "cifar-100-binary.tar.gz");
        assert_eq!(c100[0].md5, "03b5dce01913d631647c71ecec9e9cb8");
        let fm = official_artifacts(Dataset::FashionMnist);
        assert_eq!(fm.len(), 4);
        assert!(fm
            .iter()
            .all(|a| !a.extract && a.url.ends_with(&a.file_name)));
        for a in c10.iter().chain(&c100).chain(&fm) {
            assert!(check_url(&a.url).unwrap(), "{} is not https", a.url);
            assert_eq!(expected_md5(a).unwrap(), a.md5);
            check_file_name(a).unwrap();
        }
    }

    #[test]
    fn mirror_replaces_the_base_and_keeps_file_names() {
        for base in ["https://m.example.org/data", "https://m.example.org/data/"] {
            let m = mirror(official_artifacts(Dataset::FashionMnist), base);
            assert_eq!(
                m[0].url,
                "https://m.example.org/data/train-images-idx3-ubyte.gz"
            );
            assert_eq!(m[3].md5, "bb300cfdad3c16e7a12a480ee83cd310");
        }
    }

    #[test]
    fn fetches_and_extracts_the_cifar10_layout_through_a_mirror() {
        let files = cifar10_files();
        let archive = tar_gz(&["cifar-10-batches-bin/"], &files);
        let server = Server::start(&[("cifar-10-binary.tar.gz", &archive)], 4);
        let dir = tempfile::tempdir().unwrap();
        let mut artifacts = mirror(official_artifacts(Dataset::Cifar10), &server.base);
        artifacts[0].md5 = md5_hex(&archive);

        let seen = RefCell::new(Vec::new());
        let record = |name: &str, done: u64, total: Option<u64>| {
            seen.borrow_mut().push((name.to_string(), done, total))
        };
        let paths = fetch(&artifacts, dir.path(), &record).unwrap();

        assert_eq!(paths, vec![dir.path().join("cifar-10-binary.tar.gz")]);
        assert_eq!(fs::read(&paths[0]).unwrap(), archive);
        for (path, data) in &files {
            assert_eq!(&fs::read(dir.path().join(path)).unwrap(), data, "{path}");
        }
        let n = archive.len() as u64;
        let last = seen.borrow().last().cloned().unwrap();
        assert_eq!(last, ("cifar-10-binary.tar.gz".to_string(), n, Some(n)));
        assert_eq!(
            dir_entries(dir.path()),
            ["cifar-10-batches-bin", "cifar-10-binary.tar.gz"]
        );
        assert_eq!(server.hits(), 1);
    }

    #[test]
    fn wrong_md5_is_refused_and_leaves_no_file() {
        let body = b"not the published bytes".as_slice();
        let server = Server::start(&[("t10k-labels-idx1-ubyte.gz", body)], 2);
        let dir = tempfile::tempdir().unwrap();
        let artifacts = mirror(official_artifacts(Dataset::FashionMnist), &server.base);
        let err = fetch(&artifacts[3..], dir.path(), &no_progress)
            .unwrap_err()
            .to_string();
        assert!(err.contains("bb300cfdad3c16e7a12a480ee83cd310"), "{err}");
        assert!(err.contains(&md5_hex(body)), "{err}");
        assert!(err.contains(&artifacts[3].url), "{err}");
        assert!(dir_entries(dir.path()).is_empty());
    }

    #[test]
    fn a_present_good_file_is_not_downloaded_again() {
        let body = b"label bytes".as_slice();
        let server = Server::start(&[("labels.gz", body)], 4);
        let dir = tempfile::tempdir().unwrap();
        let artifacts = vec![Artifact {
            url: format!("{}labels.gz", server.base),
            file_name: "labels.gz".to_string(),
            md5: md5_hex(body),
            extract: false,
        }];
        fetch(&artifacts, dir.path(), &no_progress).unwrap();
        assert_eq!(server.hits(), 1);
        fetch(&artifacts, dir.path(), &no_progress).unwrap();
        assert_eq!(server.hits(), 1, "a verified file was downloaded again");

        // A damaged file is replaced.
        fs::write(dir.path().join("labels.gz"), b"damaged").unwrap();
        fetch(&artifacts, dir.path(), &no_progress).unwrap();
        assert_eq!(server.hits(), 2);
        assert_eq!(fs::read(dir.path().join("labels.gz")).unwrap(), body);
    }

    #[test]
    fn plain_http_to_a_remote_host_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let artifacts = mirror(
            official_artifacts(Dataset::Cifar10),
            "http://example.com/data",
        );
        let err = fetch(&artifacts, dir.path(), &no_progress)
            .unwrap_err()
            .to_string();
        assert!(err.contains("HTTPS"), "{err}");
        assert!(
            err.contains("http://example.com/data/cifar-10-binary.tar.gz"),
            "{err}"
        );
        assert!(dir_entries(dir.path()).is_empty());

        for ok in [
            "http://127.0.0.1:8/a",
            "http://localhost/a",
            "http://[::1]:80/a",
        ] {
            assert!(!check_url(ok).unwrap(), "{ok}");
        }
        for bad in [
            "http://127.0.0.1.example.com/a",
            "http://localhost@example.com/a",
            "http://example.com\\@127.0.0.1/a",
            "ftp://example.com/a",
            "https:///a",
        ] {
            assert!(check_url(bad).is_err(), "{bad}");
        }
        assert!(check_url(FASHION_MNIST_OFFICIAL_BASE).is_err());
    }

    #[test]
    fn http_404_is_reported_with_the_url() {
        let server = Server::start(&[], 2);
        let dir = tempfile::tempdir().unwrap();
        let artifacts = mirror(official_artifacts(Dataset::Cifar100), &server.base);
        let err = fetch(&artifacts, dir.path(), &no_progress)
            .unwrap_err()
            .to_string();
        assert!(err.contains(&artifacts[0].url), "{err}");
        assert!(err.contains("404"), "{err}");
        assert!(dir_entries(dir.path()).is_empty());
    }

    #[test]
    fn tar_entry_with_parent_dir_is_refused() {
        let archive = tar_gz_raw_name(b"../evil.txt", b"outside");
        let server = Server::start(&[("cifar-10-binary.tar.gz", &archive)], 2);
        let root = tempfile::tempdir().unwrap();
        let to = root.path().join("data");
        let mut artifacts = mirror(official_artifacts(Dataset::Cifar10), &server.base);
        artifacts[0].md5 = md5_hex(&archive);
        let err = fetch(&artifacts, &to, &no_progress)
            .unwrap_err()
            .to_string();
        assert!(err.contains("../evil.txt") && err.contains("`..`"), "{err}");
        assert!(!root.path().join("evil.txt").exists());
    }

    #[test]
    fn tar_entries_with_absolute_paths_or_links_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let archive = dir.path().join("a.tar.gz");
        let to = dir.path().join("out");
        fs::create_dir(&to).unwrap();

        fs::write(&archive, tar_gz_raw_name(b"/tmp/ddbench-abs.txt", b"x")).unwrap();
        let err = extract_tar_gz(&archive, &to).unwrap_err().to_string();
        assert!(err.contains("absolute"), "{err}");

        let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        let mut builder = tar::Builder::new(gz);
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_size(0);
        builder.append_link(&mut h, "link", "/etc").unwrap();
        fs::write(&archive, builder.into_inner().unwrap().finish().unwrap()).unwrap();
        let err = extract_tar_gz(&archive, &to).unwrap_err().to_string();
        assert!(err.contains("Symlink"), "{err}");
        assert!(dir_entries(&to).is_empty());
    }

    #[test]
    fn bad_file_names_and_md5s_are_refused_before_downloading() {
        let dir = tempfile::tempdir().unwrap();
        let good = official_artifacts(Dataset::Cifar10).remove(0);
        for a in [
            Artifact {
                file_name: "../x.tar.gz".into(),
                ..good.clone()
            },
            Artifact {
                md5: "c32a1d4a".into(),
                ..good.clone()
            },
        ] {
            let err = fetch(&[a], dir.path(), &no_progress)
                .unwrap_err()
                .to_string();
            assert!(err.contains(&good.url), "{err}");
        }
        assert!(dir_entries(dir.path()).is_empty());
    }
}
