//! Figures of one side alone, held to an absolute goal rather than a ratio: the gateway's routes
//! that have no raw twin, and the gateway's request latency in milliseconds.

use crate::{Sample, compare::spread};

/// What a figure measured alone is held to.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Goal {
    /// Reported, held to nothing.
    Report,
    /// The median must be below this value.
    Below(f64),
    /// The median must be at least this value.
    AtLeast(f64),
}

/// One figure of one side over all rounds.
#[derive(Debug, Clone)]
pub struct Alone {
    /// The path, e.g. `gateway GET /events`.
    pub path: String,
    /// The figure's name and unit.
    pub unit: &'static str,
    /// Each round's value.
    pub values: Vec<f64>,
    /// What the median is held to.
    pub goal: Goal,
}

impl Alone {
    /// The median over the rounds.
    pub fn median(&self) -> f64 {
        crate::compare::median_and_spread(&self.values).0
    }

    /// Whether the median meets the goal (`None` for [`Goal::Report`]).
    pub fn met(&self) -> Option<bool> {
        match self.goal {
            Goal::Report => None,
            Goal::Below(limit) => Some(self.median() < limit),
            Goal::AtLeast(limit) => Some(self.median() >= limit),
        }
    }

    /// The Markdown row, in the columns of [`print_header`](crate::print_header): no raw side
    /// and no ratio, the goal in the target column.
    pub fn row(&self) -> String {
        let (target, met) = match (self.goal, self.met()) {
            (Goal::Below(limit), Some(met)) => (format!("< {limit} (absolute)"), met),
            (Goal::AtLeast(limit), Some(met)) => (format!("≥ {limit} (absolute)"), met),
            _ => {
                return format!(
                    "| {} | {} | — | {} | — | — | — |",
                    self.path,
                    self.unit,
                    spread(&self.values)
                );
            }
        };
        format!(
            "| {} | {} | — | {} | — | {target} | {} |",
            self.path,
            self.unit,
            spread(&self.values),
            if met { "yes" } else { "**no**" },
        )
    }

    /// Prints the row and returns the figure.
    pub fn print(self) -> Alone {
        println!("{}", self.row());
        self
    }
}

/// Runs `rounds` rounds of `side`, prints a row per figure of `goals` and returns them.
pub async fn measure(
    path: &str,
    rounds: usize,
    goals: &[(&'static str, Goal)],
    mut side: impl AsyncFnMut() -> Sample,
) -> Vec<Alone> {
    let mut samples = Vec::with_capacity(rounds);
    for round in 0..rounds {
        samples.push(side().await);
        eprintln!("{path}: round {round}: {:?}", samples[round]);
    }
    goals
        .iter()
        .map(|&(unit, goal)| {
            Alone {
                path: path.to_owned(),
                unit,
                values: crate::compare::pick(path, unit, &samples),
                goal,
            }
            .print()
        })
        .collect()
}
