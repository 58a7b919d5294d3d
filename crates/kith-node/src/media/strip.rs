//! Removing the location from photos and videos without touching anything else.
//!
//! * JPEG (and its secondary pictures and what follows it: MPF images, a motion photo's MP4),
//!   PNG, WebP, TIFF/DNG and HEIC/HEIF/AVIF photos: the GPS block of their EXIF is blanked and
//!   unlinked, and location properties of their XMP are blanked, into a copy; every other byte
//!   stays as it was (a PNG chunk that changed gets its checksum recomputed; compressed XMP in a
//!   PNG is inflated, blanked and deflated into a new chunk).
//! * MP4/MOV videos: the location boxes are blanked by same-length patches laid over the
//!   original when it is hashed and served (see `transfer::overlay`), so no video is copied.
//! * Matroska/WebM videos: proven free of location by walking their EBML structure, or their
//!   location tags blanked the same way (see `matroska`).
//!
//! A photo or video whose location cannot be removed (a format Kith does not know, or a file
//! too damaged to prove clean) is an error, so it is never shared silently.

use std::path::Path;

use thiserror::Error;

use super::isobmff::{self, ReadAt};
use super::matroska;
use super::xmp;
use crate::transfer::overlay::{self, Patch};

/// Why a file's location could not be removed.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum StripError {
    /// The file is malformed, so its location cannot be found with certainty.
    #[error("it is damaged ({0}), so its location cannot be found with certainty")]
    Malformed(&'static str),
    /// Kith cannot remove a location from this kind of file.
    #[error("Kith cannot remove a location from {0}")]
    Unsupported(String),
    /// Reading or writing failed.
    #[error("{0}")]
    Io(String),
}

/// Byte changes to make: (offset in the file, new bytes of the same length).
pub type Patches = Vec<(usize, Vec<u8>)>;

/// What removing a file's location takes.
#[derive(Debug, PartialEq, Eq)]
pub enum Removal {
    /// Not a photo or video, or one without a location: shared as it is.
    Clean,
    /// A photo: a copy without its location was written where asked.
    Copied,
    /// A video: these same-length patches, laid over it, remove its location.
    Overlay(Vec<Patch>),
}

/// Whether a file is a JPEG, by its first bytes.
pub fn is_jpeg(head: &[u8]) -> bool {
    head.starts_with(&[0xff, 0xd8, 0xff])
}

const XMP_STD: &[u8] = b"http://ns.adobe.com/xap/1.0/\0";
const XMP_EXT: &[u8] = b"http://ns.adobe.com/xmp/extension/\0";
/// Largest Extended XMP accepted.
const EXT_MAX: usize = 16 * 1024 * 1024;

/// The changes that remove the location from a JPEG's header segments, its Extended XMP, and
/// whatever follows its end: further JPEGs (MPF secondary images) and an ISOBMFF video (a
/// motion photo); anything else after the picture is refused.
pub fn jpeg_patches(data: &[u8]) -> Result<Patches, StripError> {
    let mut out = Vec::new();
    let mut at = 0usize;
    let mut first = true;
    while at < data.len() {
        let rest = &data[at..];
        if is_jpeg(rest) {
            let (p, len) = one_jpeg(rest, first)?;
            out.extend(p.into_iter().map(|(o, b)| (at + o, b)));
            at += len;
            first = false;
        } else if isobmff::is_isobmff(rest) {
            let p = isobmff::patches(rest, 0, rest.len() as u64)?;
            out.extend(p.into_iter().map(|(o, b)| (at + o, b)));
            break;
        } else if rest[0] == 0 || rest[0] == 0xff {
            at += 1; // padding
        } else {
            return Err(StripError::Unsupported(
                "a JPEG followed by data it does not know".into(),
            ));
        }
    }
    Ok(out)
}

/// One JPEG from its start: the patches for its metadata and its length (to its EOI marker).
/// The first picture of a file may be cut short (what is there is handled); a later one may not.
fn one_jpeg(d: &[u8], first: bool) -> Result<(Patches, usize), StripError> {
    let cut = |at: usize| {
        if first {
            Ok(at)
        } else {
            Err(StripError::Malformed("a secondary JPEG is cut short"))
        }
    };
    let mut patches = Vec::new();
    let mut ext: Vec<([u8; 32], usize, usize, usize, usize)> = Vec::new();
    let mut at = 2usize;
    let end = loop {
        if at + 1 >= d.len() {
            break cut(d.len())?;
        }
        if d[at] != 0xff {
            return Err(StripError::Malformed("JPEG marker expected"));
        }
        let marker = d[at + 1];
        match marker {
            0xff => {
                at += 1;
                continue;
            }
            0xd9 => break at + 2,
            0xd0..=0xd8 | 0x01 => {
                at += 2;
                continue;
            }
            _ => {}
        }
        if at + 4 > d.len() {
            break cut(d.len())?;
        }
        let len = u16::from_be_bytes([d[at + 2], d[at + 3]]) as usize;
        if len < 2 {
            return Err(StripError::Malformed("JPEG segment length"));
        }
        let seg_end = (at + 2 + len).min(d.len()); // a truncated file ends inside it
        let body_at = at + 4;
        let body = &d[body_at..seg_end];
        if marker == 0xe1 && body.starts_with(b"Exif\0\0") {
            patches.extend(exif_block(body).into_iter().map(|(o, b)| (body_at + o, b)));
        } else if marker == 0xe1 && body.starts_with(XMP_STD) {
            let x = body_at + XMP_STD.len();
            let p = xmp::patches(&body[XMP_STD.len()..]);
            patches.extend(p.into_iter().map(|(o, b)| (x + o, b)));
        } else if marker == 0xe1 && body.starts_with(XMP_EXT) {
            let h = XMP_EXT.len();
            match body.get(h..h + 40) {
                Some(b) => {
                    let mut guid = [0u8; 32];
                    guid.copy_from_slice(&b[..32]);
                    let full = u32::from_be_bytes([b[32], b[33], b[34], b[35]]) as usize;
                    let off = u32::from_be_bytes([b[36], b[37], b[38], b[39]]) as usize;
                    let portion = body_at + h + 40;
                    ext.push((guid, full, off, portion, seg_end - portion));
                }
                None => patches.push((body_at + h, vec![b' '; body.len() - h])),
            }
        }
        at = seg_end;
        if marker == 0xda {
            // Entropy-coded data: runs to the next marker that is not a stuffed byte or restart.
            while at + 1 < d.len() {
                let next = d[at + 1];
                if d[at] == 0xff && next != 0 && next != 0xff && !(0xd0..=0xd7).contains(&next) {
                    break;
                }
                at += 1;
            }
            if at + 1 >= d.len() {
                break cut(d.len())?;
            }
        }
    };
    patches.extend(extended_xmp(d, &ext));
    Ok((patches, end))
}

/// Patches for Extended XMP (portions as (GUID, full length, offset, where, length)): the
/// portions of each GUID are put together, parsed as one packet, and the blanked ranges mapped
/// back to the portions. Portions that do not fit together (missing, overlapping, too large)
/// are blanked whole.
fn extended_xmp(d: &[u8], ext: &[([u8; 32], usize, usize, usize, usize)]) -> Patches {
    let mut out = Vec::new();
    let mut guids: Vec<[u8; 32]> = ext.iter().map(|e| e.0).collect();
    guids.sort();
    guids.dedup();
    for g in guids {
        let mut parts: Vec<_> = ext.iter().filter(|e| e.0 == g).collect();
        parts.sort_by_key(|e| e.2);
        let full = parts[0].1;
        let mut next = 0usize;
        let fits = full <= EXT_MAX
            && parts.iter().all(|p| {
                let ok = p.1 == full && p.2 == next;
                next += p.4;
                ok
            })
            && next == full;
        if !fits {
            out.extend(parts.iter().map(|p| (p.3, vec![b' '; p.4])));
            continue;
        }
        let pieces: Vec<(u64, u64)> = parts.iter().map(|p| (p.3 as u64, p.4 as u64)).collect();
        let packet: Vec<u8> = parts
            .iter()
            .flat_map(|p| &d[p.3..p.3 + p.4])
            .copied()
            .collect();
        out.extend(map_pieces(&pieces, xmp::patches(&packet)));
    }
    out
}

/// Maps patches made over the concatenation of `pieces` ((file offset, length), in order) back
/// to file offsets, splitting a patch that spans two pieces.
pub(crate) fn map_pieces(pieces: &[(u64, u64)], inner: Patches) -> Patches {
    let mut out = Vec::new();
    for (o, bytes) in inner {
        let (from, to) = (o as u64, (o + bytes.len()) as u64);
        let mut acc = 0u64;
        for &(at, len) in pieces {
            let (a, b) = (from.max(acc), to.min(acc + len));
            if a < b {
                let src = (a - from) as usize..(b - from) as usize;
                out.push(((at + a - acc) as usize, bytes[src].to_vec()));
            }
            acc += len;
        }
    }
    out
}

struct Tiff<'a> {
    b: &'a [u8],
    big: bool,
}

impl Tiff<'_> {
    fn u16(&self, at: usize) -> Result<u16, StripError> {
        let s = self
            .b
            .get(at..at.saturating_add(2))
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
            .get(at..at.saturating_add(4))
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
        if at.saturating_add(len) > self.b.len() {
            return Err(StripError::Malformed("IFD out of bounds"));
        }
        Ok(len)
    }

    /// Where the value of entry `e` is, and its length.
    fn value(&self, e: usize) -> Result<(usize, usize), StripError> {
        let size = type_size(self.u16(e + 2)?).saturating_mul(self.u32(e + 4)? as usize);
        let at = if size > 4 {
            self.u32(e + 8)? as usize
        } else {
            e + 8
        };
        if at.checked_add(size).is_none_or(|end| end > self.b.len()) {
            return Err(StripError::Malformed("value out of bounds"));
        }
        Ok((at, size))
    }
}

fn type_size(t: u16) -> usize {
    match t {
        3 | 8 => 2,
        4 | 9 | 11 | 13 => 4,
        5 | 10 | 12 => 8,
        _ => 1,
    }
}

const GPS_IFD: u16 = 0x8825;
const XMP_TAG: u16 = 0x02bc;
/// Most IFDs followed in one chain.
const MAX_IFDS: usize = 64;

/// Patches (offsets inside the TIFF body) that blank and unlink the GPS IFD of every IFD in the
/// main chain, and blank location properties of XMP stored in a TIFF tag.
fn tiff_gps(b: &[u8]) -> Result<Patches, StripError> {
    let big = match b.get(..4) {
        Some(b"MM\0\x2a") => true,
        Some(b"II\x2a\0") => false,
        Some(b"MM\0\x2b") | Some(b"II\x2b\0") => {
            return Err(StripError::Unsupported("BigTIFF".into()))
        }
        _ => return Err(StripError::Malformed("TIFF header")),
    };
    let t = Tiff { b, big };
    let mut patches = Vec::new();
    let mut seen = Vec::new();
    let mut ifd = t.u32(4)? as usize;
    while ifd != 0 {
        if seen.contains(&ifd) || seen.len() >= MAX_IFDS {
            return Err(StripError::Malformed("IFD loop"));
        }
        seen.push(ifd);
        let len = t.ifd_len(ifd)?;
        let n = (len - 6) / 12;
        let mut gps_entry = None;
        for k in 0..n {
            let e = ifd + 2 + 12 * k;
            match t.u16(e)? {
                GPS_IFD if gps_entry.is_none() => gps_entry = Some(k),
                XMP_TAG => {
                    let (at, size) = t.value(e)?;
                    let p = xmp::patches(&b[at..at + size]);
                    patches.extend(p.into_iter().map(|(o, v)| (at + o, v)));
                }
                _ => {}
            }
        }
        if let Some(k) = gps_entry {
            patches.extend(gps_ifd(&t, ifd, len, k)?);
        }
        ifd = t.u32(ifd + len - 4)? as usize;
    }
    Ok(patches)
}

/// Blanks the GPS IFD that entry `k` of the IFD at `ifd` points to, and unlinks it: its entry
/// is dropped (later entries and the next-IFD offset move up).
fn gps_ifd(t: &Tiff, ifd: usize, len: usize, k: usize) -> Result<Patches, StripError> {
    let n = (len - 6) / 12;
    let gps = t.u32(ifd + 2 + 12 * k + 8)? as usize;
    let mut patches = Vec::new();
    if let Ok(glen) = t.ifd_len(gps) {
        for j in 0..(glen - 6) / 12 {
            let (at, size) = t.value(gps + 2 + 12 * j)?;
            if at != gps + 2 + 12 * j + 8 {
                patches.push((at, vec![0; size]));
            }
        }
        patches.push((gps, vec![0; glen]));
    }
    let mut entries = t.b[ifd + 2..ifd + len].to_vec();
    entries.drain(12 * k..12 * k + 12);
    entries.extend([0u8; 12]);
    let count = (n as u16 - 1).to_be_bytes();
    let count = if t.big {
        count.to_vec()
    } else {
        vec![count[1], count[0]]
    };
    patches.push((ifd, count));
    patches.push((ifd + 2, entries));
    Ok(patches)
}

/// Patches (offsets inside `body`) that remove the location from an EXIF block (with or
/// without its `Exif\0\0` prefix); an unreadable block is blanked whole.
pub(crate) fn exif_block(body: &[u8]) -> Patches {
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

/// Changes to a photo: same-length patches, and chunks replaced by ones of another length
/// (offset, old length, new bytes).
#[derive(Debug, Default)]
struct Changes {
    patches: Patches,
    splices: Vec<(usize, usize, Vec<u8>)>,
}

const PNG_XMP: &[u8] = b"XML:com.adobe.xmp";

/// Inflates a zlib stream of at most [`EXT_MAX`] bytes.
fn inflate(z: &[u8]) -> Result<Vec<u8>, StripError> {
    use std::io::Read;
    let mut out = Vec::new();
    flate2::read::ZlibDecoder::new(z)
        .take(EXT_MAX as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|_| StripError::Malformed("compressed XMP"))?;
    if out.len() > EXT_MAX {
        return Err(StripError::Unsupported("XMP too large to check".into()));
    }
    Ok(out)
}

fn deflate(b: &[u8]) -> Result<Vec<u8>, StripError> {
    use std::io::Write;
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    z.write_all(b).map_err(|e| StripError::Io(e.to_string()))?;
    z.finish().map_err(|e| StripError::Io(e.to_string()))
}

/// The changes that remove the location from a PNG: its `eXIf` chunk and XMP in `iTXt`
/// (compressed XMP gets a new chunk), each changed chunk with its checksum recomputed. EXIF
/// stored as text (ImageMagick's "Raw profile" chunks) is refused.
fn png_changes(d: &[u8]) -> Result<Changes, StripError> {
    let mut out = Changes::default();
    let mut at = 8usize;
    while at + 12 <= d.len() {
        let len = u32::from_be_bytes([d[at], d[at + 1], d[at + 2], d[at + 3]]) as usize;
        let kind: [u8; 4] = [d[at + 4], d[at + 5], d[at + 6], d[at + 7]];
        let data_at = at + 8;
        if data_at.saturating_add(len).saturating_add(4) > d.len() {
            break;
        }
        let data = &d[data_at..data_at + len];
        let keyword = data.split(|c| *c == 0).next().unwrap_or(&[]);
        match &kind {
            b"eXIf" => same_length(&mut out, &kind, data_at, data, exif_block(data)),
            b"iTXt" if keyword == PNG_XMP => {
                // keyword \0 flag method language \0 translated keyword \0 text
                let mut c = keyword.len() + 3;
                for _ in 0..2 {
                    c += data
                        .get(c..)
                        .and_then(|r| r.iter().position(|b| *b == 0))
                        .ok_or(StripError::Malformed("iTXt"))?
                        + 1;
                }
                let text = data.get(c..).ok_or(StripError::Malformed("iTXt"))?;
                if data[keyword.len() + 1] == 0 {
                    let p = xmp::patches(text)
                        .into_iter()
                        .map(|(o, b)| (c + o, b))
                        .collect();
                    same_length(&mut out, &kind, data_at, data, p);
                } else {
                    let mut x = inflate(text)?;
                    let p = xmp::patches(&x);
                    if !p.is_empty() {
                        for (o, b) in p {
                            x[o..o + b.len()].copy_from_slice(&b);
                        }
                        let mut new = data[..c].to_vec();
                        new.extend(deflate(&x)?);
                        let mut chunk = (new.len() as u32).to_be_bytes().to_vec();
                        chunk.extend(kind);
                        chunk.extend(&new);
                        chunk.extend(crc32(&[&kind, &new]).to_be_bytes());
                        out.splices.push((at, len + 12, chunk));
                    }
                }
            }
            b"tEXt" | b"zTXt" | b"iTXt" if keyword.starts_with(b"Raw profile type") => {
                return Err(StripError::Unsupported(
                    "EXIF stored as text in a PNG".into(),
                ))
            }
            b"IEND" => break,
            _ => {}
        }
        at = data_at + len + 4;
    }
    Ok(out)
}

/// Records patches inside a PNG chunk's data, and its new checksum.
fn same_length(out: &mut Changes, kind: &[u8; 4], data_at: usize, data: &[u8], inner: Patches) {
    if inner.is_empty() {
        return;
    }
    let mut new = data.to_vec();
    for (o, b) in inner {
        new[o..o + b.len()].copy_from_slice(&b);
    }
    let crc = crc32(&[kind, &new]);
    out.patches
        .push((data_at + data.len(), crc.to_be_bytes().to_vec()));
    out.patches.push((data_at, new));
}

/// The changes that remove the location from a WebP (its `EXIF` and `XMP ` chunks).
fn webp_patches(d: &[u8]) -> Patches {
    let mut out = Vec::new();
    let mut at = 12usize;
    while at + 8 <= d.len() {
        let len = u32::from_le_bytes([d[at + 4], d[at + 5], d[at + 6], d[at + 7]]) as usize;
        let data_at = at + 8;
        if data_at.saturating_add(len) > d.len() {
            break;
        }
        let data = &d[data_at..data_at + len];
        let inner = match &d[at..at + 4] {
            b"EXIF" => exif_block(data),
            b"XMP " => xmp::patches(data),
            _ => Vec::new(),
        };
        out.extend(inner.into_iter().map(|(o, b)| (data_at + o, b)));
        at = data_at + len + (len & 1);
    }
    out
}

/// Extensions of camera photos and videos that are not gallery kinds but may hold a location.
const CAMERA_FILES: [&str; 22] = [
    "jxl", "dng", "cr2", "cr3", "crw", "nef", "nrw", "arw", "srf", "sr2", "raf", "orf", "rw2",
    "pef", "x3f", "srw", "3fr", "iiq", "3gp", "3g2", "mts", "m2ts",
];

/// Largest photo checked (it is read whole).
const IMAGE_MAX: u64 = 1 << 30;

/// What a file is, by its first bytes.
#[derive(Debug, PartialEq, Eq)]
enum Format {
    Jpeg,
    Png,
    Webp,
    Tiff,
    Heif,
    Video,
    Matroska,
    Gif,
    Bmp,
    Other,
}

fn sniff(head: &[u8]) -> Format {
    if is_jpeg(head) {
        Format::Jpeg
    } else if head.starts_with(b"\x89PNG\r\n\x1a\n") {
        Format::Png
    } else if head.len() >= 12 && &head[..4] == b"RIFF" && &head[8..12] == b"WEBP" {
        Format::Webp
    } else if head.starts_with(b"II") || head.starts_with(b"MM") {
        if matches!(
            head.get(..4),
            Some(b"II\x2a\0" | b"MM\0\x2a" | b"II\x2b\0" | b"MM\0\x2b")
        ) {
            Format::Tiff
        } else {
            Format::Other
        }
    } else if isobmff::is_picture(head) {
        Format::Heif
    } else if isobmff::is_isobmff(head) {
        Format::Video
    } else if matroska::is_matroska(head) {
        Format::Matroska
    } else if head.starts_with(b"GIF8") {
        Format::Gif
    } else if head.starts_with(b"BM") {
        Format::Bmp
    } else {
        Format::Other
    }
}

/// Removes the location from the file at `from` (named `name` in the album): a photo with a
/// location is copied without it to `copy_to`; a video gets patches to lay over it. Any photo
/// or video (by content, or else by name) whose location cannot be removed is an error.
pub fn remove_location(from: &Path, name: &str, copy_to: &Path) -> Result<Removal, StripError> {
    let io = |e: std::io::Error| StripError::Io(format!("{}: {e}", from.display()));
    let f = std::fs::File::open(from).map_err(io)?;
    let size = f.metadata().map_err(io)?.len();
    if size == 0 {
        return Ok(Removal::Clean);
    }
    let format = sniff(&f.read(0, size.min(16))?);
    let ext = Path::new(name)
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    let media = matches!(
        super::kind_of(name),
        super::Kind::Image | super::Kind::Video
    ) || CAMERA_FILES.contains(&ext.as_str());
    match format {
        Format::Video => {
            let p: Vec<Patch> = isobmff::patches(&f, 0, size)?
                .into_iter()
                .map(|(at, bytes)| Patch {
                    at: at as u64,
                    bytes,
                })
                .collect();
            overlay::check(&p, size).map_err(|e| StripError::Unsupported(e.to_string()))?;
            return Ok(if p.is_empty() {
                Removal::Clean
            } else {
                Removal::Overlay(p)
            });
        }
        Format::Matroska => {
            let p = matroska::patches(&f)?;
            return Ok(if p.is_empty() {
                Removal::Clean
            } else {
                Removal::Overlay(p)
            });
        }
        Format::Bmp => return Ok(Removal::Clean),
        Format::Other if media => {
            return Err(StripError::Unsupported(format!(".{ext} files")));
        }
        Format::Other => return Ok(Removal::Clean),
        _ => {}
    }
    if size > IMAGE_MAX {
        return Err(StripError::Unsupported("a photo this large".into()));
    }
    let data = f.read(0, size)?;
    let changes = match format {
        Format::Jpeg => Changes {
            patches: jpeg_patches(&data)?,
            ..Default::default()
        },
        Format::Png => png_changes(&data)?,
        Format::Webp => Changes {
            patches: webp_patches(&data),
            ..Default::default()
        },
        Format::Tiff => Changes {
            patches: tiff_gps(&data)?,
            ..Default::default()
        },
        Format::Heif => Changes {
            patches: isobmff::patches(data.as_slice(), 0, size)?,
            ..Default::default()
        },
        Format::Gif if data.windows(11).any(|w| w == b"XMP DataXMP") => {
            return Err(StripError::Unsupported("a GIF with XMP metadata".into()))
        }
        _ => Changes::default(),
    };
    if changes.patches.is_empty() && changes.splices.is_empty() {
        return Ok(Removal::Clean);
    }
    write_copy(data, changes, copy_to)?;
    Ok(Removal::Copied)
}

/// Writes `data` with `changes` made to `to` (through a temporary file renamed into place).
fn write_copy(mut data: Vec<u8>, changes: Changes, to: &Path) -> Result<(), StripError> {
    for (at, b) in changes.patches {
        let end = at.checked_add(b.len()).filter(|e| *e <= data.len());
        let Some(end) = end else {
            return Err(StripError::Malformed("a change outside the file"));
        };
        data[at..end].copy_from_slice(&b);
    }
    let mut splices = changes.splices;
    splices.sort_by_key(|s| std::cmp::Reverse(s.0));
    for (at, len, b) in splices {
        data.splice(at..at + len, b);
    }
    let tmp = to.with_extension("kith-tmp");
    let write = || -> std::io::Result<()> {
        use std::io::Write;
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&data)?;
        f.sync_all()?;
        std::fs::rename(&tmp, to)
    };
    write().map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        StripError::Io(format!("{}: {e}", to.display()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An 8×8 picture and its PNG.
    fn plain_png() -> (image::RgbImage, Vec<u8>) {
        let img = image::RgbImage::from_pixel(8, 8, image::Rgb([1, 2, 3]));
        let mut png = Vec::new();
        img.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
            .unwrap();
        (img, png)
    }

    /// `png` with one more chunk of `kind` holding `data` right after IHDR (8 + 25 bytes).
    fn with_chunk(png: &[u8], kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
        let mut with = png[..33].to_vec();
        with.extend((data.len() as u32).to_be_bytes());
        with.extend(kind);
        with.extend(data);
        with.extend(crc32(&[kind, data]).to_be_bytes());
        with.extend(&png[33..]);
        with
    }
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
        let stripped = apply(&with, &jpeg_patches(&with).unwrap());
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
        assert!(jpeg_patches(&photo(false)).unwrap().is_empty());
        let mut bad = photo(true);
        // Point IFD0 far outside the block: the whole EXIF segment is blanked.
        let tiff = 12;
        bad[tiff + 4..tiff + 8].copy_from_slice(&0x00ff_ffffu32.to_be_bytes());
        let len = u16::from_be_bytes([bad[4], bad[5]]) as usize;
        assert_eq!(jpeg_patches(&bad).unwrap(), vec![(6, vec![0; len - 2])]);
        let blanked = apply(&bad, &jpeg_patches(&bad).unwrap());
        assert!(exif::Reader::new()
            .read_from_container(&mut std::io::Cursor::new(&blanked))
            .is_err());
        assert!(image::load_from_memory(&blanked).is_ok());
        // Cut inside the EXIF segment: what is there is blanked.
        let cut = &photo(true)[..30];
        assert_eq!(jpeg_patches(cut).unwrap(), vec![(6, vec![0; 24])]);
        assert!(jpeg_patches(&[0xff, 0xd8, 0xff, 0xe1, 0xff])
            .unwrap()
            .is_empty());
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
        let (img, png) = plain_png();
        let body = exif_body();
        let with = with_chunk(&png, b"eXIf", &body);
        let (from, to) = (dir.path().join("a.png"), dir.path().join("b.png"));
        std::fs::write(&from, &with).unwrap();
        assert_eq!(remove_location(&from, "a.png", &to), Ok(Removal::Copied));
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
        assert_eq!(remove_location(&from, "a.png", &to), Ok(Removal::Copied));
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
        assert_eq!(
            remove_location(&dir.path().join("a.webp"), "a.webp", &dir.path().join("c")),
            Ok(Removal::Clean)
        );
    }

    /// An ISOBMFF box.
    fn bx(typ: &[u8; 4], body: &[u8]) -> Vec<u8> {
        let mut b = ((body.len() + 8) as u32).to_be_bytes().to_vec();
        b.extend(typ);
        b.extend(body);
        b
    }

    const XMP_GPS: &str = r#"<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description xmlns:exif="http://ns.adobe.com/exif/1.0/" xmlns:tiff="http://ns.adobe.com/tiff/1.0/" exif:GPSLatitude="48,51.5N" tiff:Make="KithCam"/></rdf:RDF></x:xmpmeta>"#;

    /// A small MP4: ©xyz and loci in udta, a keys/ilst location, and an XMP uuid box.
    fn mp4() -> Vec<u8> {
        let mut xyz = 18u16.to_be_bytes().to_vec();
        xyz.extend(0x15c7u16.to_be_bytes());
        xyz.extend(b"+48.8584+002.2945/");
        let mut loci = vec![0u8; 4];
        loci.extend(b"\x15\xc7home\0\0");
        loci.extend(((48.8584f64 * 65536.0) as i32).to_be_bytes());
        let key = b"com.apple.quicktime.location.ISO6709";
        let mut keys = vec![0, 0, 0, 0, 0, 0, 0, 1];
        keys.extend(((key.len() + 8) as u32).to_be_bytes());
        keys.extend(b"mdta");
        keys.extend(key);
        let mut data = vec![0, 0, 0, 1, 0, 0, 0, 0];
        data.extend(b"+48.8584+002.2945/");
        let ilst = bx(b"ilst", &bx(&1u32.to_be_bytes(), &bx(b"data", &data)));
        let mut meta = bx(b"hdlr", &[0; 25]);
        meta.extend(bx(b"keys", &keys));
        meta.extend(ilst);
        let mut udta = bx(b"\xa9xyz", &xyz);
        udta.extend(bx(b"loci", &loci));
        udta.extend(bx(b"meta", &meta));
        let mut out = bx(b"ftyp", b"isom\0\0\0\0isom");
        out.extend(bx(b"moov", &bx(b"udta", &udta)));
        let mut uuid = isobmff_xmp_uuid().to_vec();
        uuid.extend(XMP_GPS.as_bytes());
        out.extend(bx(b"uuid", &uuid));
        out.extend(bx(b"mdat", &[7; 64]));
        out
    }

    fn isobmff_xmp_uuid() -> [u8; 16] {
        [
            0xbe, 0x7a, 0xcf, 0xcb, 0x97, 0xa9, 0x42, 0xe8, 0x9c, 0x71, 0x99, 0x94, 0x91, 0xe3,
            0xaf, 0xac,
        ]
    }

    fn leaks(b: &[u8]) -> bool {
        let fixed = ((48.8584f64 * 65536.0) as i32).to_be_bytes();
        ["48.8584", "48,51.5N", "002.2945"]
            .iter()
            .any(|n| b.windows(n.len()).any(|w| w == n.as_bytes()))
            || b.windows(4).any(|w| w == fixed)
    }

    #[test]
    fn a_videos_location_boxes_become_free_and_xmp_is_blanked_with_the_length_kept() {
        let v = mp4();
        assert!(leaks(&v));
        let p = isobmff::patches(v.as_slice(), 0, v.len() as u64).unwrap();
        let out = apply(&v, &p);
        assert_eq!(out.len(), v.len());
        assert!(!leaks(&out), "{}", String::from_utf8_lossy(&out));
        assert!(String::from_utf8_lossy(&out).contains("KithCam"));
        assert_eq!(out.windows(4).filter(|w| w == b"free").count(), 3);
        assert_eq!(&out[out.len() - 64..], &[7; 64], "media data untouched");
        // A box that runs past its parent cannot be proven clean.
        let mut bad = v.clone();
        let moov = 20;
        bad[moov..moov + 4].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(isobmff::patches(bad.as_slice(), 0, bad.len() as u64).is_err());
    }

    #[test]
    fn a_secondary_jpeg_and_a_motion_video_after_the_picture_lose_their_location_and_unknown_trailers_are_refused(
    ) {
        let one = photo(true);
        let mut data = one.clone();
        data.extend(&one); // an MPF secondary picture sits after the first one's EOI
        data.extend(mp4()); // a motion photo's video
        let out = apply(&data, &jpeg_patches(&data).unwrap());
        assert_eq!(out.len(), data.len());
        for part in [&out[..one.len()], &out[one.len()..2 * one.len()]] {
            let tags = fields(part);
            assert!(!tags.iter().any(|(t, _)| t.starts_with("GPS")), "{tags:?}");
            assert!(tags.iter().any(|(t, _)| t == "Make"));
        }
        assert!(!leaks(&out[2 * one.len()..]));
        let mut unknown = one.clone();
        unknown.extend(b"SEFH some maker's trailer");
        assert!(matches!(
            jpeg_patches(&unknown),
            Err(StripError::Unsupported(_))
        ));
        let mut cut = one.clone();
        cut.extend(&one[..100]);
        assert!(jpeg_patches(&cut).is_err());
        let mut padded = one.clone();
        padded.extend([0u8; 16]);
        assert!(jpeg_patches(&padded).is_ok());
    }

    #[test]
    fn extended_xmp_split_across_segments_inside_a_value_is_blanked_in_both() {
        let x = XMP_GPS.as_bytes();
        let split = XMP_GPS.find("51.5N").unwrap();
        let mut jpeg = vec![0xff, 0xd8];
        for (off, part) in [(0usize, &x[..split]), (split, &x[split..])] {
            let mut body = XMP_EXT.to_vec();
            body.extend([b'A'; 32]);
            body.extend((x.len() as u32).to_be_bytes());
            body.extend((off as u32).to_be_bytes());
            body.extend(part);
            jpeg.extend([0xff, 0xe1]);
            jpeg.extend(((body.len() + 2) as u16).to_be_bytes());
            jpeg.extend(body);
        }
        jpeg.extend([0xff, 0xd9]);
        let out = apply(&jpeg, &jpeg_patches(&jpeg).unwrap());
        let text = String::from_utf8_lossy(&out);
        assert!(!text.contains("48,") && !text.contains("51.5N"), "{text}");
        assert!(text.contains("KithCam"));
    }

    #[test]
    fn compressed_xmp_in_a_png_is_inflated_blanked_and_deflated_into_a_valid_chunk() {
        let dir = tempfile::tempdir().unwrap();
        let (img, png) = plain_png();
        let mut data = b"XML:com.adobe.xmp\0\x01\0\0\0".to_vec();
        data.extend(deflate(XMP_GPS.as_bytes()).unwrap());
        let with = with_chunk(&png, b"iTXt", &data);
        let (from, to) = (dir.path().join("a.png"), dir.path().join("b.png"));
        std::fs::write(&from, &with).unwrap();
        assert_eq!(remove_location(&from, "a.png", &to), Ok(Removal::Copied));
        let out = std::fs::read(&to).unwrap();
        // The new chunk: its length and CRC are right, and its XMP has no location.
        let len = u32::from_be_bytes(out[33..37].try_into().unwrap()) as usize;
        assert_eq!(&out[37..41], b"iTXt");
        let body = &out[41..41 + len];
        let crc = u32::from_be_bytes(out[41 + len..45 + len].try_into().unwrap());
        assert_eq!(crc, crc32(&[b"iTXt", body]));
        let xmp = String::from_utf8(inflate(&body[22..]).unwrap()).unwrap();
        assert!(
            !xmp.contains("48,51.5N") && xmp.contains("KithCam"),
            "{xmp}"
        );
        assert_eq!(&out[45 + len..], &png[33..], "the rest is unchanged");
        assert_eq!(image::load_from_memory(&out).unwrap().to_rgb8(), img);
    }

    #[test]
    fn photos_and_videos_kith_cannot_clean_are_errors_and_other_files_are_clean() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("x");
        let to = dir.path().join("out");
        std::fs::write(&f, b"\x1aE\xdf\xa3 not really matroska").unwrap();
        assert!(matches!(
            remove_location(&f, "clip.mkv", &to),
            Err(StripError::Malformed(_))
        ));
        std::fs::write(&f, b"RIFF\x10\0\0\0AVI LIST").unwrap();
        assert!(matches!(
            remove_location(&f, "clip.avi", &to),
            Err(StripError::Unsupported(_))
        ));
        assert!(matches!(
            remove_location(&f, "photo.x3f", &to),
            Err(StripError::Unsupported(_))
        ));
        assert_eq!(remove_location(&f, "notes.txt", &to), Ok(Removal::Clean));
        std::fs::write(&f, mp4()).unwrap();
        assert!(matches!(
            remove_location(&f, "clip.bin", &to),
            Ok(Removal::Overlay(_))
        ));
        assert!(!to.exists(), "a video is never copied");
    }
}
