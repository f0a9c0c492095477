//! The number format the frozen part of the backbone runs in (`[backbone] precision`), and
//! how `"auto"` is decided on the machine that runs it.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The frozen layers' number format. Their weights and activations are converted once; the
/// features they give the trainable part are float32 again.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Precision {
    /// float32 throughout (the default).
    #[default]
    Fp32,
    /// bfloat16 for the frozen layers: about 3 significant digits, float32's range. Fast
    /// where the hardware computes it natively (CUDA, or a CPU with AVX-512 BF16 or AMX);
    /// elsewhere it is emulated and slower than float32.
    Bf16,
    /// `bf16` where the hardware computes it natively, `fp32` elsewhere; decided when the
    /// run is planned, and the decision is what its stage keys and parameters record.
    Auto,
}

impl Precision {
    /// `fp32` or `bf16`: `auto` decided for a run on CUDA (`cuda`) or on this machine's CPU.
    #[must_use]
    pub fn resolve(self, cuda: bool) -> Self {
        match self {
            Precision::Auto if native_bf16(cuda) => Precision::Bf16,
            Precision::Auto => Precision::Fp32,
            decided => decided,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Precision::Fp32 => "fp32",
            Precision::Bf16 => "bf16",
            Precision::Auto => "auto",
        }
    }
}

/// Whether bfloat16 arithmetic is native where a run computes: on CUDA (`cuda`), or on a CPU
/// with AVX-512 BF16 or AMX. Elsewhere LibTorch emulates it, slower than float32.
pub fn native_bf16(cuda: bool) -> bool {
    static CPU: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    cuda || *CPU.get_or_init(cpu_has_native_bf16)
}

/// Whether the CPU has bfloat16 arithmetic (AVX-512 BF16 or AMX), which LibTorch's oneDNN
/// kernels use; without it they convert to float32 and back around every operation.
fn cpu_has_native_bf16() -> bool {
    #[cfg(target_os = "linux")]
    {
        // The kernel's flag names; Rust's feature detection does not know AMX on stable.
        let Ok(cpuinfo) = std::fs::read_to_string("/proc/cpuinfo") else {
            return false;
        };
        cpuinfo
            .lines()
            .find(|line| line.starts_with("flags"))
            .is_some_and(|flags| {
                flags
                    .split_whitespace()
                    .any(|flag| flag == "avx512_bf16" || flag == "amx_bf16")
            })
    }
    #[cfg(not(target_os = "linux"))]
    {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_auto_is_decided_by_the_hardware() {
        for cuda in [false, true] {
            assert_eq!(Precision::Fp32.resolve(cuda), Precision::Fp32);
            assert_eq!(Precision::Bf16.resolve(cuda), Precision::Bf16);
        }
        assert_eq!(Precision::Auto.resolve(true), Precision::Bf16);
        let on_this_cpu = Precision::Auto.resolve(false);
        assert_eq!(
            on_this_cpu == Precision::Bf16,
            cpu_has_native_bf16(),
            "{on_this_cpu:?}"
        );
    }
}
