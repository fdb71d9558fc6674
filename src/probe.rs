//! Measurements for the benchmark suite (`scripts/bench`), off unless asked for.
//!
//! With `ZAPI_DASH_BENCH_PROBE=<file>` in its environment, the event loop
//! notes when each webhook it applies was received by the listener and when
//! each frame was drawn. When the loop ends, `<file>` gets one JSON object:
//! the event → screen latency (from the listener receiving the request to the
//! end of the frame that shows it) as p50/p99/max, and the frame rate (the
//! most frames in any one-second window). Without the variable the loop pays
//! one `Option` check per batch and per frame.

use std::path::PathBuf;
use std::time::Instant;

use chrono::{DateTime, Utc};
use serde::Serialize;

/// The environment variable that turns the probe on and names its output file.
pub const PROBE_ENV: &str = "ZAPI_DASH_BENCH_PROBE";

/// Latencies and frame times of one run of the event loop.
#[derive(Debug)]
pub struct Probe {
    out: PathBuf,
    start: Instant,
    /// Receipt times of events applied since the last frame.
    pending: Vec<DateTime<Utc>>,
    /// Event → frame latency of every event shown, in microseconds.
    latencies_us: Vec<u64>,
    /// When each frame finished, in microseconds since the start.
    frames_us: Vec<u64>,
}

/// What the probe writes when the loop ends.
#[derive(Debug, Serialize, PartialEq)]
pub struct Summary {
    pub events: usize,
    pub latency_p50_ms: f64,
    pub latency_p99_ms: f64,
    pub latency_max_ms: f64,
    pub frames: usize,
    /// The most frames drawn in any window of one second.
    pub max_frames_per_s: usize,
    /// Shortest time between two frames, in milliseconds.
    pub min_frame_interval_ms: f64,
    pub seconds: f64,
}

impl Probe {
    /// A probe if [`PROBE_ENV`] is set.
    pub fn from_env() -> Option<Probe> {
        let out = std::env::var_os(PROBE_ENV)?;
        Some(Probe::new(PathBuf::from(out)))
    }

    pub fn new(out: PathBuf) -> Probe {
        Probe {
            out,
            start: Instant::now(),
            pending: Vec::new(),
            latencies_us: Vec::new(),
            frames_us: Vec::new(),
        }
    }

    /// Events were applied to the state: their receipt times.
    pub fn on_events(&mut self, received: impl IntoIterator<Item = DateTime<Utc>>) {
        self.pending.extend(received);
    }

    /// A frame was drawn: it shows every event applied before it.
    pub fn on_frame(&mut self) {
        let now = Utc::now();
        self.frames_us
            .push(u64::try_from(self.start.elapsed().as_micros()).unwrap_or(u64::MAX));
        for received in self.pending.drain(..) {
            let us = (now - received).num_microseconds().unwrap_or(0).max(0);
            self.latencies_us.push(us.unsigned_abs());
        }
    }

    /// The numbers so far.
    pub fn summary(&self) -> Summary {
        let mut lat = self.latencies_us.clone();
        lat.sort_unstable();
        let pct = |p: f64| -> f64 {
            if lat.is_empty() {
                return 0.0;
            }
            let i = ((lat.len() as f64 * p).ceil() as usize).clamp(1, lat.len()) - 1;
            lat[i] as f64 / 1000.0
        };
        let mut max_frames = 0;
        let mut lo = 0;
        for (hi, &t) in self.frames_us.iter().enumerate() {
            while t - self.frames_us[lo] >= 1_000_000 {
                lo += 1;
            }
            max_frames = max_frames.max(hi - lo + 1);
        }
        let min_interval = self
            .frames_us
            .windows(2)
            .map(|w| w[1] - w[0])
            .min()
            .map_or(0.0, |us| us as f64 / 1000.0);
        Summary {
            events: lat.len(),
            latency_p50_ms: pct(0.50),
            latency_p99_ms: pct(0.99),
            latency_max_ms: lat.last().map_or(0.0, |&us| us as f64 / 1000.0),
            frames: self.frames_us.len(),
            max_frames_per_s: max_frames,
            min_frame_interval_ms: min_interval,
            seconds: self.start.elapsed().as_secs_f64(),
        }
    }
}

impl Drop for Probe {
    fn drop(&mut self) {
        let summary = self.summary();
        match serde_json::to_vec_pretty(&summary) {
            Ok(json) => {
                if let Err(e) = std::fs::write(&self.out, json) {
                    tracing::warn!(path = %self.out.display(), error = %e, "bench probe: cannot write");
                }
            }
            Err(e) => tracing::warn!(error = %e, "bench probe: cannot encode"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_frames_per_second_window_and_percentiles() {
        let mut p = Probe::new(std::env::temp_dir().join("zapi-dash-probe-unit.json"));
        // 70 frames 10 ms apart: at most 70 in one second; then latencies 1..=100 µs
        p.frames_us = (0..70).map(|i| i * 10_000).collect();
        p.latencies_us = (1..=100).collect();
        let s = p.summary();
        assert_eq!(s.max_frames_per_s, 70);
        assert_eq!(s.min_frame_interval_ms, 10.0);
        assert_eq!(s.latency_p50_ms, 0.050);
        assert_eq!(s.latency_p99_ms, 0.099);
        p.frames_us = (0..200).map(|i| i * 20_000).collect();
        assert_eq!(p.summary().max_frames_per_s, 50);
        p.out = std::env::temp_dir().join(format!("zapi-dash-probe-{}.json", std::process::id()));
        let out = p.out.clone();
        drop(p);
        assert!(
            std::fs::read_to_string(&out)
                .unwrap()
                .contains("max_frames_per_s")
        );
        let _ = std::fs::remove_file(out);
    }
}
