//! The adversary: every byzantine class (§7.4) and every lie it tells, in one place.
//!
//! A byzantine peer follows the chain like an honest one and answers honestly unless it lies; `lie_chance`
//! decides each answer. What a class does when it lies is in [`answers`] (lies told in answers to requests) and
//! [`moves`] (lies told on its own initiative: announcements, unsolicited answers). Both match every class
//! exhaustively, and the list of classes the swarm draws from is derived from the enum, so a new class does not
//! compile until it says what it does in both places, and is drawn as soon as it exists.

pub mod answers;
pub mod moves;

use serde::{Deserialize, Serialize};
use strum::VariantArray;
use sync_core::Violation;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, VariantArray)]
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
    // ---- lanes (§2.13) ----
    /// Answers a lane's request with a chunk that runs past the lane's end: the unbounded chunk at the same
    /// start, or one whose `end` names the next lane. Honest to requests without a bound.
    CrossLane,
    /// Serves one lane only: bounded chunk requests that start in the first quarter of key space get honest
    /// answers, the others none at all. Honest to requests without a bound.
    OneLane,
}

impl ByzantineClass {
    /// Every class, in declaration order: derived from the enum, never kept by hand.
    pub const ALL: &'static [ByzantineClass] = <ByzantineClass as VariantArray>::VARIANTS;

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

    /// Whether the node can prove this class's lies (§4.2) and so must evict the liar once it is asked
    /// enough. The others (invented tags, withholding, replays, floods) look like an honest peer on a fork or a
    /// slow link: they must never be penalised, only steered around.
    pub fn provable(self) -> bool {
        match self {
            ByzantineClass::WrongProof
            | ByzantineClass::WrongItems
            | ByzantineClass::Truncated
            | ByzantineClass::WrongStart
            | ByzantineClass::ZeroProgress
            | ByzantineClass::Oversized
            | ByzantineClass::Undecodable
            | ByzantineClass::StaleRetag
            | ByzantineClass::GarbageDiff
            | ByzantineClass::WrongBlockDiff
            | ByzantineClass::InvalidSeal
            | ByzantineClass::LyingHead
            | ByzantineClass::BadMissingBlocks
            | ByzantineClass::CrossLane => true,
            ByzantineClass::UnknownTag
            | ByzantineClass::IncompleteLie
            | ByzantineClass::WithholdDiff
            | ByzantineClass::ReplayOld
            | ByzantineClass::AbandonedFork
            | ByzantineClass::Unsolicited
            | ByzantineClass::ReplayAnswers
            | ByzantineClass::FutureFlood
            | ByzantineClass::MaxChunks
            | ByzantineClass::OneLane => false,
        }
    }
}

impl ByzantineClass {
    /// Whether its lies are larger than the honest answer, and so slower on a thin link: a deadline the node
    /// set by honest round trips may pass before they arrive.
    pub fn inflates(self) -> bool {
        matches!(self, ByzantineClass::MaxChunks | ByzantineClass::Oversized)
    }

    /// Whether a lie of this class can prove `violation` (§4.2): the accounting oracle attributes a penalty to a
    /// lie only when it does.
    pub fn proves(self, violation: Violation) -> bool {
        use ByzantineClass as Class;
        let chunk = matches!(
            violation,
            Violation::ChunkRejected
                | Violation::ChunkNoProgress
                | Violation::ChunkOverLimit
                | Violation::ChunkPastLane
        );
        match self {
            Class::WrongStart | Class::ZeroProgress | Class::StaleRetag | Class::CrossLane => chunk,
            // Lies that change a chunk's items or proof can break the wire's own bounds, and the message does not
            // decode: three extra items at the most a chunk may carry (explore seed 10009574), a value one byte
            // over its bound or items out of order (seed 10032135).
            Class::Oversized | Class::WrongItems | Class::WrongProof | Class::Truncated => {
                chunk || violation == Violation::Undecodable
            }
            Class::Undecodable => violation == Violation::Undecodable,
            Class::GarbageDiff | Class::WrongBlockDiff => violation == Violation::DiffRootMismatch,
            Class::InvalidSeal | Class::LyingHead => matches!(violation, Violation::InvalidBlock(_)),
            Class::BadMissingBlocks => {
                matches!(violation, Violation::MissingBlocksInvalid | Violation::InvalidBlock(_))
            }
            // Its random request id can hit a request open to it (explore seed 2002088): its chunk of eight items
            // from the empty key then answers that request, as a chunk or as the wrong type.
            Class::Unsolicited => chunk || violation == Violation::WrongResponseType,
            Class::UnknownTag
            | Class::IncompleteLie
            | Class::WithholdDiff
            | Class::ReplayOld
            | Class::AbandonedFork
            | Class::ReplayAnswers
            | Class::FutureFlood
            | Class::MaxChunks
            | Class::OneLane => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_class_is_listed_once_and_named() {
        assert_eq!(ByzantineClass::ALL.len(), 24);
        let names: std::collections::BTreeSet<String> = ByzantineClass::ALL.iter().map(|c| c.name()).collect();
        assert_eq!(names.len(), ByzantineClass::ALL.len(), "distinct names");
        assert!(names.iter().all(|name| !name.is_empty()));
        assert!(ByzantineClass::FLOODS.iter().all(|class| ByzantineClass::ALL.contains(class)));
    }

    #[test]
    fn exactly_the_provable_classes_prove_a_violation() {
        let violations = [
            Violation::Undecodable,
            Violation::ChunkRejected,
            Violation::DiffRootMismatch,
            Violation::MissingBlocksInvalid,
            Violation::InvalidBlock(sync_core::block::BlockInvalid::Seal),
        ];
        // `unsolicited` proves one only when its random request id hits an open request: not provable.
        for &class in ByzantineClass::ALL.iter().filter(|&&class| class != ByzantineClass::Unsolicited) {
            assert_eq!(violations.iter().any(|&v| class.proves(v)), class.provable(), "{class:?}");
        }
    }
}
