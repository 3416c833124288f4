//! Rooms: who is in each, and the last messages said there.
//!
//! A room exists while someone is in it: the last one out takes its history along, so
//! the memory held by rooms is bounded by the connections, whatever names clients
//! invent. Members are kept in a plain list; each member remembers its place in it (its
//! [`Seat`]), so joining and leaving are O(1).

use std::collections::{HashMap, VecDeque};

use crate::slab::Slab;

/// A newcomer gets at most this many of the room's last messages...
pub const HISTORY: usize = 50;
/// ...and at most this many bytes of them (only rooms full of 1 KiB messages reach it),
/// so that the history always fits the newcomer's outgoing queue.
pub const HISTORY_BYTES: usize = crate::outbox::LIMIT / 2;

/// Where a member sits: its room, and its place in the room's list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Seat {
    pub room: u32,
    index: u32,
}

struct Room {
    name: Box<str>,
    /// The members' connection keys.
    members: Vec<usize>,
    /// The last messages, as the JSON text sent, oldest first.
    history: VecDeque<Box<str>>,
    history_bytes: usize,
}

pub struct Rooms {
    by_name: HashMap<Box<str>, u32>,
    rooms: Slab<Room>,
}

impl Rooms {
    pub fn new() -> Self {
        Rooms {
            by_name: HashMap::new(),
            rooms: Slab::new(),
        }
    }

    /// Seat `member` in the room called `name`, opening it if needed.
    pub fn join(&mut self, name: &str, member: usize) -> Seat {
        let room = match self.by_name.get(name) {
            Some(&room) => room,
            None => {
                let room = self.rooms.insert(Room {
                    name: name.into(),
                    members: Vec::new(),
                    history: VecDeque::new(),
                    history_bytes: 0,
                });
                let room = u32::try_from(room).expect("fewer rooms than connections");
                self.by_name.insert(name.into(), room);
                room
            }
        };
        let members = &mut self.room_mut(room).members;
        members.push(member);
        Seat {
            room,
            index: u32::try_from(members.len() - 1).expect("fewer members than connections"),
        }
    }

    /// Take the member at `seat` out of its room (closing the room if it was the last).
    /// The last member of the list moves to the empty place: if there was one, returns it
    /// with its new seat, which the caller records.
    pub fn leave(&mut self, seat: Seat) -> Option<(usize, Seat)> {
        let room = self.room_mut(seat.room);
        let index = seat.index as usize;
        room.members.swap_remove(index);
        if room.members.is_empty() {
            let room = self.rooms.remove(seat.room as usize)?;
            self.by_name.remove(&room.name);
            return None;
        }
        room.members.get(index).map(|&moved| (moved, seat))
    }

    /// The members' connection keys.
    pub fn members(&self, room: u32) -> &[usize] {
        self.rooms
            .get(room as usize)
            .map_or(&[], |room| &room.members[..])
    }

    /// The room's last messages, oldest first.
    pub fn history(&self, room: u32) -> impl Iterator<Item = &str> {
        self.rooms
            .get(room as usize)
            .into_iter()
            .flat_map(|room| room.history.iter().map(|message| &**message))
    }

    /// Remember `message` (its JSON text) as the room's latest.
    pub fn record(&mut self, room: u32, message: &str) {
        let room = self.room_mut(room);
        room.history.push_back(message.into());
        room.history_bytes += message.len();
        while room.history.len() > HISTORY || room.history_bytes > HISTORY_BYTES {
            let oldest = room.history.pop_front().map_or(0, |old| old.len());
            room.history_bytes -= oldest;
        }
    }

    /// The room's name (`None` once closed).
    pub fn name(&self, room: u32) -> Option<&str> {
        self.rooms.get(room as usize).map(|room| &*room.name)
    }

    /// The open room called `name`.
    pub fn find(&self, name: &str) -> Option<u32> {
        self.by_name.get(name).copied()
    }

    /// Put `older` (oldest first) before the room's history, as far as the bounds allow:
    /// what another process kept of the room before it opened here.
    pub fn seed(&mut self, room: u32, older: &[&str]) {
        let room = self.room_mut(room);
        let mut all: Vec<&str> = older.to_vec();
        all.extend(room.history.iter().map(|message| &**message));
        let kept: VecDeque<Box<str>> = last_of(&all).iter().map(|&m| m.into()).collect();
        room.history_bytes = kept.iter().map(|message| message.len()).sum();
        room.history = kept;
    }

    /// How many rooms are open.
    pub fn len(&self) -> usize {
        self.rooms.len()
    }

    fn room_mut(&mut self, room: u32) -> &mut Room {
        self.rooms
            .get_mut(room as usize)
            .expect("a seat names an open room")
    }
}

/// The last of `messages` (oldest first) that a newcomer gets: at most [`HISTORY`] of them
/// and [`HISTORY_BYTES`] bytes.
pub fn last_of<'a, 'b>(messages: &'b [&'a str]) -> &'b [&'a str] {
    let mut bytes = 0;
    let mut start = messages.len();
    while start > 0 && messages.len() - start < HISTORY {
        bytes += messages[start - 1].len();
        if bytes > HISTORY_BYTES {
            break;
        }
        start -= 1;
    }
    &messages[start..]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_join_leave_and_the_moved_one_is_reported() {
        let mut rooms = Rooms::new();
        let a = rooms.join("lobby", 10);
        let b = rooms.join("lobby", 11);
        let c = rooms.join("lobby", 12);
        let other = rooms.join("other", 13);
        assert_ne!(a.room, other.room);
        assert_eq!(rooms.members(a.room), [10, 11, 12]);
        // 12 moves into 10's place.
        assert_eq!(rooms.leave(a), Some((12, a)));
        assert_eq!(rooms.members(a.room), [12, 11]);
        assert_eq!(rooms.leave(b), None);
        assert_eq!(rooms.leave(Seat { index: 0, ..c }), None);
        assert_eq!(rooms.len(), 1);
        assert_eq!(rooms.members(a.room), [] as [usize; 0]);
    }

    #[test]
    fn history_keeps_the_last_50_and_closes_with_the_room() {
        let mut rooms = Rooms::new();
        let seat = rooms.join("r", 1);
        for i in 0..60 {
            rooms.record(seat.room, &i.to_string());
        }
        let kept: Vec<&str> = rooms.history(seat.room).collect();
        assert_eq!(kept.len(), HISTORY);
        assert_eq!((kept[0], kept[49]), ("10", "59"));
        rooms.leave(seat);
        let seat = rooms.join("r", 1);
        assert_eq!(rooms.history(seat.room).count(), 0);
    }

    #[test]
    fn seeding_puts_older_messages_first_within_the_bounds() {
        let mut rooms = Rooms::new();
        let seat = rooms.join("r", 1);
        assert_eq!(rooms.find("r"), Some(seat.room));
        assert_eq!(rooms.name(seat.room), Some("r"));
        rooms.record(seat.room, "new");
        let older: Vec<String> = (0..60).map(|i| i.to_string()).collect();
        let older: Vec<&str> = older.iter().map(String::as_str).collect();
        rooms.seed(seat.room, &older);
        let kept: Vec<&str> = rooms.history(seat.room).collect();
        assert_eq!(kept.len(), HISTORY);
        assert_eq!((kept[0], kept[48], kept[49]), ("11", "59", "new"));
        let big = "x".repeat(HISTORY_BYTES / 10);
        assert_eq!(last_of(&[big.as_str(); 20]).len(), 10);
        rooms.leave(seat);
        assert_eq!((rooms.find("r"), rooms.name(seat.room)), (None, None));
    }

    #[test]
    fn history_is_bounded_in_bytes_too() {
        let mut rooms = Rooms::new();
        let seat = rooms.join("r", 1);
        let big = "x".repeat(HISTORY_BYTES / 10);
        for _ in 0..20 {
            rooms.record(seat.room, &big);
        }
        let bytes: usize = rooms.history(seat.room).map(str::len).sum();
        assert!(bytes <= HISTORY_BYTES && rooms.history(seat.room).count() == 10);
    }
}
