//! libtorch C++ APIs that tch does not expose, through small C++ shims compiled against the
//! torch headers of the project's virtualenv: reading `torch.save` files ([`pickle`]), the speed
//! levers autocast-to-bfloat16 and channels-last ([`levers`]), optimisers whose state can be saved
//! ([`optim`]), the generators' state ([`rng`]) and CUDA graphs ([`graph`]).

mod err;
pub mod graph;
pub mod levers;
pub mod optim;
pub mod pickle;
pub mod rng;

pub use pickle::{load, load_bytes};
