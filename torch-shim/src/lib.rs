//! libtorch C++ APIs that tch does not expose, through small C++ shims compiled against the
//! torch headers of the project's virtualenv: reading `torch.save` files ([`pickle`]) and the
//! speed levers autocast-to-bfloat16 and channels-last ([`levers`]).

pub mod levers;
pub mod pickle;

pub use pickle::{load, load_bytes};
