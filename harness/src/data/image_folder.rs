//! Strict reader for ImageFolder trees (`root/<split>/<class>/*.{jpg,jpeg,png}`), decoding
//! on all cores; every image must have the same size.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use image::{ColorType, DynamicImage};
use rayon::prelude::*;

use super::{DataError, RawDataset, RawSplit};

/// Images decoded per work item taken by a thread.
const BATCH: usize = 64;

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> DataError + '_ {
    move |source| DataError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Whether the entry name is hidden (`.DS_Store`, `.ipynb_checkpoints`, ...): such entries are
/// skipped everywhere.
fn is_hidden(name: &OsStr) -> bool {
    name.to_string_lossy().starts_with('.')
}

fn is_image_file(path: &Path) -> bool {
    path.extension().is_some_and(|e| {
        let e = e.to_string_lossy();
        ["jpg", "jpeg", "png"]
            .iter()
            .any(|x| e.eq_ignore_ascii_case(x))
    })
}

/// Tests a directory entry's type without a `stat` call where the OS already told it
/// (following symbolic links like `Path::is_dir` / `Path::is_file`).
fn entry_is(
    entry: &std::fs::DirEntry,
    follow: fn(&Path) -> bool,
    test: fn(&std::fs::FileType) -> bool,
) -> bool {
    match entry.file_type() {
        Ok(t) if !t.is_symlink() => test(&t),
        _ => follow(&entry.path()),
    }
}

/// Sorted names of the non-hidden sub-folders of `dir`.
fn sub_folders(dir: &Path) -> Result<Vec<String>, DataError> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io_err(dir))? {
        let entry = entry.map_err(io_err(dir))?;
        let name = entry.file_name();
        if is_hidden(&name) || !entry_is(&entry, Path::is_dir, |t| t.is_dir()) {
            continue;
        }
        names.push(name.into_string().map_err(|n| DataError::Invalid {
            path: dir.join(&n),
            message: "folder name is not valid UTF-8".to_string(),
        })?);
    }
    names.sort();
    Ok(names)
}

/// Sorted paths of the image files (by extension, case-insensitive) directly inside `dir`.
fn image_files(dir: &Path) -> Result<Vec<PathBuf>, DataError> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io_err(dir))? {
        let entry = entry.map_err(io_err(dir))?;
        let path = entry.path();
        if is_hidden(&entry.file_name())
            || !is_image_file(&path)
            || !entry_is(&entry, Path::is_file, |t| t.is_file())
        {
            continue;
        }
        files.push(path);
    }
    files.sort();
    if files.is_empty() {
        return Err(DataError::Invalid {
            path: dir.to_path_buf(),
            message: "class folder holds no .jpg, .jpeg or .png images".to_string(),
        });
    }
    Ok(files)
}

/// Lists `(file, label)` of one split, labels by position of the class in `classes`.
/// Every class folder of the split must be one of `classes`.
fn list_split(split_dir: &Path, classes: &[String]) -> Result<Vec<(PathBuf, i64)>, DataError> {
    let mut items = Vec::new();
    for class in sub_folders(split_dir)? {
        let Some(label) = classes.iter().position(|c| *c == class) else {
            return Err(DataError::Invalid {
                path: split_dir.join(&class),
                message: format!(
                    "class folder {class:?} is not among the {} classes of the train split",
                    classes.len()
                ),
            });
        };
        for file in image_files(&split_dir.join(&class))? {
            items.push((file, label as i64));
        }
    }
    if items.is_empty() {
        return Err(DataError::Invalid {
            path: split_dir.to_path_buf(),
            message: "split holds no class folders with images".to_string(),
        });
    }
    Ok(items)
}

/// One decoded image, interleaved (HWC), either 1 channel (grey) or 3 (RGB).
struct Decoded {
    width: u32,
    height: u32,
    grey: bool,
    data: Vec<u8>,
}

fn decode(path: &Path) -> Result<Decoded, DataError> {
    let bytes = std::fs::read(path).map_err(io_err(path))?;
    let img = image::load_from_memory(&bytes).map_err(|e| DataError::Invalid {
        path: path.to_path_buf(),
        message: format!("cannot decode image: {e}"),
    })?;
    let grey = matches!(
        img.color(),
        ColorType::L8 | ColorType::L16 | ColorType::La8 | ColorType::La16
    );
    let (width, height) = (img.width(), img.height());
    let data = match (grey, img) {
        (true, DynamicImage::ImageLuma8(buf)) => buf.into_raw(),
        (true, img) => img.to_luma8().into_raw(),
        (false, DynamicImage::ImageRgb8(buf)) => buf.into_raw(),
        (false, img) => img.to_rgb8().into_raw(),
    };
    Ok(Decoded {
        width,
        height,
        grey,
        data,
    })
}

/// Decodes all `files` on all cores (rayon), in order, in work items of [`BATCH`] files. On
/// failure, the error of the first failing file (in list order) is returned, whatever the
/// thread timing.
fn decode_all(files: &[&Path]) -> Result<Vec<Decoded>, DataError> {
    let first_err = AtomicUsize::new(usize::MAX);
    let decoded: Vec<Option<Result<Decoded, DataError>>> = files
        .par_iter()
        .with_min_len(BATCH)
        .enumerate()
        .map(|(i, path)| {
            // Files after a known failure are not needed; earlier ones still run so that the
            // first failure in order is the one reported.
            if i > first_err.load(Ordering::Relaxed) {
                return None;
            }
            let r = decode(path);
            if r.is_err() {
                first_err.fetch_min(i, Ordering::Relaxed);
            }
            Some(r)
        })
        .collect();
    // Walking in list order, every file up to the first failure was decoded (a file is skipped
    // only after a failure at a smaller index), so the first `Err` met is the first in order.
    decoded
        .into_iter()
        .map(|slot| slot.expect("images before the first failure are all decoded"))
        .collect()
}

/// Writes one decoded image into `out` (its NCHW slot of `channels * h * w` bytes).
fn write_chw(d: &Decoded, channels: usize, out: &mut [u8]) {
    let hw = d.data.len() / if d.grey { 1 } else { 3 };
    match (channels, d.grey) {
        (1, _) => out.copy_from_slice(&d.data),
        (_, true) => {
            for c in 0..3 {
                out[c * hw..(c + 1) * hw].copy_from_slice(&d.data);
            }
        }
        (_, false) => {
            let (r, rest) = out.split_at_mut(hw);
            let (g, b) = rest.split_at_mut(hw);
            for (k, px) in d.data.chunks_exact(3).enumerate() {
                r[k] = px[0];
                g[k] = px[1];
                b[k] = px[2];
            }
        }
    }
}

/// Packs decoded images into one NCHW buffer, in parallel.
fn pack(decoded: &[Decoded], channels: usize, per_image: usize) -> Vec<u8> {
    let mut out = vec![0u8; decoded.len() * per_image];
    out.par_chunks_mut(per_image)
        .zip(decoded.par_iter())
        .for_each(|(slot, d)| write_chw(d, channels, slot));
    out
}

/// Loads an ImageFolder tree: `root/train/<class>/*.{jpg,jpeg,png}` and
/// `root/test/<class>/...` (or `root/val/<class>/...` when there is no `test`).
///
/// Classes are the sub-folders of `root/train`, sorted by name; the test split's class folders
/// must be among them. Files are taken in name order within each class. All images must share
/// one size; if every image is grey the data set has 1 channel, otherwise 3 (grey images are
/// replicated, alpha dropped). Hidden entries (names starting with '.') and files of other
/// extensions are skipped.
pub fn load_image_folder(root: &Path) -> Result<RawDataset, DataError> {
    let train_dir = root.join("train");
    if !train_dir.is_dir() {
        return Err(DataError::Invalid {
            path: root.to_path_buf(),
            message: "no train/ folder: expected root/train/<class>/*.jpg|png".to_string(),
        });
    }
    let test_dir = ["test", "val"]
        .iter()
        .map(|s| root.join(s))
        .find(|p| p.is_dir())
        .ok_or_else(|| DataError::Invalid {
            path: root.to_path_buf(),
            message: "no test/ or val/ folder: expected root/test/<class>/*.jpg|png".to_string(),
        })?;
    let classes = sub_folders(&train_dir)?;
    if classes.is_empty() {
        return Err(DataError::Invalid {
            path: train_dir,
            message: "no class folders".to_string(),
        });
    }
    let train_items = list_split(&train_dir, &classes)?;
    let test_items = list_split(&test_dir, &classes)?;

    let all: Vec<&Path> = train_items
        .iter()
        .chain(&test_items)
        .map(|(p, _)| p.as_path())
        .collect();
    let decoded = decode_all(&all)?;

    let (width, height) = (decoded[0].width, decoded[0].height);
    if let Some(i) = decoded
        .iter()
        .position(|d| (d.width, d.height) != (width, height))
    {
        return Err(DataError::Invalid {
            path: all[i].to_path_buf(),
            message: format!(
                "image is {}x{} (WxH) but {} is {width}x{height}; all images must have the same size",
                decoded[i].width,
                decoded[i].height,
                all[0].display()
            ),
        });
    }
    let channels = if decoded.iter().all(|d| d.grey) { 1 } else { 3 };
    let (h, w) = (height as usize, width as usize);
    let per_image = channels * h * w;
    let (train_dec, test_dec) = decoded.split_at(train_items.len());
    let split = |dec: &[Decoded], items: &[(PathBuf, i64)]| RawSplit {
        images: pack(dec, channels, per_image),
        labels: items.iter().map(|(_, l)| *l).collect(),
        n: items.len(),
        channels,
        height: h,
        width: w,
    };
    let train = split(train_dec, &train_items);
    let test = split(test_dec, &test_items);
    drop(decoded);

    let name = root
        .canonicalize()
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| root.display().to_string());
    Ok(RawDataset {
        name,
        train,
        test,
        num_classes: classes.len(),
        class_names: classes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{GrayImage, ImageFormat, Rgb, RgbImage, RgbaImage};
    use std::fs;

    /// A w x h RGB image whose pixel (x, y) is (seed + x, seed + y, seed + x + y).
    fn rgb(w: u32, h: u32, seed: u8) -> RgbImage {
        RgbImage::from_fn(w, h, |x, y| {
            Rgb([seed + x as u8, seed + y as u8, seed + (x + y) as u8])
        })
    }

    fn grey(w: u32, h: u32, seed: u8) -> GrayImage {
        GrayImage::from_fn(w, h, |x, y| image::Luma([seed + (x * 2 + y) as u8]))
    }

    fn mkdir(p: &Path) -> &Path {
        fs::create_dir_all(p).unwrap();
        p
    }

    /// NCHW bytes of an RGB image.
    fn chw(img: &RgbImage) -> Vec<u8> {
        (0..3)
            .flat_map(|c| img.pixels().map(move |p| p[c]))
            .collect()
    }

    #[test]
    fn png_tree_reads_exact_pixels_in_order() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("tinyset");
        // Classes sorted by name: "ant" (0), "bee" (1), "cat" (2); test lacks "bee".
        let a0 = rgb(4, 3, 0);
        let a1 = rgb(4, 3, 50);
        let b0 = rgb(4, 3, 100);
        let c0 = rgb(4, 3, 150);
        let t0 = rgb(4, 3, 200);
        let t1 = rgb(4, 3, 20);
        // Mixed-case extensions; files deliberately written out of name order.
        a1.save_with_format(
            mkdir(&root.join("train/ant")).join("b.PNG"),
            ImageFormat::Png,
        )
        .unwrap();
        a0.save_with_format(root.join("train/ant/a.png"), ImageFormat::Png)
            .unwrap();
        c0.save_with_format(
            mkdir(&root.join("train/cat")).join("x.png"),
            ImageFormat::Png,
        )
        .unwrap();
        b0.save_with_format(
            mkdir(&root.join("train/bee")).join("y.png"),
            ImageFormat::Png,
        )
        .unwrap();
        fs::write(root.join("train/bee/notes.txt"), "ignored").unwrap();
        fs::write(root.join("train/bee/.hidden.png"), "ignored").unwrap();
        t0.save_with_format(
            mkdir(&root.join("test/cat")).join("1.png"),
            ImageFormat::Png,
        )
        .unwrap();
        t1.save_with_format(
            mkdir(&root.join("test/ant")).join("2.png"),
            ImageFormat::Png,
        )
        .unwrap();

        let ds = load_image_folder(&root).unwrap();
        assert_eq!(ds.name, "tinyset");
        assert_eq!(ds.class_names, vec!["ant", "bee", "cat"]);
        assert_eq!(ds.num_classes, 3);
        let t = &ds.train;
        assert_eq!((t.n, t.channels, t.height, t.width), (4, 3, 3, 4));
        assert_eq!(t.labels, vec![0, 0, 1, 2]);
        let want: Vec<u8> = [&a0, &a1, &b0, &c0].iter().flat_map(|i| chw(i)).collect();
        assert_eq!(t.images, want);
        let s = &ds.test;
        assert_eq!((s.n, s.channels, s.height, s.width), (2, 3, 3, 4));
        assert_eq!(s.labels, vec![0, 2]);
        assert_eq!(s.images, [chw(&t1), chw(&t0)].concat());
    }

    #[test]
    fn all_grey_gives_one_channel_and_val_is_used_without_test() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        let g0 = grey(5, 2, 0);
        let g1 = grey(5, 2, 40);
        g0.save(mkdir(&root.join("train/k")).join("0.png")).unwrap();
        g1.save(mkdir(&root.join("val/k")).join("0.png")).unwrap();
        let ds = load_image_folder(root).unwrap();
        let t = &ds.train;
        assert_eq!((t.n, t.channels, t.height, t.width), (1, 1, 2, 5));
        assert_eq!(t.images, g0.into_raw());
        assert_eq!(ds.test.images, g1.into_raw());
        assert_eq!(ds.test.labels, vec![0]);
    }

    #[test]
    fn grey_mixed_with_colour_is_replicated_and_alpha_dropped() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        let g = grey(2, 2, 7);
        g.save(mkdir(&root.join("train/a")).join("0.png")).unwrap();
        let rgba = RgbaImage::from_fn(2, 2, |x, y| image::Rgba([x as u8, y as u8, 9, 128]));
        rgba.save(mkdir(&root.join("test/a")).join("0.png"))
            .unwrap();
        let ds = load_image_folder(root).unwrap();
        assert_eq!(ds.train.channels, 3);
        let gp = g.into_raw();
        assert_eq!(ds.train.images, [gp.clone(), gp.clone(), gp].concat());
        assert_eq!(ds.test.images, vec![0, 1, 0, 1, 0, 0, 1, 1, 9, 9, 9, 9]);
    }

    #[test]
    fn jpeg_tree_decodes() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        // Flat colour survives JPEG almost exactly.
        let img = RgbImage::from_pixel(8, 8, Rgb([200, 100, 50]));
        img.save_with_format(
            mkdir(&root.join("train/c")).join("0.JPEG"),
            ImageFormat::Jpeg,
        )
        .unwrap();
        img.save_with_format(mkdir(&root.join("test/c")).join("0.jpg"), ImageFormat::Jpeg)
            .unwrap();
        let ds = load_image_folder(root).unwrap();
        assert_eq!((ds.train.n, ds.train.channels, ds.train.height), (1, 3, 8));
        for (c, want) in [200i32, 100, 50].iter().enumerate() {
            for &v in &ds.train.images[c * 64..(c + 1) * 64] {
                assert!(
                    (i32::from(v) - want).abs() <= 3,
                    "channel {c}: {v} vs {want}"
                );
            }
        }
    }

    #[test]
    fn many_images_keep_order_across_threads() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        mkdir(&root.join("train/a"));
        mkdir(&root.join("test/a"));
        // More than one BATCH so several work items are taken.
        for i in 0..(2 * BATCH + 5) {
            grey(1, 1, i as u8)
                .save(root.join(format!("train/a/{i:04}.png")))
                .unwrap();
        }
        grey(1, 1, 0).save(root.join("test/a/0.png")).unwrap();
        let ds = load_image_folder(root).unwrap();
        let want: Vec<u8> = (0..(2 * BATCH + 5)).map(|i| i as u8).collect();
        assert_eq!(ds.train.images, want);
    }

    #[test]
    fn mixed_sizes_are_refused_naming_the_file_and_sizes() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        rgb(4, 4, 0)
            .save(mkdir(&root.join("train/a")).join("0.png"))
            .unwrap();
        rgb(4, 4, 0).save(root.join("train/a/1.png")).unwrap();
        rgb(4, 5, 0)
            .save(mkdir(&root.join("test/a")).join("odd.png"))
            .unwrap();
        let msg = load_image_folder(root).unwrap_err().to_string();
        assert!(msg.contains("odd.png"), "{msg}");
        assert!(msg.contains("image is 4x5"), "{msg}");
        assert!(msg.contains("0.png is 4x4"), "{msg}");
    }

    #[test]
    fn undecodable_image_is_named() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        mkdir(&root.join("train/a"));
        for i in 0..(BATCH + 3) {
            grey(2, 2, 0)
                .save(root.join(format!("train/a/{i:03}.png")))
                .unwrap();
        }
        fs::write(root.join("train/a/070.png"), b"not a png at all").unwrap();
        fs::write(root.join("train/a/010.jpg"), b"\xff\xd8\xff broken").unwrap();
        grey(2, 2, 0)
            .save(mkdir(&root.join("test/a")).join("0.png"))
            .unwrap();
        let msg = load_image_folder(root).unwrap_err().to_string();
        // The first bad file in order is reported, whichever thread met which first.
        assert!(msg.contains("010.jpg"), "{msg}");
        assert!(msg.contains("cannot decode image"), "{msg}");
    }

    #[test]
    fn test_class_not_in_train_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        grey(2, 2, 0)
            .save(mkdir(&root.join("train/a")).join("0.png"))
            .unwrap();
        grey(2, 2, 0)
            .save(mkdir(&root.join("test/zebra")).join("0.png"))
            .unwrap();
        let msg = load_image_folder(root).unwrap_err().to_string();
        assert!(msg.contains("zebra"), "{msg}");
        assert!(
            msg.contains("not among the 1 classes of the train split"),
            "{msg}"
        );
    }

    #[test]
    fn missing_splits_and_empty_class_are_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        let msg = load_image_folder(root).unwrap_err().to_string();
        assert!(msg.contains("no train/ folder"), "{msg}");

        grey(2, 2, 0)
            .save(mkdir(&root.join("train/a")).join("0.png"))
            .unwrap();
        let msg = load_image_folder(root).unwrap_err().to_string();
        assert!(msg.contains("no test/ or val/ folder"), "{msg}");

        mkdir(&root.join("test/a"));
        let msg = load_image_folder(root).unwrap_err().to_string();
        assert!(msg.contains("test/a") || msg.contains("test\\a"), "{msg}");
        assert!(msg.contains("holds no .jpg, .jpeg or .png images"), "{msg}");
    }
}
