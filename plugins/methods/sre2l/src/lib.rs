//! `sre2l`: SRe2L (squeeze, recover, relabel) with a plainly trained teacher.
//! The whole method lives in the shared `ddbench-sre2l` library; see its config table in the README.

use ddbench_plugin_api::declare_method;
use ddbench_sre2l::{Plain, Sre2l};

declare_method!(
    Sre2l<Plain>,
    name = "sre2l",
    // 0.3.0: the other flavours' regularizer keys are refused and absent from the resolved
    // config (which keys rows): rows of 0.2.0 are other rows
    version = "0.3.0",
    description = "SRe2L: squeeze, recover by BatchNorm matching, relabel with the teacher",
    flags = ddbench_plugin_api::abi::FLAG_TEACHER
);
