//! Test fixture: a plugin built for ABI version 1 (before plugins declared their configuration);
//! the host, which speaks a later ABI, must refuse it without calling anything in it.

#[repr(C)]
pub struct DescriptorV1 {
    pub size: usize,
    pub abi_version: u32,
}

static DESCRIPTOR: DescriptorV1 = DescriptorV1 {
    size: std::mem::size_of::<DescriptorV1>(),
    abi_version: 1,
};

/// # Safety
/// Never called by a host of another ABI version; it only checks the symbol's name.
#[no_mangle]
pub extern "C" fn ddbench_plugin_v1() -> *const DescriptorV1 {
    panic!(
        "a host of another ABI version must not call a v1 entry point: {:p}",
        &DESCRIPTOR
    )
}
