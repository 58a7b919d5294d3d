//! Proving a Matroska/WebM video free of location, or blanking its location tags.
//!
//! Walks the EBML structure with plain reads and seeks: every top-level element of each Segment
//! (a known-size element is skipped by seeking; an unknown-size Cluster, as browsers' recorders
//! write them, is walked child by child until the next top-level element). Only `Tags` is read:
//! the value (`TagString`/`TagBinary`) of a `SimpleTag` whose `TagName` names a location, and of
//! the tags nested in it, is zeroed by a same-length patch (EBML strings may be zero-padded, so
//! it reads as empty). Attachments (which may hold anything), elements it does not know at the
//! top level, and damaged or cut-short files are errors. No allocation follows a size read
//! from the file beyond small fixed limits.

use std::io::{BufReader, Read, Seek, SeekFrom};

use super::strip::StripError;
use crate::transfer::overlay::{self, Patch};

const EBML: u32 = 0x1A45_DFA3;
const SEGMENT: u32 = 0x1853_8067;
const CLUSTER: u32 = 0x1F43_B675;
const TAGS: u32 = 0x1254_C367;
const ATTACHMENTS: u32 = 0x1941_A469;
const TAG: u32 = 0x7373;
const SIMPLE_TAG: u32 = 0x67C8;
const TAG_NAME: u32 = 0x45A3;
const TAG_STRING: u32 = 0x4487;
const TAG_BINARY: u32 = 0x4485;
const VOID: u32 = 0xEC;
const CRC32: u32 = 0xBF;
/// The other top-level elements of a Segment: SeekHead, Info, Tracks, Cues, Chapters.
const SKIPPED: [u32; 5] = [
    0x114D_9B74,
    0x1549_A966,
    0x1654_AE6B,
    0x1C53_BB6B,
    0x1043_A770,
];
/// The children of a Cluster: Timestamp, SilentTracks, Position, PrevSize, SimpleBlock,
/// BlockGroup, EncryptedBlock.
const CLUSTER_CHILDREN: [u32; 7] = [0xE7, 0x5854, 0xA7, 0xAB, 0xA3, 0xA0, 0xAF];
/// Words in a tag name that mean a location (compared without case).
const LOCATION_WORDS: [&str; 6] = [
    "LOCATION",
    "GPS",
    "COORDINATES",
    "LATITUDE",
    "LONGITUDE",
    "ISO6709",
];
/// Longest tag name read.
const NAME_MAX: u64 = 1024;
/// Deepest nesting of SimpleTags followed.
const DEPTH_MAX: usize = 8;

/// Whether a file is EBML (Matroska or WebM), by its first bytes.
pub fn is_matroska(head: &[u8]) -> bool {
    head.starts_with(&EBML.to_be_bytes())
}

/// An element: its ID, where its body starts, and its size (`None`: unknown, to its parent's
/// end).
#[derive(Debug, Clone, Copy)]
struct El {
    id: u32,
    body: u64,
    size: Option<u64>,
}

struct Walker<R> {
    r: BufReader<R>,
    at: u64,
    len: u64,
}

impl<R: Read + Seek> Walker<R> {
    fn byte(&mut self) -> Result<u8, StripError> {
        let mut b = [0u8];
        self.r
            .read_exact(&mut b)
            .map_err(|_| StripError::Malformed("Matroska element cut short"))?;
        self.at += 1;
        Ok(b[0])
    }

    /// A variable-length integer of at most `max` bytes: its length and value (with the
    /// length marker kept for IDs, dropped for sizes).
    fn vint(&mut self, max: u32, keep_marker: bool) -> Result<(u32, u64), StripError> {
        let first = self.byte()?;
        let len = first.leading_zeros() + 1;
        if len > max {
            return Err(StripError::Malformed("Matroska element header"));
        }
        let mut v = if keep_marker {
            first as u64
        } else {
            first as u64 & (0xff >> len)
        };
        for _ in 1..len {
            v = (v << 8) | self.byte()? as u64;
        }
        Ok((len, v))
    }

    /// The element header at the current position.
    fn header(&mut self) -> Result<El, StripError> {
        let (_, id) = self.vint(4, true)?;
        let (len, size) = self.vint(8, false)?;
        let unknown = size == (1u64 << (7 * len)) - 1;
        let body = self.at;
        let size = if unknown { None } else { Some(size) };
        if size.is_some_and(|s| body.checked_add(s).is_none_or(|e| e > self.len)) {
            return Err(StripError::Malformed("Matroska element runs past the end"));
        }
        Ok(El {
            id: id as u32,
            body,
            size,
        })
    }

    fn seek(&mut self, to: u64) -> Result<(), StripError> {
        let by = to as i64 - self.at as i64;
        self.r
            .seek_relative(by)
            .map_err(|e| StripError::Io(e.to_string()))?;
        self.at = to;
        Ok(())
    }

    /// The end of an element of known size.
    fn end(el: &El) -> Result<u64, StripError> {
        match el.size {
            Some(s) => Ok(el.body + s),
            None => Err(StripError::Malformed(
                "unknown size where it is not allowed",
            )),
        }
    }

    /// Up to `max` bytes of an element's body.
    fn small(&mut self, el: &El, max: u64) -> Result<Vec<u8>, StripError> {
        let n = Self::end(el)? - el.body;
        if n > max {
            return Err(StripError::Unsupported(
                "a Matroska tag name this long".into(),
            ));
        }
        let mut b = vec![0u8; n as usize];
        self.r
            .read_exact(&mut b)
            .map_err(|e| StripError::Io(e.to_string()))?;
        self.at += n;
        Ok(b)
    }
}

/// The patches that remove the location from the Matroska/WebM file read by `r` (empty: it
/// has none).
pub fn patches<R: Read + Seek>(r: R) -> Result<Vec<Patch>, StripError> {
    let mut r = BufReader::new(r);
    let len = r
        .seek(SeekFrom::End(0))
        .and_then(|l| r.seek(SeekFrom::Start(0)).map(|_| l))
        .map_err(|e| StripError::Io(e.to_string()))?;
    let mut w = Walker { r, at: 0, len };
    let mut out = Vec::new();
    let mut pending = None;
    while pending.is_some() || w.at < len {
        let el = match pending.take() {
            Some(el) => el,
            None => w.header()?,
        };
        match el.id {
            EBML | VOID | CRC32 => w.seek(Walker::<R>::end(&el)?)?,
            SEGMENT => pending = segment(&mut w, &el, &mut out)?,
            _ => return Err(StripError::Malformed("not a Matroska element")),
        }
    }
    overlay::check(&out, len).map_err(|e| StripError::Unsupported(e.to_string()))?;
    Ok(out)
}

/// Walks a Segment's top-level elements. An unknown-size Segment runs to the end of the file or
/// to the next EBML header or Segment, whose header is returned.
fn segment<R: Read + Seek>(
    w: &mut Walker<R>,
    seg: &El,
    out: &mut Vec<Patch>,
) -> Result<Option<El>, StripError> {
    let end = seg.size.map_or(w.len, |s| seg.body + s);
    let mut pending = None;
    while pending.is_some() || w.at < end {
        let el = match pending.take() {
            Some(el) => el,
            None => w.header()?,
        };
        if el.size.is_some_and(|s| el.body + s > end) {
            return Err(StripError::Malformed(
                "Matroska element runs past its parent",
            ));
        }
        match el.id {
            EBML | SEGMENT if seg.size.is_none() => return Ok(Some(el)),
            CLUSTER if el.size.is_none() => pending = cluster(w, end)?,
            TAGS => tags(w, &el, out)?,
            ATTACHMENTS => {
                return Err(StripError::Unsupported(
                    "a Matroska file with attachments".into(),
                ))
            }
            id if id == CLUSTER || id == VOID || id == CRC32 || SKIPPED.contains(&id) => {
                w.seek(Walker::<R>::end(&el)?)?
            }
            _ => {
                return Err(StripError::Unsupported(
                    "a Matroska element Kith does not know".into(),
                ))
            }
        }
    }
    if w.at != end {
        return Err(StripError::Malformed(
            "Matroska element runs past its parent",
        ));
    }
    Ok(None)
}

/// Walks an unknown-size Cluster's children up to the first element that is not one (returned)
/// or `end`.
fn cluster<R: Read + Seek>(w: &mut Walker<R>, end: u64) -> Result<Option<El>, StripError> {
    while w.at < end {
        let el = w.header()?;
        if !CLUSTER_CHILDREN.contains(&el.id) && el.id != VOID && el.id != CRC32 {
            return Ok(Some(el));
        }
        let to = Walker::<R>::end(&el)?;
        if to > end {
            return Err(StripError::Malformed("Matroska block runs past its parent"));
        }
        w.seek(to)?;
    }
    Ok(None)
}

/// Walks a Tags element: each Tag's SimpleTags.
fn tags<R: Read + Seek>(
    w: &mut Walker<R>,
    el: &El,
    out: &mut Vec<Patch>,
) -> Result<(), StripError> {
    children(w, el, |w, c| match c.id {
        TAG => children(w, c, |w, t| match t.id {
            SIMPLE_TAG => simple_tag(w, t, false, 0, out),
            _ => Ok(()),
        }),
        _ => Ok(()),
    })
}

/// A SimpleTag: its value is blanked if its name (or that of a tag it is nested in) names a
/// location.
fn simple_tag<R: Read + Seek>(
    w: &mut Walker<R>,
    el: &El,
    inherited: bool,
    depth: usize,
    out: &mut Vec<Patch>,
) -> Result<(), StripError> {
    if depth > DEPTH_MAX {
        return Err(StripError::Unsupported(
            "Matroska tags nested this deep".into(),
        ));
    }
    // The name may come after the value: find it first, then walk again.
    let mut location = inherited;
    children(w, el, |w, c| {
        if c.id == TAG_NAME {
            let name = String::from_utf8_lossy(&w.small(c, NAME_MAX)?).to_ascii_uppercase();
            location |= LOCATION_WORDS.iter().any(|word| name.contains(word));
        }
        Ok(())
    })?;
    children(w, el, |w, c| match c.id {
        TAG_STRING | TAG_BINARY if location => {
            let n = Walker::<R>::end(c)? - c.body;
            if n > overlay::MAX_BYTES as u64 {
                return Err(StripError::Unsupported(
                    "a Matroska location tag this large".into(),
                ));
            }
            if n > 0 {
                out.push(Patch {
                    at: c.body,
                    bytes: vec![0; n as usize],
                });
            }
            Ok(())
        }
        SIMPLE_TAG => simple_tag(w, c, location, depth + 1, out),
        _ => Ok(()),
    })
}

/// Calls `f` on each child of the known-size element `el`, then moves to its end.
fn children<R: Read + Seek>(
    w: &mut Walker<R>,
    el: &El,
    mut f: impl FnMut(&mut Walker<R>, &El) -> Result<(), StripError>,
) -> Result<(), StripError> {
    let end = Walker::<R>::end(el)?;
    w.seek(el.body)?;
    while w.at < end {
        let c = w.header()?;
        let to = Walker::<R>::end(&c)?;
        if to > end {
            return Err(StripError::Malformed(
                "Matroska element runs past its parent",
            ));
        }
        f(w, &c)?;
        w.seek(to)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    /// An element with a known size (written on 8 bytes, as muxers that patch sizes do).
    fn el(id: u32, body: &[u8]) -> Vec<u8> {
        let mut b = id_bytes(id);
        b.push(0x01);
        b.extend(&(body.len() as u64).to_be_bytes()[1..]);
        b.extend(body);
        b
    }

    /// An element of unknown size (its header only).
    fn open(id: u32) -> Vec<u8> {
        let mut b = id_bytes(id);
        b.push(0xff);
        b
    }

    fn id_bytes(id: u32) -> Vec<u8> {
        let b = id.to_be_bytes();
        let skip = b.iter().position(|x| *x != 0).unwrap_or(3);
        b[skip..].to_vec()
    }

    fn simple(name: &str, value: &str, nested: &[u8]) -> Vec<u8> {
        let mut b = el(TAG_NAME, name.as_bytes());
        b.extend(el(TAG_STRING, value.as_bytes()));
        b.extend(nested);
        el(SIMPLE_TAG, &b)
    }

    /// A WebM as a browser's recorder writes it (unknown-size Segment and first Cluster, then a
    /// known-size Cluster), followed by `tail` inside the Segment.
    fn webm(tail: &[u8]) -> Vec<u8> {
        let mut f = el(EBML, &el(0x4282, b"webm"));
        f.extend(open(SEGMENT));
        f.extend(el(0x1549_A966, &el(0x2AD7B1, &[0x0f, 0x42, 0x40])));
        f.extend(el(0x1654_AE6B, &el(0xAE, &el(0xD7, &[1]))));
        f.extend(open(CLUSTER));
        f.extend(el(0xE7, &[0]));
        f.extend(el(0xA3, &[0x81, 0, 0, 0x80, 1, 2, 3, 4]));
        f.extend(el(0xA3, &[0x81, 0, 1, 0x80, 5, 6, 7, 8]));
        let mut known = el(0xE7, &[2]);
        known.extend(el(0xA3, &[0x81, 0, 0, 0x80, 9, 9, 9]));
        f.extend(el(CLUSTER, &known));
        f.extend(tail);
        f
    }

    fn location_tags() -> Vec<u8> {
        let mut tag = el(0x63C0, &el(0x68CA, &[50]));
        let note = simple("NOTE", "near the tower", &[]);
        tag.extend(simple("RECORDING_LOCATION", "+48.8584+002.2945/", &note));
        tag.extend(simple("ENCODER", "KithCam", &[]));
        el(TAGS, &el(TAG, &tag))
    }

    fn apply(data: &[u8], patches: &[Patch]) -> Vec<u8> {
        let mut out = data.to_vec();
        overlay::apply(&mut out, 0, patches);
        out
    }

    fn has(b: &[u8], s: &str) -> bool {
        b.windows(s.len()).any(|w| w == s.as_bytes())
    }

    #[test]
    fn a_recorded_webm_without_tags_is_proven_clean_through_its_unknown_size_cluster() {
        assert_eq!(patches(Cursor::new(webm(&[]))), Ok(vec![]));
        // Tags without a location need nothing either.
        let other = el(TAGS, &el(TAG, &simple("ENCODER", "KithCam", &[])));
        assert_eq!(patches(Cursor::new(webm(&other))), Ok(vec![]));
    }

    #[test]
    fn a_location_tag_after_an_unknown_size_cluster_is_zeroed_with_its_nested_tags_and_nothing_else(
    ) {
        let f = webm(&location_tags());
        let p = patches(Cursor::new(f.clone())).unwrap();
        assert_eq!(p.len(), 2, "{p:?}");
        let out = apply(&f, &p);
        assert_eq!(out.len(), f.len());
        assert!(has(&f, "48.8584") && has(&f, "near the tower"));
        assert!(!has(&out, "48.8584") && !has(&out, "near the tower"));
        assert!(has(&out, "KithCam") && has(&out, "RECORDING_LOCATION"));
        let changed = f.iter().zip(&out).filter(|(a, b)| a != b).count();
        assert_eq!(changed, "+48.8584+002.2945/near the tower".len());
        // The patched file still parses, the same way.
        assert_eq!(patches(Cursor::new(out)).unwrap(), p);
    }

    #[test]
    fn a_cut_short_or_damaged_webm_and_one_with_attachments_are_errors() {
        let f = webm(&location_tags());
        // Cut inside the Tags, and inside a block of the unknown-size cluster.
        let block = f.windows(4).position(|w| w == [5, 6, 7, 8]).unwrap();
        for cut in [f.len() - 3, block + 2] {
            assert!(
                matches!(
                    patches(Cursor::new(f[..cut].to_vec())),
                    Err(StripError::Malformed(_))
                ),
                "cut at {cut}"
            );
        }
        // A known-size Segment shorter than what it holds.
        let mut short = el(EBML, &[]);
        short.extend(el(SEGMENT, &el(0x1549_A966, &[0; 8]))[..12].iter());
        short.extend([0; 8]);
        assert!(patches(Cursor::new(short)).is_err());
        // An element Kith does not know where a top-level one belongs.
        assert!(patches(Cursor::new(webm(&el(0x2A_BCDE, &[1]))))
            .is_err_and(|e| matches!(e, StripError::Unsupported(_))));
        let att = el(ATTACHMENTS, &el(0x61A7, &el(0x466E, b"where.gpx")));
        assert!(matches!(
            patches(Cursor::new(webm(&att))),
            Err(StripError::Unsupported(_))
        ));
    }
}
