//! The record codec: one line per record (CRC-32, space, JSON), the
//! hand-written encoder, the fast decoder and its canonical fallbacks.

use std::fmt;
use std::path::Path;

use chrono::{DateTime, NaiveDate, Utc};
use serde::de::{self, Deserializer, Visitor};
use serde::ser::{self, Serializer};
use serde::{Deserialize, Serialize};

use super::{MAX_RECORD_BYTES, StoreError};
use crate::model::{Event, EventKind, InstanceId};

/// A fingerprint, written as 16 lowercase hex digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct FpHex(u64);

impl Serialize for FpHex {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut digits = [0u8; 16];
        hex_into(self.0, &mut digits);
        let text = std::str::from_utf8(&digits).map_err(ser::Error::custom)?;
        serializer.serialize_str(text)
    }
}

impl<'de> Deserialize<'de> for FpHex {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct FpVisitor;
        impl Visitor<'_> for FpVisitor {
            type Value = FpHex;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("16 hex digits")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<FpHex, E> {
                let digits = v.as_bytes();
                (digits.len() == 16)
                    .then(|| parse_hex(digits))
                    .flatten()
                    .map(FpHex)
                    .ok_or_else(|| E::custom("fingerprint must be 16 hex digits"))
            }
        }
        deserializer.deserialize_str(FpVisitor)
    }
}

/// A record as serde would write it; [`encode_record`] writes the same by
/// hand, and the tests compare the two.
#[cfg(test)]
#[derive(Serialize)]
pub(super) struct RecordOut<'a> {
    seq: u64,
    fp: FpHex,
    event: &'a Event,
}

#[derive(Deserialize)]
pub(super) struct RecordIn {
    seq: u64,
    #[allow(dead_code)]
    fp: FpHex,
    event: Event,
}

/// Just enough of a record to prime the writer: its `seq`, `fp` and
/// when it was received (an event's receipt, an acknowledgement's time;
/// none for a kind of record this version does not know).
#[derive(Deserialize)]
pub(super) struct RecordHead {
    seq: u64,
    fp: FpHex,
    #[serde(default)]
    event: Option<HeadEvent>,
    #[serde(default)]
    ack: Option<HeadAck>,
}

/// Of the event, only when it was received.
#[derive(Deserialize)]
pub(super) struct HeadEvent {
    received: FastTime,
}

/// Of the acknowledgement, only when it was given.
#[derive(Deserialize)]
pub(super) struct HeadAck {
    at: FastTime,
}

/// The operator's acknowledgement (`a` on the dashboard) that an
/// instance's number is known to be down (`acked`), or its withdrawal.
/// Stored as its own kind of record, so that it survives a restart:
/// `{"seq":N,"fp":"0000000000000000","ack":{"instance_id":"…","acked":true,"at":"…"}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ack {
    pub instance_id: InstanceId,
    pub acked: bool,
    pub at: DateTime<Utc>,
}

/// One record of the log: a webhook event or an acknowledgement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    Event(Event),
    Ack(Ack),
}

impl Record {
    /// When it happened here: an event's receipt, an acknowledgement's time.
    /// Picks the segment (day) it is written to.
    pub(super) fn received(&self) -> DateTime<Utc> {
        match self {
            Record::Event(e) => e.received,
            Record::Ack(a) => a.at,
        }
    }
}

/// Appends one acknowledgement record line to `buf` (no fingerprint: it is
/// never a retry). Rare, so serde writes it. On error `buf` is left as it was.
pub(super) fn encode_ack_record(
    buf: &mut Vec<u8>,
    dir: &Path,
    seq: u64,
    ack: &Ack,
) -> Result<(), StoreError> {
    #[derive(Serialize)]
    struct AckRecordOut<'a> {
        seq: u64,
        fp: FpHex,
        ack: &'a Ack,
    }
    let json = serde_json::to_vec(&AckRecordOut {
        seq,
        fp: FpHex(0),
        ack,
    })
    .map_err(|e| StoreError::Encode {
        dir: dir.to_path_buf(),
        source: std::sync::Arc::new(e),
    })?;
    let crc = crc32fast::hash(&json);
    let mut digits = [0u8; 8];
    hex_into(u64::from(crc), &mut digits);
    buf.extend_from_slice(&digits);
    buf.push(b' ');
    buf.extend_from_slice(&json);
    buf.push(b'\n');
    Ok(())
}

/// A record that [`decode_record`] did not take as an event: an
/// acknowledgement (`Some((seq, Some(ack)))`), a kind of record or of
/// event this version does not know, written by a newer one (`Some((seq,
/// None))`: skipped, not corrupt), or not a record at all (`None`).
pub(super) fn decode_other(json: &[u8]) -> Option<(u64, Option<Ack>)> {
    #[derive(Deserialize)]
    struct OtherRecord {
        seq: u64,
        #[serde(default)]
        event: Option<serde_json::Value>,
        #[serde(default)]
        ack: Option<serde_json::Value>,
    }
    let record: OtherRecord = serde_json::from_slice(json).ok()?;
    match (record.event, record.ack) {
        (None, Some(ack)) => serde_json::from_value::<Ack>(ack)
            .ok()
            .map(|ack| (record.seq, Some(ack))),
        (Some(event), None) => {
            // an event of a known kind that did not decode is damaged
            let kind = event.get("kind")?.as_str()?;
            let known = matches!(kind, "connected" | "disconnected" | "activity");
            (!known).then_some((record.seq, None))
        }
        (None, None) => Some((record.seq, None)),
        (Some(_), Some(_)) => None,
    }
}

pub(super) const HEX: &[u8; 16] = b"0123456789abcdef";

pub(super) fn hex_into(value: u64, out: &mut [u8]) {
    let n = out.len();
    for (i, byte) in out.iter_mut().enumerate() {
        let shift = 4 * (n - 1 - i);
        *byte = HEX[((value >> shift) & 0xf) as usize];
    }
}

pub(super) fn parse_hex(digits: &[u8]) -> Option<u64> {
    digits.iter().try_fold(0u64, |acc, &b| {
        let d = match b {
            b'0'..=b'9' => b - b'0',
            b'a'..=b'f' => b - b'a' + 10,
            b'A'..=b'F' => b - b'A' + 10,
            _ => return None,
        };
        Some((acc << 4) | u64::from(d))
    })
}

/// Appends one record line to `buf`. On error `buf` is left as it was.
///
/// The JSON is written by hand ([`write_event_json`]), byte for byte what
/// serde gives for [`RecordOut`] (`record_encoding_is_what_serde_gives`):
/// serde's flattened enum and chrono's `Display`-based timestamps were the
/// writer thread's largest costs.
#[cfg(test)]
pub(super) fn encode_record(
    buf: &mut Vec<u8>,
    dir: &Path,
    seq: u64,
    fp: u64,
    event: &Event,
) -> Result<(), StoreError> {
    encode_record_with_body(buf, dir, seq, fp, event, None)
}

/// [`encode_record`] with the webhook's original body, kept for the relay
/// as `,"body":"<base64>"` after the event (older readers ignore it).
pub(super) fn encode_record_with_body(
    buf: &mut Vec<u8>,
    dir: &Path,
    seq: u64,
    fp: u64,
    event: &Event,
    body: Option<&[u8]>,
) -> Result<(), StoreError> {
    let start = buf.len();
    buf.extend_from_slice(b"00000000 ");
    let json_start = buf.len();
    buf.extend_from_slice(b"{\"seq\":");
    write_u64(buf, seq);
    buf.extend_from_slice(b",\"fp\":\"");
    let mut digits = [0u8; 16];
    hex_into(fp, &mut digits);
    buf.extend_from_slice(&digits);
    buf.extend_from_slice(b"\",\"event\":");
    write_event_json(buf, event);
    if let Some(body) = body {
        use base64::Engine as _;
        buf.extend_from_slice(BODY_KEY);
        let at = buf.len();
        let len = base64::encoded_len(body.len(), true).unwrap_or(0);
        buf.resize(at + len, 0);
        let written = base64::engine::general_purpose::STANDARD
            .encode_slice(body, &mut buf[at..])
            .unwrap_or(0);
        buf.truncate(at + written);
        buf.push(b'"');
    }
    buf.push(b'}');
    let size = buf.len() - start + 1;
    if size > MAX_RECORD_BYTES {
        buf.truncate(start);
        return Err(StoreError::TooLarge {
            dir: dir.to_path_buf(),
            size,
        });
    }
    let crc = crc32fast::hash(&buf[json_start..]);
    hex_into(u64::from(crc), &mut buf[start..start + 8]);
    buf.push(b'\n');
    Ok(())
}

/// One value of an event's JSON object.
#[derive(Clone, Copy)]
enum JsonValue<'a> {
    Str(&'a str),
    OptStr(Option<&'a str>),
    Time(&'a DateTime<Utc>),
    U64(u64),
}

/// The fields of `event` as `(key, value)`, in the order its `Serialize`
/// writes them: `instance_id`, `kind`, the kind's own field, `moment`,
/// `received`.
fn event_fields(event: &Event) -> [(&'static str, JsonValue<'_>); 5] {
    let (kind, field) = match &event.kind {
        EventKind::Disconnected { error } => (
            "disconnected",
            ("error", JsonValue::OptStr(error.as_deref())),
        ),
        EventKind::Connected { phone } => {
            ("connected", ("phone", JsonValue::OptStr(phone.as_deref())))
        }
        EventKind::Activity { callback } => ("activity", ("callback", JsonValue::Str(callback))),
    };
    [
        ("instance_id", JsonValue::Str(event.instance_id.as_str())),
        ("kind", JsonValue::Str(kind)),
        field,
        ("moment", JsonValue::Time(&event.moment)),
        ("received", JsonValue::Time(&event.received)),
    ]
}

/// `fields` as one JSON object, in the order given (keys need no escaping).
fn write_object(buf: &mut Vec<u8>, fields: &[(&str, JsonValue<'_>)]) {
    let mut sep = b'{';
    for (key, value) in fields {
        buf.push(sep);
        sep = b',';
        buf.push(b'"');
        buf.extend_from_slice(key.as_bytes());
        buf.extend_from_slice(b"\":");
        match *value {
            JsonValue::Str(s) => write_json_str(buf, s),
            JsonValue::OptStr(s) => write_json_opt_str(buf, s),
            JsonValue::Time(t) => write_json_time(buf, t),
            JsonValue::U64(n) => write_u64(buf, n),
        }
    }
    buf.push(b'}');
}

/// An [`Event`] as its `Serialize` writes it with serde_json:
/// `{"instance_id":…,"kind":…,<the kind's field>,"moment":…,"received":…}`.
pub(super) fn write_event_json(buf: &mut Vec<u8>, event: &Event) {
    write_object(buf, &event_fields(event));
}

/// An [`Event`] with its `seq`, keys in alphabetical order: byte for byte what
/// `serde_json::to_value(event)` with `seq` inserted prints (a map sorts its
/// keys), without building the map.
pub(crate) fn write_event_json_sorted(buf: &mut Vec<u8>, seq: u64, event: &Event) {
    let [a, b, c, d, e] = event_fields(event);
    let mut fields = [a, b, c, d, e, ("seq", JsonValue::U64(seq))];
    fields.sort_unstable_by_key(|(key, _)| *key);
    write_object(buf, &fields);
}

/// `n` in decimal.
pub(super) fn write_u64(buf: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    buf.extend_from_slice(&digits[i..]);
}

/// `s` as a JSON string, exactly as serde_json writes it: copied as is when
/// nothing needs escaping, serde_json's own escaping otherwise.
pub(super) fn write_json_str(buf: &mut Vec<u8>, s: &str) {
    if s.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        buf.push(b'"');
        buf.extend_from_slice(s.as_bytes());
        buf.push(b'"');
    } else if serde_json::to_writer(&mut *buf, s).is_err() {
        // Writing a string to a Vec cannot fail.
        buf.extend_from_slice(b"null");
    }
}

/// `null` or [`write_json_str`].
pub(super) fn write_json_opt_str(buf: &mut Vec<u8>, s: Option<&str>) {
    match s {
        Some(s) => write_json_str(buf, s),
        None => buf.extend_from_slice(b"null"),
    }
}

/// A timestamp as chrono's serde writes it (RFC 3339, `Z`, fraction of 0,
/// 3, 6 or 9 digits): by hand for years 0 to 9999 outside leap seconds,
/// through chrono otherwise.
pub(super) fn write_json_time(buf: &mut Vec<u8>, t: &DateTime<Utc>) {
    use chrono::{Datelike, Timelike};
    /// `n` in exactly `out.len()` decimal digits.
    fn digits(out: &mut [u8], mut n: u32) {
        for d in out.iter_mut().rev() {
            *d = b'0' + (n % 10) as u8;
            n /= 10;
        }
    }
    let naive = t.naive_utc();
    let (date, time) = (naive.date(), naive.time());
    let year = date.year();
    let nano = time.nanosecond();
    if !(0..=9999).contains(&year) || nano >= 1_000_000_000 {
        if serde_json::to_writer(&mut *buf, t).is_err() {
            buf.extend_from_slice(b"null");
        }
        return;
    }
    let mut text = *b"\"0000-00-00T00:00:00.000000000Z\"";
    digits(&mut text[1..5], year as u32);
    digits(&mut text[6..8], date.month());
    digits(&mut text[9..11], date.day());
    digits(&mut text[12..14], time.hour());
    digits(&mut text[15..17], time.minute());
    digits(&mut text[18..20], time.second());
    let fraction = if nano == 0 {
        0
    } else if nano.is_multiple_of(1_000_000) {
        digits(&mut text[21..24], nano / 1_000_000);
        4
    } else if nano.is_multiple_of(1_000) {
        digits(&mut text[21..27], nano / 1_000);
        7
    } else {
        digits(&mut text[21..30], nano);
        10
    };
    buf.extend_from_slice(&text[..20 + fraction]);
    buf.extend_from_slice(b"Z\"");
}

/// What precedes a record's body (after its event's closing brace).
const BODY_KEY: &[u8] = b",\"body\":\"";

/// The original webhook body a record carries ([`encode_record_with_body`]),
/// if any: `Some(None)` when it has none, `None` when it says it has one
/// that is not base64.
pub(super) fn record_body(json: &[u8]) -> Option<Option<Vec<u8>>> {
    use base64::Engine as _;
    let Some(inner) = json.strip_suffix(b"\"}") else {
        return Some(None);
    };
    let marker = b"},\"body\":\"";
    let Some(at) = inner.windows(marker.len()).rposition(|w| w == marker) else {
        return Some(None);
    };
    let b64 = &inner[at + marker.len()..];
    base64::engine::general_purpose::STANDARD
        .decode(b64)
        .ok()
        .map(Some)
}

/// A record's fingerprint as written (`{"seq":N,"fp":"<16 hex>",…`).
pub(super) fn quick_fp(json: &[u8]) -> Option<u64> {
    let rest = json.strip_prefix(b"{\"seq\":")?;
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    let rest = rest.get(digits..)?.strip_prefix(b",\"fp\":\"")?;
    parse_hex(rest.get(..16)?)
}

/// The JSON part of a record line (without its `\n`) if the CRC checks out.
pub(super) fn check_crc(line: &[u8]) -> Option<&[u8]> {
    if line.len() < 10 || line[8] != b' ' {
        return None;
    }
    let crc = parse_hex(&line[..8])?;
    let json = &line[9..];
    (u64::from(crc32fast::hash(json)) == crc).then_some(json)
}

/// Decodes a record's JSON. Tries [`FastRecord`] first and falls back to
/// [`Event`]'s own `Deserialize` whenever the fast path does not match exactly,
/// so the result is always what `Event` itself would give.
pub(super) fn decode_record(json: &[u8]) -> Option<(u64, Event)> {
    // One UTF-8 check for the whole line is cheaper than one per string.
    let json = std::str::from_utf8(json).ok()?;
    if let Some(decoded) = decode_canonical(json) {
        return Some(decoded);
    }
    if let Ok(record) = serde_json::from_str::<FastRecord>(json)
        && let Some(event) = record.event.into_event()
    {
        return Some((record.seq, event));
    }
    let record: RecordIn = serde_json::from_str(json).ok()?;
    Some((record.seq, record.event))
}

/// Decodes a record exactly as [`encode_record`] writes it, byte for byte:
/// `{"seq":N,"fp":"<16 hex>","event":{"instance_id":"…","kind":"…",<the
/// kind's field>,"moment":"…","received":"…"}}` with strings free of escapes
/// and control characters. Anything else (an escape, another key order, a
/// field that does not belong to the kind) gives `None` and the caller takes
/// the serde path, so the result is always what serde would give. Replay
/// spends most of its time here: this is about three times faster than serde.
pub(super) fn decode_canonical(json: &str) -> Option<(u64, Event)> {
    /// A JSON string without escapes at the start of `s` (after its opening
    /// quote): its text and what follows the closing quote.
    fn plain_str(s: &str) -> Option<(&str, &str)> {
        let bytes = s.as_bytes();
        let end = bytes
            .iter()
            .position(|&b| b == b'"' || b == b'\\' || b < 0x20)?;
        (bytes[end] == b'"').then(|| (&s[..end], &s[end + 1..]))
    }
    /// `null` or a plain string, then what follows.
    fn opt_str(s: &str) -> Option<(Option<String>, &str)> {
        if let Some(rest) = s.strip_prefix("null") {
            return Some((None, rest));
        }
        let (text, rest) = plain_str(s.strip_prefix('"')?)?;
        Some((Some(text.to_owned()), rest))
    }
    let rest = json.strip_prefix("{\"seq\":")?;
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 || digits > 19 || (digits > 1 && rest.starts_with('0')) {
        return None;
    }
    let seq: u64 = rest[..digits].parse().ok()?;
    let rest = rest[digits..].strip_prefix(",\"fp\":\"")?;
    if !rest.get(..16)?.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let rest = rest[16..].strip_prefix("\",\"event\":{\"instance_id\":\"")?;
    let (id, rest) = plain_str(rest)?;
    let rest = rest.strip_prefix(",\"kind\":\"")?;
    let (kind, rest) = if let Some(rest) = rest.strip_prefix("disconnected\",\"error\":") {
        let (error, rest) = opt_str(rest)?;
        (EventKind::Disconnected { error }, rest)
    } else if let Some(rest) = rest.strip_prefix("connected\",\"phone\":") {
        let (phone, rest) = opt_str(rest)?;
        (EventKind::Connected { phone }, rest)
    } else {
        let rest = rest.strip_prefix("activity\",\"callback\":\"")?;
        let (callback, rest) = plain_str(rest)?;
        (
            EventKind::Activity {
                callback: callback.to_owned(),
            },
            rest,
        )
    };
    let rest = rest.strip_prefix(",\"moment\":\"")?;
    let (moment, rest) = plain_str(rest)?;
    let rest = rest.strip_prefix(",\"received\":\"")?;
    let (received, rest) = plain_str(rest)?;
    if rest != "}}" && !(rest.starts_with("},\"body\":\"") && rest.ends_with("\"}")) {
        return None;
    }
    Some((
        seq,
        Event {
            instance_id: InstanceId::new(id),
            kind,
            moment: parse_utc_fast(moment.as_bytes())?,
            received: parse_utc_fast(received.as_bytes())?,
        },
    ))
}

/// A record decoded without `Event`'s `#[serde(flatten)]` (which buffers
/// every field) and with a direct parser for the timestamps chrono writes:
/// about twice as fast. `fp` is not needed for replay and is skipped.
#[derive(Deserialize)]
pub(super) struct FastRecord {
    seq: u64,
    event: FastEvent,
}

/// The JSON of an [`Event`] as its `Serialize` writes it, field for field.
/// Unknown fields are refused, so a change to `Event` makes this fail (and
/// the caller fall back) rather than drop data.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FastEvent {
    instance_id: String,
    kind: FastKind,
    error: Option<String>,
    phone: Option<String>,
    callback: Option<String>,
    moment: FastTime,
    received: FastTime,
}

#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
pub(super) enum FastKind {
    Disconnected,
    Connected,
    Activity,
}

impl FastEvent {
    /// The event, or `None` if the fields do not match the kind exactly.
    fn into_event(self) -> Option<Event> {
        let kind = match (self.kind, self.error, self.phone, self.callback) {
            (FastKind::Disconnected, error, None, None) => EventKind::Disconnected { error },
            (FastKind::Connected, None, phone, None) => EventKind::Connected { phone },
            (FastKind::Activity, None, None, Some(callback)) => EventKind::Activity { callback },
            _ => return None,
        };
        Some(Event {
            instance_id: InstanceId::new(self.instance_id),
            kind,
            moment: self.moment.0,
            received: self.received.0,
        })
    }
}

/// A `DateTime<Utc>` read by [`parse_utc_fast`], or by chrono when that
/// declines.
pub(super) struct FastTime(DateTime<Utc>);

impl<'de> Deserialize<'de> for FastTime {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TimeVisitor;
        impl Visitor<'_> for TimeVisitor {
            type Value = FastTime;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an RFC 3339 timestamp")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<FastTime, E> {
                if let Some(t) = parse_utc_fast(v.as_bytes()) {
                    return Ok(FastTime(t));
                }
                DateTime::<Utc>::deserialize(de::value::StrDeserializer::<E>::new(v)).map(FastTime)
            }
        }
        deserializer.deserialize_str(TimeVisitor)
    }
}

/// Parses exactly the shape chrono's serde writes for `DateTime<Utc>`:
/// `YYYY-MM-DDTHH:MM:SS[.f{1,9}]Z`. Anything else (other offsets, leap
/// seconds, years beyond 4 digits) gives `None`.
pub(super) fn parse_utc_fast(s: &[u8]) -> Option<DateTime<Utc>> {
    fn num(s: &[u8]) -> Option<u32> {
        s.iter().try_fold(0u32, |acc, &b| {
            b.is_ascii_digit().then(|| acc * 10 + u32::from(b - b'0'))
        })
    }
    if s.len() < 20
        || s[4] != b'-'
        || s[7] != b'-'
        || s[10] != b'T'
        || s[13] != b':'
        || s[16] != b':'
        || s.last() != Some(&b'Z')
    {
        return None;
    }
    let year = i32::try_from(num(&s[0..4])?).ok()?;
    let (month, day) = (num(&s[5..7])?, num(&s[8..10])?);
    let (hour, min, sec) = (num(&s[11..13])?, num(&s[14..16])?, num(&s[17..19])?);
    let nano = match &s[19..s.len() - 1] {
        [] => 0,
        [b'.', digits @ ..] if (1..=9).contains(&digits.len()) => {
            num(digits)? * 10u32.pow(9 - digits.len() as u32)
        }
        _ => return None,
    };
    if sec > 59 {
        return None;
    }
    let date = NaiveDate::from_ymd_opt(year, month, day)?;
    Some(date.and_hms_nano_opt(hour, min, sec, nano)?.and_utc())
}

/// A record's `seq`, `fp` and receipt time (none for a kind of record this
/// version does not know: its `seq` still counts).
pub(super) fn decode_head(json: &[u8]) -> Option<(u64, u64, Option<DateTime<Utc>>)> {
    let head: RecordHead = serde_json::from_slice(json).ok()?;
    let received = match (head.event, head.ack) {
        (Some(event), _) => Some(event.received.0),
        (None, Some(ack)) => Some(ack.at.0),
        (None, None) => None,
    };
    Some((head.seq, head.fp.0, received))
}

/// The `seq` of a record as this module writes it (`{"seq":N,...`), without
/// parsing the rest; `None` if the line is not in that shape.
pub(super) fn quick_seq(json: &[u8]) -> Option<u64> {
    let rest = json.strip_prefix(b"{\"seq\":")?;
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 || digits > 19 || rest.get(digits) != Some(&b',') {
        return None;
    }
    rest[..digits].iter().try_fold(0u64, |acc, &d| {
        acc.checked_mul(10)?.checked_add(u64::from(d - b'0'))
    })
}

/// Whether a record as this module writes it belongs to the instance whose id
/// encodes (as a JSON string) to `encoded_id`; `None` if the line is not in
/// the expected shape (the caller then parses it).
pub(super) fn quick_instance_match(json: &[u8], encoded_id: &[u8]) -> Option<bool> {
    let rest = json.strip_prefix(b"{\"seq\":")?;
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    let rest = rest.get(digits..)?.strip_prefix(b",\"fp\":\"")?;
    let rest = rest
        .get(16..)?
        .strip_prefix(b"\",\"event\":{\"instance_id\":")?;
    Some(rest.starts_with(encoded_id) && rest.get(encoded_id.len()) == Some(&b','))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Datelike, TimeZone, Timelike};

    fn event(id: &str) -> Event {
        let at = Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap();
        Event {
            instance_id: InstanceId::new(id),
            kind: EventKind::Disconnected {
                error: Some("bye \"quoted\"\n".into()),
            },
            moment: at,
            received: at,
        }
    }

    #[test]
    fn an_ack_is_its_own_kind_of_record_and_reads_back() {
        let at = Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap();
        let ack = Ack {
            instance_id: InstanceId::new("A\"b"),
            acked: true,
            at,
        };
        let mut buf = Vec::new();
        encode_ack_record(&mut buf, Path::new("d"), 7, &ack).unwrap();
        assert_eq!(buf.last(), Some(&b'\n'));
        let json = check_crc(&buf[..buf.len() - 1]).expect("crc checks out");
        assert!(
            json.starts_with(b"{\"seq\":7,\"fp\":\"0000000000000000\",\"ack\":{"),
            "{}",
            String::from_utf8_lossy(json)
        );
        // not an event: the event readers pass it by (history, old replays)
        assert_eq!(decode_record(json), None);
        assert_eq!(quick_instance_match(json, b"\"A\""), None);
        assert_eq!(decode_other(json), Some((7, Some(ack))));
        assert_eq!(decode_head(json), Some((7, 0, Some(at))));
        assert_eq!(quick_seq(json), Some(7));
    }

    #[test]
    fn unknown_kinds_are_skipped_and_damaged_records_are_not() {
        let unknown = [
            // a kind of record from a newer version
            &br#"{"seq":3,"fp":"0000000000000000","note":{"text":"hi"}}"#[..],
            // a kind of event from a newer version
            br#"{"seq":4,"fp":"0000000000000000","event":{"instance_id":"A","kind":"presence","moment":"2026-01-02T03:04:05Z","received":"2026-01-02T03:04:05Z"}}"#,
        ];
        for (json, seq) in unknown.into_iter().zip([3, 4]) {
            assert_eq!(decode_record(json), None);
            assert_eq!(decode_other(json), Some((seq, None)));
        }
        // its seq counts for the writer even though its time is unknown
        assert_eq!(decode_head(unknown[0]), Some((3, 0, None)));
        let damaged = [
            // a known kind with a missing field
            &br#"{"seq":5,"fp":"0000000000000000","event":{"instance_id":"A","kind":"connected"}}"#
                [..],
            // an ack without its time
            br#"{"seq":6,"fp":"0000000000000000","ack":{"instance_id":"A","acked":true}}"#,
            br#"{"fp":"0000000000000000"}"#,
            b"not json",
        ];
        for json in damaged {
            assert_eq!(
                decode_other(json),
                None,
                "{}",
                String::from_utf8_lossy(json)
            );
        }
    }

    #[test]
    fn record_round_trip_and_crc() {
        let mut buf = Vec::new();
        encode_record(
            &mut buf,
            Path::new("d"),
            42,
            0x00ab_cdef_0123_4567,
            &event("A"),
        )
        .unwrap();
        assert_eq!(buf.last(), Some(&b'\n'));
        assert_eq!(buf.iter().filter(|&&b| b == b'\n').count(), 1);
        let line = &buf[..buf.len() - 1];
        let json = check_crc(line).unwrap();
        assert!(
            json.starts_with(br#"{"seq":42,"fp":"00abcdef01234567","event":{"instance_id":"A","#)
        );
        assert_eq!(decode_record(json), Some((42, event("A"))));
        assert_eq!(
            decode_head(json),
            Some((42, 0x00ab_cdef_0123_4567, Some(event("A").received)))
        );
        assert_eq!(quick_seq(json), Some(42));
        assert_eq!(quick_instance_match(json, br#""A""#), Some(true));
        assert_eq!(quick_instance_match(json, br#""AB""#), Some(false));
        let mut flipped = line.to_vec();
        flipped[20] ^= 1;
        assert_eq!(check_crc(&flipped), None);
    }

    /// The record line as serde writes it (what `encode_record` did before
    /// it wrote by hand).
    fn encode_by_serde(seq: u64, fp: u64, event: &Event) -> Vec<u8> {
        let json = serde_json::to_vec(&RecordOut {
            seq,
            fp: FpHex(fp),
            event,
        })
        .unwrap();
        let mut line = format!("{:08x} ", crc32fast::hash(&json)).into_bytes();
        line.extend_from_slice(&json);
        line.push(b'\n');
        line
    }

    #[test]
    fn record_encoding_is_what_serde_gives() {
        let base = Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap();
        let times = [
            base,
            base + chrono::Duration::milliseconds(7),
            base + chrono::Duration::microseconds(120),
            base + chrono::Duration::nanoseconds(1),
            base + chrono::Duration::nanoseconds(999_999_999),
            Utc.with_ymd_and_hms(0, 1, 1, 0, 0, 0).unwrap(),
            Utc.with_ymd_and_hms(9999, 12, 31, 23, 59, 59).unwrap(),
            Utc.with_ymd_and_hms(10000, 1, 1, 0, 0, 0).unwrap(),
            Utc.with_ymd_and_hms(-1, 1, 1, 0, 0, 0).unwrap(),
            chrono::NaiveDate::from_ymd_opt(2016, 12, 31)
                .unwrap()
                .and_hms_nano_opt(23, 59, 59, 1_500_000_000)
                .unwrap()
                .and_utc(),
            DateTime::<Utc>::MIN_UTC,
            DateTime::<Utc>::MAX_UTC,
        ];
        let texts = [
            "",
            "Device has been disconnected",
            "quote \" back \\ nl \n cr \r tab \t bs \u{8} ff \u{c} nul \0 esc \u{1b} del \u{7f}",
            "ação/日本 😀",
            "\u{1f}",
        ];
        let mut n = 0u64;
        for t in times {
            for text in texts {
                let kinds = crate::model::awkward_kinds();
                for kind in kinds {
                    n += 1;
                    let event = Event {
                        instance_id: InstanceId::new(format!("{text}{n}")),
                        kind,
                        moment: t,
                        received: base,
                    };
                    let (seq, fp) = (
                        n * 7_919_000_000_007 % u64::MAX,
                        n.wrapping_mul(0x9e37_79b9_7f4a_7c15),
                    );
                    let mut buf = b"before".to_vec();
                    encode_record(&mut buf, Path::new("d"), seq, fp, &event).unwrap();
                    assert_eq!(
                        String::from_utf8_lossy(&buf[6..]),
                        String::from_utf8_lossy(&encode_by_serde(seq, fp, &event))
                    );
                }
            }
        }
        for seq in [0, 1, 9, 10, u64::MAX] {
            let mut buf = Vec::new();
            encode_record(&mut buf, Path::new("d"), seq, 0, &event("A")).unwrap();
            assert_eq!(buf, encode_by_serde(seq, 0, &event("A")));
        }
    }

    fn slow(json: &[u8]) -> Option<(u64, Event)> {
        let record: RecordIn = serde_json::from_slice(json).ok()?;
        Some((record.seq, record.event))
    }

    fn fast(json: &[u8]) -> Option<(u64, Event)> {
        let record: FastRecord = serde_json::from_slice(json).ok()?;
        Some((record.seq, record.event.into_event()?))
    }

    #[test]
    fn canonical_decoding_is_what_serde_gives_or_declines() {
        let at = chrono::Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap();
        let kinds = crate::model::awkward_kinds();
        for (n, kind) in kinds.into_iter().enumerate() {
            for id in ["A", "3C8A1F00D2E94B7A9F15C0DE2A7B6E11", "x\"y", "ünï"] {
                let event = Event {
                    instance_id: InstanceId::new(id),
                    kind: kind.clone(),
                    moment: at + chrono::Duration::milliseconds(n as i64 * 1001),
                    received: at,
                };
                let mut buf = Vec::new();
                encode_record(&mut buf, Path::new("d"), 9_000_000_001, 77, &event).unwrap();
                let json = check_crc(&buf[..buf.len() - 1]).unwrap();
                let text = std::str::from_utf8(json).unwrap();
                let canonical = decode_canonical(text);
                if !text.contains('\\') {
                    assert!(canonical.is_some(), "declined {text}");
                }
                if let Some(decoded) = canonical {
                    assert_eq!(Some(decoded), slow(json), "{text}");
                }
                assert_eq!(decode_record(json), Some((9_000_000_001, event)));
            }
        }
        // not the writer's shape: declined, and serde decides
        for text in [
            r#"{"seq":01,"fp":"0000000000000001","event":{"instance_id":"A","kind":"connected","phone":null,"moment":"2026-01-02T03:04:05Z","received":"2026-01-02T03:04:05Z"}}"#,
            r#"{"seq":1,"fp":"0000000000000001","event":{"instance_id":"A","kind":"connected","phone":null,"moment":"2026-01-02T03:04:05Z","received":"2026-01-02T03:04:05Z"}} "#,
            r#"{"seq":1,"fp":"0000000000000001","event":{"instance_id":"A","kind":"connected","error":null,"moment":"2026-01-02T03:04:05Z","received":"2026-01-02T03:04:05Z"}}"#,
            r#"{"seq":1,"fp":"0000000000000001","event":{"instance_id":"A","kind":"connected","phone":null,"moment":"2016-12-31T23:59:60Z","received":"2026-01-02T03:04:05Z"}}"#,
        ] {
            assert_eq!(decode_canonical(text), None, "{text}");
        }
    }

    #[test]
    fn fast_decoding_falls_back_to_event_on_any_difference() {
        let base = r#"{"seq":7,"fp":"0000000000000001","event":{"instance_id":"A","kind":"KIND","moment":"MOMENT","received":"2026-01-02T03:04:05Z"EXTRA}}"#;
        let variants = [
            (
                "disconnected",
                "2026-01-02T03:04:05Z",
                r#","error":null"#,
                true,
            ),
            ("disconnected", "2026-01-02T03:04:05Z", "", true),
            (
                "disconnected",
                "2026-01-02T03:04:05.5Z",
                r#","error":"x""#,
                true,
            ),
            (
                "connected",
                "2026-01-02T03:04:05.123456Z",
                r#","phone":"1""#,
                true,
            ),
            (
                "activity",
                "2026-01-02T03:04:05Z",
                r#","callback":"ReceivedCallback""#,
                true,
            ),
            // Timestamps the direct parser declines go to chrono.
            ("disconnected", "2026-01-02T05:04:05+02:00", "", true),
            ("disconnected", "2016-12-31T23:59:60.5Z", "", true),
            ("disconnected", "+12026-01-02T03:04:05Z", "", true),
            ("disconnected", "2026-01-02 03:04:05Z", "", true),
            ("connected", "2026-01-02T03:04:05.1234567890Z", "", true),
            // The fast path declines these; the result is Event's own.
            (
                "disconnected",
                "2026-01-02T03:04:05Z",
                r#","phone":"1""#,
                false,
            ),
            (
                "connected",
                "2026-01-02T03:04:05Z",
                r#","error":"e""#,
                false,
            ),
            ("activity", "2026-01-02T03:04:05Z", "", false),
            (
                "activity",
                "2026-01-02T03:04:05Z",
                r#","callback":null"#,
                false,
            ),
            (
                "disconnected",
                "2026-01-02T03:04:05Z",
                r#","future_field":1"#,
                false,
            ),
            ("teleported", "2026-01-02T03:04:05Z", "", false),
            ("connected", "2026-02-30T03:04:05Z", "", false),
        ];
        for (kind, moment, extra, fast_ok) in variants {
            let json = base
                .replace("KIND", kind)
                .replace("MOMENT", moment)
                .replace("EXTRA", extra);
            let json = json.as_bytes();
            assert_eq!(decode_record(json), slow(json), "{kind} {moment} {extra}");
            if fast_ok {
                assert!(slow(json).is_some(), "{kind} {moment} {extra}");
                assert_eq!(fast(json), slow(json), "{kind} {moment} {extra}");
            } else {
                assert_eq!(fast(json), None, "{kind} {moment} {extra}");
            }
        }
    }

    fn arb_time() -> impl proptest::strategy::Strategy<Value = DateTime<Utc>> {
        use proptest::prelude::*;
        let nanos = prop_oneof![
            Just(0u32),
            (0u32..1000).prop_map(|ms| ms * 1_000_000),
            (0u32..1_000_000).prop_map(|us| us * 1_000),
            0u32..1_000_000_000,
            1_000_000_000u32..2_000_000_000,
        ];
        (-70_000_000_000i64..300_000_000_000, nanos)
            .prop_filter_map("in range", |(s, n)| DateTime::from_timestamp(s, n))
    }

    proptest::proptest! {
        #[test]
        fn fast_decoding_equals_event_decoding(
            id in ".{0,40}",
            which in 0u8..3,
            text in proptest::option::of(".{0,40}"),
            moment in arb_time(),
            received in arb_time(),
            seq in proptest::prelude::any::<u64>(),
        ) {
            let kind = match which {
                0 => EventKind::Disconnected { error: text },
                1 => EventKind::Connected { phone: text },
                _ => EventKind::Activity { callback: text.unwrap_or_default() },
            };
            let event = Event { instance_id: InstanceId::new(id), kind, moment, received };
            let mut buf = Vec::new();
            encode_record(&mut buf, Path::new("d"), seq, 1, &event).unwrap();
            let json = check_crc(&buf[..buf.len() - 1]).unwrap();
            proptest::prop_assert_eq!(slow(json), Some((seq, event.clone())));
            proptest::prop_assert_eq!(decode_record(json), Some((seq, event)));
            // Timestamps chrono writes in the plain form take the fast path.
            let plain = |t: DateTime<Utc>| (0..=9999).contains(&t.year()) && t.nanosecond() < 1_000_000_000;
            if plain(moment) && plain(received) {
                proptest::prop_assert!(fast(json).is_some());
            }
        }
    }

    #[test]
    fn the_documented_example_line_is_a_valid_record() {
        let line = br#"9b012d84 {"seq":1,"fp":"00a1b2c3d4e5f607","event":{"instance_id":"X","kind":"connected","phone":null,"moment":"2026-01-02T03:04:05Z","received":"2026-01-02T03:04:05Z"}}"#;
        let json = check_crc(line).unwrap();
        let at = Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap();
        let event = Event {
            instance_id: InstanceId::new("X"),
            kind: EventKind::Connected { phone: None },
            moment: at,
            received: at,
        };
        assert_eq!(decode_record(json), Some((1, event.clone())));
        assert_eq!(
            decode_head(json),
            Some((1, 0x00a1_b2c3_d4e5_f607, Some(at)))
        );
        let mut buf = Vec::new();
        encode_record(&mut buf, Path::new("d"), 1, 0x00a1_b2c3_d4e5_f607, &event).unwrap();
        assert_eq!(&buf[..buf.len() - 1], &line[..]);
    }
}
