//! Layer compression recognised by magic number (what the media type says is often
//! wrong in docker archives): gzip, zstd, or a plain tar.

use std::io::{self, BufRead, Read};

const GZIP_MAGIC: &[u8] = &[0x1f, 0x8b];
const ZSTD_MAGIC: &[u8] = &[0x28, 0xb5, 0x2f, 0xfd];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

impl Compression {
    pub fn detect(head: &[u8]) -> Compression {
        if head.starts_with(GZIP_MAGIC) {
            Compression::Gzip
        } else if head.starts_with(ZSTD_MAGIC) {
            Compression::Zstd
        } else {
            Compression::None
        }
    }

    /// The OCI layer media type for this compression.
    pub fn oci_media_type(self) -> &'static str {
        match self {
            Compression::None => "application/vnd.oci.image.layer.v1.tar",
            Compression::Gzip => "application/vnd.oci.image.layer.v1.tar+gzip",
            Compression::Zstd => "application/vnd.oci.image.layer.v1.tar+zstd",
        }
    }
}

/// A decompressing reader that gives its source back, so callers can drain and
/// hash whatever follows the compressed stream.
pub enum Decompressor<R: BufRead> {
    Plain(R),
    // Boxed: zlib-rs keeps its inflate state inline, which would make every variant big.
    Gzip(Box<flate2::bufread::MultiGzDecoder<R>>),
    Zstd(zstd::stream::read::Decoder<'static, R>),
}

impl<R: BufRead> Decompressor<R> {
    pub fn new(mut source: R) -> io::Result<(Self, Compression)> {
        let kind = Compression::detect(source.fill_buf()?);
        let d = match kind {
            Compression::None => Decompressor::Plain(source),
            Compression::Gzip => {
                Decompressor::Gzip(Box::new(flate2::bufread::MultiGzDecoder::new(source)))
            }
            Compression::Zstd => {
                Decompressor::Zstd(zstd::stream::read::Decoder::with_buffer(source)?)
            }
        };
        Ok((d, kind))
    }

    pub fn into_inner(self) -> R {
        match self {
            Decompressor::Plain(r) => r,
            Decompressor::Gzip(d) => (*d).into_inner(),
            Decompressor::Zstd(d) => d.finish(),
        }
    }
}

impl<R: BufRead> Read for Decompressor<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Decompressor::Plain(r) => r.read(buf),
            Decompressor::Gzip(d) => d.read(buf),
            Decompressor::Zstd(d) => d.read(buf),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn roundtrip(data: &[u8], kind: Compression) -> Vec<u8> {
        let (mut d, detected) = Decompressor::new(io::Cursor::new(data.to_vec())).unwrap();
        assert_eq!(detected, kind);
        let mut out = Vec::new();
        d.read_to_end(&mut out).unwrap();
        out
    }

    #[test]
    fn detects_and_decodes() {
        let text = b"hello layer".repeat(100);
        assert_eq!(roundtrip(&text, Compression::None), text);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&text).unwrap();
        assert_eq!(roundtrip(&gz.finish().unwrap(), Compression::Gzip), text);
        let zs = zstd::encode_all(&text[..], 3).unwrap();
        assert_eq!(roundtrip(&zs, Compression::Zstd), text);
    }
}
