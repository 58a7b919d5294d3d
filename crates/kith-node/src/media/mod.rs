//! Photos and videos: what kind a file is, its content type, thumbnails with their metadata,
//! and removing the location from photos. Pure functions over files and bytes.

pub mod exif_build;
pub mod isobmff;
pub mod matroska;
pub mod strip;
pub mod thumb;
pub mod xmp;

use std::path::Path;

pub use kith_proto::album::Kind;

fn extension(name: &str) -> String {
    Path::new(name)
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase()
}

/// The kind of a file, from its name.
pub fn kind_of(name: &str) -> Kind {
    match extension(name).as_str() {
        "jpg" | "jpeg" | "png" | "gif" | "webp" | "avif" | "bmp" | "heic" | "heif" | "tif"
        | "tiff" => Kind::Image,
        "webm" | "mp4" | "m4v" | "mov" | "mkv" | "ogv" | "avi" => Kind::Video,
        "mp3" | "ogg" | "oga" | "opus" | "flac" | "wav" | "m4a" | "aac" => Kind::Audio,
        _ => Kind::File,
    }
}

/// The content type the gateway gives a file: media types a browser shows inline; anything
/// else is served as bytes to save (never as HTML or script, whatever the name says).
pub fn content_type(name: &str) -> &'static str {
    match extension(name).as_str() {
        "jpg" | "jpeg" => "image/jpeg",
        "png" => "image/png",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "avif" => "image/avif",
        "bmp" => "image/bmp",
        "webm" => "video/webm",
        "mp4" | "m4v" => "video/mp4",
        "mov" => "video/quicktime",
        "mkv" => "video/x-matroska",
        "ogv" => "video/ogg",
        "mp3" => "audio/mpeg",
        "ogg" | "oga" | "opus" => "audio/ogg",
        "flac" => "audio/flac",
        "wav" => "audio/wav",
        "m4a" | "aac" => "audio/mp4",
        "pdf" => "application/pdf",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_and_content_types_come_from_the_extension_and_html_is_never_served_as_html() {
        assert_eq!(kind_of("a/B.JPG"), Kind::Image);
        assert_eq!(kind_of("film.webm"), Kind::Video);
        assert_eq!(kind_of("song.opus"), Kind::Audio);
        assert_eq!(kind_of("notes"), Kind::File);
        assert_eq!(content_type("x.webm"), "video/webm");
        assert_eq!(content_type("page.html"), "application/octet-stream");
        assert_eq!(content_type("pic.svg"), "application/octet-stream");
        assert_eq!(Kind::parse("video"), Some(Kind::Video));
        assert_eq!(Kind::parse("html"), None);
    }
}
