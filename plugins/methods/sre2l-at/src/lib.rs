//! `sre2l-at`: SRe2L whose teacher is trained adversarially (PGD-10, L-infinity 8/255, pixel space): GUARD's cost baseline.
//! The whole method lives in the shared `ddbench-sre2l` library; see its config table in the README.

use ddbench_plugin_api::declare_method;
use ddbench_sre2l::{Sre2l, Sre2lAt};

declare_method!(
    Sre2l<Sre2lAt>,
    name = "sre2l-at",
    // 0.3.0: the other flavours' regularizer keys are refused and absent from the resolved
    // config (which keys rows): rows of 0.2.0 are other rows
    version = "0.3.0",
    description = "SRe2L with a PGD adversarially trained teacher",
    flags = ddbench_plugin_api::abi::FLAG_TEACHER
);
