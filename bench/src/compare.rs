//! One comparison: raw and SDK rounds interleaved, then a Markdown row per figure.

/// Which way a figure improves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Better {
    /// Throughput: the ratio SDK ÷ raw should be at least the target.
    Higher,
    /// Latency: the ratio SDK ÷ raw should be at most the target.
    Lower,
}

/// What one round of one side measured: named figures (`"msg/s"`, `"p50 µs"`, …).
pub type Sample = Vec<(&'static str, f64)>;

/// One figure of a comparison over all rounds.
#[derive(Debug, Clone)]
pub struct Figure {
    /// The path, e.g. `NATS pub→sub, 128 B`.
    pub path: String,
    /// The figure's name and unit, e.g. `msg/s`.
    pub unit: &'static str,
    /// Each round's raw value.
    pub raw: Vec<f64>,
    /// Each round's SDK value.
    pub sdk: Vec<f64>,
    /// Which way is better.
    pub better: Better,
    /// The ratio SDK ÷ raw the figure is held to.
    pub target: f64,
}

pub(crate) fn median_and_spread(values: &[f64]) -> (f64, f64, f64) {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    (
        sorted[sorted.len() / 2],
        sorted[0],
        sorted[sorted.len() - 1],
    )
}

impl Figure {
    /// SDK ÷ raw, of the medians.
    pub fn ratio(&self) -> f64 {
        median_and_spread(&self.sdk).0 / median_and_spread(&self.raw).0
    }

    /// Whether the ratio meets the target.
    pub fn met(&self) -> bool {
        match self.better {
            Better::Higher => self.ratio() >= self.target,
            Better::Lower => self.ratio() <= self.target,
        }
    }

    /// The Markdown row: path, figure, raw and SDK median (min–max), ratio, target, met.
    pub fn row(&self) -> String {
        let target = match self.better {
            Better::Higher => format!("≥ {:.2}", self.target),
            Better::Lower => format!("≤ {:.2}", self.target),
        };
        format!(
            "| {} | {} | {} | {} | {:.2} | {} | {} |",
            self.path,
            self.unit,
            spread(&self.raw),
            spread(&self.sdk),
            self.ratio(),
            target,
            if self.met() { "yes" } else { "**no**" },
        )
    }
}

/// `median (min–max)` of one side's rounds.
pub(crate) fn spread(values: &[f64]) -> String {
    let (median, min, max) = median_and_spread(values);
    format!("{} ({}–{})", human(median), human(min), human(max))
}

pub(crate) fn human(value: f64) -> String {
    if value >= 1e6 {
        format!("{:.2}M", value / 1e6)
    } else if value >= 1e4 {
        format!("{:.1}k", value / 1e3)
    } else if value >= 100.0 {
        format!("{value:.0}")
    } else if value >= 1.0 {
        format!("{value:.1}")
    } else {
        format!("{value:.3}")
    }
}

/// The table's header; print it once per bench binary before its rows.
pub fn print_header() {
    println!(
        "| path | figure | raw: median (min–max) | SDK: median (min–max) | SDK ÷ raw | target | met |"
    );
    println!("|---|---|---:|---:|---:|---:|---|");
}

/// Runs `rounds` rounds of `raw` then `sdk`, alternating which goes first, prints a row per
/// figure and returns the figures. Both sides must report the same figures in the same order;
/// `targets` gives, per figure name, which way is better and the ratio it is held to.
pub async fn compare(
    path: &str,
    rounds: usize,
    targets: &[(&'static str, Better, f64)],
    mut raw: impl AsyncFnMut() -> Sample,
    mut sdk: impl AsyncFnMut() -> Sample,
) -> Vec<Figure> {
    let mut raw_samples = Vec::with_capacity(rounds);
    let mut sdk_samples = Vec::with_capacity(rounds);
    for round in 0..rounds {
        if round % 2 == 0 {
            raw_samples.push(raw().await);
            sdk_samples.push(sdk().await);
        } else {
            sdk_samples.push(sdk().await);
            raw_samples.push(raw().await);
        }
        eprintln!(
            "{path}: round {round}: raw {:?} / sdk {:?}",
            raw_samples[round], sdk_samples[round]
        );
    }
    let figures: Vec<Figure> = targets
        .iter()
        .map(|&(unit, better, target)| Figure {
            path: path.to_owned(),
            unit,
            raw: pick(path, unit, &raw_samples),
            sdk: pick(path, unit, &sdk_samples),
            better,
            target,
        })
        .collect();
    for figure in &figures {
        println!("{}", figure.row());
    }
    figures
}

/// Figure `unit` of every round.
pub(crate) fn pick(path: &str, unit: &str, samples: &[Sample]) -> Vec<f64> {
    samples
        .iter()
        .map(|sample| {
            sample
                .iter()
                .find(|(name, _)| *name == unit)
                .unwrap_or_else(|| panic!("{path}: a round did not report {unit}"))
                .1
        })
        .collect()
}

/// Prints and returns the row of a ratio within one side: `measured` against `base`, two
/// figures of the same rounds (the SDK's deep page against its first page). In that row the raw
/// column holds `base` and the SDK column `measured`; `path` says which is which.
pub fn within(
    path: &str,
    unit: &'static str,
    base: &[f64],
    measured: &[f64],
    better: Better,
    target: f64,
) -> Figure {
    let figure = Figure {
        path: path.to_owned(),
        unit,
        raw: base.to_vec(),
        sdk: measured.to_vec(),
        better,
        target,
    };
    println!("{}", figure.row());
    figure
}
