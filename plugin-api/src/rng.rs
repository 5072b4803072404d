//! Randomness for plugins. Every call gets a seed (`DistillInput::seed`, `AttackInput::seed`);
//! libtorch's global generator belongs to the host, which seeds it for its own draws (student
//! shuffles, augmentation). A plugin must not reseed it: a bare `tch::manual_seed` would make
//! every draw of the host after the call the same whatever the host's own seed.
//!
//! Draw from a generator of your own seeded with the call's seed (`ddbench_nn::rng::HostRng`),
//! or, for libtorch's samplers (`Tensor::rand`, `randn_like`, `uniform_`, dropout…), hold a
//! [`SeedScope`] while you draw: it seeds the global generator with the call's seed and, when it
//! is dropped (also on `?` and panics), hands the host back a stream derived from the host's own
//! state. `ddbench plugins --check` catches a plugin that reseeds the generator.

use tch::{Device, Kind, Tensor};

/// libtorch's global generator seeded with a plugin call's seed for as long as this value
/// lives; afterwards the host's stream goes on from a seed drawn from its own state before the
/// scope began (so it still depends on the host's seed, never on the plugin's). Inside the
/// scope, reseeding again (per restart, per component) is fine.
///
/// ```ignore
/// let _rng = ddbench_plugin_api::SeedScope::new(input.seed);
/// let noise = Tensor::empty_like(x).uniform_(-eps, eps); // reproducible for input.seed
/// ```
#[must_use = "the scope ends when this value is dropped"]
pub struct SeedScope {
    host_seed: i64,
}

impl SeedScope {
    /// Draws the host's continuation seed from the generator, then seeds it with `seed`.
    pub fn new(seed: u64) -> SeedScope {
        let host_seed =
            Tensor::randint(i64::MAX, [1], (Kind::Int64, Device::Cpu)).int64_value(&[0]);
        tch::manual_seed(seed as i64);
        SeedScope { host_seed }
    }
}

impl Drop for SeedScope {
    fn drop(&mut self) {
        tch::manual_seed(self.host_seed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draw() -> Vec<f64> {
        Vec::<f64>::try_from(Tensor::rand([4], (Kind::Double, Device::Cpu))).unwrap()
    }

    #[test]
    fn inside_the_seed_counts_and_after_it_the_host_state() {
        let mut inside = Vec::new();
        let mut after = Vec::new();
        for host in [1, 2] {
            tch::manual_seed(host);
            {
                let _s = SeedScope::new(7);
                inside.push(draw());
            }
            after.push(draw());
        }
        assert_eq!(inside[0], inside[1], "same plugin seed, same draws");
        assert_ne!(
            after[0], after[1],
            "the host's stream depends on the host's seed"
        );
        tch::manual_seed(1);
        let _ = SeedScope::new(7);
        assert_eq!(
            draw(),
            after[0],
            "a scope dropped at once hands back the same stream"
        );
    }
}
