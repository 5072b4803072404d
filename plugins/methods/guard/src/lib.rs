//! `guard`: GUARD: SRe2L whose teacher is trained with the curvature regularizer (Xue et al., AAAI 2025).
//! The whole method lives in the shared `ddbench-sre2l` library; see its config table in the README.

use ddbench_plugin_api::declare_method;
use ddbench_sre2l::{Guard, Sre2l};

declare_method!(
    Sre2l<Guard>,
    name = "guard",
    // 0.3.0: the other flavours' regularizer keys are refused and absent from the resolved
    // config (which keys rows): rows of 0.2.0 are other rows
    version = "0.3.0",
    description = "GUARD: SRe2L with a curvature-regularized teacher",
    flags = ddbench_plugin_api::abi::FLAG_TEACHER
);
