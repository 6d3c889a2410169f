//! Figures of a benchmark: latency percentiles, median and spread over repeats, the markdown table
//! for `docs/performance.md`, and the machine it ran on.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use hdrhistogram::Histogram;

/// Latencies are recorded in microseconds, up to two minutes, to three significant digits.
pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 120_000_000, 3).expect("constant histogram bounds are valid")
}

/// Records one latency; values beyond the histogram's range are clamped to its top.
pub fn record(h: &mut Histogram<u64>, elapsed: std::time::Duration) {
    let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
    h.saturating_record(micros.max(1));
}

#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Latency {
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
    pub mean_ms: f64,
}

impl Latency {
    pub fn of(h: &Histogram<u64>) -> Self {
        if h.is_empty() {
            return Self::default();
        }
        let ms = |micros: u64| micros as f64 / 1000.0;
        Self {
            p50_ms: ms(h.value_at_quantile(0.50)),
            p99_ms: ms(h.value_at_quantile(0.99)),
            p999_ms: ms(h.value_at_quantile(0.999)),
            max_ms: ms(h.max()),
            mean_ms: h.mean() / 1000.0,
        }
    }
}

/// The database's own ceiling for the equivalent write transactions, measured next to a run.
#[derive(Debug, Clone, PartialEq)]
pub struct Ceiling {
    pub clients: usize,
    /// Events per batch transaction of each client.
    pub batch: usize,
    /// Events (START or COMPLETE transactions) per second.
    pub events_per_s: f64,
}

/// One timed run at one concurrency.
#[derive(Debug, Clone, Default)]
pub struct RunResult {
    pub stations: usize,
    /// Acknowledged events in the measured window.
    pub events: u64,
    pub seconds: f64,
    pub latency: Latency,
    /// Refused or failed events by error code.
    pub errors: BTreeMap<String, u64>,
    /// Answers that were stored responses of an earlier attempt.
    pub replays: u64,
    /// Extra attempts (retries with the same key).
    pub retries: u64,
    pub ceiling: Option<Ceiling>,
}

impl RunResult {
    pub fn events_per_s(&self) -> f64 {
        if self.seconds > 0.0 {
            self.events as f64 / self.seconds
        } else {
            0.0
        }
    }

    pub fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }

    /// mes-api events/s ÷ the database's events/s for the same transactions.
    pub fn ratio(&self) -> Option<f64> {
        self.ceiling
            .as_ref()
            .filter(|c| c.events_per_s > 0.0)
            .map(|c| self.events_per_s() / c.events_per_s)
    }

    pub fn one_line(&self) -> String {
        let mut s = format!(
            "{:>4} stations: {:>8.0} events/s  p50 {:>7.2} ms  p99 {:>7.2} ms  p99.9 {:>7.2} ms  max {:>8.2} ms  ({} events in {:.1} s, errors {}, retries {}, replays {})",
            self.stations,
            self.events_per_s(),
            self.latency.p50_ms,
            self.latency.p99_ms,
            self.latency.p999_ms,
            self.latency.max_ms,
            self.events,
            self.seconds,
            self.error_count(),
            self.retries,
            self.replays,
        );
        if !self.errors.is_empty() {
            let _ = write!(s, " {:?}", self.errors);
        }
        s
    }
}

/// Median and range of repeated measurements.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Spread {
    pub median: f64,
    pub min: f64,
    pub max: f64,
}

pub fn spread(values: &[f64]) -> Option<Spread> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    let median = if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    };
    Some(Spread {
        median,
        min: v[0],
        max: v[n - 1],
    })
}

/// `median (min–max)`, or just the value when there was one run.
pub fn show(s: Option<Spread>, decimals: usize) -> String {
    match s {
        None => "–".to_owned(),
        Some(s) if s.min == s.max => format!("{:.*}", decimals, s.median),
        Some(s) => format!(
            "{:.*} ({:.*}–{:.*})",
            decimals, s.median, decimals, s.min, decimals, s.max
        ),
    }
}

/// The results table: one row per concurrency, medians over the repeats with their range.
pub fn markdown_table(levels: &BTreeMap<usize, Vec<RunResult>>) -> String {
    let mut out = String::from(
        "| stations | events/s | p50 ms | p99 ms | p99.9 ms | errors | pgbench clients × batch | pgbench events/s | mes-api ÷ pgbench |\n\
         |---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for (stations, runs) in levels {
        let col = |f: &dyn Fn(&RunResult) -> Option<f64>| -> Option<Spread> {
            spread(&runs.iter().filter_map(f).collect::<Vec<_>>())
        };
        let errors: u64 = runs.iter().map(RunResult::error_count).sum();
        let clients: Vec<String> = {
            let mut c: Vec<String> = runs
                .iter()
                .filter_map(|r| {
                    r.ceiling
                        .as_ref()
                        .map(|c| format!("{}×{}", c.clients, c.batch))
                })
                .collect();
            c.dedup();
            c
        };
        let _ = writeln!(
            out,
            "| {stations} | {} | {} | {} | {} | {errors} | {} | {} | {} |",
            show(col(&|r| Some(r.events_per_s())), 0),
            show(col(&|r| Some(r.latency.p50_ms)), 1),
            show(col(&|r| Some(r.latency.p99_ms)), 1),
            show(col(&|r| Some(r.latency.p999_ms)), 1),
            if clients.is_empty() {
                "–".to_owned()
            } else {
                clients.join("/")
            },
            show(col(&|r| r.ceiling.as_ref().map(|c| c.events_per_s)), 0),
            match col(&|r| r.ratio().map(|x| x * 100.0)) {
                None => "–".to_owned(),
                Some(s) => format!("{} %", show(Some(s), 0)),
            },
        );
    }
    out
}

/// What the benchmark ran on.
#[derive(Debug, Clone, Default)]
pub struct Machine {
    pub cpus: usize,
    pub model: String,
    pub memory_gib: f64,
    pub load_average: String,
}

impl Machine {
    pub fn detect() -> Self {
        let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
        Self {
            cpus: std::thread::available_parallelism().map_or(0, usize::from),
            model: cpu_model(&read("/proc/cpuinfo")).unwrap_or_else(|| "unknown".into()),
            memory_gib: mem_total_kib(&read("/proc/meminfo"))
                .map_or(0.0, |k| k as f64 / 1024.0 / 1024.0),
            load_average: read("/proc/loadavg")
                .split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" "),
        }
    }
}

impl std::fmt::Display for Machine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} CPUs ({}), {:.1} GiB RAM, load average {}",
            self.cpus, self.model, self.memory_gib, self.load_average
        )
    }
}

pub fn cpu_model(cpuinfo: &str) -> Option<String> {
    cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v.trim().to_owned())
}

pub fn mem_total_kib(meminfo: &str) -> Option<u64> {
    meminfo
        .lines()
        .find(|l| l.starts_with("MemTotal:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn percentiles_come_from_the_histogram() {
        let mut h = new_histogram();
        for ms in 1..=1000u64 {
            record(&mut h, Duration::from_millis(ms));
        }
        let l = Latency::of(&h);
        assert!((l.p50_ms - 500.0).abs() < 1.0, "{l:?}");
        assert!((l.p99_ms - 990.0).abs() < 1.5, "{l:?}");
        assert!((l.p999_ms - 999.0).abs() < 1.5, "{l:?}");
        assert!((l.max_ms - 1000.0).abs() < 1.5, "{l:?}");
        assert_eq!(Latency::of(&new_histogram()), Latency::default());
        record(&mut h, Duration::from_secs(3600));
        assert!(Latency::of(&h).max_ms >= 119_000.0);
    }

    #[test]
    fn median_and_spread() {
        assert_eq!(spread(&[]), None);
        let s = spread(&[3.0, 1.0, 2.0]).expect("values");
        assert_eq!((s.median, s.min, s.max), (2.0, 1.0, 3.0));
        assert_eq!(spread(&[4.0, 1.0]).map(|s| s.median), Some(2.5));
        assert_eq!(
            show(spread(&[1234.4, 1200.0, 1300.2]), 0),
            "1234 (1200–1300)"
        );
        assert_eq!(show(spread(&[7.25]), 1), "7.2");
    }

    #[test]
    fn the_table_has_one_row_per_concurrency() {
        let run = |stations, events, p99, pg: Option<f64>| RunResult {
            stations,
            events,
            seconds: 1.0,
            latency: Latency {
                p50_ms: 5.0,
                p99_ms: p99,
                p999_ms: 40.0,
                ..Latency::default()
            },
            ceiling: pg.map(|e| Ceiling {
                clients: stations.min(80),
                batch: 1,
                events_per_s: e,
            }),
            ..RunResult::default()
        };
        let mut levels = BTreeMap::new();
        levels.insert(
            16,
            vec![
                run(16, 1000, 20.0, Some(2000.0)),
                run(16, 1100, 22.0, Some(2000.0)),
            ],
        );
        levels.insert(256, vec![run(256, 900, 90.0, None)]);
        let table = markdown_table(&levels);
        let rows: Vec<&str> = table.lines().collect();
        assert_eq!(rows.len(), 4, "{table}");
        assert_eq!(
            rows[2],
            "| 16 | 1050 (1000–1100) | 5.0 | 21.0 (20.0–22.0) | 40.0 | 0 | 16×1 | 2000 | 52 (50–55) % |"
        );
        assert_eq!(rows[3], "| 256 | 900 | 5.0 | 90.0 | 40.0 | 0 | – | – | – |");
    }

    #[test]
    fn machine_facts_parse() {
        let cpuinfo = "processor\t: 0\nmodel name\t: AMD EPYC 7B13\nflags\t: x\n";
        assert_eq!(cpu_model(cpuinfo).as_deref(), Some("AMD EPYC 7B13"));
        let meminfo = "MemTotal:       24588440 kB\nMemFree:  1 kB\n";
        assert_eq!(mem_total_kib(meminfo), Some(24_588_440));
        assert_eq!(cpu_model(""), None);
    }
}
