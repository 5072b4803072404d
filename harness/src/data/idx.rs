//! Strict reader for (Fashion-)MNIST IDX files, plain or gzipped (`*.gz`): checks the magic
//! number, the dimensions against the payload length, and every label.

use std::io::Read;
use std::path::{Path, PathBuf};

use flate2::read::GzDecoder;

use super::{DataError, RawDataset, RawSplit};

/// IDX magic of an unsigned-byte array with 3 dimensions (images: n x rows x cols).
const IMAGES_MAGIC: u32 = 0x0000_0803;
/// IDX magic of an unsigned-byte array with 1 dimension (labels: n).
const LABELS_MAGIC: u32 = 0x0000_0801;

/// Where Debian's `dataset-fashion-mnist` package installs the gzipped IDX files.
pub const DEBIAN_FASHION_MNIST: &str = "/usr/share/datasets/fashion-mnist";

/// The Fashion-MNIST class names in label order.
pub const FASHION_MNIST_CLASSES: [&str; 10] = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
];

fn is_gz(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("gz"))
}

/// Reads a file whole, decompressing it when its name ends in `.gz`.
fn read_maybe_gz(path: &Path) -> Result<Vec<u8>, DataError> {
    let raw = std::fs::read(path).map_err(|source| DataError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    if !is_gz(path) {
        return Ok(raw);
    }
    let mut out = Vec::with_capacity(raw.len() * 4);
    GzDecoder::new(raw.as_slice())
        .read_to_end(&mut out)
        .map_err(|e| DataError::Invalid {
            path: path.to_path_buf(),
            message: format!("cannot decompress gzip data: {e}"),
        })?;
    Ok(out)
}

/// Parses an IDX header with the expected magic and returns (dims, header length); checks that
/// the payload is exactly the product of the dims and non-empty.
fn parse_idx(path: &Path, bytes: &[u8], magic: u32, what: &str) -> Result<Vec<usize>, DataError> {
    let where_ = if is_gz(path) {
        " (of the decompressed data)"
    } else {
        ""
    };
    let format_err = |offset: usize, message: String| DataError::Format {
        path: path.to_path_buf(),
        offset: offset as u64,
        message: format!("{message}{where_}"),
    };
    let ndims = (magic & 0xff) as usize;
    let header = 4 + 4 * ndims;
    if bytes.len() < 4 {
        return Err(format_err(
            0,
            format!(
                "file too short for an IDX header: {} bytes, need at least {header}",
                bytes.len()
            ),
        ));
    }
    let be =
        |at: usize| u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
    let found = be(0);
    if found != magic {
        return Err(format_err(
            0,
            format!(
                "bad IDX magic 0x{found:08x}: expected 0x{magic:08x} (unsigned bytes, {ndims} \
                 dimension{}: {what})",
                if ndims == 1 { "" } else { "s" }
            ),
        ));
    }
    if bytes.len() < header {
        return Err(format_err(
            bytes.len(),
            format!(
                "file too short for an IDX header: {} bytes, need {header}",
                bytes.len()
            ),
        ));
    }
    let dims: Vec<usize> = (0..ndims).map(|d| be(4 + 4 * d) as usize).collect();
    let dims_text = dims
        .iter()
        .map(|d| d.to_string())
        .collect::<Vec<_>>()
        .join("x");
    let expected = dims
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| format_err(4, format!("dims {dims_text} overflow")))?;
    if expected == 0 {
        return Err(format_err(4, format!("empty {what}: dims are {dims_text}")));
    }
    let payload = bytes.len() - header;
    if payload != expected {
        return Err(format_err(
            header,
            format!(
                "payload length mismatch: dims {dims_text} need {expected} bytes, found {payload} bytes"
            ),
        ));
    }
    Ok(dims)
}

/// Reads an IDX image file (magic 0x00000803), plain or `.gz`:
/// returns (pixels, n, rows, cols), pixels row-major per image.
pub fn read_idx_images(path: &Path) -> Result<(Vec<u8>, usize, usize, usize), DataError> {
    let mut bytes = read_maybe_gz(path)?;
    let dims = parse_idx(path, &bytes, IMAGES_MAGIC, "images")?;
    bytes.drain(..16);
    Ok((bytes, dims[0], dims[1], dims[2]))
}

/// Reads an IDX label file (magic 0x00000801), plain or `.gz`.
pub fn read_idx_labels(path: &Path) -> Result<Vec<i64>, DataError> {
    let bytes = read_maybe_gz(path)?;
    parse_idx(path, &bytes, LABELS_MAGIC, "labels")?;
    Ok(bytes[8..].iter().map(|&b| i64::from(b)).collect())
}

/// Finds `dir/base` or `dir/base.gz` (the plain file wins when both exist).
fn locate(dir: &Path, base: &str) -> Result<PathBuf, DataError> {
    let plain = dir.join(base);
    if plain.is_file() {
        return Ok(plain);
    }
    let gz = dir.join(format!("{base}.gz"));
    if gz.is_file() {
        return Ok(gz);
    }
    Err(DataError::Invalid {
        path: plain,
        message: format!(
            "file not found: looked for {base} and {base}.gz in {}",
            dir.display()
        ),
    })
}

/// Reads one split (`prefix` = "train" or "t10k") and checks counts and label range.
fn load_split(dir: &Path, prefix: &str, num_classes: usize) -> Result<RawSplit, DataError> {
    let images_path = locate(dir, &format!("{prefix}-images-idx3-ubyte"))?;
    let labels_path = locate(dir, &format!("{prefix}-labels-idx1-ubyte"))?;
    let (images, n, rows, cols) = read_idx_images(&images_path)?;
    let labels = read_idx_labels(&labels_path)?;
    if labels.len() != n {
        return Err(DataError::Invalid {
            path: labels_path,
            message: format!(
                "{} labels but {} holds {n} images",
                labels.len(),
                images_path.display()
            ),
        });
    }
    if let Some(i) = labels.iter().position(|&l| l as usize >= num_classes) {
        return Err(DataError::Format {
            offset: (8 + i) as u64,
            message: format!(
                "label {} of item {i} is out of range: allowed 0..={}{}",
                labels[i],
                num_classes - 1,
                if is_gz(&labels_path) {
                    " (offset in the decompressed data)"
                } else {
                    ""
                }
            ),
            path: labels_path,
        });
    }
    Ok(RawSplit {
        images,
        labels,
        n,
        channels: 1,
        height: rows,
        width: cols,
    })
}

/// Loads an MNIST-style data set from `dir`: `train-images-idx3-ubyte`, `train-labels-idx1-ubyte`,
/// `t10k-images-idx3-ubyte`, `t10k-labels-idx1-ubyte`, each plain or `.gz`. Images are 1-channel;
/// labels must be below `class_names.len()`; train and test images must be the same size.
pub fn load_mnist_like(
    dir: &Path,
    name: &str,
    class_names: &[&str],
) -> Result<RawDataset, DataError> {
    if class_names.is_empty() {
        return Err(DataError::Other(format!(
            "load_mnist_like({name}): no class names given"
        )));
    }
    let train = load_split(dir, "train", class_names.len())?;
    let test = load_split(dir, "t10k", class_names.len())?;
    if (test.height, test.width) != (train.height, train.width) {
        return Err(DataError::Invalid {
            path: dir.join("t10k-images-idx3-ubyte"),
            message: format!(
                "test images are {}x{} but train images are {}x{}",
                test.height, test.width, train.height, train.width
            ),
        });
    }
    Ok(RawDataset {
        name: name.to_string(),
        train,
        test,
        num_classes: class_names.len(),
        class_names: class_names.iter().map(|s| s.to_string()).collect(),
    })
}

/// Loads Fashion-MNIST (60,000 train / 10,000 test, 28x28 grey) from `dir`, e.g.
/// [`DEBIAN_FASHION_MNIST`].
pub fn load_fashion_mnist(dir: &Path) -> Result<RawDataset, DataError> {
    load_mnist_like(dir, "fashion-mnist", &FASHION_MNIST_CLASSES)
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::write::GzEncoder;
    use flate2::Compression;
    use std::fs;
    use std::io::Write;

    fn idx_images(n: u32, rows: u32, cols: u32, pixels: &[u8]) -> Vec<u8> {
        let mut b = IMAGES_MAGIC.to_be_bytes().to_vec();
        for d in [n, rows, cols] {
            b.extend(d.to_be_bytes());
        }
        b.extend_from_slice(pixels);
        b
    }

    fn idx_labels(labels: &[u8]) -> Vec<u8> {
        let mut b = LABELS_MAGIC.to_be_bytes().to_vec();
        b.extend((labels.len() as u32).to_be_bytes());
        b.extend_from_slice(labels);
        b
    }

    fn gz(bytes: &[u8]) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), Compression::default());
        e.write_all(bytes).unwrap();
        e.finish().unwrap()
    }

    fn write(path: &Path, bytes: &[u8]) {
        let data = if is_gz(path) {
            gz(bytes)
        } else {
            bytes.to_vec()
        };
        fs::write(path, data).unwrap();
    }

    /// 2 train / 1 test images of 2x3, labels in 0..3; `.gz` on the files listed in `gz_files`.
    fn write_set(dir: &Path, gz_files: &[&str]) -> (Vec<u8>, Vec<u8>) {
        let train_px: Vec<u8> = (0..12).collect();
        let test_px: Vec<u8> = (100..106).collect();
        let files: [(&str, Vec<u8>); 4] = [
            ("train-images-idx3-ubyte", idx_images(2, 2, 3, &train_px)),
            ("train-labels-idx1-ubyte", idx_labels(&[2, 0])),
            ("t10k-images-idx3-ubyte", idx_images(1, 2, 3, &test_px)),
            ("t10k-labels-idx1-ubyte", idx_labels(&[1])),
        ];
        for (name, bytes) in files {
            let file = if gz_files.contains(&name) {
                format!("{name}.gz")
            } else {
                name.to_string()
            };
            write(&dir.join(file), &bytes);
        }
        (train_px, test_px)
    }

    #[test]
    fn plain_and_gz_images_read_the_same() {
        let tmp = tempfile::tempdir().unwrap();
        let px: Vec<u8> = (0..24).map(|i| i * 10).collect();
        let bytes = idx_images(2, 3, 4, &px);
        let plain = tmp.path().join("imgs-idx3-ubyte");
        let zipped = tmp.path().join("imgs-idx3-ubyte.gz");
        write(&plain, &bytes);
        write(&zipped, &bytes);
        assert_ne!(fs::read(&zipped).unwrap(), bytes, "file really is gzipped");
        for p in [&plain, &zipped] {
            let (got, n, rows, cols) = read_idx_images(p).unwrap();
            assert_eq!((n, rows, cols), (2, 3, 4));
            assert_eq!(got, px);
        }
    }

    #[test]
    fn plain_and_gz_labels_read_the_same() {
        let tmp = tempfile::tempdir().unwrap();
        let bytes = idx_labels(&[9, 0, 255, 3]);
        for name in ["l-idx1-ubyte", "l-idx1-ubyte.gz"] {
            let p = tmp.path().join(name);
            write(&p, &bytes);
            assert_eq!(read_idx_labels(&p).unwrap(), vec![9, 0, 255, 3]);
        }
    }

    #[test]
    fn wrong_magic_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path().join("labels-idx1-ubyte");
        // An image file given where labels are expected.
        write(&p, &idx_images(1, 1, 1, &[0]));
        let msg = read_idx_labels(&p).unwrap_err().to_string();
        assert!(msg.contains("labels-idx1-ubyte"), "{msg}");
        assert!(msg.contains("at byte offset 0:"), "{msg}");
        assert!(msg.contains("bad IDX magic 0x00000803"), "{msg}");
        assert!(msg.contains("expected 0x00000801"), "{msg}");

        let p = tmp.path().join("images-idx3-ubyte.gz");
        write(&p, &idx_labels(&[1]));
        let msg = read_idx_images(&p).unwrap_err().to_string();
        assert!(msg.contains("images-idx3-ubyte.gz"), "{msg}");
        assert!(msg.contains("bad IDX magic 0x00000801"), "{msg}");
        assert!(msg.contains("expected 0x00000803"), "{msg}");
        assert!(msg.contains("decompressed"), "{msg}");
    }

    #[test]
    fn payload_shorter_or_longer_than_dims_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path().join("x-idx3-ubyte");
        write(&p, &idx_images(3, 2, 2, &[0; 11]));
        let msg = read_idx_images(&p).unwrap_err().to_string();
        assert!(msg.contains("x-idx3-ubyte"), "{msg}");
        assert!(msg.contains("at byte offset 16:"), "{msg}");
        assert!(
            msg.contains("dims 3x2x2 need 12 bytes, found 11 bytes"),
            "{msg}"
        );

        write(&p, &idx_images(3, 2, 2, &[0; 13]));
        let msg = read_idx_images(&p).unwrap_err().to_string();
        assert!(msg.contains("need 12 bytes, found 13 bytes"), "{msg}");

        let p = tmp.path().join("y-idx1-ubyte.gz");
        let mut bytes = idx_labels(&[1, 2, 3]);
        bytes.pop();
        write(&p, &bytes);
        let msg = read_idx_labels(&p).unwrap_err().to_string();
        assert!(msg.contains("y-idx1-ubyte.gz"), "{msg}");
        assert!(msg.contains("dims 3 need 3 bytes, found 2 bytes"), "{msg}");
    }

    #[test]
    fn empty_truncated_and_zero_count_files_are_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path().join("e-idx3-ubyte");
        write(&p, b"");
        let msg = read_idx_images(&p).unwrap_err().to_string();
        assert!(msg.contains("e-idx3-ubyte"), "{msg}");
        assert!(
            msg.contains("too short for an IDX header: 0 bytes"),
            "{msg}"
        );

        // Magic fine, header cut inside the dims.
        write(&p, &idx_images(1, 1, 1, &[0])[..10]);
        let msg = read_idx_images(&p).unwrap_err().to_string();
        assert!(msg.contains("10 bytes, need 16"), "{msg}");

        write(&p, &idx_images(0, 28, 28, &[]));
        let msg = read_idx_images(&p).unwrap_err().to_string();
        assert!(msg.contains("empty images: dims are 0x28x28"), "{msg}");

        let p = tmp.path().join("bad.gz");
        fs::write(&p, b"this is not gzip").unwrap();
        let msg = read_idx_labels(&p).unwrap_err().to_string();
        assert!(msg.contains("bad.gz"), "{msg}");
        assert!(msg.contains("cannot decompress gzip"), "{msg}");
    }

    #[test]
    fn mnist_like_set_mixed_plain_and_gz() {
        let tmp = tempfile::tempdir().unwrap();
        let (train_px, test_px) = write_set(
            tmp.path(),
            &["train-images-idx3-ubyte", "t10k-labels-idx1-ubyte"],
        );
        let ds = load_mnist_like(tmp.path(), "tiny", &["a", "b", "c"]).unwrap();
        assert_eq!(ds.name, "tiny");
        assert_eq!(ds.num_classes, 3);
        assert_eq!(ds.class_names, vec!["a", "b", "c"]);
        let t = &ds.train;
        assert_eq!((t.n, t.channels, t.height, t.width), (2, 1, 2, 3));
        assert_eq!(t.images, train_px);
        assert_eq!(t.labels, vec![2, 0]);
        let s = &ds.test;
        assert_eq!((s.n, s.channels, s.height, s.width), (1, 1, 2, 3));
        assert_eq!(s.images, test_px);
        assert_eq!(s.labels, vec![1]);
    }

    #[test]
    fn mnist_like_missing_file_names_both_forms() {
        let tmp = tempfile::tempdir().unwrap();
        write_set(tmp.path(), &[]);
        fs::remove_file(tmp.path().join("t10k-images-idx3-ubyte")).unwrap();
        let msg = load_mnist_like(tmp.path(), "tiny", &["a", "b", "c"])
            .unwrap_err()
            .to_string();
        assert!(msg.contains("file not found"), "{msg}");
        assert!(
            msg.contains("t10k-images-idx3-ubyte and t10k-images-idx3-ubyte.gz"),
            "{msg}"
        );
        assert!(msg.contains(&tmp.path().display().to_string()), "{msg}");
    }

    #[test]
    fn mnist_like_label_out_of_range_names_file_and_offset() {
        let tmp = tempfile::tempdir().unwrap();
        write_set(tmp.path(), &["train-labels-idx1-ubyte"]);
        // Labels are [2, 0]; only two classes allowed, so item 0 (offset 8) is bad.
        let msg = load_mnist_like(tmp.path(), "tiny", &["a", "b"])
            .unwrap_err()
            .to_string();
        assert!(msg.contains("train-labels-idx1-ubyte.gz"), "{msg}");
        assert!(msg.contains("at byte offset 8:"), "{msg}");
        assert!(msg.contains("label 2 of item 0"), "{msg}");
        assert!(msg.contains("allowed 0..=1"), "{msg}");
    }

    #[test]
    fn mnist_like_count_mismatch_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        write_set(tmp.path(), &[]);
        write(
            &tmp.path().join("t10k-labels-idx1-ubyte"),
            &idx_labels(&[0, 1]),
        );
        let msg = load_mnist_like(tmp.path(), "tiny", &["a", "b", "c"])
            .unwrap_err()
            .to_string();
        assert!(msg.contains("t10k-labels-idx1-ubyte"), "{msg}");
        assert!(msg.contains("2 labels but"), "{msg}");
        assert!(msg.contains("holds 1 images"), "{msg}");
    }

    #[test]
    fn mnist_like_train_test_size_mismatch_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        write_set(tmp.path(), &[]);
        write(
            &tmp.path().join("t10k-images-idx3-ubyte"),
            &idx_images(1, 3, 2, &[0; 6]),
        );
        let msg = load_mnist_like(tmp.path(), "tiny", &["a", "b", "c"])
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("test images are 3x2 but train images are 2x3"),
            "{msg}"
        );
    }

    /// The real Fashion-MNIST from Debian's `dataset-fashion-mnist`, where installed.
    #[test]
    fn real_fashion_mnist_if_installed() {
        let dir = Path::new(DEBIAN_FASHION_MNIST);
        if !dir.is_dir() {
            eprintln!("skipping: {DEBIAN_FASHION_MNIST} not present (apt-get install dataset-fashion-mnist)");
            return;
        }
        let start = std::time::Instant::now();
        let ds = load_fashion_mnist(dir).unwrap();
        eprintln!("fashion-mnist loaded in {:?}", start.elapsed());
        assert_eq!(ds.name, "fashion-mnist");
        assert_eq!(ds.num_classes, 10);
        assert_eq!(ds.class_names[9], "Ankle boot");
        for (split, n) in [(&ds.train, 60_000), (&ds.test, 10_000)] {
            assert_eq!(
                (split.n, split.channels, split.height, split.width),
                (n, 1, 28, 28)
            );
            assert_eq!(split.images.len(), n * 28 * 28);
            assert_eq!(split.labels.len(), n);
            // Balanced classes: n / 10 of each.
            for c in 0..10 {
                assert_eq!(split.labels.iter().filter(|&&l| l == c).count(), n / 10);
            }
        }
        // Known first labels of the official files: train starts 9 (Ankle boot), 0, 0, 3;
        // test starts 9, 2, 1, 1.
        assert_eq!(&ds.train.labels[..4], &[9, 0, 0, 3]);
        assert_eq!(&ds.test.labels[..4], &[9, 2, 1, 1]);
        // Pixel sums computed independently (Python's gzip module) from the same files.
        let sum = |px: &[u8]| px.iter().map(|&p| u64::from(p)).sum::<u64>();
        assert_eq!(sum(&ds.train.images), 3_431_114_169);
        assert_eq!(sum(&ds.train.images[..784]), 76_247);
        assert_eq!(ds.train.images[784 * 5 + 400], 154);
        assert_eq!(sum(&ds.test.images), 573_469_082);
        assert_eq!(sum(&ds.test.images[..784]), 33_456);
        assert_eq!(ds.test.images[784 * 5 + 400], 141);
    }
}
