//! Test fixture: a plugin speaking a (hypothetical) ABI version 2; the host must refuse it
//! without calling anything in it.

#[repr(C)]
pub struct DescriptorV2 {
    pub size: usize,
    pub abi_version: u32,
}

static DESCRIPTOR: DescriptorV2 = DescriptorV2 {
    size: std::mem::size_of::<DescriptorV2>(),
    abi_version: 2,
};

/// # Safety
/// Never called by an ABI-v1 host; it only checks the symbol's name.
#[no_mangle]
pub extern "C" fn ddbench_plugin_v2() -> *const DescriptorV2 {
    panic!(
        "an ABI-v1 host must not call a v2 entry point: {:p}",
        &DESCRIPTOR
    )
}
