//! Removing the location from ISOBMFF files: HEIC/HEIF and AVIF photos (the `Exif` and XMP
//! `mime` items of the `meta` box, found through `iinf` and `iloc`) and MP4/MOV videos
//! (QuickTime `©xyz`, 3GPP `loci`, location entries of `meta`/`keys`/`ilst`, XMP in a `uuid` or
//! `XMP_` box). Only same-length patches: no box moves. Walks box headers and reads only the
//! small boxes it may change, so a video is never read whole.

use super::strip::{exif_block, map_pieces, Patches, StripError};

/// Deepest box nesting followed.
const MAX_DEPTH: usize = 10;
/// Largest box or item read whole (metadata is far smaller).
const SMALL: u64 = 16 * 1024 * 1024;
/// Most boxes in one parent.
const MAX_BOXES: usize = 200_000;
/// The `uuid` of an XMP box.
const XMP_UUID: [u8; 16] = [
    0xbe, 0x7a, 0xcf, 0xcb, 0x97, 0xa9, 0x42, 0xe8, 0x9c, 0x71, 0x99, 0x94, 0x91, 0xe3, 0xaf, 0xac,
];

/// Bytes read by offset: a file, or bytes in memory.
pub trait ReadAt {
    /// Total length.
    fn size(&self) -> u64;
    /// `len` bytes from `at`.
    fn read(&self, at: u64, len: u64) -> Result<Vec<u8>, StripError>;
}

impl ReadAt for [u8] {
    fn size(&self) -> u64 {
        self.len() as u64
    }
    fn read(&self, at: u64, len: u64) -> Result<Vec<u8>, StripError> {
        let end = at.checked_add(len).filter(|e| *e <= self.len() as u64);
        match end {
            Some(end) => Ok(self[at as usize..end as usize].to_vec()),
            None => Err(StripError::Malformed("read past the end")),
        }
    }
}

impl ReadAt for std::fs::File {
    fn size(&self) -> u64 {
        self.metadata().map(|m| m.len()).unwrap_or(0)
    }
    fn read(&self, at: u64, len: u64) -> Result<Vec<u8>, StripError> {
        if at.checked_add(len).is_none_or(|e| e > self.size()) {
            return Err(StripError::Malformed("read past the end"));
        }
        let mut b = vec![0u8; len as usize];
        crate::platform::read_exact_at(self, &mut b, at)
            .map_err(|e| StripError::Io(e.to_string()))?;
        Ok(b)
    }
}

/// A box: its type, and where its header, body and end are.
#[derive(Debug, Clone, Copy)]
struct Bx {
    typ: [u8; 4],
    start: u64,
    body: u64,
    end: u64,
}

/// The boxes in `from..to`.
fn children(src: &(impl ReadAt + ?Sized), from: u64, to: u64) -> Result<Vec<Bx>, StripError> {
    let mut out = Vec::new();
    let mut at = from;
    while at < to {
        if to - at < 8 {
            // QuickTime ends some lists with a 32-bit zero.
            if src.read(at, to - at)?.iter().all(|b| *b == 0) {
                break;
            }
            return Err(StripError::Malformed("box header"));
        }
        let h = src.read(at, 8)?;
        let typ = [h[4], h[5], h[6], h[7]];
        let (size, header) = match u32::from_be_bytes([h[0], h[1], h[2], h[3]]) {
            0 => (to - at, 8),
            1 => {
                let l = src.read(at + 8, 8)?;
                (u64::from_be_bytes(l.try_into().unwrap_or([0; 8])), 16)
            }
            n => (u64::from(n), 8),
        };
        if size < header || size > to - at {
            return Err(StripError::Malformed("box runs past its parent"));
        }
        out.push(Bx {
            typ,
            start: at,
            body: at + header,
            end: at + size,
        });
        if out.len() > MAX_BOXES {
            return Err(StripError::Malformed("too many boxes"));
        }
        at += size;
    }
    Ok(out)
}

/// Whether the file starts with an ISOBMFF `ftyp` box.
pub fn is_isobmff(head: &[u8]) -> bool {
    head.len() >= 12 && &head[4..8] == b"ftyp"
}

/// Whether an ISOBMFF file (by its first bytes) is a HEIF/AVIF picture rather than a video.
pub fn is_picture(head: &[u8]) -> bool {
    const PICTURE: [&[u8; 4]; 10] = [
        b"mif1", b"msf1", b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"avif", b"avis",
    ];
    is_isobmff(head) && PICTURE.iter().any(|b| &head[8..12] == *b)
}

/// The patches that remove the location from the ISOBMFF boxes in `from..to` of `src`.
pub fn patches(src: &(impl ReadAt + ?Sized), from: u64, to: u64) -> Result<Patches, StripError> {
    let mut out = Vec::new();
    walk(src, from, to, 0, &mut out)?;
    Ok(out)
}

fn walk(
    src: &(impl ReadAt + ?Sized),
    from: u64,
    to: u64,
    depth: usize,
    out: &mut Patches,
) -> Result<(), StripError> {
    if depth > MAX_DEPTH {
        return Err(StripError::Malformed("boxes nested too deep"));
    }
    for b in children(src, from, to)? {
        match &b.typ {
            b"moov" | b"trak" | b"udta" | b"mdia" | b"minf" | b"stbl" => {
                walk(src, b.body, b.end, depth + 1, out)?
            }
            b"meta" => meta(src, b, out)?,
            b"\xa9xyz" | b"loci" => free(b, out)?,
            b"uuid" if b.end - b.body >= 16 && src.read(b.body, 16)? == XMP_UUID => {
                xmp(src, b.body + 16, b.end, out)?
            }
            b"XMP_" => xmp(src, b.body, b.end, out)?,
            b"stsd" => sample_entries(src, b)?,
            _ => {}
        }
    }
    Ok(())
}

/// Turns a box into a `free` box with its content zeroed.
fn free(b: Bx, out: &mut Patches) -> Result<(), StripError> {
    if b.end - b.body > SMALL {
        return Err(StripError::Malformed("location box too large"));
    }
    out.push(((b.start + 4) as usize, b"free".to_vec()));
    out.push((b.body as usize, vec![0; (b.end - b.body) as usize]));
    Ok(())
}

fn xmp(
    src: &(impl ReadAt + ?Sized),
    from: u64,
    to: u64,
    out: &mut Patches,
) -> Result<(), StripError> {
    if to - from > SMALL {
        return Err(StripError::Unsupported("XMP too large to check".into()));
    }
    let data = src.read(from, to - from)?;
    out.extend(
        super::xmp::patches(&data)
            .into_iter()
            .map(|(o, b)| (from as usize + o, b)),
    );
    Ok(())
}

/// Refuses tracks that carry positions in their samples (GoPro `gpmd`, Google `camm`).
fn sample_entries(src: &(impl ReadAt + ?Sized), b: Bx) -> Result<(), StripError> {
    if b.end - b.body < 8 {
        return Err(StripError::Malformed("stsd"));
    }
    for e in children(src, b.body + 8, b.end)? {
        if &e.typ == b"gpmd" || &e.typ == b"camm" {
            return Err(StripError::Unsupported(
                "a video track of positions (gpmd/camm)".into(),
            ));
        }
    }
    Ok(())
}

/// A cursor over a box body, every read bounds-checked.
struct Cur<'a> {
    b: &'a [u8],
    at: usize,
}

impl Cur<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], StripError> {
        let s = self
            .b
            .get(self.at..self.at.saturating_add(n))
            .ok_or(StripError::Malformed("short box"))?;
        self.at += n;
        Ok(s)
    }
    fn uint(&mut self, n: usize) -> Result<u64, StripError> {
        if n > 8 {
            return Err(StripError::Malformed("field size"));
        }
        Ok(self
            .take(n)?
            .iter()
            .fold(0u64, |a, b| (a << 8) | u64::from(*b)))
    }
    fn cstr(&mut self) -> Result<Vec<u8>, StripError> {
        let rest = self.b.get(self.at..).unwrap_or(&[]);
        let n = rest.iter().position(|c| *c == 0).unwrap_or(rest.len());
        let s = rest[..n].to_vec();
        self.at += (n + 1).min(rest.len());
        Ok(s)
    }
}

/// An item of a HEIF `meta` box.
struct Item {
    id: u32,
    typ: [u8; 4],
    content_type: Vec<u8>,
    content_encoding: Vec<u8>,
}

fn items(iinf: &[u8]) -> Result<Vec<Item>, StripError> {
    let v = *iinf.first().ok_or(StripError::Malformed("iinf"))?;
    let first = if v == 0 { 6 } else { 8 };
    let mut out = Vec::new();
    for e in children(iinf, first.min(iinf.len() as u64), iinf.len() as u64)? {
        if &e.typ != b"infe" {
            continue;
        }
        let body = &iinf[e.body as usize..e.end as usize];
        let mut c = Cur { b: body, at: 0 };
        let ver = c.uint(1)?;
        c.take(3)?;
        let item = if ver >= 2 {
            let id = c.uint(if ver == 2 { 2 } else { 4 })? as u32;
            c.take(2)?;
            let t = c.take(4)?;
            let typ = [t[0], t[1], t[2], t[3]];
            c.cstr()?;
            let (ct, ce) = if &typ == b"mime" {
                (c.cstr()?, c.cstr()?)
            } else {
                (Vec::new(), Vec::new())
            };
            Item {
                id,
                typ,
                content_type: ct,
                content_encoding: ce,
            }
        } else {
            let id = c.uint(2)? as u32;
            c.take(2)?;
            c.cstr()?;
            Item {
                id,
                typ: *b"mime",
                content_type: c.cstr()?,
                content_encoding: c.cstr()?,
            }
        };
        out.push(item);
    }
    Ok(out)
}

/// Where an item's bytes are: construction method and (offset, length) extents.
struct Location {
    method: u64,
    extents: Vec<(u64, u64)>,
}

fn locations(iloc: &[u8]) -> Result<Vec<(u32, Location)>, StripError> {
    let mut c = Cur { b: iloc, at: 0 };
    let ver = c.uint(1)?;
    c.take(3)?;
    let sizes = c.uint(1)?;
    let (off_size, len_size) = ((sizes >> 4) as usize, (sizes & 15) as usize);
    let sizes = c.uint(1)?;
    let base_size = (sizes >> 4) as usize;
    let index_size = if ver == 1 || ver == 2 {
        (sizes & 15) as usize
    } else {
        0
    };
    let count = c.uint(if ver < 2 { 2 } else { 4 })?;
    let mut out = Vec::new();
    for _ in 0..count {
        let id = c.uint(if ver < 2 { 2 } else { 4 })? as u32;
        let method = if ver == 1 || ver == 2 {
            c.uint(2)? & 15
        } else {
            0
        };
        if c.uint(2)? != 0 {
            return Err(StripError::Unsupported("an item in another file".into()));
        }
        let base = c.uint(base_size)?;
        let n = c.uint(2)?;
        let mut extents = Vec::new();
        for _ in 0..n {
            c.uint(index_size)?;
            let off = c.uint(off_size)?;
            let len = c.uint(len_size)?;
            let at = base
                .checked_add(off)
                .ok_or(StripError::Malformed("iloc offset"))?;
            extents.push((at, len));
        }
        out.push((id, Location { method, extents }));
    }
    Ok(out)
}

/// A `meta` box: HEIF items (Exif, XMP), or QuickTime `keys`/`ilst` location entries.
fn meta(src: &(impl ReadAt + ?Sized), b: Bx, out: &mut Patches) -> Result<(), StripError> {
    if b.end - b.body > SMALL {
        return Err(StripError::Unsupported(
            "metadata too large to check".into(),
        ));
    }
    let body = src.read(b.body, b.end - b.body)?;
    // ISO's `meta` is a full box (4 bytes of version and flags); QuickTime's is not.
    let first = if body.get(4..8) == Some(b"hdlr") {
        0
    } else {
        4
    };
    let kids = children(
        body.as_slice(),
        first.min(body.len() as u64),
        body.len() as u64,
    )?;
    let part = |k: &Bx| &body[k.body as usize..k.end as usize];
    let find = |t: &[u8; 4]| kids.iter().find(|k| &k.typ == t);
    // QuickTime metadata: ilst entries are numbered after the keys.
    if let Some(ilst) = find(b"ilst") {
        let keys = match find(b"keys") {
            Some(k) => keys(part(k))?,
            None => Vec::new(),
        };
        for e in children(body.as_slice(), ilst.body, ilst.end)? {
            let index = u32::from_be_bytes(e.typ) as usize;
            let named = index
                .checked_sub(1)
                .and_then(|i| keys.get(i))
                .is_some_and(|k| k.to_ascii_lowercase().windows(8).any(|w| w == b"location"));
            if named || &e.typ == b"\xa9xyz" {
                free(shift(e, b.body), out)?;
            }
        }
    }
    // HEIF items.
    if let (Some(iinf), Some(iloc)) = (find(b"iinf"), find(b"iloc")) {
        let idat = find(b"idat").map(|k| (b.body + k.body, k.end - k.body));
        let locs = locations(part(iloc))?;
        for item in items(part(iinf))? {
            let exif = &item.typ == b"Exif";
            let xmp = &item.typ == b"mime"
                && (item.content_type.starts_with(b"application/rdf+xml")
                    || item.content_type.ends_with(b"xmp"));
            if !(exif || xmp) {
                continue;
            }
            if xmp && !item.content_encoding.is_empty() {
                return Err(StripError::Unsupported("compressed XMP in HEIF".into()));
            }
            let loc = locs
                .iter()
                .find(|(id, _)| *id == item.id)
                .map(|(_, l)| l)
                .ok_or(StripError::Malformed("an item without a location"))?;
            let pieces = pieces(src, loc, idat)?;
            let total: u64 = pieces.iter().map(|p| p.1).sum();
            if total > SMALL {
                return Err(StripError::Unsupported(
                    "metadata too large to check".into(),
                ));
            }
            let mut data = Vec::new();
            for (at, len) in &pieces {
                data.extend(src.read(*at, *len)?);
            }
            let inner = if exif {
                exif_item(&data)
            } else {
                super::xmp::patches(&data)
            };
            out.extend(map_pieces(&pieces, inner));
        }
    }
    Ok(())
}

fn shift(k: Bx, by: u64) -> Bx {
    Bx {
        typ: k.typ,
        start: k.start + by,
        body: k.body + by,
        end: k.end + by,
    }
}

/// The file ranges of an item.
fn pieces(
    src: &(impl ReadAt + ?Sized),
    loc: &Location,
    idat: Option<(u64, u64)>,
) -> Result<Vec<(u64, u64)>, StripError> {
    let (base, room) = match loc.method {
        0 => (0, src.size()),
        1 => idat.ok_or(StripError::Malformed("an item in a missing idat"))?,
        _ => {
            return Err(StripError::Unsupported(
                "an item built from other items".into(),
            ))
        }
    };
    loc.extents
        .iter()
        .map(|&(off, len)| {
            let len = if len == 0 {
                room.saturating_sub(off)
            } else {
                len
            };
            if off.checked_add(len).is_none_or(|e| e > room) {
                return Err(StripError::Malformed("an item outside the file"));
            }
            Ok((base + off, len))
        })
        .collect()
}

/// Patches for a HEIF Exif item: a 32-bit offset to the TIFF header, then the EXIF block.
fn exif_item(data: &[u8]) -> Patches {
    let start = data
        .get(..4)
        .map(|b| 4 + u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
        .filter(|s| *s <= data.len());
    match start {
        // The offset may point at the TIFF header or at an `Exif\0\0` before it.
        Some(s) => {
            let s = if s >= 10 && &data[s - 6..s] == b"Exif\0\0" {
                s - 6
            } else {
                s
            };
            exif_block(&data[s..])
                .into_iter()
                .map(|(o, b)| (s + o, b))
                .collect()
        }
        None => vec![(0, vec![0; data.len()])],
    }
}

/// The key names of a QuickTime `keys` box.
fn keys(b: &[u8]) -> Result<Vec<Vec<u8>>, StripError> {
    let mut c = Cur { b, at: 4 };
    let n = c.uint(4)?;
    let mut out = Vec::new();
    for _ in 0..n {
        let size = c.uint(4)? as usize;
        c.take(4)?;
        out.push(c.take(size.saturating_sub(8))?.to_vec());
    }
    Ok(out)
}
