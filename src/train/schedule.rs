//! Learning-rate schedules: the rate at any point of training, as a function of the
//! epochs done so far (fractions included, so smooth schedules change after every batch).

use std::f64::consts::PI;

use crate::spec::LrScheduleSpec;

#[derive(Debug, Clone, PartialEq)]
pub struct LrSchedule {
    /// The optimizer's `lr`.
    base: f64,
    spec: Option<LrScheduleSpec>,
    /// Epochs of the phase the schedule runs over (for a cosine without `decay_epochs`).
    epochs: usize,
}

impl LrSchedule {
    pub fn new(base: f64, spec: Option<LrScheduleSpec>, epochs: usize) -> Self {
        Self { base, spec, epochs }
    }

    /// The rate after `progress` epochs (0 at the start).
    pub fn lr(&self, progress: f64) -> f64 {
        let Some(spec) = &self.spec else {
            return self.base;
        };
        let warmup = match *spec {
            LrScheduleSpec::Step { warmup_epochs, .. }
            | LrScheduleSpec::Exponential { warmup_epochs, .. }
            | LrScheduleSpec::Cosine { warmup_epochs, .. }
            | LrScheduleSpec::Warmup { warmup_epochs } => warmup_epochs,
        };
        if progress < warmup {
            return self.base * progress / warmup;
        }
        let after = progress - warmup;
        match *spec {
            LrScheduleSpec::Step {
                step_epochs, gamma, ..
            } => self.base * gamma.powf((after / step_epochs as f64).floor()),
            LrScheduleSpec::Exponential {
                decay_epochs,
                decay_rate,
                staircase,
                ..
            } => {
                let exponent = after / decay_epochs;
                let exponent = if staircase {
                    exponent.floor()
                } else {
                    exponent
                };
                self.base * decay_rate.powf(exponent)
            }
            LrScheduleSpec::Cosine {
                decay_epochs,
                alpha,
                ..
            } => {
                let decay = decay_epochs
                    .unwrap_or(self.epochs as f64 - warmup)
                    .max(f64::EPSILON);
                let cosine = 0.5 * (1.0 + (PI * after.min(decay) / decay).cos());
                self.base * ((1.0 - alpha) * cosine + alpha)
            }
            LrScheduleSpec::Warmup { .. } => self.base,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schedule(text: &str, epochs: usize) -> LrSchedule {
        LrSchedule::new(0.1, Some(toml::from_str(text).unwrap()), epochs)
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    #[test]
    fn constant_without_a_schedule() {
        let constant = LrSchedule::new(0.1, None, 10);
        assert_eq!(constant.lr(0.0), 0.1);
        assert_eq!(constant.lr(7.5), 0.1);
    }

    #[test]
    fn step_decays_every_step_epochs() {
        let step = schedule("type = \"step\"\nstep_epochs = 2\ngamma = 0.5", 10);
        let rates: Vec<f64> = [0.0, 1.9, 2.0, 4.5].iter().map(|&p| step.lr(p)).collect();
        assert_eq!(rates, [0.1, 0.1, 0.05, 0.025]);
    }

    #[test]
    fn exponential_continuous_and_staircase() {
        let smooth = schedule(
            "type = \"exponential\"\ndecay_epochs = 2.0\ndecay_rate = 0.5",
            10,
        );
        assert!(close(smooth.lr(1.0), 0.1 * 0.5f64.sqrt()));
        let stairs = schedule(
            "type = \"exponential\"\ndecay_epochs = 2.0\ndecay_rate = 0.5\nstaircase = true",
            10,
        );
        assert!(close(stairs.lr(1.0), 0.1));
        assert!(close(stairs.lr(2.0), 0.05));
    }

    #[test]
    fn cosine_goes_from_lr_to_alpha_lr() {
        let cosine = schedule("type = \"cosine\"\nalpha = 0.1", 10);
        assert!(close(cosine.lr(0.0), 0.1));
        assert!(close(cosine.lr(5.0), 0.1 * (0.9 * 0.5 + 0.1)));
        assert!(close(cosine.lr(10.0), 0.01));
        assert!(close(cosine.lr(12.0), 0.01));
    }

    #[test]
    fn warmup_ramps_linearly_then_hands_over() {
        let warmup = schedule("type = \"warmup\"\nwarmup_epochs = 2.0", 10);
        assert!(close(warmup.lr(0.5), 0.025));
        assert!(close(warmup.lr(3.0), 0.1));
        let cosine = schedule("type = \"cosine\"\nwarmup_epochs = 2.0", 10);
        assert!(close(cosine.lr(1.0), 0.05));
        // The cosine runs over the 8 epochs after the warmup.
        assert!(close(cosine.lr(6.0), 0.05));
    }
}
