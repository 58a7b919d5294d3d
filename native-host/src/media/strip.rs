//! Removing the location from a photo (JPEG, PNG, WebP) without touching anything else: the
//! GPS block of its EXIF is blanked and unlinked, and GPS fields in its XMP are blanked, in
//! place, so every other byte (the picture, the other metadata, the length) stays as it was
//! (a PNG chunk that changed gets its checksum recomputed).

use std::io::Read;
use std::path::Path;

use thiserror::Error;

/// Why a photo's location could not be removed.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum StripError {
    /// The EXIF block is malformed, so the location cannot be found with certainty.
    #[error("its EXIF metadata is malformed ({0})")]
    Malformed(&'static str),
    /// Reading or writing failed.
    #[error("{0}")]
    Io(String),
}

/// Byte changes to make: (offset in the file, new bytes).
pub type Patches = Vec<(usize, Vec<u8>)>;

/// Whether a file is a JPEG, by its first bytes.
pub fn is_jpeg(head: &[u8]) -> bool {
    head.starts_with(&[0xff, 0xd8, 0xff])
}

/// The changes that remove the location from a JPEG's header segments (everything before the
/// image data); empty when it has none. A metadata segment too malformed to read is blanked
/// whole, so no location can hide in it.
pub fn gps_patches(head: &[u8]) -> Patches {
    let mut patches = Vec::new();
    let mut at = 2usize;
    while at + 4 <= head.len() {
        if head[at] != 0xff {
            break; // not a segment: no metadata a reader would find follows
        }
        let marker = head[at + 1];
        if marker == 0xda || marker == 0xd9 {
            break; // image data starts: no metadata after this
        }
        if marker == 0xff || (0xd0..=0xd7).contains(&marker) || marker == 0x01 {
            at += if marker == 0xff { 1 } else { 2 };
            continue;
        }
        let len = u16::from_be_bytes([head[at + 2], head[at + 3]]) as usize;
        let end = (at + 2 + len).min(head.len()); // a truncated file ends inside it
        if len < 2 {
            break;
        }
        let body = &head[at + 4..end];
        if marker == 0xe1 && body.starts_with(b"Exif\0\0") {
            let tiff_at = at + 10;
            match tiff_gps(&body[6..]) {
                Ok(p) => patches.extend(p.into_iter().map(|(off, b)| (tiff_at + off, b))),
                Err(_) => patches.push((at + 4, vec![0; body.len()])),
            }
        } else if marker == 0xe1 && body.starts_with(b"http://ns.adobe.com/xap/1.0/\0") {
            for (off, bytes) in xmp_gps(body) {
                patches.push((at + 4 + off, bytes));
            }
        }
        at = end;
    }
    patches
}

struct Tiff<'a> {
    b: &'a [u8],
    big: bool,
}

impl Tiff<'_> {
    fn u16(&self, at: usize) -> Result<u16, StripError> {
        let s = self
            .b
            .get(at..at + 2)
            .ok_or(StripError::Malformed("short read"))?;
        Ok(if self.big {
            u16::from_be_bytes([s[0], s[1]])
        } else {
            u16::from_le_bytes([s[0], s[1]])
        })
    }

    fn u32(&self, at: usize) -> Result<u32, StripError> {
        let s = self
            .b
            .get(at..at + 4)
            .ok_or(StripError::Malformed("short read"))?;
        let a = [s[0], s[1], s[2], s[3]];
        Ok(if self.big {
            u32::from_be_bytes(a)
        } else {
            u32::from_le_bytes(a)
        })
    }

    fn ifd_len(&self, at: usize) -> Result<usize, StripError> {
        let n = self.u16(at)? as usize;
        let len = 2 + 12 * n + 4;
        if at + len > self.b.len() {
            return Err(StripError::Malformed("IFD out of bounds"));
        }
        Ok(len)
    }
}

fn type_size(t: u16) -> usize {
    match t {
        3 | 8 => 2,
        4 | 9 | 11 => 4,
        5 | 10 | 12 => 8,
        _ => 1,
    }
}

/// Patches (offsets inside the TIFF body) that unlink and blank the GPS IFD.
fn tiff_gps(b: &[u8]) -> Result<Patches, StripError> {
    let big = match b.get(..4) {
        Some(b"MM\0\x2a") => true,
        Some(b"II\x2a\0") => false,
        _ => return Err(StripError::Malformed("TIFF header")),
    };
    let t = Tiff { b, big };
    let ifd0 = t.u32(4)? as usize;
    let len0 = t.ifd_len(ifd0)?;
    let n = (len0 - 6) / 12;
    let Some(k) = (0..n)
        .map(|k| t.u16(ifd0 + 2 + 12 * k))
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .position(|tag| tag == 0x8825)
    else {
        return Ok(Vec::new());
    };
    let gps = t.u32(ifd0 + 2 + 12 * k + 8)? as usize;
    let mut patches = Vec::new();
    // Blank the GPS IFD's out-of-line values, then the IFD itself.
    if let Ok(len) = t.ifd_len(gps) {
        for j in 0..(len - 6) / 12 {
            let e = gps + 2 + 12 * j;
            let size = type_size(t.u16(e + 2)?).saturating_mul(t.u32(e + 4)? as usize);
            if size > 4 {
                let off = t.u32(e + 8)? as usize;
                if off.checked_add(size).is_none_or(|end| end > b.len()) {
                    return Err(StripError::Malformed("GPS value out of bounds"));
                }
                patches.push((off, vec![0; size]));
            }
        }
        patches.push((gps, vec![0; len]));
    }
    // Unlink it: drop its entry from IFD0 (later entries and the next-IFD offset move up).
    let mut entries = b[ifd0 + 2..ifd0 + len0].to_vec();
    entries.drain(12 * k..12 * k + 12);
    entries.extend([0u8; 12]);
    let count = (n as u16 - 1).to_be_bytes();
    let count = if big {
        count.to_vec()
    } else {
        vec![count[1], count[0]]
    };
    patches.push((ifd0, count));
    patches.push((ifd0 + 2, entries));
    Ok(patches)
}

/// Patches (offsets inside the XMP segment body) blanking every `exif:GPS…` value.
fn xmp_gps(body: &[u8]) -> Patches {
    let mut patches = Vec::new();
    let needle = b"exif:GPS";
    let mut i = 0;
    while let Some(p) = find(&body[i..], needle) {
        let start = i + p;
        let name_end = start
            + body[start..]
                .iter()
                .position(|c| !(c.is_ascii_alphanumeric() || *c == b':'))
                .unwrap_or(body.len() - start);
        let closing = start > 0 && body[start - 1] == b'/';
        let rest = &body[name_end..];
        if !closing {
            if let Some(q) = rest.strip_prefix(b"=\"") {
                // Attribute form: exif:GPSLatitude="…"
                if let Some(len) = q.iter().position(|c| *c == b'"') {
                    patches.push((name_end + 2, vec![b' '; len]));
                }
            } else if rest.starts_with(b">") {
                // Element form: <exif:GPSLatitude>…</exif:GPSLatitude>
                if let Some(len) = rest[1..].iter().position(|c| *c == b'<') {
                    patches.push((name_end + 1, vec![b' '; len]));
                }
            }
        }
        i = name_end;
    }
    patches
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Patches (offsets inside `body`) that remove the location from an EXIF block (with or
/// without its `Exif\0\0` prefix); an unreadable block is blanked whole.
fn exif_block(body: &[u8]) -> Patches {
    let skip = if body.starts_with(b"Exif\0\0") { 6 } else { 0 };
    match tiff_gps(&body[skip..]) {
        Ok(p) => p.into_iter().map(|(o, b)| (o + skip, b)).collect(),
        Err(_) => vec![(0, vec![0; body.len()])],
    }
}

/// CRC-32 as PNG uses it.
fn crc32(parts: &[&[u8]]) -> u32 {
    let mut c = 0xffff_ffffu32;
    for b in parts.iter().flat_map(|p| p.iter()) {
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

/// Largest metadata chunk read (EXIF and XMP are far smaller).
const META_MAX: u64 = 4 * 1024 * 1024;

fn read_at(f: &std::fs::File, off: u64, len: usize) -> std::io::Result<Vec<u8>> {
    use std::os::unix::fs::FileExt;
    let mut b = vec![0u8; len];
    f.read_exact_at(&mut b, off)?;
    Ok(b)
}

/// The changes that remove the location from a PNG (its `eXIf` chunk and uncompressed XMP in
/// `iTXt`), each changed chunk with its checksum recomputed. Walks chunk headers only.
fn png_patches(f: &std::fs::File, size: u64) -> std::io::Result<Patches> {
    let mut out = Vec::new();
    let mut at = 8u64;
    while at + 12 <= size {
        let head = read_at(f, at, 8)?;
        let len = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) as u64;
        let kind = [head[4], head[5], head[6], head[7]];
        let data_at = at + 8;
        if data_at + len + 4 > size {
            break;
        }
        let wanted = &kind == b"eXIf" || &kind == b"iTXt";
        if wanted && len <= META_MAX {
            let data = read_at(f, data_at, len as usize)?;
            let inner = if &kind == b"eXIf" {
                exif_block(&data)
            } else if data.starts_with(b"XML:com.adobe.xmp\0\0") {
                xmp_gps(&data)
            } else {
                Vec::new()
            };
            if !inner.is_empty() {
                let mut new = data;
                for (o, b) in inner {
                    new[o..o + b.len()].copy_from_slice(&b);
                }
                let crc = crc32(&[&kind, &new]);
                out.push((data_at as usize, new));
                out.push(((data_at + len) as usize, crc.to_be_bytes().to_vec()));
            }
        }
        if &kind == b"IEND" {
            break;
        }
        at = data_at + len + 4;
    }
    Ok(out)
}

/// The changes that remove the location from a WebP (its `EXIF` and `XMP ` chunks).
fn webp_patches(f: &std::fs::File, size: u64) -> std::io::Result<Patches> {
    let mut out = Vec::new();
    let mut at = 12u64;
    while at + 8 <= size {
        let head = read_at(f, at, 8)?;
        let len = u32::from_le_bytes([head[4], head[5], head[6], head[7]]) as u64;
        let data_at = at + 8;
        if data_at + len > size {
            break;
        }
        let kind = &head[..4];
        if (kind == b"EXIF" || kind == b"XMP ") && len <= META_MAX {
            let data = read_at(f, data_at, len as usize)?;
            let inner = if kind == b"EXIF" {
                exif_block(&data)
            } else {
                xmp_gps(&data)
            };
            out.extend(inner.into_iter().map(|(o, b)| (data_at as usize + o, b)));
        }
        at = data_at + len + (len & 1);
    }
    Ok(out)
}

/// Most header bytes read looking for metadata (every segment before the image data).
const HEAD_MAX: u64 = 1024 * 1024;

/// Copies the photo (JPEG, PNG or WebP) at `from` to `to` without its location, or returns
/// false (writing nothing) when it has none.
pub fn copy_without_gps(from: &Path, to: &Path) -> Result<bool, StripError> {
    let io = |e: std::io::Error| StripError::Io(format!("{}: {e}", from.display()));
    let mut head = Vec::new();
    std::fs::File::open(from)
        .map_err(io)?
        .take(HEAD_MAX)
        .read_to_end(&mut head)
        .map_err(io)?;
    let f = std::fs::File::open(from).map_err(io)?;
    let size = f.metadata().map_err(io)?.len();
    let patches = if is_jpeg(&head) {
        gps_patches(&head)
    } else if head.starts_with(b"\x89PNG\r\n\x1a\n") {
        png_patches(&f, size).map_err(io)?
    } else if head.len() >= 12 && &head[..4] == b"RIFF" && &head[8..12] == b"WEBP" {
        webp_patches(&f, size).map_err(io)?
    } else {
        Vec::new()
    };
    if patches.is_empty() {
        return Ok(false);
    }
    let tmp = to.with_extension("kith-tmp");
    let write = || -> std::io::Result<()> {
        use std::os::unix::fs::FileExt;
        std::fs::copy(from, &tmp)?;
        let f = std::fs::OpenOptions::new().write(true).open(&tmp)?;
        for (off, bytes) in &patches {
            f.write_all_at(bytes, *off as u64)?;
        }
        f.sync_all()?;
        std::fs::rename(&tmp, to)
    };
    write().map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        StripError::Io(format!("{}: {e}", to.display()))
    })?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::exif_build::{jpeg_with_exif, ExifSpec};

    fn photo(gps: bool) -> Vec<u8> {
        let img =
            image::RgbImage::from_fn(64, 48, |x, y| image::Rgb([x as u8 * 4, y as u8 * 5, 90]));
        jpeg_with_exif(
            &img,
            90,
            &ExifSpec {
                make: Some("KithCam".into()),
                orientation: Some(6),
                taken: Some("2026:07:14 10:30:00".into()),
                gps: gps.then_some((48.8584, 2.2945)),
            },
        )
    }

    fn fields(jpeg: &[u8]) -> Vec<(String, String)> {
        let r = exif::Reader::new()
            .read_from_container(&mut std::io::Cursor::new(jpeg))
            .expect("exif");
        r.fields()
            .map(|f| (f.tag.to_string(), f.display_value().to_string()))
            .collect()
    }

    fn apply(data: &[u8], patches: &Patches) -> Vec<u8> {
        let mut out = data.to_vec();
        for (off, b) in patches {
            out[*off..*off + b.len()].copy_from_slice(b);
        }
        out
    }

    #[test]
    fn gps_is_removed_and_every_other_field_and_pixel_is_unchanged() {
        let with = photo(true);
        let before = fields(&with);
        assert!(before.iter().any(|(t, _)| t == "GPSLatitude"), "{before:?}");
        let stripped = apply(&with, &gps_patches(&with));
        assert_eq!(stripped.len(), with.len());
        let after = fields(&stripped);
        assert!(
            !after.iter().any(|(t, _)| t.starts_with("GPS")),
            "{after:?}"
        );
        let kept: Vec<_> = before
            .into_iter()
            .filter(|(t, _)| !t.starts_with("GPS"))
            .collect();
        assert_eq!(after, kept);
        // The image data (from the start-of-scan marker on) is byte for byte the same.
        let sos = with
            .windows(2)
            .position(|w| w == [0xff, 0xda])
            .expect("sos");
        assert_eq!(stripped[sos..], with[sos..]);
        assert_eq!(
            image::load_from_memory(&stripped)
                .expect("decodes")
                .to_rgb8(),
            image::load_from_memory(&with).expect("decodes").to_rgb8()
        );
    }

    #[test]
    fn a_photo_without_gps_needs_no_change_and_unreadable_exif_is_blanked_whole() {
        assert!(gps_patches(&photo(false)).is_empty());
        let mut bad = photo(true);
        // Point IFD0 far outside the block: the whole EXIF segment is blanked.
        let tiff = 12;
        bad[tiff + 4..tiff + 8].copy_from_slice(&0x00ff_ffffu32.to_be_bytes());
        let len = u16::from_be_bytes([bad[4], bad[5]]) as usize;
        assert_eq!(gps_patches(&bad), vec![(6, vec![0; len - 2])]);
        let blanked = apply(&bad, &gps_patches(&bad));
        assert!(exif::Reader::new()
            .read_from_container(&mut std::io::Cursor::new(&blanked))
            .is_err());
        assert!(image::load_from_memory(&blanked).is_ok());
        // Cut inside the EXIF segment: what is there is blanked.
        let cut = &photo(true)[..30];
        assert_eq!(gps_patches(cut), vec![(6, vec![0; 24])]);
        assert!(gps_patches(&[0xff, 0xd8, 0xff, 0xe1, 0xff]).is_empty());
    }

    /// The TIFF body of the EXIF block of `photo(true)`.
    fn exif_body() -> Vec<u8> {
        let j = photo(true);
        let len = u16::from_be_bytes([j[4], j[5]]) as usize;
        j[12..4 + len].to_vec()
    }

    #[test]
    fn png_and_webp_photos_lose_their_location_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let img = image::RgbImage::from_pixel(8, 8, image::Rgb([1, 2, 3]));
        let mut png = Vec::new();
        img.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
            .unwrap();
        // Insert an eXIf chunk after IHDR (8 + 25 bytes).
        let body = exif_body();
        let mut chunk = (body.len() as u32).to_be_bytes().to_vec();
        chunk.extend(b"eXIf");
        chunk.extend(&body);
        chunk.extend(crc32(&[b"eXIf", &body]).to_be_bytes());
        let mut with = png[..33].to_vec();
        with.extend(&chunk);
        with.extend(&png[33..]);
        let (from, to) = (dir.path().join("a.png"), dir.path().join("b.png"));
        std::fs::write(&from, &with).unwrap();
        assert!(copy_without_gps(&from, &to).unwrap());
        let out = std::fs::read(&to).unwrap();
        assert_eq!(
            std::fs::read(&from).unwrap(),
            with,
            "the original is untouched"
        );
        assert_eq!(out.len(), with.len());
        let fields = |b: &[u8]| {
            exif::Reader::new()
                .read_raw(b[33 + 8..33 + 8 + body.len()].to_vec())
                .expect("exif")
                .fields()
                .map(|f| f.tag.to_string())
                .collect::<Vec<_>>()
        };
        assert!(fields(&with).iter().any(|t| t.starts_with("GPS")));
        assert!(!fields(&out).iter().any(|t| t.starts_with("GPS")));
        assert!(fields(&out).iter().any(|t| t == "Make"));
        // The PNG still decodes (its checksums are right) to the same pixels.
        assert_eq!(image::load_from_memory(&out).unwrap().to_rgb8(), img);

        // WebP: RIFF with an EXIF chunk.
        let mut riff = b"WEBP".to_vec();
        riff.extend(b"EXIF");
        riff.extend((body.len() as u32).to_le_bytes());
        riff.extend(&body);
        if body.len() % 2 == 1 {
            riff.push(0);
        }
        let mut webp = b"RIFF".to_vec();
        webp.extend((riff.len() as u32).to_le_bytes());
        webp.extend(riff);
        let (from, to) = (dir.path().join("a.webp"), dir.path().join("b.webp"));
        std::fs::write(&from, &webp).unwrap();
        assert!(copy_without_gps(&from, &to).unwrap());
        let out = std::fs::read(&to).unwrap();
        let tags: Vec<String> = exif::Reader::new()
            .read_raw(out[20..20 + body.len()].to_vec())
            .expect("exif")
            .fields()
            .map(|f| f.tag.to_string())
            .collect();
        assert!(!tags.iter().any(|t| t.starts_with("GPS")) && tags.iter().any(|t| t == "Make"));
        // A photo without a location is not copied.
        std::fs::write(&from, &png).unwrap();
        assert!(!copy_without_gps(&dir.path().join("a.webp"), &dir.path().join("c")).unwrap());
    }

    #[test]
    fn gps_values_in_xmp_are_blanked_in_both_forms() {
        let xmp = b"http://ns.adobe.com/xap/1.0/\0<x exif:GPSLatitude=\"48,51.5N\" a=\"b\"><exif:GPSLongitude>2,17.7E</exif:GPSLongitude></x>";
        let out = apply(xmp, &xmp_gps(xmp));
        let text = String::from_utf8_lossy(&out);
        assert!(
            !text.contains("48,51.5N") && !text.contains("2,17.7E"),
            "{text}"
        );
        assert!(text.contains("a=\"b\"") && text.contains("</exif:GPSLongitude>"));
        assert_eq!(out.len(), xmp.len());
    }
}
