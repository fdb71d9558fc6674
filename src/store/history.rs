//! History reads: an instance's newest records, read backwards from the
//! newest segment, and the backward line reader they share with the tail scan.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::ops::ControlFlow;
use std::path::Path;
use std::sync::Arc;

use super::record::{check_crc, decode_record, quick_instance_match};
use super::segments::{list_segments, open_or_skip};
use super::{MAX_RECORD_BYTES, REV_CHUNK_BYTES, StoreError};
use crate::model::{Event, InstanceId};

/// The newest records of instance `id`, newest first, at most `limit`, read
/// from the log in `dir` on demand (segments are read backwards, so recent
/// history costs little however large the log is). Corrupt records are
/// skipped; a missing directory gives an empty history.
pub fn history(dir: &Path, id: &InstanceId, limit: usize) -> Result<Vec<(u64, Event)>, StoreError> {
    let mut out = Vec::new();
    if limit == 0 {
        return Ok(out);
    }
    let encoded_id = serde_json::to_vec(id.as_str()).map_err(|e| StoreError::Encode {
        dir: dir.to_path_buf(),
        source: Arc::new(e),
    })?;
    let segments = list_segments(dir)?;
    for seg in segments.iter().rev() {
        let Some(mut file) = open_or_skip(&seg.path) else {
            continue;
        };
        let result = lines_backward(&mut file, |line| {
            let Some(json) = line.and_then(check_crc) else {
                return ControlFlow::Continue(());
            };
            if quick_instance_match(json, &encoded_id) == Some(false) {
                return ControlFlow::Continue(());
            }
            if let Some((seq, event)) = decode_record(json)
                && event.instance_id == *id
            {
                out.push((seq, event));
                if out.len() >= limit {
                    return ControlFlow::Break(());
                }
            }
            ControlFlow::Continue(())
        });
        if let Err(e) = result {
            tracing::warn!(path = %seg.path.display(), error = %e, "event log: read error, rest of segment skipped");
        }
        if out.len() >= limit {
            break;
        }
    }
    Ok(out)
}

/// Calls `f` with every line of `file` from the last to the first, without
/// its `\n`; `None` for a line over [`MAX_RECORD_BYTES`]. Stops when `f`
/// breaks.
pub(super) fn lines_backward(
    file: &mut File,
    mut f: impl FnMut(Option<&[u8]>) -> ControlFlow<()>,
) -> io::Result<()> {
    let len = file.metadata()?.len();
    let mut pos = len;
    let mut chunk = vec![0u8; REV_CHUNK_BYTES];
    // The end of a line whose start lies in an earlier chunk.
    let mut carry: Vec<u8> = Vec::new();
    let mut overlong = false;
    let mut joined: Vec<u8> = Vec::new();
    let mut at_file_end = true;

    let mut emit = |piece: &[u8], carry: &mut Vec<u8>, overlong: &mut bool, at_end: &mut bool| {
        let was_end = std::mem::replace(at_end, false);
        let flow = if *overlong || piece.len() + carry.len() > MAX_RECORD_BYTES {
            f(None)
        } else if carry.is_empty() {
            if piece.is_empty() && was_end {
                // Nothing after the final `\n`: not a line.
                ControlFlow::Continue(())
            } else {
                f(Some(piece))
            }
        } else {
            joined.clear();
            joined.extend_from_slice(piece);
            joined.extend_from_slice(carry);
            f(Some(&joined))
        };
        carry.clear();
        *overlong = false;
        flow
    };

    while pos > 0 {
        let n = usize::try_from(pos.min(REV_CHUNK_BYTES as u64)).unwrap_or(REV_CHUNK_BYTES);
        pos -= n as u64;
        file.seek(SeekFrom::Start(pos))?;
        file.read_exact(&mut chunk[..n])?;
        let data = &chunk[..n];
        let mut end = n;
        while let Some(i) = data[..end].iter().rposition(|&b| b == b'\n') {
            if emit(
                &data[i + 1..end],
                &mut carry,
                &mut overlong,
                &mut at_file_end,
            )
            .is_break()
            {
                return Ok(());
            }
            end = i;
        }
        if !overlong {
            if end + carry.len() > MAX_RECORD_BYTES {
                overlong = true;
                carry.clear();
            } else {
                carry.splice(0..0, data[..end].iter().copied());
            }
        }
    }
    // What is left is the first line of the file (if the file has any `\n`,
    // that line exists even when empty).
    if overlong || !carry.is_empty() || !at_file_end {
        let _ = emit(&[], &mut carry, &mut overlong, &mut at_file_end);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::CHUNK_BYTES;
    use crate::store::replay::{ChunkReader, for_each_line};
    use std::fs;

    fn backward_lines(content: &[u8]) -> Vec<Option<Vec<u8>>> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        fs::write(&path, content).unwrap();
        let mut file = File::open(&path).unwrap();
        let mut out = Vec::new();
        lines_backward(&mut file, |line| {
            out.push(line.map(<[u8]>::to_vec));
            ControlFlow::Continue(())
        })
        .unwrap();
        out
    }

    fn forward_lines(content: &[u8]) -> Vec<Option<Vec<u8>>> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        fs::write(&path, content).unwrap();
        let mut out = Vec::new();
        let mut reader = ChunkReader::new(File::open(&path).unwrap());
        while let Some(chunk) = reader.next_chunk().unwrap() {
            assert!(chunk.len() <= CHUNK_BYTES + MAX_RECORD_BYTES + 1);
            for_each_line(&chunk, |line| out.push(line.map(<[u8]>::to_vec)));
        }
        // Overlong lines the reader dropped count as `None`s (their
        // position is not kept).
        out.extend((0..reader.overlong).map(|_| None));
        out
    }

    #[test]
    fn lines_both_ways_agree() {
        let long = vec![b'x'; REV_CHUNK_BYTES * 2 + 17];
        let mut big = b"a\n".to_vec();
        big.extend_from_slice(&long);
        big.extend_from_slice(b"\nb\n\nc");
        let huge = vec![b'y'; MAX_RECORD_BYTES + 5];
        let mut over = b"first\n".to_vec();
        over.extend_from_slice(&huge);
        over.extend_from_slice(b"\nlast\n");
        let mut exact = b"a\n".to_vec();
        exact.extend_from_slice(&vec![b'z'; MAX_RECORD_BYTES]);
        exact.push(b'\n');
        exact.extend_from_slice(&vec![b'z'; MAX_RECORD_BYTES + 1]);
        exact.extend_from_slice(b"\nend");
        let mut torn_over = b"a\n".to_vec();
        torn_over.extend_from_slice(&vec![b'y'; MAX_RECORD_BYTES + 10]);
        let mut first_over = vec![b'y'; CHUNK_BYTES * 2 + 3];
        first_over.extend_from_slice(b"\nafter\n");
        let mut many = Vec::new();
        for i in 0..(3 * CHUNK_BYTES / 10) {
            many.extend_from_slice(format!("line {i}\n").as_bytes());
        }
        let cases: Vec<Vec<u8>> = vec![
            b"".to_vec(),
            b"\n".to_vec(),
            b"\n\n".to_vec(),
            b"one".to_vec(),
            b"one\n".to_vec(),
            b"one\ntwo".to_vec(),
            b"one\ntwo\n".to_vec(),
            big,
            over,
            exact,
            torn_over,
            first_over,
            many,
        ];
        let split = |v: Vec<Option<Vec<u8>>>| {
            let nones = v.iter().filter(|l| l.is_none()).count();
            (v.into_iter().flatten().collect::<Vec<_>>(), nones)
        };
        for case in cases {
            let fwd = forward_lines(&case);
            let mut bwd = backward_lines(&case);
            bwd.reverse();
            assert_eq!(split(fwd), split(bwd), "case of {} bytes", case.len());
        }
        assert_eq!(forward_lines(b"\n\n"), vec![Some(vec![]), Some(vec![])]);
        assert_eq!(
            forward_lines(b"a\nb"),
            vec![Some(b"a".to_vec()), Some(b"b".to_vec())]
        );
    }
}
