//! The `dc` and `dsa` settings: the official `main.py` arguments (VICO-UoE/DatasetCondensation,
//! file:line of each default below). Both structs come from one macro; `dsa` adds
//! `dsa_strategy`. [`GmSettings`] is what the shared loop reads.

use crate::gm::get_loops;
use ddbench_nn::dsa::parse_strategy;
use ddbench_plugin_api::{check_in, PluginError, PluginResult, ValueRange};

/// Every setting of a gradient-matching run, `dsa_strategy` `none` for DC.
#[derive(Clone, Debug, PartialEq)]
pub struct GmSettings {
    pub iterations: i64,
    pub lr_img: f64,
    pub momentum: f64,
    pub lr_net: f64,
    pub batch_real: i64,
    pub batch_train: i64,
    pub init: String,
    pub outer_loop: Option<i64>,
    pub inner_loop: Option<i64>,
    pub net_width: i64,
    pub net_depth: i64,
    pub dsa_strategy: String,
}

impl GmSettings {
    pub fn validate(&self) -> PluginResult<()> {
        let one = ValueRange::at_least(1);
        check_in("iterations", self.iterations, ValueRange::at_least(0))?;
        check_in("lr_img", self.lr_img, ValueRange::above(0.0))?;
        check_in("momentum", self.momentum, ValueRange::right_open(0.0, 1.0))?;
        check_in("lr_net", self.lr_net, ValueRange::above(0.0))?;
        check_in("batch_real", self.batch_real, one)?;
        check_in("batch_train", self.batch_train, one)?;
        check_in("net_width", self.net_width, one)?;
        check_in("net_depth", self.net_depth, one)?;
        if let Some(o) = self.outer_loop {
            check_in("outer_loop", o, one)?;
        }
        if let Some(i) = self.inner_loop {
            check_in("inner_loop", i, ValueRange::at_least(0))?;
        }
        if !matches!(self.init.as_str(), "real" | "noise") {
            let init = &self.init;
            return Err(PluginError(format!(
                "config 'init' = {init:?}: expected \"real\" or \"noise\""
            )));
        }
        parse_strategy(&self.dsa_strategy)
            .map_err(|e| PluginError(format!("config 'dsa_strategy': {e}")))?;
        Ok(())
    }

    /// (outer_loop, inner_loop): the config's, else the official `get_loops(ipc)`; an error for
    /// an IPC the official table lacks (the official code exits there, `utils.py:290-292`).
    pub fn loops(&self, ipc: i64) -> PluginResult<(i64, i64)> {
        let official = get_loops(ipc);
        match (self.outer_loop, self.inner_loop, official) {
            (Some(o), Some(i), _) => Ok((o, i)),
            (o, i, Some((oo, oi))) => Ok((o.unwrap_or(oo), i.unwrap_or(oi))),
            _ => Err(PluginError(format!(
                "loop hyper-parameters are not defined for {ipc} ipc (the official get_loops \
                 knows IPC 1, 10, 20, 30, 40, 50): set 'outer_loop' and 'inner_loop'"
            ))),
        }
    }
}

/// Declares a gradient-matching config struct with the shared keys, `init`'s default, and any
/// extra `String` keys (with their defaults).
macro_rules! gm_config {
    ($(#[$m:meta])* $name:ident, init = $init:literal
     $(, $(#[$fm:meta])* $extra:ident = $val:literal)*) => {
        $(#[$m])*
        #[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
        #[serde(default, deny_unknown_fields)]
        pub struct $name {
            /// Outer iterations (`--Iteration`, 1000, `main.py:23`); the official loop runs
            /// `range(Iteration + 1)` (`main.py:105`): Iteration + 1 random networks.
            pub iterations: i64,
            /// SGD on the synthetic images: `--lr_img` 0.1 (`main.py:24`), momentum 0.5
            /// (`optimizer_img`, `main.py:100`).
            pub lr_img: f64,
            pub momentum: f64,
            /// SGD on the network in the inner loop (`--lr_net` 0.01, `main.py:25`, `main.py:150`).
            pub lr_net: f64,
            /// Real images per class per matching step (`--batch_real` 256, `main.py:26`).
            pub batch_real: i64,
            /// Batch of the inner-loop network training (`--batch_train` 256, `main.py:27`).
            pub batch_train: i64,
            /// `real` (random real images of the class) or `noise` (standard normal in the
            /// normalised space), `--init` (`main.py:28`, `main.py:88-96`).
            pub init: String,
            /// Image updates per outer iteration and network epochs between them; `null`: the
            /// official `get_loops(ipc)` (`utils.py:275-293`), which knows IPC 1, 10, 20, 30, 40, 50.
            pub outer_loop: Option<i64>,
            pub inner_loop: Option<i64>,
            /// The random ConvNet (`get_default_convnet_setting`, `utils.py:118-120`: width 128,
            /// depth 3, instance norm, ReLU, average pooling).
            pub net_width: i64,
            pub net_depth: i64,
            $($(#[$fm])* pub $extra: String,)*
        }

        impl Default for $name {
            fn default() -> Self {
                $name {
                    iterations: 1000,
                    lr_img: 0.1,
                    momentum: 0.5,
                    lr_net: 0.01,
                    batch_real: 256,
                    batch_train: 256,
                    init: $init.into(),
                    outer_loop: None,
                    inner_loop: None,
                    net_width: 128,
                    net_depth: 3,
                    $($extra: $val.into(),)*
                }
            }
        }

        impl $name {
            /// The settings the shared loop reads (DC: no DSA).
            pub fn settings(&self) -> GmSettings {
                #[allow(unused_mut)]
                let mut s = GmSettings {
                    iterations: self.iterations,
                    lr_img: self.lr_img,
                    momentum: self.momentum,
                    lr_net: self.lr_net,
                    batch_real: self.batch_real,
                    batch_train: self.batch_train,
                    init: self.init.clone(),
                    outer_loop: self.outer_loop,
                    inner_loop: self.inner_loop,
                    net_width: self.net_width,
                    net_depth: self.net_depth,
                    dsa_strategy: "none".into(),
                };
                $(s.$extra = self.$extra.clone();)*
                s
            }
        }

        impl ddbench_plugin_api::PluginConfig for $name {
            fn validate(&self) -> PluginResult<()> {
                self.settings().validate()
            }
        }
    };
}

gm_config!(
    /// `dc`: `main.py --method DC`. `init` defaults to `noise` as `main.py:28` and the readme's
    /// DC command (`readme.md:20`, no `--init`).
    DcConfig,
    init = "noise"
);

gm_config!(
    /// `dsa`: `main.py --method DSA`, as the readme's DSA command (`readme.md:110`: `--init real
    /// --dsa_strategy color_crop_cutout_flip_scale_rotate`).
    DsaConfig,
    init = "real",
    /// DSA strategy (`--dsa_strategy`, `main.py:29`; `ParamDiffAug` defaults, `utils.py:474-484`),
    /// one group per call (mode S); `none`: no augmentation (then DSA is DC).
    dsa_strategy = "color_crop_cutout_flip_scale_rotate"
);

#[cfg(test)]
mod tests {
    use super::*;
    use ddbench_plugin_api::parse_config;
    use ddbench_plugin_api::serde_json::json;

    #[test]
    fn official_defaults_loops_and_refusals() {
        let d: DcConfig = parse_config(&json!({})).unwrap();
        let s = d.settings();
        assert_eq!(
            (s.iterations, s.lr_img, s.momentum, s.lr_net, s.batch_real),
            (1000, 0.1, 0.5, 0.01, 256)
        );
        assert_eq!(
            (s.init.as_str(), s.dsa_strategy.as_str()),
            ("noise", "none")
        );
        let a: DsaConfig = parse_config(&json!({})).unwrap();
        let s = a.settings();
        assert_eq!(s.dsa_strategy, "color_crop_cutout_flip_scale_rotate");
        assert_eq!(s.init, "real");
        assert_eq!(s.loops(10).unwrap(), (10, 50));
        assert!(s.loops(2).unwrap_err().0.contains("'outer_loop'"));
        let mut s2 = s.clone();
        s2.outer_loop = Some(3);
        assert_eq!(s2.loops(10).unwrap(), (3, 50));
        s2.inner_loop = Some(2);
        assert_eq!(s2.loops(7).unwrap(), (3, 2));
        let err = |j| parse_config::<DsaConfig>(&j).unwrap_err().0;
        assert!(err(json!({"init": "zeros"})).contains("'init'"));
        assert!(err(json!({"dsa_strategy": "color_blur"})).contains("unknown DSA group"));
        assert!(err(json!({"momentum": 1.0})).contains("'momentum'"));
        assert!(err(json!({"outer_loop": 0})).contains("'outer_loop'"));
        assert!(parse_config::<DcConfig>(&json!({"dsa_strategy": "crop"})).is_err());
    }
}
