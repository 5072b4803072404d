//! Resolving a plugin's configuration: the plugin parses and checks the JSON the user gave
//! against its declared config and answers with every setting, defaults filled in.

use super::host::{services, status_error, HostState};
use crate::plugin::loader::Plugin;
use ddbench_plugin_api::abi::{STATUS_ERROR, STATUS_OK};
use std::ffi::CString;

/// The resolved config of `plugin` for the user's `config` (`{}`: all defaults), or the plugin's
/// reason for refusing it as it gave it (an unknown key, a wrong type, a value out of range:
/// `config 'steps' = 0: expected an integer ≥ 1`). Runs nothing
/// but the plugin's parser: safe to call for every plugin of a run before any work.
pub fn resolve_config(
    plugin: &Plugin,
    config: &serde_json::Value,
) -> Result<serde_json::Value, String> {
    let f = plugin.desc.resolve_config.ok_or_else(|| {
        format!(
            "{} plugin '{}' declares no configuration",
            plugin.kind, plugin.name
        )
    })?;
    let (nothing, quiet) = (|_: u64, _: u64| {}, |_: &str| {});
    let state = HostState::new(&nothing, &quiet);
    let host = services(&state);
    let text = CString::new(config.to_string()).map_err(|e| e.to_string())?;
    let status = unsafe { f(text.as_ptr(), &host) };
    if status == STATUS_ERROR {
        return Err(state.error.borrow().clone().unwrap_or_default());
    }
    if status != STATUS_OK {
        return Err(status_error(plugin, status, &state));
    }
    let answer = state.config.borrow().clone().ok_or_else(|| {
        format!(
            "{} plugin '{}' resolved its config without handing it back",
            plugin.kind, plugin.name
        )
    })?;
    match serde_json::from_str(&answer) {
        Ok(v @ serde_json::Value::Object(_)) => Ok(v),
        _ => Err(format!(
            "{} plugin '{}' resolved its config to {answer}, not a JSON object",
            plugin.kind, plugin.name
        )),
    }
}
