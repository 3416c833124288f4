//! Deadlines for every connection in one binary heap, with lazy deletion: O(log n) per
//! deadline and no scan of the connections, whatever their number.
//!
//! A connection's deadline usually moves *later* (each frame received pushes the
//! keep-alive back), and that needs no heap operation at all: the old entry fires, the
//! connection finds its deadline not reached yet, and is scheduled again for the new one.
//! Only a deadline that moves *earlier* (a close timeout) adds an entry; the one it
//! replaces is skipped when it comes out. An entry names its connection by slot and by
//! id, so one for a closed connection whose slot was reused is skipped too. The heap thus
//! holds about one entry per connection.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// An entry: when (milliseconds on the loop's clock), which slot, which connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Due {
    pub at: u64,
    pub key: usize,
    pub id: u64,
}

pub struct Timers {
    heap: BinaryHeap<Reverse<Due>>,
}

impl Timers {
    pub fn new() -> Self {
        Timers {
            heap: BinaryHeap::new(),
        }
    }

    pub fn schedule(&mut self, due: Due) {
        self.heap.push(Reverse(due));
    }

    /// The earliest entry, stale or not.
    pub fn next(&self) -> Option<u64> {
        self.heap.peek().map(|Reverse(due)| due.at)
    }

    /// The next entry due at `now`, if any; the caller checks that it is still current.
    pub fn pop_due(&mut self, now: u64) -> Option<Due> {
        match self.heap.peek() {
            Some(Reverse(due)) if due.at <= now => self.heap.pop().map(|Reverse(due)| due),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_come_out_in_time_order_once_due() {
        let mut timers = Timers::new();
        for (at, key) in [(30, 1), (10, 2), (20, 3)] {
            timers.schedule(Due { at, key, id: 0 });
        }
        assert_eq!(timers.next(), Some(10));
        assert_eq!(timers.pop_due(5), None);
        let due: Vec<usize> = std::iter::from_fn(|| timers.pop_due(25))
            .map(|due| due.key)
            .collect();
        assert_eq!(due, [2, 3]);
        assert_eq!(timers.next(), Some(30));
    }
}
