//! Loss accounting for one receiver of one publisher's sequence.
//!
//! A receiver sees seqs `0, 1, 2, …` from its publisher. Anything skipped is a gap; what
//! never arrived after the last seq seen is the tail, known only once the publisher says
//! how many it sent. `lost = gaps still open + tail`.
//!
//! Gaps are kept as ranges rather than a count so a message that arrives late (reordered)
//! closes its part of a gap instead of being counted lost *and* received; an arrival
//! below the expected seq that is in no gap is a duplicate. Neither should ever happen
//! over one TCP connection from an ordered server queue, which is exactly why they are
//! counted separately: a non-zero figure is a server bug worth reporting. The number of
//! ranges kept is bounded so a pathological loss pattern cannot eat memory; beyond the
//! bound gaps are still counted, and the result says it is no longer exact.

/// Most gap ranges one receiver keeps before it only counts.
const MAX_RANGES: usize = 1024;

/// Per-receiver sequence state: expected next seq and the open gaps.
#[derive(Debug, Clone, Default)]
pub(crate) struct SeqTracker {
    /// One past the highest seq seen.
    next: u64,
    /// Open gaps `[start, end)`, sorted, disjoint.
    ranges: Vec<(u64, u64)>,
    /// Missing messages not in `ranges` (only once `MAX_RANGES` is reached).
    uncounted_gaps: u64,
    /// Late arrivals that closed part of a gap.
    reordered: u64,
    /// Arrivals below `next` that were in no known gap.
    duplicates: u64,
}

/// A receiver's final figures against its publisher's total.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Loss {
    /// Messages published that this receiver never got (gaps and tail).
    pub(crate) lost: u64,
    /// Of those, how many were in the tail (after the last one it got).
    pub(crate) tail: u64,
    /// Messages that arrived after a later one.
    pub(crate) reordered: u64,
    /// Messages that arrived twice.
    pub(crate) duplicates: u64,
    /// False when the gap bound was hit and late arrivals could not all be placed.
    pub(crate) exact: bool,
}

impl SeqTracker {
    /// Records the arrival of `seq`.
    pub(crate) fn observe(&mut self, seq: u64) {
        if seq == self.next {
            self.next += 1;
        } else if seq > self.next {
            if self.ranges.len() < MAX_RANGES {
                self.ranges.push((self.next, seq));
            } else {
                self.uncounted_gaps += seq - self.next;
            }
            self.next = seq + 1;
        } else {
            self.fill(seq);
        }
    }

    /// A late `seq`: closes it in its gap, or counts a duplicate.
    fn fill(&mut self, seq: u64) {
        // The first range that ends after `seq` is the only one that can contain it.
        let i = self.ranges.partition_point(|&(_, end)| end <= seq);
        match self.ranges.get(i).copied() {
            Some((start, end)) if start <= seq => {
                self.reordered += 1;
                match (start == seq, end == seq + 1) {
                    (true, true) => {
                        self.ranges.remove(i);
                    }
                    (true, false) => self.ranges[i].0 = seq + 1,
                    (false, true) => self.ranges[i].1 = seq,
                    (false, false) => {
                        self.ranges[i].1 = seq;
                        self.ranges.insert(i + 1, (seq + 1, end));
                    }
                }
            }
            _ if self.uncounted_gaps > 0 => {
                // It may close a gap that was only counted: assume it does, so lost is
                // not overstated; `exact` tells the reader.
                self.uncounted_gaps -= 1;
                self.reordered += 1;
            }
            _ => self.duplicates += 1,
        }
    }

    /// One past the highest seq seen: how far this receiver has got.
    pub(crate) fn next(&self) -> u64 {
        self.next
    }

    /// The figures once the publisher has sent `published` messages (seqs
    /// `0..published`) and no more are coming.
    pub(crate) fn loss(&self, published: u64) -> Loss {
        let open: u64 = self
            .ranges
            .iter()
            .map(|&(start, end)| end.min(published).saturating_sub(start))
            .sum();
        let tail = published.saturating_sub(self.next);
        Loss {
            lost: open + self.uncounted_gaps + tail,
            tail,
            reordered: self.reordered,
            duplicates: self.duplicates,
            exact: self.ranges.len() < MAX_RANGES,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn track(seqs: impl IntoIterator<Item = u64>) -> SeqTracker {
        let mut t = SeqTracker::default();
        for s in seqs {
            t.observe(s);
        }
        t
    }

    #[test]
    fn nothing_lost_when_all_arrive() {
        let t = track(0..100);
        assert_eq!(t.next(), 100);
        assert_eq!(
            t.loss(100),
            Loss {
                exact: true,
                ..Loss::default()
            }
        );
    }

    #[test]
    fn counts_the_tail() {
        let l = track(0..90).loss(100);
        assert_eq!((l.lost, l.tail), (10, 10));
    }

    #[test]
    fn nothing_received_is_all_tail() {
        let l = SeqTracker::default().loss(5);
        assert_eq!((l.lost, l.tail), (5, 5));
    }

    #[test]
    fn counts_gaps() {
        // Missing 3, 4 and 7.
        let t = track([0, 1, 2, 5, 6, 8, 9]);
        assert_eq!(t.next(), 10);
        let l = t.loss(10);
        assert_eq!((l.lost, l.tail), (3, 0));
    }

    #[test]
    fn gaps_and_tail_add_up() {
        // Missing 1, and 6..10 at the end.
        let l = track([0, 2, 3, 4, 5]).loss(10);
        assert_eq!((l.lost, l.tail), (5, 4));
    }

    #[test]
    fn a_late_arrival_closes_its_gap() {
        // 2..=5 skipped, then 3 and 5 arrive late: only 2 and 4 are lost.
        let t = track([0, 1, 6, 3, 5]);
        let l = t.loss(7);
        assert_eq!((l.lost, l.reordered, l.duplicates), (2, 2, 0));
        // The middle of a gap splits it; both ends then close.
        let t = track([0, 1, 6, 3, 5, 2, 4]);
        let l = t.loss(7);
        assert_eq!((l.lost, l.reordered), (0, 4));
    }

    #[test]
    fn repeats_are_duplicates_not_fills() {
        let l = track([0, 1, 1, 2, 0]).loss(3);
        assert_eq!((l.lost, l.duplicates, l.reordered), (0, 2, 0));
        // A repeat of a seq that filled a gap is a duplicate too.
        let l = track([0, 3, 1, 1]).loss(4);
        assert_eq!((l.lost, l.duplicates, l.reordered), (1, 1, 1));
    }

    #[test]
    fn bounded_ranges_still_count_every_loss() {
        // Every other message lost: one range per loss until the bound.
        let n = (MAX_RANGES as u64 + 10) * 2;
        let t = track((0..n).filter(|s| s % 2 == 1));
        let l = t.loss(n);
        assert_eq!(l.lost, n / 2);
        assert!(!l.exact);
    }
}
