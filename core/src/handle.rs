//! Handles and tokens: a descriptor's slot index tagged with its generation.
//!
//! A slot is reused after close, so a bare index could reach the wrong descriptor. Every
//! handle and every backend cookie carries the generation the slot had when it was opened;
//! the slot's info word holds the current one, so a stale handle or a stale event is
//! recognised with one atomic load and refused (handles) or dropped (events).

use core::fmt;

/// Bits of the generation kept in the info word (the rest of the word holds flags).
pub(crate) const GENERATION_BITS: u32 = 28;
pub(crate) const GENERATION_MASK: u32 = (1 << GENERATION_BITS) - 1;

/// A slot's generation: which opening of that slot a handle or event refers to.
///
/// 28 bits wide: a handle is mistaken for a newer one only after the same slot has been
/// reopened 2^28 times while the old handle was kept.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Generation(u32);

impl Generation {
    pub(crate) const fn new(raw: u32) -> Self {
        Generation(raw & GENERATION_MASK)
    }
    /// The raw value.
    pub const fn get(self) -> u32 {
        self.0
    }
    /// The generation after this one; zero is skipped so a zeroed handle is never valid.
    pub(crate) fn next(self) -> Self {
        let n = (self.0 + 1) & GENERATION_MASK;
        Generation(if n == 0 { 1 } else { n })
    }
}

/// A handle to an open descriptor: slot index plus generation.
///
/// Cheap to copy. Using it after the descriptor was closed gives
/// [`PollError::Closing`](crate::PollError::Closing) until the slot is taken again (by a
/// successful or failed `open`) and [`PollError::StaleHandle`](crate::PollError::StaleHandle)
/// after; never undefined behaviour.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Handle {
    index: u32,
    generation: Generation,
}

impl Handle {
    pub(crate) const fn new(index: u32, generation: Generation) -> Self {
        Handle { index, generation }
    }
    /// The slot index.
    pub const fn index(self) -> u32 {
        self.index
    }
    /// The generation of the slot when this handle was issued.
    pub const fn generation(self) -> Generation {
        self.generation
    }
    /// The cookie the backend must hand back with this descriptor's events.
    pub const fn token(self) -> Token {
        Token(((self.generation.0 as u64) << 32) | self.index as u64)
    }
}

impl fmt::Debug for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Handle({}#{})", self.index, self.generation.0)
    }
}

/// The 64-bit cookie a backend stores with a registration (epoll's `data.u64`, kqueue's
/// `udata`) and hands back with every event: `generation << 32 | index`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Token(pub u64);

impl Token {
    /// The slot index.
    pub const fn index(self) -> u32 {
        self.0 as u32
    }
    /// The generation the slot had at registration.
    pub const fn generation(self) -> Generation {
        Generation::new((self.0 >> 32) as u32)
    }
    /// The handle this token was made from.
    pub const fn handle(self) -> Handle {
        Handle::new(self.index(), self.generation())
    }
}
