//! Rooms: who is in each, under which names, and the last messages said there.
//!
//! A room exists while someone is in it: the last one out takes its history along, so
//! the memory held by rooms is bounded by the connections, whatever names clients
//! invent. Members are kept in a plain list; each member remembers its place in it (its
//! [`Seat`]), so joining and leaving are O(1).
//!
//! A name is taken in a room while a member has it: names are compared as
//! [`protocol::fold`](crate::protocol::fold) makes them (case and the spaces around
//! ignored), so "Ann" cannot join where "ann" is.
//!
//! A room's last messages are kept one after the other in one buffer of its own (see
//! [`History`]), where a message is written once, right as it is said: no allocation per
//! message, and none freed when it is forgotten.

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
    /// The members' names, folded ([`protocol::fold`](crate::protocol::fold)), and who
    /// has each: a connection key, and the session it gave if any.
    names: HashMap<Box<str>, Holder>,
    /// The last messages, as the JSON text sent, oldest first.
    history: History,
}

/// A room's last messages, oldest first: `text[start..]` holds them one after the other,
/// `lengths` their lengths. A message forgotten only moves `start`; the bytes before it
/// are dropped (the rest moved to the front) once they are as many as the ones kept, so
/// that the buffer holds at most twice the bytes of the messages it keeps (and its
/// capacity, growing by doubling, at most twice that).
#[derive(Default)]
struct History {
    text: String,
    start: usize,
    lengths: VecDeque<u32>,
}

/// The first bytes a room's history takes, once something is said there: about a dozen
/// short messages before it grows (each growth copies it).
const FIRST_BYTES: usize = 1024;

impl History {
    /// The bytes of the messages kept.
    fn bytes(&self) -> usize {
        self.text.len() - self.start
    }

    /// Append a message, which `write` writes at the end of `text`; then forget the
    /// oldest ones past the bounds (never the newest).
    fn push_with(&mut self, write: impl FnOnce(&mut String)) {
        if self.lengths.capacity() == 0 {
            // Its whole room at once (200 bytes): it is never grown.
            self.lengths.reserve_exact(HISTORY + 1);
            self.text.reserve(FIRST_BYTES);
        }
        let end = self.text.len();
        write(&mut self.text);
        // (A message is far shorter than 4 GiB: MAX_MESSAGE, escaped.)
        let len = u32::try_from(self.text.len() - end).unwrap_or(u32::MAX);
        self.lengths.push_back(len);
        while self.lengths.len() > 1
            && (self.lengths.len() > HISTORY || self.bytes() > HISTORY_BYTES)
        {
            self.start += self.lengths.pop_front().map_or(0, |len| len as usize);
        }
        if self.start > 0 && self.start >= self.bytes() {
            self.text.drain(..self.start);
            self.start = 0;
        }
    }

    /// The messages, oldest first.
    fn iter(&self) -> impl Iterator<Item = &str> {
        let mut at = self.start;
        self.lengths.iter().map(move |&len| {
            let len = len as usize;
            at += len;
            &self.text[at - len..at]
        })
    }

    /// The newest message.
    fn latest(&self) -> Option<&str> {
        let len = *self.lengths.back()? as usize;
        Some(&self.text[self.text.len() - len..])
    }
}

/// Who has a name in a room: a connection key, and the session it gave if any.
pub type Holder = (usize, Option<Box<str>>);

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

    /// Who has `folded` (a folded name) in the room called `name`, if anyone.
    pub fn holder(&self, name: &str, folded: &str) -> Option<&Holder> {
        (self.by_name.get(name))
            .and_then(|&room| self.rooms.get(room as usize))
            .and_then(|room| room.names.get(folded))
    }

    /// Whether `folded` (a folded name) is taken in the room called `name`.
    pub fn is_taken(&self, name: &str, folded: &str) -> bool {
        self.holder(name, folded).is_some()
    }

    /// Seat `member`, whose folded name is `folded` (and session `session`), in the room
    /// called `name`, opening it if needed; `None` (and nothing changes) if the name is
    /// taken there.
    pub fn join(
        &mut self,
        name: &str,
        folded: &str,
        member: usize,
        session: Option<&str>,
    ) -> Option<Seat> {
        // (One look-up of the room, whether it is open or not.)
        let room = match self.by_name.get(name).copied() {
            Some(room) if self.room_mut(room).names.contains_key(folded) => return None,
            Some(room) => room,
            None => {
                let room = self.rooms.insert(Room {
                    name: name.into(),
                    members: Vec::new(),
                    names: HashMap::new(),
                    history: History::default(),
                });
                let room = u32::try_from(room).expect("fewer rooms than connections");
                self.by_name.insert(name.into(), room);
                room
            }
        };
        let entry = self.room_mut(room);
        (entry.names).insert(folded.into(), (member, session.map(Into::into)));
        entry.members.push(member);
        Some(Seat {
            room,
            index: u32::try_from(entry.members.len() - 1).expect("fewer members than connections"),
        })
    }

    /// Take the member at `seat`, whose folded name is `folded`, out of its room (closing
    /// the room if it was the last); its name is free there again. The last member of the
    /// list moves to the empty place: if there was one, returns it with its new seat,
    /// which the caller records.
    pub fn leave(&mut self, seat: Seat, folded: &str) -> Option<(usize, Seat)> {
        let room = self.room_mut(seat.room);
        let index = seat.index as usize;
        room.names.remove(folded);
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
            .flat_map(|room| room.history.iter())
    }

    /// Remember `message` (its JSON text) as the room's latest.
    pub fn record(&mut self, room: u32, message: &str) {
        self.record_with(room, |history| history.push_str(message));
    }

    /// Remember as the room's latest the message that `write` writes (its JSON text) at
    /// the end of the string it is given: it is written right into the room's history
    /// ([`latest`](Self::latest) then gives it).
    pub fn record_with(&mut self, room: u32, write: impl FnOnce(&mut String)) {
        self.room_mut(room).history.push_with(write);
    }

    /// The room's latest message, if it has any.
    pub fn latest(&self, room: u32) -> Option<&str> {
        self.rooms.get(room as usize)?.history.latest()
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
        all.extend(room.history.iter());
        let mut kept = History::default();
        for message in last_of(&all) {
            kept.push_with(|history| history.push_str(message));
        }
        room.history = kept;
    }

    /// How many rooms are open.
    pub fn len(&self) -> usize {
        self.rooms.len()
    }

    /// Every (room, folded name, session) here: the names this process holds in Redis
    /// (`--redis`, see `broker.rs`).
    pub fn names(&self) -> Vec<(&str, &str, Option<&str>)> {
        (self.by_name.iter())
            .filter_map(|(name, &room)| Some((name, self.rooms.get(room as usize)?)))
            .flat_map(|(name, room)| {
                (room.names.iter())
                    .map(move |(folded, (_, session))| (&**name, &**folded, session.as_deref()))
            })
            .collect()
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
        let a = rooms.join("lobby", "a", 10, None).unwrap();
        let b = rooms.join("lobby", "b", 11, None).unwrap();
        let c = rooms.join("lobby", "c", 12, None).unwrap();
        let other = rooms.join("other", "d", 13, None).unwrap();
        assert_ne!(a.room, other.room);
        assert_eq!(rooms.members(a.room), [10, 11, 12]);
        // 12 moves into 10's place.
        assert_eq!(rooms.leave(a, "a"), Some((12, a)));
        assert_eq!(rooms.members(a.room), [12, 11]);
        assert_eq!(rooms.leave(b, "b"), None);
        assert_eq!(rooms.leave(Seat { index: 0, ..c }, "c"), None);
        assert_eq!(rooms.len(), 1);
        assert_eq!(rooms.members(a.room), [] as [usize; 0]);
    }

    #[test]
    fn history_keeps_the_last_50_and_closes_with_the_room() {
        let mut rooms = Rooms::new();
        let seat = rooms.join("r", "n", 1, None).unwrap();
        for i in 0..60 {
            rooms.record(seat.room, &i.to_string());
        }
        let kept: Vec<&str> = rooms.history(seat.room).collect();
        assert_eq!(kept.len(), HISTORY);
        assert_eq!((kept[0], kept[49]), ("10", "59"));
        rooms.leave(seat, "n");
        let seat = rooms.join("r", "n", 1, None).unwrap();
        assert_eq!(rooms.history(seat.room).count(), 0);
    }

    #[test]
    fn seeding_puts_older_messages_first_within_the_bounds() {
        let mut rooms = Rooms::new();
        let seat = rooms.join("r", "n", 1, None).unwrap();
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
        rooms.leave(seat, "n");
        assert_eq!((rooms.find("r"), rooms.name(seat.room)), (None, None));
    }

    #[test]
    fn history_is_bounded_in_bytes_too() {
        let mut rooms = Rooms::new();
        let seat = rooms.join("r", "n", 1, None).unwrap();
        let big = "x".repeat(HISTORY_BYTES / 10);
        for _ in 0..20 {
            rooms.record(seat.room, &big);
        }
        let bytes: usize = rooms.history(seat.room).map(str::len).sum();
        assert!(bytes <= HISTORY_BYTES && rooms.history(seat.room).count() == 10);
    }

    /// The history's buffer: messages written in place, the oldest forgotten past the
    /// bounds, the buffer compacted as it goes, and never more than twice what it keeps.
    #[test]
    fn history_is_written_in_place_and_its_buffer_stays_bounded() {
        let mut rooms = Rooms::new();
        let seat = rooms.join("r", "n", 1, None).unwrap();
        assert_eq!(rooms.latest(seat.room), None);
        let mut said: Vec<String> = Vec::new();
        for i in 0..1000 {
            let message = format!("{i}:{}", "é".repeat(i % 37));
            rooms.record_with(seat.room, |history| history.push_str(&message));
            assert_eq!(rooms.latest(seat.room), Some(message.as_str()));
            said.push(message);
            let kept: Vec<&str> = rooms.history(seat.room).collect();
            let expected: Vec<&str> = said[said.len().saturating_sub(HISTORY)..]
                .iter()
                .map(String::as_str)
                .collect();
            assert_eq!(kept, expected);
            let history = &rooms.rooms.get(seat.room as usize).unwrap().history;
            assert!(history.text.len() <= 2 * history.bytes(), "at {i}");
        }
        // A message bigger than the byte bound is still the latest (and alone).
        let big = "x".repeat(HISTORY_BYTES + 1);
        rooms.record(seat.room, &big);
        assert_eq!(rooms.latest(seat.room), Some(big.as_str()));
        assert_eq!(rooms.history(seat.room).count(), 1);
        rooms.record(seat.room, "small");
        assert_eq!(rooms.history(seat.room).collect::<Vec<_>>(), ["small"]);
    }

    #[test]
    fn a_name_is_taken_in_its_room_until_its_member_leaves() {
        let mut rooms = Rooms::new();
        let ann = rooms.join("lobby", "ann", 1, None).unwrap();
        let bob = rooms.join("lobby", "bob", 2, None).unwrap();
        assert!(rooms.is_taken("lobby", "ann"));
        // A second ann is refused, and the room is as it was.
        assert_eq!(rooms.join("lobby", "ann", 3, None), None);
        assert_eq!(rooms.members(ann.room), [1, 2]);
        // The same name in another room is another member.
        let elsewhere = rooms.join("elsewhere", "ann", 4, None).unwrap();
        assert!(!rooms.is_taken("nowhere", "ann"));
        assert_eq!(rooms.holder("lobby", "ann"), Some(&(1, None)));
        let mut names = rooms.names();
        names.sort();
        assert_eq!(
            names,
            [
                ("elsewhere", "ann", None),
                ("lobby", "ann", None),
                ("lobby", "bob", None)
            ]
        );
        // Once ann leaves, her name is free in the lobby (bob moved into her seat).
        assert_eq!(rooms.leave(ann, "ann"), Some((2, ann)));
        assert!(!rooms.is_taken("lobby", "ann") && rooms.is_taken("lobby", "bob"));
        let again = rooms.join("lobby", "ann", 3, Some("s"));
        assert_eq!(again.map(|seat| seat.room), Some(bob.room));
        assert_eq!(rooms.holder("lobby", "ann"), Some(&(3, Some("s".into()))));
        assert_eq!(rooms.names().iter().filter(|n| n.2 == Some("s")).count(), 1);
        assert!(rooms.is_taken("elsewhere", "ann"));
        assert_eq!(rooms.leave(elsewhere, "ann"), None);
        assert!(!rooms.is_taken("elsewhere", "ann"));
    }
}
