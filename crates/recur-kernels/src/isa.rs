//! The instruction sets the kernels choose between, probed once per process.

use std::sync::OnceLock;

/// What this CPU runs, as the kernels ask it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Isa {
    /// AVX-512 Foundation (the 16-lane panel kernel, the 16-lane fast math).
    pub(crate) avx512f: bool,
    /// AVX2 (the 8-lane fast math).
    pub(crate) avx2: bool,
    /// AVX2 and FMA together (the 8-lane panel kernel).
    pub(crate) avx2_fma: bool,
    /// AVX (the register-block transpose).
    pub(crate) avx: bool,
}

/// The instruction sets of this CPU, detected on the first call and cached.
#[inline]
pub(crate) fn isa() -> Isa {
    static ISA: OnceLock<Isa> = OnceLock::new();
    *ISA.get_or_init(detect)
}

#[cfg(target_arch = "x86_64")]
fn detect() -> Isa {
    use std::arch::is_x86_feature_detected as has;
    Isa {
        avx512f: has!("avx512f"),
        avx2: has!("avx2"),
        avx2_fma: has!("avx2") && has!("fma"),
        avx: has!("avx"),
    }
}

#[cfg(not(target_arch = "x86_64"))]
fn detect() -> Isa {
    Isa {
        avx512f: false,
        avx2: false,
        avx2_fma: false,
        avx: false,
    }
}
