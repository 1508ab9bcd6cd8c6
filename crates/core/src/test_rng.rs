//! A counting rng for unit tests inside this crate (integration tests use the
//! seeded rng of `gatehouse-testkit`, which depends on this crate).

/// Fills every request with the next counter value: distinct nonces and salts,
/// nothing more. Never for production.
pub(crate) struct CountingRng(pub(crate) u8);

impl rand_core::RngCore for CountingRng {
    fn next_u32(&mut self) -> u32 {
        u32::from(self.0)
    }
    fn next_u64(&mut self) -> u64 {
        u64::from(self.0)
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        self.0 = self.0.wrapping_add(1);
        dest.fill(self.0);
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}

impl rand_core::CryptoRng for CountingRng {}
