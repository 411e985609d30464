//! Crafting hostile and damaged bundles from a good one: raw tar headers are written by hand so
//! that entries the `tar` crate's builder would refuse (`..`, absolute paths, links, devices)
//! can be produced.

use std::io::{Read, Write};
use std::path::Path;

use flate2::read::GzDecoder;
use flate2::write::GzEncoder;

/// One tar entry.
#[derive(Debug, Clone)]
pub struct RawEntry {
    /// Path as stored.
    pub path: String,
    /// Tar type flag (`b'0'` regular, `b'1'` hard link, `b'2'` symlink, `b'3'` char device,
    /// `b'5'` directory).
    pub kind: u8,
    /// Link target for links.
    pub link: String,
    /// Content.
    pub data: Vec<u8>,
}

impl RawEntry {
    /// A regular file.
    pub fn file(path: &str, data: &[u8]) -> Self {
        Self {
            path: path.to_string(),
            kind: b'0',
            link: String::new(),
            data: data.to_vec(),
        }
    }
}

/// All entries of a gzip'd tar.
pub fn read_entries(bundle: &Path) -> Vec<RawEntry> {
    let f = std::fs::File::open(bundle).unwrap();
    let mut ar = tar::Archive::new(GzDecoder::new(f));
    ar.entries()
        .unwrap()
        .map(|e| {
            let mut e = e.unwrap();
            let path = String::from_utf8(e.path_bytes().into_owned()).unwrap();
            let mut data = Vec::new();
            e.read_to_end(&mut data).unwrap();
            RawEntry {
                path,
                kind: b'0',
                link: String::new(),
                data,
            }
        })
        .collect()
}

fn octal(field: &mut [u8], v: u64) {
    let s = format!("{:0width$o}\0", v, width = field.len() - 1);
    field.copy_from_slice(s.as_bytes());
}

/// Write `entries` as a gzip'd ustar archive with hand-made headers (paths up to 100 bytes).
pub fn write_entries(out: &Path, entries: &[RawEntry]) {
    let mut tar = Vec::new();
    for e in entries {
        let mut h = [0u8; 512];
        assert!(e.path.len() < 100, "path too long for this helper");
        h[..e.path.len()].copy_from_slice(e.path.as_bytes());
        octal(&mut h[100..108], if e.kind == b'0' { 0o644 } else { 0o777 });
        octal(&mut h[108..116], 0);
        octal(&mut h[116..124], 0);
        let size = if e.kind == b'0' {
            e.data.len() as u64
        } else {
            0
        };
        octal(&mut h[124..136], size);
        octal(&mut h[136..148], 0);
        h[156] = e.kind;
        h[157..157 + e.link.len()].copy_from_slice(e.link.as_bytes());
        h[257..263].copy_from_slice(b"ustar\0");
        h[263..265].copy_from_slice(b"00");
        h[148..156].copy_from_slice(b"        ");
        let sum: u32 = h.iter().map(|&b| b as u32).sum();
        let s = format!("{sum:06o}\0 ");
        h[148..156].copy_from_slice(s.as_bytes());
        tar.extend_from_slice(&h);
        if size > 0 {
            tar.extend_from_slice(&e.data);
            let pad = (512 - (e.data.len() % 512)) % 512;
            tar.extend(std::iter::repeat_n(0u8, pad));
        }
    }
    tar.extend(std::iter::repeat_n(0u8, 1024));
    let mut gz = GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&tar).unwrap();
    std::fs::write(out, gz.finish().unwrap()).unwrap();
}
