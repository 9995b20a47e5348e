//! How one message maps to a `messages` row and back: the data kind as an integer, the
//! attachments as one length-prefixed blob, unsigned numbers as SQLite's signed integers.
//!
//! Attachments blob: for each attachment, its length as 4 little-endian bytes, then its
//! bytes. No attachments is SQL `NULL` (the common case costs nothing); one empty attachment
//! is four zero bytes, so `[]` and `[""]` stay distinct. Decoding slices one shared buffer,
//! so reading attachments back copies nothing more.

use std::sync::Arc;

use bytes::{Buf, Bytes};
use rusqlite::Row;

use super::SqliteError;
use crate::{DataKind, Entry, StoredEvent};

/// The columns [`entry`] reads, in order: `seq` is the offset, `gseq` the store-wide
/// sequence number (see `schema.rs`).
pub(super) const COLUMNS: &str =
    "seq, gseq, time_ms, name, kind, data, attachments, from_id, from_name, except_id";

pub(super) fn kind_to_sql(kind: DataKind) -> i64 {
    match kind {
        DataKind::Json => 0,
        DataKind::Binary => 1,
        DataKind::Args => 2,
    }
}

fn kind_from_sql(kind: i64) -> Result<DataKind, SqliteError> {
    match kind {
        0 => Ok(DataKind::Json),
        1 => Ok(DataKind::Binary),
        2 => Ok(DataKind::Args),
        _ => Err(SqliteError::Corrupt("unknown data kind")),
    }
}

/// A `u64` as an SQLite integer; values beyond `i64::MAX` are refused, not wrapped.
pub(super) fn to_sql(value: u64, what: &'static str) -> Result<i64, SqliteError> {
    i64::try_from(value).map_err(|_| SqliteError::OutOfRange(what))
}

/// A `u64` as an SQLite integer, clamped to `i64::MAX` (for bounds, not stored values).
pub(super) fn clamp_to_sql(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

pub(super) fn from_sql(value: i64) -> Result<u64, SqliteError> {
    u64::try_from(value).map_err(|_| SqliteError::Corrupt("negative integer"))
}

/// The attachments blob, or `None` for no attachments.
pub(super) fn encode_attachments(attachments: &[Bytes]) -> Result<Option<Vec<u8>>, SqliteError> {
    if attachments.is_empty() {
        return Ok(None);
    }
    let size = attachments.iter().map(|a| 4 + a.len()).sum();
    let mut blob = Vec::with_capacity(size);
    for a in attachments {
        let len = u32::try_from(a.len()).map_err(|_| SqliteError::OutOfRange("attachment size"))?;
        blob.extend_from_slice(&len.to_le_bytes());
        blob.extend_from_slice(a);
    }
    Ok(Some(blob))
}

fn decode_attachments(blob: Option<Vec<u8>>) -> Result<Vec<Bytes>, SqliteError> {
    let Some(blob) = blob else {
        return Ok(Vec::new());
    };
    let mut rest = Bytes::from(blob);
    let mut out = Vec::new();
    while !rest.is_empty() {
        if rest.len() < 4 {
            return Err(SqliteError::Corrupt("attachments blob"));
        }
        let len = rest.get_u32_le() as usize;
        if rest.len() < len {
            return Err(SqliteError::Corrupt("attachments blob"));
        }
        out.push(rest.split_to(len));
    }
    Ok(out)
}

/// Reads one row selected with [`COLUMNS`].
pub(super) fn entry(row: &Row<'_>) -> Result<Entry, SqliteError> {
    let from_id: Option<String> = row.get(7)?;
    let from_name: Option<String> = row.get(8)?;
    let from = match (from_id, from_name) {
        (Some(id), Some(name)) => Some((Arc::from(id), Arc::from(name))),
        (None, None) => None,
        _ => return Err(SqliteError::Corrupt("half a sender")),
    };
    Ok(Entry {
        offset: from_sql(row.get(0)?)?,
        seq: from_sql(row.get(1)?)?,
        event: StoredEvent {
            time_ms: from_sql(row.get(2)?)?,
            name: Arc::from(row.get::<_, String>(3)?),
            kind: kind_from_sql(row.get(4)?)?,
            data: Bytes::from(row.get::<_, Vec<u8>>(5)?),
            attachments: decode_attachments(row.get(6)?)?,
            from,
            except: row.get::<_, Option<String>>(9)?.map(Arc::from),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attachments_round_trip_and_stay_distinct() {
        let cases: [&[&[u8]]; 4] = [&[], &[b""], &[b"", b""], &[b"a", b"", b"\x00\xff\x01"]];
        let mut blobs = Vec::new();
        for case in cases {
            let bytes: Vec<Bytes> = case.iter().map(|a| Bytes::copy_from_slice(a)).collect();
            let blob = encode_attachments(&bytes).unwrap();
            assert_eq!(decode_attachments(blob.clone()).unwrap(), bytes);
            blobs.push(blob);
        }
        assert_eq!(blobs[0], None);
        assert_eq!(blobs[1], Some(vec![0, 0, 0, 0]));
    }

    #[test]
    fn corrupt_blobs_and_kinds_are_errors() {
        for blob in [vec![1], vec![5, 0, 0, 0, b'a'], vec![0, 0, 0, 0, 9]] {
            assert!(matches!(
                decode_attachments(Some(blob)),
                Err(SqliteError::Corrupt(_))
            ));
        }
        assert!(kind_from_sql(3).is_err());
        for kind in [DataKind::Json, DataKind::Binary, DataKind::Args] {
            assert_eq!(kind_from_sql(kind_to_sql(kind)).unwrap(), kind);
        }
        assert!(to_sql(u64::MAX, "x").is_err());
        assert_eq!(clamp_to_sql(u64::MAX), i64::MAX);
        assert!(from_sql(-1).is_err());
    }
}
