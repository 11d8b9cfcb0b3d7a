//! Where everything lives in a channel segment's payload, and the read-once check of the
//! creator's parameters.
//!
//! ```text
//! payload offset  size           field
//! 0               128            parameters line (creator writes before publishing; read once)
//!   0   u32  magic = CHANNEL_MAGIC ("CHN1")
//!   4   u32  version = CHANNEL_VERSION
//!   8   u32  lane count = LANES (3)
//!   12  u32  reserved, zero
//!   16  u64  capacity of the critical lane (bytes, power of two)
//!   24  u64  capacity of the high lane
//!   32  u64  capacity of the normal lane
//!   40  u64  channel id (random; names the wake events on Windows)
//! 128             128            side A's line (see `control.rs`)
//! 256             128            side B's line
//! 384             128            reserved
//! 512             ...            rings A→B critical, high, normal, then B→A critical, high, normal;
//!                                each `shmring_ring::total_len(capacity)` bytes, 128-aligned
//! ```

use crate::{OpenError, Priority};

/// `b"CHN1"` read as a little-endian `u32`.
pub const CHANNEL_MAGIC: u32 = u32::from_le_bytes(*b"CHN1");
/// Version of the channel layout inside the segment.
pub const CHANNEL_VERSION: u32 = 1;
/// Number of priority lanes per direction.
pub const LANES: usize = 3;
/// Bytes of the control block before the first ring.
pub const CONTROL_LEN: usize = 512;
/// Offset of side A's line.
pub const SIDE_A_OFFSET: usize = 128;
/// Offset of side B's line.
pub const SIDE_B_OFFSET: usize = 256;
/// Smallest lane capacity a channel accepts.
pub const MIN_LANE_CAPACITY: usize = 4096;
/// Largest lane capacity a channel accepts (1 GiB).
pub const MAX_LANE_CAPACITY: usize = 1 << 30;

/// Ring capacities of one channel, identical in both directions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capacities {
    /// Bytes per lane, indexed by [`Priority`] (critical, high, normal).
    pub lanes: [usize; LANES],
}

impl Capacities {
    /// Whether every lane capacity is a power of two in `MIN_LANE_CAPACITY..=MAX_LANE_CAPACITY`.
    pub fn is_valid(&self) -> bool {
        self.lanes.iter().all(|&c| c.is_power_of_two() && (MIN_LANE_CAPACITY..=MAX_LANE_CAPACITY).contains(&c))
    }

    /// Payload bytes of a segment holding a channel with these capacities.
    pub fn payload_len(&self) -> usize {
        CONTROL_LEN + 2 * self.lanes.iter().map(|&c| ring_len(c)).sum::<usize>()
    }

    /// Offset in the payload of the ring for `direction` (0 = A→B, 1 = B→A) and `lane`.
    pub fn ring_offset(&self, direction: usize, lane: Priority) -> usize {
        let per_direction: usize = self.lanes.iter().map(|&c| ring_len(c)).sum();
        let before: usize = self.lanes[..lane as usize].iter().map(|&c| ring_len(c)).sum();
        CONTROL_LEN + direction * per_direction + before
    }

    /// Reads the parameters line once and checks it against the payload's real length.
    pub(crate) fn read(payload: &[u64; 6], payload_len: usize) -> Result<(Capacities, u64), OpenError> {
        let (magic, version) = (payload[0] as u32, (payload[0] >> 32) as u32);
        if magic != CHANNEL_MAGIC {
            return Err(OpenError::Incompatible(format!("not a shmring channel (magic {magic:#010x})")));
        }
        if version != CHANNEL_VERSION {
            return Err(OpenError::Incompatible(format!(
                "channel layout version {version}, this build speaks {CHANNEL_VERSION}"
            )));
        }
        if payload[1] as u32 != LANES as u32 {
            return Err(OpenError::Incompatible(format!("{} lanes, expected {LANES}", payload[1] as u32)));
        }
        let mut lanes = [0usize; LANES];
        for (lane, &raw) in lanes.iter_mut().zip(&payload[2..5]) {
            *lane = usize::try_from(raw).unwrap_or(0);
        }
        let capacities = Capacities { lanes };
        if !capacities.is_valid() || capacities.payload_len() != payload_len {
            return Err(OpenError::Incompatible(format!(
                "lane capacities {:?} do not match a payload of {payload_len} bytes",
                payload[2..5].to_vec()
            )));
        }
        Ok((capacities, payload[5]))
    }
}

/// Bytes one ring of `capacity` occupies, rounded up to the 128-byte alignment of the next one.
fn ring_len(capacity: usize) -> usize {
    (shmring_ring::total_len(capacity) + 127) & !127
}
