//! Latency recording in microseconds, and the one-line summaries the scripts parse.

use std::time::Duration;

#[derive(Default)]
pub struct Latencies {
    micros: Vec<u64>,
}

impl Latencies {
    pub fn record(&mut self, d: Duration) {
        self.micros
            .push(u64::try_from(d.as_micros()).unwrap_or(u64::MAX));
    }

    /// `p50_ms=… p99_ms=… max_ms=…` (nearest-rank percentiles).
    pub fn summary(&mut self) -> String {
        self.micros.sort_unstable();
        format!(
            "p50_ms={:.2} p99_ms={:.2} max_ms={:.2}",
            self.percentile(50.0),
            self.percentile(99.0),
            self.percentile(100.0)
        )
    }

    fn percentile(&self, p: f64) -> f64 {
        if self.micros.is_empty() {
            return f64::NAN;
        }
        let rank = ((p / 100.0) * self.micros.len() as f64).ceil() as usize;
        self.micros[rank.clamp(1, self.micros.len()) - 1] as f64 / 1000.0
    }

    /// Raw values, one per line, so several processes can be merged by the script.
    pub fn write_to(&self, path: &std::path::Path) -> std::io::Result<()> {
        let text: String = self.micros.iter().map(|m| format!("{m}\n")).collect();
        std::fs::write(path, text)
    }
}
