//! `ImageFolder`: PNG and JPEG images, one sub-folder per class.

use std::path::{Path, PathBuf};

use ingot_core::{Error, Result};

use crate::dataset::{Dataset, Sample, Target, check_index};
use crate::files::bad;

/// Images under `root/<class>/<file>` (`.png`, `.jpg`, `.jpeg`), classes
/// numbered in sorted folder order, decoded to RGB `[3, H, W]` in `[0, 1]`
/// when fetched (so decoding runs in the loader's workers). Images of
/// different sizes need a `Resize` transform before batching.
///
/// ```
/// use ingot::data::{Dataset, ImageFolder};
/// let dir = std::env::temp_dir().join("ingot-doc-image-folder");
/// for class in ["cat", "dog"] {
///     std::fs::create_dir_all(dir.join(class))?;
///     image::RgbImage::new(4, 3).save(dir.join(class).join("a.png")).unwrap();
/// }
/// let ds = ImageFolder::load(&dir)?;
/// assert_eq!(ds.classes(), &["cat", "dog"]);
/// assert_eq!(ds.get(1)?.shape, vec![3, 3, 4]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct ImageFolder {
    classes: Vec<String>,
    files: Vec<(PathBuf, usize)>,
}

impl std::fmt::Debug for ImageFolder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "ImageFolder({} images, classes {:?})",
            self.files.len(),
            self.classes
        )
    }
}

fn is_image(p: &Path) -> bool {
    p.extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .is_some_and(|e| matches!(e.as_str(), "png" | "jpg" | "jpeg"))
}

fn list(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|source| Error::Io {
            path: dir.to_path_buf(),
            source,
        })?
        .map(|e| {
            e.map(|e| e.path()).map_err(|source| Error::Io {
                path: dir.to_path_buf(),
                source,
            })
        })
        .collect::<Result<_>>()?;
    out.sort();
    Ok(out)
}

impl ImageFolder {
    /// Indexes the images under `root` (decoding happens in [`Dataset::get`]).
    ///
    /// ```
    /// assert!(ingot::data::ImageFolder::load("/nonexistent").is_err());
    /// ```
    pub fn load(root: impl AsRef<Path>) -> Result<ImageFolder> {
        let root = root.as_ref();
        let mut classes = Vec::new();
        let mut files = Vec::new();
        for dir in list(root)?.into_iter().filter(|p| p.is_dir()) {
            let class = classes.len();
            classes.push(
                dir.file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
            );
            files.extend(
                list(&dir)?
                    .into_iter()
                    .filter(|p| p.is_file() && is_image(p))
                    .map(|p| (p, class)),
            );
        }
        if files.is_empty() {
            return Err(bad(
                root,
                "no images found (expected root/<class>/<image>.png|jpg)",
            ));
        }
        Ok(ImageFolder { classes, files })
    }

    /// Class names in index order.
    ///
    /// ```no_run
    /// let ds = ingot::data::ImageFolder::load("photos")?;
    /// println!("{:?}", ds.classes());
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn classes(&self) -> &[String] {
        &self.classes
    }

    /// The file and class of example `index`.
    ///
    /// ```no_run
    /// let ds = ingot::data::ImageFolder::load("photos")?;
    /// let (path, class) = ds.file(0).unwrap();
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn file(&self, index: usize) -> Option<(&Path, usize)> {
        self.files.get(index).map(|(p, c)| (p.as_path(), *c))
    }
}

/// The most pixels [`decode_image`] decodes (64 megapixels, 8192 x 8192):
/// a file whose header declares more is an error before any pixel memory is
/// allocated, so a damaged or hostile header cannot ask for gigabytes.
///
/// ```
/// assert_eq!(ingot::data::MAX_IMAGE_PIXELS, 8192 * 8192);
/// ```
pub const MAX_IMAGE_PIXELS: u64 = 1 << 26;

/// Decodes an image file to RGB `[3, H, W]` in `[0, 1]`. Images of more
/// than [`MAX_IMAGE_PIXELS`] are an error.
///
/// ```
/// let path = std::env::temp_dir().join("ingot-doc-decode.png");
/// image::RgbImage::new(2, 2).save(&path).unwrap();
/// let (pixels, shape) = ingot::data::decode_image(&path)?;
/// assert_eq!((pixels.len(), shape), (12, vec![3, 2, 2]));
/// # Ok::<(), ingot::Error>(())
/// ```
pub fn decode_image(path: &Path) -> Result<(Vec<f32>, Vec<usize>)> {
    use image::ImageDecoder;
    let bytes = std::fs::read(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let cannot = |e: &dyn std::fmt::Display| bad(path, format!("cannot decode image: {e}"));
    let mut reader = image::ImageReader::new(std::io::Cursor::new(&bytes))
        .with_guessed_format()
        .map_err(|e| cannot(&e))?;
    let mut limits = image::Limits::default();
    // Up to 16-bit RGBA, 8 bytes a pixel, for the decoder's own buffers.
    limits.max_alloc = Some(8 * MAX_IMAGE_PIXELS);
    reader.limits(limits);
    let decoder = reader.into_decoder().map_err(|e| cannot(&e))?;
    let (w, h) = decoder.dimensions();
    if u64::from(w) * u64::from(h) > MAX_IMAGE_PIXELS {
        return Err(bad(
            path,
            format!(
                "the image is {w} x {h}: more than the {MAX_IMAGE_PIXELS} pixels decode_image takes"
            ),
        ));
    }
    let img = image::DynamicImage::from_decoder(decoder)
        .map_err(|e| cannot(&e))?
        .to_rgb8();
    let (w, h) = (img.width() as usize, img.height() as usize);
    let mut out = vec![0f32; 3 * h * w];
    for (i, p) in img.pixels().enumerate() {
        for c in 0..3 {
            out[c * h * w + i] = p[c] as f32 / 255.0;
        }
    }
    Ok((out, vec![3, h, w]))
}

impl Dataset for ImageFolder {
    type Item = Sample;
    fn len(&self) -> usize {
        self.files.len()
    }
    fn get(&self, index: usize) -> Result<Sample> {
        check_index("ImageFolder", index, self.files.len())?;
        let (path, class) = &self.files[index];
        let (features, shape) = decode_image(path)?;
        Ok(Sample::new(features, shape, Target::Class(*class as i64)))
    }
}
