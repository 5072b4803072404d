//! The declared configuration's self-test: the defaults resolve, the config under test resolves,
//! and resolving a resolved config changes nothing (what a row records reruns as recorded).

use super::report::Report;
use crate::plugin::{resolve_config, Plugin};
use serde_json::{json, Value};

/// Prints the config checks; returns the resolved `given` to run the plugin with, or `None`
/// when a check failed (the plugin cannot be run as configured).
pub fn check(plugin: &Plugin, given: &Value, report: &mut Report) -> Option<Value> {
    let defaults = resolve_config(plugin, &json!({}));
    if !report.check(
        "config: the defaults resolve",
        defaults.as_ref().map(drop).map_err(Clone::clone),
    ) {
        return None;
    }
    let resolved = match resolve_config(plugin, given) {
        Ok(r) => r,
        Err(why) => {
            report.fail(&format!("config: {given} resolves"), &why);
            return None;
        }
    };
    let again = resolve_config(plugin, &resolved).and_then(|r| {
        if r == resolved {
            Ok(())
        } else {
            Err(format!("{resolved} resolves again to {r}"))
        }
    });
    report
        .check(
            &format!("config: {given} resolves to {resolved}, a fixed point"),
            again,
        )
        .then_some(resolved)
}
