//! QR codes: reading the payload out of the PNG Z-API serves, drawing it on a
//! terminal with half blocks, and (for the simulator) making the PNG.
//!
//! The payload is a credential: anyone holding it can link the number. So
//! [`Credential`] masks it in `Debug` and has no `Display`; nothing here logs.
//!
//! Z-API's `GET …/qr-code/image` answers `{"value":"data:image/png;base64,…"}`;
//! [`payload_from_answer`] accepts that, a bare base64 string or a data URI,
//! decodes the PNG ([`png`]) and reads the code in it ([`rqrr`]). The terminal
//! gets the code again as [`Modules`] (encoded by [`qrcode`] from the payload),
//! drawn two modules a cell: `▀ ▄ █` and space.

use std::fmt;
use std::io::Cursor;

use base64::Engine as _;

/// Modules of quiet zone around a code on every side (the standard's 4).
pub const QUIET: usize = 4;
/// Largest PNG side accepted (Z-API's are a few hundred pixels).
const MAX_SIDE: u32 = 4096;
/// Largest answer accepted, in bytes of base64.
const MAX_ANSWER: usize = 4 * 1024 * 1024;

/// A secret string: a QR payload or a pairing code. `Debug` says only how
/// long it is; the one way to read it is [`Credential::expose`].
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Credential(String);

impl Credential {
    pub fn new(s: impl Into<String>) -> Self {
        Credential(s.into())
    }
    /// The secret itself: for the screen's popup and the API answer only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Credential(<{} chars hidden>)", self.0.chars().count())
    }
}

/// Why a QR code could not be read or made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QrError {
    #[error("the QR image is not base64: {0}")]
    Base64(String),
    #[error("the QR image is not a PNG Z-API could have sent: {0}")]
    Png(String),
    #[error("no QR code found in the image")]
    NotFound,
    #[error("the QR code in the image cannot be read: {0}")]
    Unreadable(String),
    #[error("cannot encode a QR code: {0}")]
    Encode(String),
}

/// Reads the QR payload out of a `qr-code/image` answer's `value`: a data
/// URI (`data:image/png;base64,…`) or bare base64 of a PNG.
pub fn payload_from_answer(value: &str) -> Result<Credential, QrError> {
    let value = value.trim();
    if value.len() > MAX_ANSWER {
        return Err(QrError::Png("the image is too large".into()));
    }
    let b64 = match value.strip_prefix("data:") {
        Some(rest) => match rest.split_once(',') {
            Some((_, data)) => data,
            None => return Err(QrError::Base64("a data URI without data".into())),
        },
        None => value,
    };
    let clean: String = b64.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(clean.trim_end_matches('='))
        .or_else(|_| {
            base64::engine::general_purpose::STANDARD_NO_PAD.decode(clean.trim_end_matches('='))
        })
        .map_err(|e| QrError::Base64(e.to_string()))?;
    payload_from_png(&bytes)
}

/// Reads the QR payload out of PNG bytes.
pub fn payload_from_png(bytes: &[u8]) -> Result<Credential, QrError> {
    let (w, h, luma) = png_luma(bytes)?;
    payload_from_luma(w, h, &luma)
}

/// Decodes a PNG to 8-bit luminance, one byte a pixel.
fn png_luma(bytes: &[u8]) -> Result<(usize, usize, Vec<u8>), QrError> {
    let bad = |e: png::DecodingError| QrError::Png(e.to_string());
    let mut decoder = png::Decoder::new_with_limits(
        Cursor::new(bytes),
        png::Limits {
            bytes: 64 * 1024 * 1024,
        },
    );
    decoder.set_transformations(png::Transformations::normalize_to_color8());
    let mut reader = decoder.read_info().map_err(bad)?;
    let (w, h) = (reader.info().width, reader.info().height);
    if w == 0 || h == 0 || w > MAX_SIDE || h > MAX_SIDE {
        return Err(QrError::Png(format!("{w}×{h} pixels")));
    }
    let size = reader
        .output_buffer_size()
        .ok_or_else(|| QrError::Png("too large".into()))?;
    let mut buf = vec![0; size];
    let info = reader.next_frame(&mut buf).map_err(bad)?;
    let channels = info.color_type.samples();
    let (w, h) = (info.width as usize, info.height as usize);
    let mut luma = Vec::with_capacity(w * h);
    for y in 0..h {
        let row = buf
            .get(y * info.line_size..)
            .ok_or_else(|| QrError::Png("short image data".into()))?;
        for x in 0..w {
            let px = row
                .get(x * channels..(x + 1) * channels)
                .ok_or_else(|| QrError::Png("short image data".into()))?;
            luma.push(pixel_luma(px));
        }
    }
    Ok((w, h, luma))
}

/// One pixel (grey, grey+alpha, RGB or RGBA, 8 bits) as luminance; a
/// transparent pixel is white, as a browser would show it on a page.
fn pixel_luma(px: &[u8]) -> u8 {
    let (grey, alpha) = match *px {
        [g] => (u32::from(g), 255),
        [g, a] => (u32::from(g), u32::from(a)),
        [r, g, b] => (
            (u32::from(r) * 3 + u32::from(g) * 6 + u32::from(b)) / 10,
            255,
        ),
        [r, g, b, a, ..] => (
            (u32::from(r) * 3 + u32::from(g) * 6 + u32::from(b)) / 10,
            u32::from(a),
        ),
        [] => (255, 255),
    };
    // blend over white
    let v = (grey * alpha + 255 * (255 - alpha)) / 255;
    u8::try_from(v.min(255)).unwrap_or(255)
}

/// Reads the one QR code in a greyscale image (0 black, 255 white).
pub fn payload_from_luma(w: usize, h: usize, luma: &[u8]) -> Result<Credential, QrError> {
    if w == 0 || h == 0 || luma.len() < w * h {
        return Err(QrError::NotFound);
    }
    // rqrr is a decoder of images from anywhere; a panic in it on a strange
    // image must not take the dashboard down (the panic hook lets it
    // unwind to here: `crate::panics`)
    let read = crate::panics::contain(|| {
        let mut img = rqrr::PreparedImage::prepare_from_greyscale(w, h, |x, y| luma[y * w + x]);
        let grids = img.detect_grids();
        let mut last = None;
        for grid in grids {
            match grid.decode() {
                Ok((_, text)) => return Ok(text),
                Err(e) => last = Some(e.to_string()),
            }
        }
        Err(last)
    });
    match read {
        Some(Ok(text)) => Ok(Credential(text)),
        Some(Err(None)) => Err(QrError::NotFound),
        Some(Err(Some(e))) => Err(QrError::Unreadable(e)),
        None => Err(QrError::Unreadable("the decoder failed".into())),
    }
}

/// A QR code's modules, `size`×`size`, without the quiet zone.
#[derive(Clone, PartialEq, Eq)]
pub struct Modules {
    size: usize,
    dark: Vec<bool>,
}

impl fmt::Debug for Modules {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // the modules are the payload: never print them
        write!(f, "Modules({0}×{0})", self.size)
    }
}

impl Modules {
    /// Encodes `payload` with low error correction: the smallest code, so it
    /// fits more terminals (a terminal draws it crisp, unlike a print).
    pub fn encode(payload: &str) -> Result<Modules, QrError> {
        let code = qrcode::QrCode::with_error_correction_level(payload, qrcode::EcLevel::L)
            .map_err(|e| QrError::Encode(e.to_string()))?;
        let size = code.width();
        let dark = code
            .to_colors()
            .into_iter()
            .map(|c| c == qrcode::Color::Dark)
            .collect();
        Ok(Modules { size, dark })
    }

    /// Modules a side, without the quiet zone.
    pub fn size(&self) -> usize {
        self.size
    }

    /// Whether the module at (x, y) of the code *with* its quiet zone is dark.
    pub fn dark_at(&self, x: usize, y: usize) -> bool {
        let (Some(x), Some(y)) = (x.checked_sub(QUIET), y.checked_sub(QUIET)) else {
            return false;
        };
        x < self.size && y < self.size && self.dark[y * self.size + x]
    }

    /// Terminal columns the code needs with its quiet zone (one a module).
    pub fn columns(&self) -> usize {
        self.size + 2 * QUIET
    }

    /// Terminal rows the code needs with its quiet zone (two modules a row).
    pub fn rows(&self) -> usize {
        self.columns().div_ceil(2)
    }

    /// The code as half-block lines, quiet zone included: a glyph's ink is a
    /// *light* module (drawn light on dark: `█` both light, `▀` top light,
    /// `▄` bottom light, space both dark).
    pub fn half_blocks(&self) -> Vec<String> {
        let side = self.columns();
        (0..self.rows())
            .map(|row| {
                (0..side)
                    .map(|x| {
                        let top = !self.dark_at(x, 2 * row);
                        // past the last module row: quiet zone, light
                        let bottom = 2 * row + 1 >= side || !self.dark_at(x, 2 * row + 1);
                        half_block(top, bottom)
                    })
                    .collect()
            })
            .collect()
    }

    /// The code as a PNG: `scale` pixels a module, quiet zone included,
    /// black on white (what Z-API serves, for the simulator).
    pub fn to_png(&self, scale: usize) -> Result<Vec<u8>, QrError> {
        let scale = scale.clamp(1, 16);
        let side = self.columns() * scale;
        let mut pixels = Vec::with_capacity(side * side);
        for y in 0..side {
            for x in 0..side {
                pixels.push(if self.dark_at(x / scale, y / scale) {
                    0
                } else {
                    255
                });
            }
        }
        let side32 = u32::try_from(side).map_err(|e| QrError::Encode(e.to_string()))?;
        let mut out = Vec::new();
        let mut enc = png::Encoder::new(&mut out, side32, side32);
        enc.set_color(png::ColorType::Grayscale);
        enc.set_depth(png::BitDepth::Eight);
        let bad = |e: png::EncodingError| QrError::Encode(e.to_string());
        let mut writer = enc.write_header().map_err(bad)?;
        writer.write_image_data(&pixels).map_err(bad)?;
        writer.finish().map_err(bad)?;
        Ok(out)
    }
}

/// The half block whose ink covers the light halves.
fn half_block(top_light: bool, bottom_light: bool) -> char {
    match (top_light, bottom_light) {
        (true, true) => '█',
        (true, false) => '▀',
        (false, true) => '▄',
        (false, false) => ' ',
    }
}

/// The inverse of [`Modules::half_blocks`]: lines of half blocks (ink is
/// light) back to a greyscale bitmap, `scale` pixels a module; `None` for a
/// character that is not a half block. Tests read the screen with it.
pub fn bitmap_from_half_blocks(lines: &[String], scale: usize) -> Option<(usize, usize, Vec<u8>)> {
    let scale = scale.max(1);
    let cols = lines.iter().map(|l| l.chars().count()).max()?;
    let (w, h) = (cols * scale, lines.len() * 2 * scale);
    let mut px = vec![255u8; w * h];
    for (row, line) in lines.iter().enumerate() {
        for (col, c) in line.chars().enumerate() {
            let (top, bottom) = match c {
                '█' => (true, true),
                '▀' => (true, false),
                '▄' => (false, true),
                ' ' => (false, false),
                _ => return None,
            };
            for (half, light) in [(0, top), (1, bottom)] {
                for dy in 0..scale {
                    let y = (row * 2 + half) * scale + dy;
                    for dx in 0..scale {
                        px[y * w + col * scale + dx] = if light { 255 } else { 0 };
                    }
                }
            }
        }
    }
    Some((w, h, px))
}

/// The PNG as Z-API's `qr-code/image` answers it: a data URI.
pub fn data_uri(png: &[u8]) -> String {
    format!(
        "data:image/png;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(png)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAYLOAD: &str = "2@Zm9vYmFyYmF6cXV4,c2ltLXBheWxvYWQ=,YWJjZGVm,MTIzNDU2";

    #[test]
    fn png_round_trip_through_a_data_uri_and_bare_base64() {
        let m = Modules::encode(PAYLOAD).unwrap();
        let png = m.to_png(4).unwrap();
        let uri = data_uri(&png);
        assert_eq!(payload_from_answer(&uri).unwrap().expose(), PAYLOAD);
        let bare = uri.split_once(',').unwrap().1;
        assert_eq!(payload_from_answer(bare).unwrap().expose(), PAYLOAD);
        // line breaks and a missing padding are fine
        let wrapped: String = bare
            .trim_end_matches('=')
            .chars()
            .enumerate()
            .flat_map(|(i, c)| (i % 76 == 75).then_some('\n').into_iter().chain([c]))
            .collect();
        assert_eq!(payload_from_answer(&wrapped).unwrap().expose(), PAYLOAD);
    }

    #[test]
    fn half_blocks_read_back_as_the_same_code() {
        let m = Modules::encode(PAYLOAD).unwrap();
        let lines = m.half_blocks();
        assert_eq!(lines.len(), m.rows());
        assert!(lines.iter().all(|l| l.chars().count() == m.columns()));
        // the quiet zone is light all round
        assert!(lines[0].chars().all(|c| c == '█'));
        let (w, h, px) = bitmap_from_half_blocks(&lines, 3).unwrap();
        assert_eq!(payload_from_luma(w, h, &px).unwrap().expose(), PAYLOAD);
    }

    #[test]
    fn bad_answers_are_errors_not_panics() {
        assert!(matches!(
            payload_from_answer("%%%"),
            Err(QrError::Base64(_))
        ));
        assert!(matches!(
            payload_from_answer("data:image/png;base64"),
            Err(QrError::Base64(_))
        ));
        assert!(matches!(
            payload_from_answer("aGVsbG8="),
            Err(QrError::Png(_))
        ));
        // a PNG with no code in it
        let blank = Modules {
            size: 21,
            dark: vec![false; 21 * 21],
        }
        .to_png(2)
        .unwrap();
        assert_eq!(payload_from_png(&blank).unwrap_err(), QrError::NotFound);
        assert_eq!(payload_from_luma(0, 0, &[]).unwrap_err(), QrError::NotFound);
        assert_eq!(
            payload_from_luma(5, 5, &[1]).unwrap_err(),
            QrError::NotFound
        );
        assert!(bitmap_from_half_blocks(&["x".into()], 1).is_none());
    }

    #[test]
    fn colour_and_alpha_pixels_read_as_luminance() {
        assert_eq!(pixel_luma(&[0]), 0);
        assert_eq!(pixel_luma(&[255, 255, 255]), 255);
        assert_eq!(pixel_luma(&[0, 0, 0, 0]), 255, "transparent is white");
        assert_eq!(pixel_luma(&[0, 0, 0, 255]), 0);
    }

    /// A panic in the decoder is contained (`crate::panics`), but the
    /// decoder should not panic at all: noise must read as "no code".
    fn no_panic(r: &Result<Credential, QrError>) -> bool {
        !matches!(r, Err(QrError::Unreadable(m)) if m == "the decoder failed")
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(48))]

        #[test]
        fn noise_and_damaged_codes_never_panic_the_decoder(
            w in 1usize..90,
            h in 1usize..90,
            seed in proptest::prelude::any::<u64>(),
            flips in 0usize..400,
        ) {
            let mut state = seed | 1;
            let mut next = move || {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state
            };
            let noise: Vec<u8> = (0..w * h).map(|_| (next() & 0xff) as u8).collect();
            proptest::prop_assert!(no_panic(&payload_from_luma(w, h, &noise)));
            // a real code with pixels flipped at random
            let m = Modules::encode("2@damaged,code,for,the,decoder").unwrap();
            let (cw, ch, mut px) = bitmap_from_half_blocks(&m.half_blocks(), 2).unwrap();
            for _ in 0..flips {
                let i = (next() as usize) % px.len();
                px[i] = 255 - px[i];
            }
            proptest::prop_assert!(no_panic(&payload_from_luma(cw, ch, &px)));
        }

        #[test]
        fn any_answer_text_is_read_or_refused(s in ".{0,300}") {
            proptest::prop_assert!(no_panic(&payload_from_answer(&s)));
        }
    }

    #[test]
    fn credentials_never_print() {
        let c = Credential::new("2@secret-payload");
        assert_eq!(format!("{c:?}"), "Credential(<16 chars hidden>)");
        let m = Modules::encode("2@secret-payload").unwrap();
        assert!(!format!("{m:?}").contains("secret"));
    }
}
