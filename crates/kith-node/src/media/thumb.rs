//! Thumbnails and metadata of photos: the picture is decoded with bounded memory (JPEGs at a
//! reduced scale straight from their DCT data), turned upright by its EXIF orientation,
//! shrunk to at most 320 pixels and encoded as JPEG. A hostile file gives an error, never a
//! crash or an unbounded allocation.

use std::io::{BufReader, Read, Seek};
use std::path::Path;
use std::time::Duration;

use image::{DynamicImage, ImageDecoder};
use thiserror::Error;

/// Longest side of a thumbnail, in pixels.
pub const THUMB_SIZE: u32 = 320;
/// Largest thumbnail accepted from anyone, in bytes.
pub const MAX_THUMB_BYTES: usize = 256 * 1024;
/// Largest picture decoded, in pixels (a decompression bomb claims far more).
const MAX_PIXELS: u64 = 100_000_000;
/// Most memory one decode may allocate.
const MAX_ALLOC: u64 = 128 * 1024 * 1024;
/// Longest one thumbnail may take before it is given up on.
pub const TIME_LIMIT: Duration = Duration::from_secs(10);

/// Why a thumbnail could not be made.
#[derive(Debug, Error)]
pub enum ThumbError {
    /// Not a picture this build decodes.
    #[error("not a supported picture")]
    Unsupported,
    /// Too large to decode safely.
    #[error("picture too large ({0}×{1})")]
    TooLarge(u32, u32),
    /// Broken or truncated.
    #[error("cannot decode: {0}")]
    Decode(String),
    /// Took too long.
    #[error("decoding took too long")]
    Timeout,
    /// Reading failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// What a photo says about itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PhotoMeta {
    /// Width as shown (after orientation).
    pub width: u32,
    /// Height as shown.
    pub height: u32,
    /// When it was taken (Unix seconds, camera's clock read as UTC), from EXIF.
    pub taken: Option<u64>,
    /// The thumbnail, JPEG.
    pub thumb: Vec<u8>,
}

/// EXIF orientation and date of a file, if it has them.
fn read_exif<R: std::io::BufRead + Seek>(r: &mut R) -> (u16, Option<u64>) {
    let Ok(e) = exif::Reader::new().read_from_container(r) else {
        return (1, None);
    };
    let orientation = e
        .get_field(exif::Tag::Orientation, exif::In::PRIMARY)
        .and_then(|f| f.value.get_uint(0))
        .filter(|o| (1..=8).contains(o))
        .unwrap_or(1) as u16;
    let taken = [exif::Tag::DateTimeOriginal, exif::Tag::DateTime]
        .iter()
        .find_map(|t| e.get_field(*t, exif::In::PRIMARY))
        .and_then(|f| match &f.value {
            exif::Value::Ascii(v) => v.first().and_then(|s| exif::DateTime::from_ascii(s).ok()),
            _ => None,
        })
        .and_then(|d| unix_secs(d.year, d.month, d.day, d.hour, d.minute, d.second));
    (orientation, taken)
}

/// Seconds since 1970 of a calendar date and time (proleptic Gregorian, UTC).
fn unix_secs(y: u16, mo: u8, d: u8, h: u8, mi: u8, s: u8) -> Option<u64> {
    if !(1970..=9999).contains(&y) || !(1..=12).contains(&mo) || !(1..=31).contains(&d) {
        return None;
    }
    let (y, m) = (y as i64 - (mo <= 2) as i64, mo as i64);
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * ((m + 9) % 12) + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    u64::try_from(days * 86_400 + h as i64 * 3600 + mi as i64 * 60 + s as i64).ok()
}

fn orient(img: DynamicImage, o: u16) -> DynamicImage {
    match o {
        2 => img.fliph(),
        3 => img.rotate180(),
        4 => img.flipv(),
        5 => img.rotate90().fliph(),
        6 => img.rotate90(),
        7 => img.rotate270().fliph(),
        8 => img.rotate270(),
        _ => img,
    }
}

/// Decodes a JPEG at the smallest DCT scale that still covers a thumbnail.
fn decode_jpeg<R: Read>(r: R) -> Result<(DynamicImage, u32, u32), ThumbError> {
    let mut d = jpeg_decoder::Decoder::new(r);
    d.read_info()
        .map_err(|e| ThumbError::Decode(e.to_string()))?;
    let info = d.info().ok_or(ThumbError::Unsupported)?;
    let (w, h) = (info.width as u32, info.height as u32);
    if w == 0 || h == 0 || w as u64 * h as u64 > MAX_PIXELS {
        return Err(ThumbError::TooLarge(w, h));
    }
    let (sw, sh) = d
        .scale(THUMB_SIZE as u16, THUMB_SIZE as u16)
        .map_err(|e| ThumbError::Decode(e.to_string()))?;
    d.set_max_decoding_buffer_size(MAX_ALLOC as usize);
    let px = d.decode().map_err(|e| ThumbError::Decode(e.to_string()))?;
    let (sw, sh) = (sw as u32, sh as u32);
    let info = d.info().ok_or(ThumbError::Unsupported)?;
    let bad = || ThumbError::Decode("short pixel data".into());
    let img = match info.pixel_format {
        jpeg_decoder::PixelFormat::RGB24 => {
            DynamicImage::ImageRgb8(image::RgbImage::from_raw(sw, sh, px).ok_or_else(bad)?)
        }
        jpeg_decoder::PixelFormat::L8 => {
            DynamicImage::ImageLuma8(image::GrayImage::from_raw(sw, sh, px).ok_or_else(bad)?)
        }
        jpeg_decoder::PixelFormat::L16 => {
            let v: Vec<u8> = px.chunks_exact(2).map(|c| c[0]).collect();
            DynamicImage::ImageLuma8(image::GrayImage::from_raw(sw, sh, v).ok_or_else(bad)?)
        }
        jpeg_decoder::PixelFormat::CMYK32 => {
            let v: Vec<u8> = px
                .chunks_exact(4)
                .flat_map(|c| {
                    let k = c[3] as u32;
                    [0, 1, 2].map(|i| (c[i] as u32 * k / 255) as u8)
                })
                .collect();
            DynamicImage::ImageRgb8(image::RgbImage::from_raw(sw, sh, v).ok_or_else(bad)?)
        }
    };
    Ok((img, w, h))
}

/// Decodes any other supported picture within the memory limit.
fn decode_other<R: std::io::BufRead + Seek>(r: R) -> Result<(DynamicImage, u32, u32), ThumbError> {
    let mut reader = image::ImageReader::new(r)
        .with_guessed_format()
        .map_err(ThumbError::Io)?;
    if reader.format().is_none() {
        return Err(ThumbError::Unsupported);
    }
    let mut limits = image::Limits::default();
    limits.max_alloc = Some(MAX_ALLOC);
    limits.max_image_width = Some(20_000);
    limits.max_image_height = Some(20_000);
    reader.limits(limits);
    let mut decoder = reader
        .into_decoder()
        .map_err(|e| ThumbError::Decode(e.to_string()))?;
    let (w, h) = decoder.dimensions();
    if w as u64 * h as u64 > MAX_PIXELS {
        return Err(ThumbError::TooLarge(w, h));
    }
    let orientation = decoder.orientation().ok();
    let mut img =
        DynamicImage::from_decoder(decoder).map_err(|e| ThumbError::Decode(e.to_string()))?;
    if let Some(o) = orientation {
        img.apply_orientation(o);
    }
    Ok((img, w, h))
}

fn encode(img: &DynamicImage) -> Result<Vec<u8>, ThumbError> {
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 80)
        .encode_image(&img.to_rgb8())
        .map_err(|e| ThumbError::Decode(e.to_string()))?;
    Ok(out)
}

/// Makes the thumbnail and metadata of the picture `r` reads (blocking).
pub fn describe_reader<R: std::io::BufRead + Seek>(mut r: R) -> Result<PhotoMeta, ThumbError> {
    let mut magic = [0u8; 3];
    r.read_exact(&mut magic)?;
    r.rewind()?;
    let jpeg = magic == [0xff, 0xd8, 0xff];
    let (orientation, taken) = read_exif(&mut r);
    r.rewind()?;
    // Shown size: a JPEG is decoded scaled down, so its size comes from its header (swapped
    // when its orientation turns it); other pictures are decoded whole and already upright.
    let (img, width, height) = if jpeg {
        let (img, w, h) = decode_jpeg(&mut r)?;
        let (w, h) = if (5..=8).contains(&orientation) {
            (h, w)
        } else {
            (w, h)
        };
        (orient(img, orientation), w, h)
    } else {
        let (img, _, _) = decode_other(r)?;
        let (w, h) = (img.width(), img.height());
        (img, w, h)
    };
    let small = if img.width() <= THUMB_SIZE && img.height() <= THUMB_SIZE {
        img
    } else {
        img.thumbnail(THUMB_SIZE, THUMB_SIZE)
    };
    Ok(PhotoMeta {
        width,
        height,
        taken,
        thumb: encode(&small)?,
    })
}

/// Makes the thumbnail and metadata of the picture at `path`, giving up after the time limit.
pub fn describe(path: &Path) -> Result<PhotoMeta, ThumbError> {
    let path = path.to_path_buf();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("kith-thumb".into())
        .spawn(move || {
            let r = std::fs::File::open(&path)
                .map_err(ThumbError::Io)
                .and_then(|f| describe_reader(BufReader::new(f)));
            let _ = tx.send(r);
        })?;
    rx.recv_timeout(TIME_LIMIT)
        .unwrap_or(Err(ThumbError::Timeout))
}

/// Checks a thumbnail handed in from outside (the add-on): small, and a picture that decodes
/// within bounds to at most twice the thumbnail size.
pub fn check_thumb(bytes: &[u8]) -> Result<(u32, u32), ThumbError> {
    if bytes.len() > MAX_THUMB_BYTES {
        return Err(ThumbError::TooLarge(0, 0));
    }
    let (img, w, h) = decode_other(std::io::Cursor::new(bytes))?;
    if w > 2 * THUMB_SIZE || h > 2 * THUMB_SIZE {
        return Err(ThumbError::TooLarge(w, h));
    }
    Ok((img.width(), img.height()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::exif_build::{jpeg_with_exif, ExifSpec};
    use std::io::Cursor;

    fn photo(w: u32, h: u32, spec: &ExifSpec) -> Vec<u8> {
        let img = image::RgbImage::from_fn(w, h, |x, y| {
            image::Rgb([
                (x % 256) as u8,
                (y % 256) as u8,
                if x < w / 2 { 255 } else { 0 },
            ])
        });
        jpeg_with_exif(&img, 85, spec)
    }

    fn crc32(data: &[u8]) -> u32 {
        let mut c = 0xffff_ffffu32;
        for b in data {
            c ^= *b as u32;
            for _ in 0..8 {
                c = if c & 1 == 1 {
                    (c >> 1) ^ 0xedb8_8320
                } else {
                    c >> 1
                };
            }
        }
        !c
    }

    #[test]
    fn a_turned_photo_gets_an_upright_thumbnail_its_shown_size_and_its_date() {
        let spec = ExifSpec {
            orientation: Some(6),
            taken: Some("2026:07:14 10:30:00".into()),
            ..Default::default()
        };
        let m = describe_reader(Cursor::new(photo(1600, 1200, &spec))).expect("thumb");
        assert_eq!((m.width, m.height), (1200, 1600));
        assert_eq!(m.taken, Some(1_784_025_000));
        let t = image::load_from_memory(&m.thumb).expect("a JPEG");
        assert_eq!((t.width(), t.height()), (240, 320));
        // Turned 90° clockwise: the source's left half (blue) is now on top.
        let top = t.to_rgb8().get_pixel(120, 10).0;
        let bottom = t.to_rgb8().get_pixel(120, 310).0;
        assert!(
            top[2] > 200 && bottom[2] < 60,
            "top {top:?} bottom {bottom:?}"
        );
    }

    #[test]
    fn pngs_get_thumbnails_and_small_pictures_are_not_enlarged() {
        let img = image::RgbaImage::from_pixel(100, 50, image::Rgba([1, 2, 3, 255]));
        let mut png = Vec::new();
        img.write_to(&mut Cursor::new(&mut png), image::ImageFormat::Png)
            .expect("png");
        let m = describe_reader(Cursor::new(png)).expect("thumb");
        assert_eq!((m.width, m.height, m.taken), (100, 50, None));
        let t = image::load_from_memory(&m.thumb).expect("a JPEG");
        assert_eq!((t.width(), t.height()), (100, 50));
    }

    #[test]
    fn decompression_bombs_truncated_files_and_garbage_give_errors_not_crashes() {
        // A PNG whose header claims 100,000 × 100,000 pixels.
        let mut png = Vec::new();
        image::RgbImage::new(1, 1)
            .write_to(&mut Cursor::new(&mut png), image::ImageFormat::Png)
            .expect("png");
        png[16..20].copy_from_slice(&100_000u32.to_be_bytes());
        png[20..24].copy_from_slice(&100_000u32.to_be_bytes());
        let crc = crc32(&png[12..29]);
        png[29..33].copy_from_slice(&crc.to_be_bytes());
        let e = describe_reader(Cursor::new(png)).expect_err("a bomb");
        assert!(
            matches!(e, ThumbError::TooLarge(..) | ThumbError::Decode(_)),
            "{e}"
        );
        // A JPEG whose frame header claims 60,000 × 60,000.
        let mut jpeg = photo(16, 16, &ExifSpec::default());
        let sof = jpeg
            .windows(2)
            .position(|w| w == [0xff, 0xc0])
            .expect("baseline frame");
        jpeg[sof + 5..sof + 7].copy_from_slice(&60_000u16.to_be_bytes());
        jpeg[sof + 7..sof + 9].copy_from_slice(&60_000u16.to_be_bytes());
        let e = describe_reader(Cursor::new(jpeg)).expect_err("a bomb");
        assert!(matches!(e, ThumbError::TooLarge(60_000, 60_000)), "{e}");
        // Truncated in its header, and not a picture at all.
        let short = photo(64, 64, &ExifSpec::default())[..120].to_vec();
        assert!(describe_reader(Cursor::new(short)).is_err());
        let e = describe_reader(Cursor::new(b"just some text".to_vec())).expect_err("text");
        assert!(matches!(e, ThumbError::Unsupported), "{e}");
    }

    #[test]
    fn handed_in_thumbnails_must_be_small_pictures() {
        let m = describe_reader(Cursor::new(photo(640, 480, &ExifSpec::default()))).expect("ok");
        assert_eq!(check_thumb(&m.thumb).expect("fine"), (320, 240));
        assert!(check_thumb(b"<svg onload=alert(1)>").is_err());
        assert!(check_thumb(&photo(1000, 800, &ExifSpec::default())).is_err());
        assert!(check_thumb(&vec![0u8; MAX_THUMB_BYTES + 1]).is_err());
    }
}
