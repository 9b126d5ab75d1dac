//! Which ciphers bringup offers an SSH server, in its order of preference.
//!
//! libssh2 offers every cipher it was built with, ChaCha20-Poly1305 first and the CBC modes,
//! 3DES, Blowfish, CAST and arcfour after it. bringup offers only authenticated or counter
//! modes, and AES-GCM first where the processor has AES instructions: there OpenSSL's
//! AES-GCM runs several times faster than libssh2's portable ChaCha20-Poly1305, which is
//! where a step printing hundreds of megabytes spends its time. Without them, ChaCha20 is the
//! faster and the constant-time choice, and it stays first.

/// The ciphers bringup may offer, fastest first on a processor with AES instructions.
const WITH_AES_HARDWARE: &[&str] = &[
    "aes128-gcm@openssh.com",
    "aes256-gcm@openssh.com",
    "chacha20-poly1305@openssh.com",
    "aes128-ctr",
    "aes192-ctr",
    "aes256-ctr",
];

/// The same ciphers where AES runs in software.
const WITHOUT_AES_HARDWARE: &[&str] = &[
    "chacha20-poly1305@openssh.com",
    "aes128-gcm@openssh.com",
    "aes256-gcm@openssh.com",
    "aes128-ctr",
    "aes192-ctr",
    "aes256-ctr",
];

/// The cipher list to offer, as libssh2's `method_pref` takes it: the ones this libssh2
/// supports, in bringup's order. `None` when it supports none of them (bringup then offers
/// libssh2's own list rather than fail to connect at all).
pub fn preferred(supported: &[&str], aes_in_hardware: bool) -> Option<String> {
    let order = if aes_in_hardware {
        WITH_AES_HARDWARE
    } else {
        WITHOUT_AES_HARDWARE
    };
    let offered: Vec<&str> = order
        .iter()
        .copied()
        .filter(|c| supported.contains(c))
        .collect();
    (!offered.is_empty()).then(|| offered.join(","))
}

/// Whether this processor has AES instructions (AES-NI, or ARMv8's crypto extension).
pub fn aes_in_hardware() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("aes")
            && std::arch::is_x86_feature_detected!("pclmulqdq")
    }
    #[cfg(target_arch = "aarch64")]
    {
        std::arch::is_aarch64_feature_detected!("aes")
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// libssh2's own list, as `supported_algs` gives it with OpenSSL.
    const LIBSSH2: &[&str] = &[
        "chacha20-poly1305@openssh.com",
        "aes256-gcm@openssh.com",
        "aes128-gcm@openssh.com",
        "aes256-ctr",
        "aes192-ctr",
        "aes128-ctr",
        "aes256-cbc",
        "rijndael-cbc@lysator.liu.se",
        "aes192-cbc",
        "aes128-cbc",
        "blowfish-cbc",
        "arcfour128",
        "arcfour",
        "cast128-cbc",
        "3des-cbc",
    ];

    #[test]
    fn aes_gcm_comes_first_with_aes_instructions_and_chacha20_without() {
        let with = preferred(LIBSSH2, true).expect("some supported");
        assert!(with.starts_with("aes128-gcm@openssh.com,aes256-gcm@openssh.com,chacha20"));
        let without = preferred(LIBSSH2, false).expect("some supported");
        assert!(without.starts_with("chacha20-poly1305@openssh.com,aes128-gcm"));
    }

    #[test]
    fn cbc_3des_blowfish_cast_and_arcfour_are_never_offered() {
        for hardware in [true, false] {
            let offered = preferred(LIBSSH2, hardware).expect("some supported");
            for weak in ["cbc", "3des", "blowfish", "cast", "arcfour", "rijndael"] {
                assert!(!offered.contains(weak), "{weak} offered in {offered}");
            }
        }
    }

    #[test]
    fn only_what_this_libssh2_supports_is_offered_and_nothing_leaves_libssh2s_own_list() {
        assert_eq!(
            preferred(&["aes256-ctr", "aes128-cbc"], true).as_deref(),
            Some("aes256-ctr")
        );
        assert_eq!(preferred(&["aes128-cbc", "3des-cbc"], true), None);
    }
}
