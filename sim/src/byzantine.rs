//! Byzantine peer classes (SPEC §7.4). A byzantine peer follows the chain like an honest one and answers
//! honestly unless it lies; `lie_chance` decides each answer. What each class does is in `peer.rs`.

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "snake_case")]
pub enum ByzantineClass {
    // ---- chunks ----
    /// A proof node removed, a slot hash altered, or two nodes swapped.
    WrongProof,
    /// A value changed, an item dropped, added, duplicated, or two items swapped.
    WrongItems,
    /// Fewer items with the end claimed too far, or the end dropped early.
    Truncated,
    /// A chunk cut at another start than the one asked for.
    WrongStart,
    /// An empty non-final chunk (H18).
    ZeroProgress,
    /// More items than asked for (H19).
    Oversized,
    /// Bytes that decode to nothing.
    Undecodable,
    /// Chunks tagged with blocks the node cannot use: unknown, far future, far past, forks.
    UnknownTag,
    /// A valid chunk from an older head, re-tagged as the current head.
    StaleRetag,
    /// `IncompleteState` although it has the state (H23).
    IncompleteLie,
    // ---- diffs ----
    /// A diff of random entries.
    GarbageDiff,
    /// The diff of another block.
    WrongBlockDiff,
    /// `UnknownBlockHash` for every diff (H10).
    WithholdDiff,
    // ---- blocks ----
    /// Announcements with broken seals.
    InvalidSeal,
    /// Announcements of old blocks.
    ReplayOld,
    /// Announcements of a private, abandoned fork whose diffs nobody serves (H10).
    AbandonedFork,
    /// Claims of a head far ahead (forged blocks beyond the window).
    LyingHead,
    /// Missing-blocks answers that do not link, skip blocks or exceed `bpb`.
    BadMissingBlocks,
    // ---- responses ----
    /// Answers to requests never sent, at a high rate.
    Unsolicited,
    /// Old answers sent again.
    ReplayAnswers,
    // ---- floods ----
    /// Announces many validly sealed blocks of a private chain whose first block it withholds: they can only
    /// wait in the block buffer (the bounded memory test).
    FutureFlood,
    /// Chunks of the full limit with the largest values, tagged with future blocks: they wait in the chunk
    /// buffer (the bounded memory test in bytes).
    MaxChunks,
}

impl ByzantineClass {
    pub const ALL: [ByzantineClass; 22] = [
        ByzantineClass::WrongProof,
        ByzantineClass::WrongItems,
        ByzantineClass::Truncated,
        ByzantineClass::WrongStart,
        ByzantineClass::ZeroProgress,
        ByzantineClass::Oversized,
        ByzantineClass::Undecodable,
        ByzantineClass::UnknownTag,
        ByzantineClass::StaleRetag,
        ByzantineClass::IncompleteLie,
        ByzantineClass::GarbageDiff,
        ByzantineClass::WrongBlockDiff,
        ByzantineClass::WithholdDiff,
        ByzantineClass::InvalidSeal,
        ByzantineClass::ReplayOld,
        ByzantineClass::AbandonedFork,
        ByzantineClass::LyingHead,
        ByzantineClass::BadMissingBlocks,
        ByzantineClass::Unsolicited,
        ByzantineClass::ReplayAnswers,
        ByzantineClass::FutureFlood,
        ByzantineClass::MaxChunks,
    ];

    /// The flood and size attacks.
    pub const FLOODS: [ByzantineClass; 4] = [
        ByzantineClass::FutureFlood,
        ByzantineClass::MaxChunks,
        ByzantineClass::Unsolicited,
        ByzantineClass::Oversized,
    ];

    pub fn name(self) -> String {
        serde_json::to_value(self).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default()
    }
}
