//! Vectorisable `exp`, `sigmoid` and `tanh` over f32 slices.
//!
//! Written as straight-line arithmetic (no branches, no libm calls) so that the compiler turns
//! each loop into SIMD code; compiled for AVX-512, for AVX2 and for the baseline, and chosen at run time.
//! Both builds do the same operations in the same order (plain multiply and add, no fused
//! multiply-add), so results are bitwise identical on every x86-64 machine.

// The coefficients are quoted as published, digits beyond f32 included.
#![allow(clippy::excessive_precision)]

/// `e^x` by Cody-Waite range reduction and the Cephes minimax polynomial (about 1 ulp).
#[inline(always)]
fn exp(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    const ROUND: f32 = 12_582_912.0; // 1.5 * 2^23: adding it rounds to an integer
    let x = x.clamp(-87.0, 88.0);
    let rounded = x * LOG2E + ROUND;
    let n = rounded - ROUND;
    let r = x - n * LN2_HI - n * LN2_LO;
    let mut p = 1.987_569_2e-4;
    p = p * r + 1.398_199_9e-3;
    p = p * r + 8.333_452e-3;
    p = p * r + 4.166_579_6e-2;
    p = p * r + 1.666_666_5e-1;
    p = p * r + 5.000_000_1e-1;
    let y = p * r * r + r + 1.0;
    // 2^n from the integer n held in the low bits of `rounded` (integer arithmetic on the
    // bits vectorises; a float-to-int conversion would not, for its saturation rules).
    let n_int = (rounded.to_bits() as i32).wrapping_sub(ROUND.to_bits() as i32);
    y * f32::from_bits((n_int.wrapping_add(127) << 23) as u32)
}

/// `tanh x` as a [13/6] rational minimax approximation on [-7.9, 7.9] (within a few ulp),
/// saturating beyond.
#[inline(always)]
fn tanh(x: f32) -> f32 {
    let x = x.clamp(-7.905_311, 7.905_311);
    let x2 = x * x;
    let mut p = -2.760_768_5e-16;
    p = p * x2 + 2.000_187_9e-13;
    p = p * x2 + -8.604_672e-11;
    p = p * x2 + 5.122_297e-8;
    p = p * x2 + 1.485_722_4e-5;
    p = p * x2 + 6.372_619_3e-4;
    p = p * x2 + 4.893_524_6e-3;
    p *= x;
    let mut q = 1.198_258_4e-6;
    q = q * x2 + 1.185_347_1e-4;
    q = q * x2 + 2.268_434_6e-3;
    q = q * x2 + 4.893_525e-3;
    p / q
}

#[inline(always)]
fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + exp(-x))
}

macro_rules! dispatch {
    ($(#[$doc:meta])* $name:ident, $avx512:ident, $avx2:ident, $f:ident) => {
        $(#[$doc])*
        pub fn $name(v: &mut [f32]) {
            #[cfg(target_arch = "x86_64")]
            {
                let isa = crate::isa::isa();
                if isa.avx512f {
                    // SAFETY: the CPU has AVX-512F (and so AVX2).
                    unsafe { $avx512(v) };
                    return;
                }
                if isa.avx2 {
                    // SAFETY: the CPU has AVX2.
                    unsafe { $avx2(v) };
                    return;
                }
            }
            for x in v.iter_mut() {
                *x = $f(*x);
            }
        }

        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = "avx512f,avx2")]
        unsafe fn $avx512(v: &mut [f32]) {
            for x in v.iter_mut() {
                *x = $f(*x);
            }
        }

        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = "avx2")]
        unsafe fn $avx2(v: &mut [f32]) {
            for x in v.iter_mut() {
                *x = $f(*x);
            }
        }
    };
}

dispatch!(
    /// `v[i] = sigmoid(v[i])`.
    sigmoid_in_place, sigmoid_avx512, sigmoid_avx2, sigmoid
);
dispatch!(
    /// `v[i] = tanh(v[i])`.
    tanh_in_place, tanh_avx512, tanh_avx2, tanh
);
dispatch!(
    /// `v[i] = e^v[i]`.
    exp_in_place, exp_avx512, exp_avx2, exp
);

#[cfg(test)]
mod tests {
    use super::*;

    fn grid() -> Vec<f32> {
        (-200_000..=200_000).map(|i| i as f32 * 1e-4).collect()
    }

    #[test]
    fn tanh_is_accurate_everywhere() {
        let xs = grid();
        let mut v = xs.clone();
        tanh_in_place(&mut v);
        for (&x, &y) in xs.iter().zip(&v) {
            let want = (x as f64).tanh();
            let err = (y as f64 - want).abs();
            assert!(
                err <= 4e-7 * want.abs().max(1e-3),
                "tanh({x}) = {y}, want {want}"
            );
        }
        let mut big = [100.0f32, -100.0, 1e-30, 0.0];
        tanh_in_place(&mut big);
        assert_eq!([big[0], big[1], big[3]], [1.0, -1.0, 0.0]);
        assert!((big[2] - 1e-30).abs() < 1e-36);
    }

    #[test]
    fn sigmoid_and_exp_are_accurate_everywhere() {
        let xs = grid();
        let mut s = xs.clone();
        sigmoid_in_place(&mut s);
        let mut e = xs.clone();
        exp_in_place(&mut e);
        for ((&x, &ys), &ye) in xs.iter().zip(&s).zip(&e) {
            let want = 1.0 / (1.0 + (-(x as f64)).exp());
            assert!(
                (ys as f64 - want).abs() <= 2.5e-7 * want,
                "sigmoid({x}) = {ys}, want {want}"
            );
            let want = (x as f64).exp();
            assert!(
                (ye as f64 - want).abs() <= 2.5e-7 * want,
                "exp({x}) = {ye}, want {want}"
            );
        }
        let mut extreme = [200.0f32, -200.0, f32::MAX, f32::MIN];
        sigmoid_in_place(&mut extreme);
        assert_eq!([extreme[0], extreme[2]], [1.0, 1.0]);
        assert!(extreme[1] < 1e-37 && extreme[3] < 1e-37 && extreme[1] >= 0.0);
        let mut nan = [f32::NAN];
        sigmoid_in_place(&mut nan);
        assert!(nan[0].is_nan(), "NaN propagates so that divergence is seen");
    }

    #[test]
    fn every_path_gives_the_same_bits() {
        let mut xs = grid();
        xs.extend([
            f32::NAN,
            f32::INFINITY,
            f32::NEG_INFINITY,
            1e30,
            -1e30,
            -0.0,
        ]);
        type One = fn(f32) -> f32;
        type Path = fn(&mut [f32]);
        let funcs: [(One, Path); 3] = [
            (sigmoid, sigmoid_in_place),
            (tanh, tanh_in_place),
            (exp, exp_in_place),
        ];
        for (f, dispatched) in funcs {
            let mut want = xs.clone();
            want.iter_mut().for_each(|x| *x = f(*x));
            let mut got = xs.clone();
            dispatched(&mut got);
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&got), bits(&want));
        }
        #[cfg(target_arch = "x86_64")]
        {
            type Simd = unsafe fn(&mut [f32]);
            let simd: [(One, Simd, Simd); 3] = [
                (sigmoid, sigmoid_avx512, sigmoid_avx2),
                (tanh, tanh_avx512, tanh_avx2),
                (exp, exp_avx512, exp_avx2),
            ];
            for (f, wide, narrow) in simd {
                let mut want = xs.clone();
                want.iter_mut().for_each(|x| *x = f(*x));
                let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                if std::arch::is_x86_feature_detected!("avx512f") {
                    let mut got = xs.clone();
                    // SAFETY: the CPU has AVX-512F.
                    unsafe { wide(&mut got) };
                    assert_eq!(bits(&got), bits(&want));
                }
                if std::arch::is_x86_feature_detected!("avx2") {
                    let mut got = xs.clone();
                    // SAFETY: the CPU has AVX2.
                    unsafe { narrow(&mut got) };
                    assert_eq!(bits(&got), bits(&want));
                }
            }
        }
    }
}
