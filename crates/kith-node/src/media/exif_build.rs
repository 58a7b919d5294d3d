//! Writing small EXIF blocks into JPEGs: the demo's photos get dates, and tests get photos
//! with a known orientation and location.

use image::codecs::jpeg::JpegEncoder;

/// What to write into a photo's EXIF.
#[derive(Debug, Default, Clone)]
pub struct ExifSpec {
    /// Camera make.
    pub make: Option<String>,
    /// Orientation, 1 to 8.
    pub orientation: Option<u16>,
    /// When it was taken, `YYYY:MM:DD HH:MM:SS`.
    pub taken: Option<String>,
    /// Latitude and longitude in degrees.
    pub gps: Option<(f64, f64)>,
}

struct Entry {
    tag: u16,
    typ: u16,
    count: u32,
    data: Vec<u8>,
}

fn ascii(tag: u16, s: &str) -> Entry {
    let mut data = s.as_bytes().to_vec();
    data.push(0);
    Entry {
        tag,
        typ: 2,
        count: data.len() as u32,
        data,
    }
}

fn long(tag: u16, v: u32) -> Entry {
    Entry {
        tag,
        typ: 4,
        count: 1,
        data: v.to_be_bytes().to_vec(),
    }
}

fn dms(tag: u16, deg: f64) -> Entry {
    let d = deg.abs();
    let (whole, minutes) = (d.trunc(), (d.fract() * 60.0));
    let seconds = (minutes.fract() * 60.0 * 100.0).round() as u32;
    let mut data = Vec::new();
    for (n, den) in [
        (whole as u32, 1u32),
        (minutes.trunc() as u32, 1),
        (seconds, 100),
    ] {
        data.extend(n.to_be_bytes());
        data.extend(den.to_be_bytes());
    }
    Entry {
        tag,
        typ: 5,
        count: 3,
        data,
    }
}

/// An IFD placed at `at` (TIFF offset), followed by its out-of-line values.
fn ifd(entries: &[Entry], at: u32) -> Vec<u8> {
    let head = 2 + 12 * entries.len() as u32 + 4;
    let (mut out, mut extra) = (Vec::new(), Vec::new());
    out.extend((entries.len() as u16).to_be_bytes());
    for e in entries {
        out.extend(e.tag.to_be_bytes());
        out.extend(e.typ.to_be_bytes());
        out.extend(e.count.to_be_bytes());
        if e.data.len() <= 4 {
            let mut v = e.data.clone();
            v.resize(4, 0);
            out.extend(v);
        } else {
            out.extend((at + head + extra.len() as u32).to_be_bytes());
            extra.extend(&e.data);
            if extra.len() % 2 == 1 {
                extra.push(0);
            }
        }
    }
    out.extend(0u32.to_be_bytes());
    out.extend(extra);
    out
}

/// The TIFF body of an EXIF block (big-endian) holding `spec`.
fn tiff(spec: &ExifSpec) -> Vec<u8> {
    let exif: Vec<Entry> = spec.taken.iter().map(|t| ascii(0x9003, t)).collect();
    let gps: Vec<Entry> = spec
        .gps
        .map(|(lat, lon)| {
            vec![
                Entry {
                    tag: 0,
                    typ: 1,
                    count: 4,
                    data: vec![2, 2, 0, 0],
                },
                ascii(1, if lat >= 0.0 { "N" } else { "S" }),
                dms(2, lat),
                ascii(3, if lon >= 0.0 { "E" } else { "W" }),
                dms(4, lon),
            ]
        })
        .unwrap_or_default();
    let ifd0 = |exif_at: u32, gps_at: u32| {
        let mut e = Vec::new();
        if let Some(m) = &spec.make {
            e.push(ascii(0x010f, m));
        }
        if let Some(o) = spec.orientation {
            e.push(Entry {
                tag: 0x0112,
                typ: 3,
                count: 1,
                data: o.to_be_bytes().to_vec(),
            });
        }
        if !exif.is_empty() {
            e.push(long(0x8769, exif_at));
        }
        if !gps.is_empty() {
            e.push(long(0x8825, gps_at));
        }
        ifd(&e, 8)
    };
    let len0 = ifd0(0, 0).len() as u32;
    let exif_at = 8 + len0;
    let exif_bytes = if exif.is_empty() {
        Vec::new()
    } else {
        ifd(&exif, exif_at)
    };
    let gps_at = exif_at + exif_bytes.len() as u32;
    let mut out = b"MM\0\x2a".to_vec();
    out.extend(8u32.to_be_bytes());
    out.extend(ifd0(exif_at, gps_at));
    out.extend(exif_bytes);
    if !gps.is_empty() {
        out.extend(ifd(&gps, gps_at));
    }
    out
}

/// A JPEG of `img` at `quality` with an EXIF block holding `spec` right after its start.
pub fn jpeg_with_exif(img: &image::RgbImage, quality: u8, spec: &ExifSpec) -> Vec<u8> {
    let mut plain = Vec::new();
    // Encoding an in-memory RGB image into a Vec does not fail.
    let _ = JpegEncoder::new_with_quality(&mut plain, quality).encode_image(img);
    let body = tiff(spec);
    let mut seg = vec![0xff, 0xe1];
    seg.extend(((body.len() + 8) as u16).to_be_bytes());
    seg.extend(b"Exif\0\0");
    seg.extend(body);
    let mut out = plain[..2].to_vec();
    out.extend(seg);
    out.extend(&plain[2..]);
    out
}
