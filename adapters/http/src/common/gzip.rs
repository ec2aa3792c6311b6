//! Gzip request bodies (`Content-Encoding: gzip`), inflated with a ceiling so that a small body
//! cannot expand past the body limit (a zip bomb costs at most the limit in memory and time).

use std::io::Read;

use flate2::read::MultiGzDecoder;

/// Why a gzip body could not be inflated.
#[derive(Debug, thiserror::Error)]
pub(crate) enum GunzipError {
    /// The inflated body would be larger than the limit; inflating stopped there.
    #[error("the decompressed body is larger than {max_bytes} bytes")]
    TooLarge { max_bytes: usize },
    /// The body is not valid gzip.
    #[error("the body is not valid gzip: {0}")]
    Corrupt(#[from] std::io::Error),
}

/// Inflates `compressed` (one or more gzip members) to at most `max_bytes`.
pub(crate) fn gunzip_limited(compressed: &[u8], max_bytes: usize) -> Result<Vec<u8>, GunzipError> {
    // Read one byte past the limit: getting it proves the body is too large without inflating
    // any further.
    let ceiling = u64::try_from(max_bytes)
        .unwrap_or(u64::MAX)
        .saturating_add(1);
    let mut inflated = Vec::with_capacity(compressed.len().saturating_mul(4).min(max_bytes));
    MultiGzDecoder::new(compressed)
        .take(ceiling)
        .read_to_end(&mut inflated)?;
    if inflated.len() > max_bytes {
        return Err(GunzipError::TooLarge { max_bytes });
    }
    Ok(inflated)
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use flate2::Compression;
    use flate2::write::GzEncoder;

    use super::*;

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
        encoder.write_all(bytes).unwrap();
        encoder.finish().unwrap()
    }

    #[test]
    fn a_gzip_body_inflates_to_its_original_bytes() {
        let original = br#"{"service":"api","level":"INFO","message":"hello"}"#;
        assert_eq!(gunzip_limited(&gzip(original), 1024).unwrap(), original);
    }

    #[test]
    fn concatenated_gzip_members_inflate_to_their_concatenation() {
        let mut body = gzip(b"first\n");
        body.extend(gzip(b"second\n"));
        assert_eq!(gunzip_limited(&body, 1024).unwrap(), b"first\nsecond\n");
    }

    #[test]
    fn a_body_of_exactly_the_limit_is_accepted_and_one_byte_more_is_refused() {
        let limit = 10_000;
        assert_eq!(
            gunzip_limited(&gzip(&vec![b' '; limit]), limit)
                .unwrap()
                .len(),
            limit
        );
        assert!(matches!(
            gunzip_limited(&gzip(&vec![b' '; limit + 1]), limit),
            Err(GunzipError::TooLarge { max_bytes }) if max_bytes == limit
        ));
    }

    #[test]
    fn a_zip_bomb_is_refused_without_inflating_it_whole() {
        // 64 MiB of spaces compress to about 64 KiB.
        let bomb = gzip(&vec![b' '; 64 * 1024 * 1024]);
        assert!(bomb.len() < 128 * 1024);
        assert!(matches!(
            gunzip_limited(&bomb, 1024 * 1024),
            Err(GunzipError::TooLarge { .. })
        ));
    }

    #[test]
    fn bytes_that_are_not_gzip_are_corrupt() {
        assert!(matches!(
            gunzip_limited(b"{\"plain\":\"json\"}", 1024),
            Err(GunzipError::Corrupt(_))
        ));
        let truncated = &gzip(b"some text that will be cut")[..12];
        assert!(matches!(
            gunzip_limited(truncated, 1024),
            Err(GunzipError::Corrupt(_))
        ));
    }
}
