//! Finding the location in XMP with an XML parser (namespaces resolved, any prefix, attributes
//! in either quote style, element and structure forms), so it can be blanked in place: each
//! location value (or a location element's whole content) becomes spaces of the same length,
//! which leaves well-formed XML and moves no byte.

use std::borrow::Cow;
use std::ops::Range;

use quick_xml::events::{BytesStart, Event};
use quick_xml::name::ResolveResult;
use quick_xml::NsReader;
use thiserror::Error;

/// The EXIF namespace of XMP, where `GPSLatitude`, `GPSLongitude`, … live.
pub const EXIF_NS: &[u8] = b"http://ns.adobe.com/exif/1.0/";
/// The IPTC Extension namespace (`LocationCreated`, `LocationShown`).
pub const IPTC_EXT_NS: &[u8] = b"http://iptc.org/std/Iptc4xmpExt/2008-02-29/";
const RDF_NS: &[u8] = b"http://www.w3.org/1999/02/22-rdf-syntax-ns#";

/// Why XMP could not be read.
#[derive(Debug, Error)]
pub enum XmpError {
    /// Not UTF-8.
    #[error("XMP is not UTF-8")]
    Encoding,
    /// Not well-formed XML.
    #[error("XMP is not well-formed: {0}")]
    Xml(String),
}

/// Whether a property (namespace, local name) is a location: any `GPS…` property (the EXIF
/// namespace's, or another schema's such as a drone maker's `GpsLatitude`), and the IPTC
/// Extension's `LocationCreated` and `LocationShown` structures.
fn is_location(ns: Option<&[u8]>, local: &[u8]) -> bool {
    if ns == Some(RDF_NS) {
        return false;
    }
    let gps = local.len() >= 3 && local[..3].eq_ignore_ascii_case(b"gps");
    gps || (ns == Some(IPTC_EXT_NS) && matches!(local, b"LocationCreated" | b"LocationShown"))
}

fn namespace<'a>(r: &'a ResolveResult) -> Option<&'a [u8]> {
    match r {
        ResolveResult::Bound(ns) => Some(ns.as_ref().as_bytes()),
        _ => None,
    }
}

/// The byte ranges of `xmp` holding a location (values to blank).
pub fn location_ranges(xmp: &[u8]) -> Result<Vec<Range<usize>>, XmpError> {
    let text = std::str::from_utf8(xmp).map_err(|_| XmpError::Encoding)?;
    let base = text.as_ptr() as usize;
    // Where a borrowed value sits in `xmp`.
    let span = |v: &Cow<str>| -> Result<Range<usize>, XmpError> {
        match v {
            Cow::Borrowed(s) => {
                let at = (s.as_ptr() as usize).wrapping_sub(base);
                if at.checked_add(s.len()).is_some_and(|end| end <= xmp.len()) {
                    Ok(at..at + s.len())
                } else {
                    Err(XmpError::Xml("value outside the packet".into()))
                }
            }
            Cow::Owned(_) => Err(XmpError::Xml("value not in the packet".into())),
        }
    };
    let xml = |e: quick_xml::Error| XmpError::Xml(e.to_string());
    let mut r = NsReader::from_str(text);
    let mut out = Vec::new();
    let mut depth = 0usize;
    // Inside a location element: its depth and where its content starts.
    let mut open: Option<(usize, usize)> = None;
    loop {
        let before = r.buffer_position() as usize;
        let (ns, event) = r.read_resolved_event().map_err(xml)?;
        let elem_is_loc = match &event {
            Event::Start(e) | Event::Empty(e) => {
                is_location(namespace(&ns), e.local_name().as_ref().as_bytes())
            }
            _ => false,
        };
        match event {
            Event::Start(e) => {
                if open.is_none() {
                    attr_ranges(&r, &e, elem_is_loc, &span, &mut out)?;
                    if elem_is_loc {
                        open = Some((depth, r.buffer_position() as usize));
                    }
                }
                depth += 1;
            }
            Event::Empty(e) if open.is_none() => {
                attr_ranges(&r, &e, elem_is_loc, &span, &mut out)?;
            }
            Event::End(_) => {
                depth = depth.saturating_sub(1);
                if let Some((d, from)) = open {
                    if d == depth {
                        out.push(from..before);
                        open = None;
                    }
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if open.is_some() || depth != 0 {
        return Err(XmpError::Xml("unclosed element".into()));
    }
    Ok(out)
}

/// Ranges of the attribute values of `e` that are locations (all of them but `rdf:parseType`
/// when the element itself is one).
fn attr_ranges(
    r: &NsReader<&[u8]>,
    e: &BytesStart,
    all: bool,
    span: &impl Fn(&Cow<str>) -> Result<Range<usize>, XmpError>,
    out: &mut Vec<Range<usize>>,
) -> Result<(), XmpError> {
    for a in e.attributes() {
        let a = a.map_err(|e| XmpError::Xml(e.to_string()))?;
        let key = a.key.as_ref();
        if key == "xmlns" || key.starts_with("xmlns:") {
            continue;
        }
        let (ns, local) = r.resolver().resolve_attribute(a.key);
        let ns = namespace(&ns);
        let blank = if all {
            !(ns == Some(RDF_NS) && local.as_ref() == "parseType")
        } else {
            is_location(ns, local.as_ref().as_bytes())
        };
        if blank {
            out.push(span(&a.value)?);
        }
    }
    Ok(())
}

/// Patches (offsets in `xmp`) blanking every location value; XMP that cannot be read is
/// blanked whole, so no location can hide in it.
pub fn patches(xmp: &[u8]) -> Vec<(usize, Vec<u8>)> {
    match location_ranges(xmp) {
        Ok(ranges) => ranges
            .into_iter()
            .filter(|r| !r.is_empty())
            .map(|r| (r.start, vec![b' '; r.len()]))
            .collect(),
        Err(e) => {
            tracing::debug!("blanking unreadable XMP whole: {e}");
            if xmp.iter().all(|b| *b == b' ') {
                Vec::new()
            } else {
                vec![(0, vec![b' '; xmp.len()])]
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blank(xmp: &str) -> String {
        let mut out = xmp.as_bytes().to_vec();
        for (at, b) in patches(xmp.as_bytes()) {
            out[at..at + b.len()].copy_from_slice(&b);
        }
        assert_eq!(out.len(), xmp.len());
        String::from_utf8(out).unwrap()
    }

    const HEAD: &str = r#"<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">"#;
    const TAIL: &str = "</rdf:RDF></x:xmpmeta>";

    fn packet(body: &str) -> String {
        format!("{HEAD}{body}{TAIL}")
    }

    #[test]
    fn gps_attributes_are_blanked_with_either_quotes_spaces_around_the_equals_and_any_prefix() {
        let x = packet(
            r#"<rdf:Description xmlns:exif="http://ns.adobe.com/exif/1.0/" xmlns:e2="http://ns.adobe.com/exif/1.0/" xmlns:tiff="http://ns.adobe.com/tiff/1.0/"
               exif:GPSLatitude='48,51.5N' exif:GPSLongitude = "2,17.7E" e2:GPSAltitude	=	'35/1' tiff:Make="KithCam"/>"#,
        );
        let out = blank(&x);
        for v in ["48,51.5N", "2,17.7E", "35/1"] {
            assert!(!out.contains(v), "{v} left in {out}");
        }
        assert!(out.contains(r#"tiff:Make="KithCam""#), "{out}");
        assert!(location_ranges(out.as_bytes()).is_ok(), "still well-formed");
    }

    #[test]
    fn gps_elements_and_iptc_location_structures_are_blanked_whole_and_other_values_kept() {
        let x = packet(
            r#"<rdf:Description xmlns:g="http://ns.adobe.com/exif/1.0/" xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/" xmlns:dc="http://purl.org/dc/elements/1.1/">
              <g:GPSLatitude>48,51.5N</g:GPSLatitude>
              <g:GPSLongitude rdf:resource="2,17.7E"/>
              <g:GPSDestBearing><rdf:Alt><rdf:li>12&amp;3</rdf:li></rdf:Alt></g:GPSDestBearing>
              <Iptc4xmpExt:LocationCreated rdf:parseType="Resource"><Iptc4xmpExt:City>Paris</Iptc4xmpExt:City></Iptc4xmpExt:LocationCreated>
              <dc:title>Holiday</dc:title></rdf:Description>"#,
        );
        let out = blank(&x);
        for v in ["48,51.5N", "2,17.7E", "12&amp;3", "Paris", "rdf:Alt"] {
            assert!(!out.contains(v), "{v} left in {out}");
        }
        assert!(out.contains("<dc:title>Holiday</dc:title>"));
        assert!(out.contains(r#"rdf:parseType="Resource""#));
        assert!(location_ranges(out.as_bytes()).is_ok(), "still well-formed");
    }

    #[test]
    fn a_gps_name_in_another_namespace_of_the_same_prefix_is_still_blanked_and_broken_xmp_is_blanked_whole(
    ) {
        // The prefix is what a text match looks for; the namespace is what counts, and any
        // GPS… property is a location whatever its schema.
        let x = packet(
            r#"<rdf:Description xmlns:exif="http://example.com/other/" xmlns:drone-dji="http://www.dji.com/drone-dji/1.0/" drone-dji:GpsLatitude="48.8584" exif:Note="keep"/>"#,
        );
        let out = blank(&x);
        assert!(!out.contains("48.8584") && out.contains("keep"), "{out}");
        let broken = r#"<x exif:GPSLatitude="48,51.5N"><y></x>"#;
        assert_eq!(blank(broken).trim(), "");
        let not_utf8 = b"<x a=\"\xff\"/>";
        assert_eq!(patches(not_utf8), vec![(0, vec![b' '; not_utf8.len()])]);
    }
}
