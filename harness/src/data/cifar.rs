//! Strict reader for the official CIFAR-10 / CIFAR-100 *binary* release (`*.bin` batches):
//! checks every file's size and every label byte, and returns the images in NCHW order.

use std::path::{Path, PathBuf};

use super::{DataError, RawDataset, RawSplit};

/// Pixel bytes in one record: 3 planes (R, G, B) of 32x32, each row-major.
const PIXELS: usize = 3 * 32 * 32;
/// One CIFAR-10 record: label byte + pixels.
const CIFAR10_RECORD: usize = 1 + PIXELS;
/// One CIFAR-100 record: coarse label byte + fine label byte + pixels.
const CIFAR100_RECORD: usize = 2 + PIXELS;

/// Folder the official CIFAR-10 binary tarball extracts to.
pub const CIFAR10_SUBDIR: &str = "cifar-10-batches-bin";
/// Folder the official CIFAR-100 binary tarball extracts to.
pub const CIFAR100_SUBDIR: &str = "cifar-100-binary";

/// The CIFAR-10 class names in label order (as in `batches.meta.txt`).
pub const CIFAR10_CLASSES: [&str; 10] = [
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
];

/// How many records each file must hold: the official release's counts (10,000 per CIFAR-10
/// batch and test file, 50,000 / 10,000 for CIFAR-100), or any whole number (format tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Records {
    Official,
    #[cfg(test)]
    Any,
}

/// Refuses a file of the official name that holds another number of records than the release.
fn check_count(
    path: &Path,
    split: &RawSplit,
    official: usize,
    records: Records,
) -> Result<(), DataError> {
    if records == Records::Official && split.n != official {
        return Err(DataError::Invalid {
            path: path.to_path_buf(),
            message: format!(
                "holds {} records; the official release has exactly {official} in this file (an incomplete copy, or another data set under an official name?)",
                split.n
            ),
        });
    }
    Ok(())
}

/// Which CIFAR-100 label becomes the class: the 100 fine classes or the 20 coarse superclasses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Cifar100Label {
    #[default]
    Fine,
    Coarse,
}

/// One label byte inside a record, and the number of classes it may take.
struct LabelField {
    /// Byte position inside the record.
    pos: usize,
    num_classes: usize,
    what: &'static str,
}

/// Finds `name` in `dir` or in `dir/subdir`; the error names the file and both folders.
fn locate(dir: &Path, subdir: &str, name: &str) -> Result<PathBuf, DataError> {
    let nested = dir.join(subdir);
    for folder in [dir, nested.as_path()] {
        let candidate = folder.join(name);
        if candidate.is_file() {
            return Ok(candidate);
        }
    }
    Err(DataError::Invalid {
        path: dir.join(name),
        message: format!(
            "file not found: looked for {name} in {} and in {}",
            dir.display(),
            nested.display()
        ),
    })
}

/// Reads a whole batch file of fixed-size records, validating size and labels.
///
/// `fields` lists every label byte of the record (all are range-checked); the label of
/// `fields[keep]` is returned. Pixels are the last `PIXELS` bytes of each record, already in
/// CHW order.
fn read_batch(
    path: &Path,
    record: usize,
    fields: &[LabelField],
    keep: usize,
) -> Result<RawSplit, DataError> {
    let bytes = std::fs::read(path).map_err(|source| DataError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    if bytes.is_empty() {
        return Err(DataError::Format {
            path: path.to_path_buf(),
            offset: 0,
            message: format!(
                "empty file (0 bytes): expected a whole non-zero number of {record}-byte records"
            ),
        });
    }
    if bytes.len() % record != 0 {
        let whole = bytes.len() / record;
        return Err(DataError::Format {
            path: path.to_path_buf(),
            offset: (whole * record) as u64,
            message: format!(
                "file size {} bytes is not a whole number of {record}-byte records \
                 ({whole} whole records and {} trailing bytes); truncated or wrong file?",
                bytes.len(),
                bytes.len() % record
            ),
        });
    }
    let n = bytes.len() / record;
    let label_bytes = record - PIXELS;
    let mut images = Vec::with_capacity(n * PIXELS);
    let mut labels = Vec::with_capacity(n);
    for (i, rec) in bytes.chunks_exact(record).enumerate() {
        for (f, field) in fields.iter().enumerate() {
            let value = rec[field.pos];
            if usize::from(value) >= field.num_classes {
                return Err(DataError::Format {
                    path: path.to_path_buf(),
                    offset: (i * record + field.pos) as u64,
                    message: format!(
                        "{} label {value} of record {i} is out of range: allowed 0..={}",
                        field.what,
                        field.num_classes - 1
                    ),
                });
            }
            if f == keep {
                labels.push(i64::from(value));
            }
        }
        images.extend_from_slice(&rec[label_bytes..]);
    }
    Ok(RawSplit {
        images,
        labels,
        n,
        channels: 3,
        height: 32,
        width: 32,
    })
}

/// Appends `more` to `acc` (both CIFAR splits of the same shape).
fn append(acc: &mut RawSplit, more: RawSplit) {
    acc.images.extend_from_slice(&more.images);
    acc.labels.extend_from_slice(&more.labels);
    acc.n += more.n;
}

/// Reads class names, one per line (blank lines ignored), from `folder/file` if it exists;
/// otherwise returns `fallback`. A present file must name exactly `expected` classes.
fn class_names(
    folder: &Path,
    file: &str,
    expected: usize,
    fallback: impl FnOnce() -> Vec<String>,
) -> Result<Vec<String>, DataError> {
    let path = folder.join(file);
    if !path.is_file() {
        return Ok(fallback());
    }
    let text = std::fs::read_to_string(&path).map_err(|source| DataError::Io {
        path: path.clone(),
        source,
    })?;
    let names: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    if names.len() != expected {
        return Err(DataError::Invalid {
            path,
            message: format!(
                "expected {expected} class names (one per line), found {}",
                names.len()
            ),
        });
    }
    Ok(names)
}

/// Loads the official CIFAR-10 binary release from `dir` or `dir/cifar-10-batches-bin/`:
/// `data_batch_1.bin`..`data_batch_5.bin` (train, 50,000) and `test_batch.bin` (test, 10,000).
pub fn load_cifar10(dir: &Path) -> Result<RawDataset, DataError> {
    load_cifar10_records(dir, Records::Official)
}

fn load_cifar10_records(dir: &Path, records: Records) -> Result<RawDataset, DataError> {
    let fields = [LabelField {
        pos: 0,
        num_classes: 10,
        what: "class",
    }];
    let mut train: Option<RawSplit> = None;
    for b in 1..=5 {
        let path = locate(dir, CIFAR10_SUBDIR, &format!("data_batch_{b}.bin"))?;
        let batch = read_batch(&path, CIFAR10_RECORD, &fields, 0)?;
        check_count(&path, &batch, 10_000, records)?;
        match train.as_mut() {
            None => train = Some(batch),
            Some(acc) => append(acc, batch),
        }
    }
    let train = train.expect("five batches were read");
    let test_path = locate(dir, CIFAR10_SUBDIR, "test_batch.bin")?;
    let test = read_batch(&test_path, CIFAR10_RECORD, &fields, 0)?;
    check_count(&test_path, &test, 10_000, records)?;
    let folder = test_path.parent().unwrap_or(dir);
    let class_names = class_names(folder, "batches.meta.txt", 10, || {
        CIFAR10_CLASSES.iter().map(|s| s.to_string()).collect()
    })?;
    Ok(RawDataset {
        name: "cifar10".to_string(),
        train,
        test,
        num_classes: 10,
        class_names,
    })
}

/// Loads the official CIFAR-100 binary release from `dir` or `dir/cifar-100-binary/`:
/// `train.bin` (50,000) and `test.bin` (10,000). Both label bytes of every record are checked
/// (coarse < 20, fine < 100); `label` picks which one becomes the class.
pub fn load_cifar100(dir: &Path, label: Cifar100Label) -> Result<RawDataset, DataError> {
    load_cifar100_records(dir, label, Records::Official)
}

fn load_cifar100_records(
    dir: &Path,
    label: Cifar100Label,
    records: Records,
) -> Result<RawDataset, DataError> {
    let fields = [
        LabelField {
            pos: 0,
            num_classes: 20,
            what: "coarse",
        },
        LabelField {
            pos: 1,
            num_classes: 100,
            what: "fine",
        },
    ];
    let (keep, names_file) = match label {
        Cifar100Label::Coarse => (0, "coarse_label_names.txt"),
        Cifar100Label::Fine => (1, "fine_label_names.txt"),
    };
    let num_classes = fields[keep].num_classes;
    let train_path = locate(dir, CIFAR100_SUBDIR, "train.bin")?;
    let train = read_batch(&train_path, CIFAR100_RECORD, &fields, keep)?;
    check_count(&train_path, &train, 50_000, records)?;
    let test_path = locate(dir, CIFAR100_SUBDIR, "test.bin")?;
    let test = read_batch(&test_path, CIFAR100_RECORD, &fields, keep)?;
    check_count(&test_path, &test, 10_000, records)?;
    let folder = test_path.parent().unwrap_or(dir);
    let class_names = class_names(folder, names_file, num_classes, || {
        (0..num_classes).map(|i| format!("class_{i}")).collect()
    })?;
    Ok(RawDataset {
        name: "cifar100".to_string(),
        train,
        test,
        num_classes,
        class_names,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    /// The readers without the official record counts: format checks on files of a few records.
    fn lenient10(dir: &Path) -> Result<RawDataset, DataError> {
        load_cifar10_records(dir, Records::Any)
    }

    fn lenient100(dir: &Path, label: Cifar100Label) -> Result<RawDataset, DataError> {
        load_cifar100_records(dir, label, Records::Any)
    }

    #[test]
    fn official_names_need_the_official_record_counts() {
        let tmp = tempfile::tempdir().unwrap();
        write_cifar10(tmp.path(), 10_000);
        let ds = load_cifar10(tmp.path()).unwrap();
        assert_eq!((ds.train.n, ds.test.n), (50_000, 10_000));
        // a copy short by whole records: every byte well-formed, one record missing
        let path = tmp.path().join("test_batch.bin");
        let bytes = fs::read(&path).unwrap();
        fs::write(&path, &bytes[..bytes.len() - CIFAR10_RECORD]).unwrap();
        let msg = load_cifar10(tmp.path()).unwrap_err().to_string();
        assert!(msg.contains("test_batch.bin: holds 9999 records"), "{msg}");
        assert!(msg.contains("exactly 10000"), "{msg}");
        let c100 = tmp.path().join("c100");
        write_cifar100(&c100, &[rec100(1, 2, 0)], &[rec100(1, 2, 1)]);
        let msg = load_cifar100(&c100, Cifar100Label::Fine)
            .unwrap_err()
            .to_string();
        assert!(msg.contains("train.bin: holds 1 records"), "{msg}");
        assert!(msg.contains("exactly 50000"), "{msg}");
    }

    /// Pixel bytes of test record `seed`: distinct per plane and position.
    fn pixels(seed: u8) -> Vec<u8> {
        (0..PIXELS)
            .map(|i| {
                (i as u8)
                    .wrapping_mul(7)
                    .wrapping_add(seed.wrapping_mul(31))
            })
            .collect()
    }

    /// One CIFAR-10 record in the official layout.
    fn rec10(label: u8, seed: u8) -> Vec<u8> {
        let mut r = vec![label];
        r.extend(pixels(seed));
        r
    }

    /// One CIFAR-100 record in the official layout.
    fn rec100(coarse: u8, fine: u8, seed: u8) -> Vec<u8> {
        let mut r = vec![coarse, fine];
        r.extend(pixels(seed));
        r
    }

    /// Writes the six CIFAR-10 files into `folder`; batch `b` holds `per_batch` records whose
    /// label is `(b * 3 + j) % 10` and seed `b * 10 + j`.
    fn write_cifar10(folder: &Path, per_batch: usize) {
        fs::create_dir_all(folder).unwrap();
        let names = [
            "data_batch_1.bin",
            "data_batch_2.bin",
            "data_batch_3.bin",
            "data_batch_4.bin",
            "data_batch_5.bin",
            "test_batch.bin",
        ];
        for (b, name) in names.iter().enumerate() {
            let mut bytes = Vec::new();
            for j in 0..per_batch {
                bytes.extend(rec10(((b * 3 + j) % 10) as u8, (b * 10 + j) as u8));
            }
            fs::write(folder.join(name), bytes).unwrap();
        }
    }

    #[test]
    fn cifar10_reads_records_exactly() {
        let tmp = tempfile::tempdir().unwrap();
        write_cifar10(tmp.path(), 3);
        let ds = lenient10(tmp.path()).unwrap();
        assert_eq!(ds.name, "cifar10");
        assert_eq!(ds.num_classes, 10);
        assert_eq!(ds.class_names, CIFAR10_CLASSES.map(String::from).to_vec());
        let t = &ds.train;
        assert_eq!((t.n, t.channels, t.height, t.width), (15, 3, 32, 32));
        assert_eq!(t.images.len(), 15 * PIXELS);
        let want_labels: Vec<i64> = (0..5)
            .flat_map(|b| (0..3).map(move |j| ((b * 3 + j) % 10) as i64))
            .collect();
        assert_eq!(t.labels, want_labels);
        // Record 4 is batch 2 (b = 1), j = 1: seed 11. Pixels are copied verbatim (CHW).
        assert_eq!(&t.images[4 * PIXELS..5 * PIXELS], pixels(11).as_slice());
        // First green pixel of record 0 sits at plane offset 1024.
        assert_eq!(t.images[1024], pixels(0)[1024]);
        let s = &ds.test;
        assert_eq!((s.n, s.channels, s.height, s.width), (3, 3, 32, 32));
        assert_eq!(s.labels, vec![5, 6, 7]);
        assert_eq!(&s.images[..PIXELS], pixels(50).as_slice());
        assert_eq!(&s.images[2 * PIXELS..], pixels(52).as_slice());
    }

    #[test]
    fn cifar10_found_in_tarball_subfolder_with_meta_names() {
        let tmp = tempfile::tempdir().unwrap();
        let sub = tmp.path().join(CIFAR10_SUBDIR);
        write_cifar10(&sub, 1);
        let names: Vec<String> = (0..10).map(|i| format!("name{i}")).collect();
        fs::write(sub.join("batches.meta.txt"), names.join("\n") + "\n\n").unwrap();
        let ds = lenient10(tmp.path()).unwrap();
        assert_eq!(ds.train.n, 5);
        assert_eq!(ds.class_names, names);
    }

    #[test]
    fn cifar10_meta_with_wrong_count_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        write_cifar10(tmp.path(), 1);
        fs::write(tmp.path().join("batches.meta.txt"), "a\nb\n").unwrap();
        let msg = lenient10(tmp.path()).unwrap_err().to_string();
        assert!(msg.contains("batches.meta.txt"), "{msg}");
        assert!(msg.contains("expected 10 class names"), "{msg}");
        assert!(msg.contains("found 2"), "{msg}");
    }

    #[test]
    fn cifar10_missing_file_names_file_and_folders() {
        let tmp = tempfile::tempdir().unwrap();
        write_cifar10(tmp.path(), 1);
        fs::remove_file(tmp.path().join("data_batch_3.bin")).unwrap();
        let msg = lenient10(tmp.path()).unwrap_err().to_string();
        assert!(msg.contains("data_batch_3.bin"), "{msg}");
        assert!(msg.contains("file not found"), "{msg}");
        assert!(
            msg.contains(&tmp.path().join(CIFAR10_SUBDIR).display().to_string()),
            "{msg}"
        );
        assert!(
            msg.contains(&format!(" in {} and", tmp.path().display())),
            "{msg}"
        );
    }

    #[test]
    fn cifar10_truncated_file_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        write_cifar10(tmp.path(), 2);
        let path = tmp.path().join("data_batch_2.bin");
        let mut bytes = fs::read(&path).unwrap();
        bytes.truncate(2 * CIFAR10_RECORD - 100);
        fs::write(&path, &bytes).unwrap();
        let msg = lenient10(tmp.path()).unwrap_err().to_string();
        assert!(msg.contains("data_batch_2.bin"), "{msg}");
        assert!(msg.contains("file size 6046 bytes"), "{msg}");
        assert!(msg.contains("3073-byte records"), "{msg}");
        assert!(msg.contains("at byte offset 3073:"), "{msg}");
    }

    #[test]
    fn cifar10_empty_file_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        write_cifar10(tmp.path(), 1);
        fs::write(tmp.path().join("test_batch.bin"), b"").unwrap();
        let msg = lenient10(tmp.path()).unwrap_err().to_string();
        assert!(msg.contains("test_batch.bin"), "{msg}");
        assert!(msg.contains("empty file"), "{msg}");
        assert!(msg.contains("3073-byte records"), "{msg}");
    }

    #[test]
    fn cifar10_label_out_of_range_names_file_and_offset() {
        let tmp = tempfile::tempdir().unwrap();
        write_cifar10(tmp.path(), 3);
        let path = tmp.path().join("data_batch_4.bin");
        let mut bytes = fs::read(&path).unwrap();
        bytes[2 * CIFAR10_RECORD] = 10;
        fs::write(&path, &bytes).unwrap();
        let msg = lenient10(tmp.path()).unwrap_err().to_string();
        assert!(msg.contains("data_batch_4.bin"), "{msg}");
        assert!(msg.contains("at byte offset 6146:"), "{msg}");
        assert!(msg.contains("label 10"), "{msg}");
        assert!(msg.contains("allowed 0..=9"), "{msg}");
    }

    fn write_cifar100(folder: &Path, train: &[Vec<u8>], test: &[Vec<u8>]) {
        fs::create_dir_all(folder).unwrap();
        fs::write(folder.join("train.bin"), train.concat()).unwrap();
        fs::write(folder.join("test.bin"), test.concat()).unwrap();
    }

    #[test]
    fn cifar100_fine_and_coarse_labels() {
        let tmp = tempfile::tempdir().unwrap();
        let sub = tmp.path().join(CIFAR100_SUBDIR);
        let train = vec![rec100(19, 99, 1), rec100(0, 0, 2), rec100(7, 42, 3)];
        let test = vec![rec100(4, 11, 9)];
        write_cifar100(&sub, &train, &test);

        let fine = lenient100(tmp.path(), Cifar100Label::default()).unwrap();
        assert_eq!(fine.name, "cifar100");
        assert_eq!(fine.num_classes, 100);
        assert_eq!(fine.class_names.len(), 100);
        assert_eq!(fine.class_names[42], "class_42");
        assert_eq!(fine.train.labels, vec![99, 0, 42]);
        assert_eq!(fine.test.labels, vec![11]);
        assert_eq!(
            (
                fine.train.n,
                fine.train.channels,
                fine.train.height,
                fine.train.width
            ),
            (3, 3, 32, 32)
        );
        assert_eq!(&fine.train.images[PIXELS..2 * PIXELS], pixels(2).as_slice());
        assert_eq!(fine.test.images, pixels(9));

        let coarse_names: Vec<String> = (0..20).map(|i| format!("super{i}")).collect();
        fs::write(sub.join("coarse_label_names.txt"), coarse_names.join("\n")).unwrap();
        let coarse = lenient100(tmp.path(), Cifar100Label::Coarse).unwrap();
        assert_eq!(coarse.num_classes, 20);
        assert_eq!(coarse.class_names, coarse_names);
        assert_eq!(coarse.train.labels, vec![19, 0, 7]);
        assert_eq!(coarse.test.labels, vec![4]);
        assert_eq!(coarse.train.images, fine.train.images);
    }

    #[test]
    fn cifar100_bad_labels_are_refused_whichever_label_is_used() {
        let tmp = tempfile::tempdir().unwrap();
        // Fine label 100 in record 1 of test.bin: offset 3074 + 1.
        write_cifar100(
            tmp.path(),
            &[rec100(1, 1, 0)],
            &[rec100(1, 1, 0), rec100(2, 100, 0)],
        );
        let msg = lenient100(tmp.path(), Cifar100Label::Coarse)
            .unwrap_err()
            .to_string();
        assert!(msg.contains("test.bin"), "{msg}");
        assert!(msg.contains("at byte offset 3075:"), "{msg}");
        assert!(msg.contains("fine label 100"), "{msg}");
        assert!(msg.contains("allowed 0..=99"), "{msg}");

        // Coarse label 20 in record 0 of train.bin: offset 0.
        write_cifar100(tmp.path(), &[rec100(20, 1, 0)], &[rec100(1, 1, 0)]);
        let msg = lenient100(tmp.path(), Cifar100Label::Fine)
            .unwrap_err()
            .to_string();
        assert!(msg.contains("train.bin"), "{msg}");
        assert!(msg.contains("at byte offset 0:"), "{msg}");
        assert!(msg.contains("coarse label 20"), "{msg}");
        assert!(msg.contains("allowed 0..=19"), "{msg}");
    }

    #[test]
    fn cifar100_size_checks_and_missing_file() {
        let tmp = tempfile::tempdir().unwrap();
        // A CIFAR-10-sized record is not a CIFAR-100 record.
        fs::write(tmp.path().join("train.bin"), rec10(1, 0)).unwrap();
        fs::write(tmp.path().join("test.bin"), rec100(1, 1, 0)).unwrap();
        let msg = lenient100(tmp.path(), Cifar100Label::Fine)
            .unwrap_err()
            .to_string();
        assert!(msg.contains("train.bin"), "{msg}");
        assert!(msg.contains("file size 3073 bytes"), "{msg}");
        assert!(msg.contains("3074-byte records"), "{msg}");

        fs::write(tmp.path().join("train.bin"), b"").unwrap();
        let msg = lenient100(tmp.path(), Cifar100Label::Fine)
            .unwrap_err()
            .to_string();
        assert!(msg.contains("train.bin"), "{msg}");
        assert!(msg.contains("empty file"), "{msg}");

        fs::remove_file(tmp.path().join("test.bin")).unwrap();
        fs::write(tmp.path().join("train.bin"), rec100(1, 1, 0)).unwrap();
        let msg = lenient100(tmp.path(), Cifar100Label::Fine)
            .unwrap_err()
            .to_string();
        assert!(msg.contains("test.bin"), "{msg}");
        assert!(msg.contains("file not found"), "{msg}");
        assert!(msg.contains(CIFAR100_SUBDIR), "{msg}");
    }
}
