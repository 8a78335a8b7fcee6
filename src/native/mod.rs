//! Below everything else: what the crate asks of libtorch's C++ and of the operating
//! system. The C++ glue (`ffi`, sources in `cpp/`), libtorch's distributed engine
//! (`c10d`), CUDA graphs (`cuda_graph`), the logistic mixture in one pass (`mixture`),
//! tensors between NCHW and channels-last (`layout`), the device and its threads (`device`), the CPU's numerics modes (`numerics`, MKL's settings
//! in `mkl_cbwr`),
//! libtorch's error text (`error`), files opened only when regular (`files`) and
//! written whole or not at all (`atomic`).
pub(crate) mod atomic;
pub mod c10d;
pub(crate) mod cuda_graph;
pub(crate) mod device;
pub mod error;
pub(crate) mod ffi;
pub(crate) mod files;
pub mod layout;
pub(crate) mod mixture;
pub mod mkl_cbwr;
pub mod numerics;
