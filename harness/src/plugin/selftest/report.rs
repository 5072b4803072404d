//! The lines a self-test prints: `ok   <what>` or `FAIL <what>: <reason>`, and what failed.

/// The outcome of the checks so far; each check prints its line as it ends.
#[derive(Debug, Default)]
pub struct Report {
    /// The file under test, named in the summary of failures.
    pub file: String,
    pub passed: usize,
    /// `file: what: reason` of every failed check.
    pub failed: Vec<String>,
}

impl Report {
    pub fn ok(&mut self, what: &str) {
        println!("ok   {what}");
        self.passed += 1;
    }

    pub fn fail(&mut self, what: &str, why: &str) {
        println!("FAIL {what}: {why}");
        self.failed.push(format!("{}: {what}: {why}", self.file));
    }

    /// Prints `result`'s line; true when it passed.
    pub fn check(&mut self, what: &str, result: Result<(), String>) -> bool {
        match result {
            Ok(()) => {
                self.ok(what);
                true
            }
            Err(why) => {
                self.fail(what, &why);
                false
            }
        }
    }
}

/// The reason the host's generator check gives a plugin that reseeds it.
pub const RESEEDS: &str =
    "reseeds the global random generator (tch::manual_seed): use the seed the host passes";

/// Compares what the host drew from the global generator after two calls that began from
/// different host seeds: equal draws mean the plugin reset the generator.
pub fn generator_left_alone(after_a: &[f64], after_b: &[f64]) -> Result<(), String> {
    if after_a == after_b {
        Err(RESEEDS.into())
    } else {
        Ok(())
    }
}
