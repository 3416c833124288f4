//! The bytes we owe the transport, in caller storage: what is staged (owed control frames,
//! small messages, the header of a large one), then, where a header promised it, the
//! caller's own payload, written from where it lies (vectored), never copied here.

/// Staged bytes `storage[start..end]`, then `payload` bytes of the caller's payload.
#[derive(Clone, Debug)]
pub(crate) struct Output<O> {
    storage: O,
    start: usize,
    end: usize,
    /// Bytes of the payload promised by the last staged header that are not written yet.
    payload: u64,
    /// Bytes of that payload already written: where the caller's next write starts.
    payload_written: u64,
    /// The key that payload is masked with on the wire (a client's, RFC 6455 §5.3).
    payload_mask: Option<[u8; 4]>,
    /// Payload bytes already masked in the free storage after the staged ones, so a write
    /// cut short does not mask them again: `masked_len` bytes from payload offset
    /// `masked_from`, at `storage[masked_at..]`.
    masked_from: u64,
    masked_len: usize,
    masked_at: usize,
}

/// What to write next, as [`Core::transmit`](super::Core::transmit) gives it: the
/// staged bytes, then bytes of the payload of a message sent with
/// [`Core::send_header`](super::Core::send_header), which the caller holds. Write
/// them with one vectored write ([`Core::write_parts`](super::Core::write_parts) gives
/// both, masked for the wire) and report how many went out with [`Core::wrote`](super::Core::wrote).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use = "write these bytes, then report them with `wrote`"]
pub struct Transmit<'a> {
    /// Staged bytes to write first.
    pub staged: &'a [u8],
    /// Where the payload to write after `staged` starts, in the payload of the message
    /// whose header was staged (0 until some of it was written).
    pub payload_offset: u64,
    /// How many payload bytes follow `staged` (0: none, write `staged` only).
    pub payload_len: u64,
    /// The key the payload goes out masked with (a client's, RFC 6455 §5.3), or `None`
    /// (a server's payload goes as it is).
    pub payload_mask: Option<[u8; 4]>,
}

impl Transmit<'_> {
    /// Whether there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.staged.is_empty() && self.payload_len == 0
    }

    /// All the bytes to write: staged and payload.
    pub fn len(&self) -> u64 {
        self.staged.len() as u64 + self.payload_len
    }

    /// The part of `payload` owed now, as it lies: `payload[payload_offset..]`, at most
    /// `payload_len` bytes (shorter, or empty, if `payload` is shorter than its header
    /// promised). For a payload the caller masked itself, or a server's.
    pub fn owed<'p>(&self, payload: &'p [u8]) -> &'p [u8] {
        let start = usize::try_from(self.payload_offset).unwrap_or(usize::MAX);
        let len = usize::try_from(self.payload_len).unwrap_or(usize::MAX);
        let rest = payload.get(start..).unwrap_or_default();
        &rest[..len.min(rest.len())]
    }
}

impl<O: AsRef<[u8]> + AsMut<[u8]>> Output<O> {
    pub(crate) fn new(storage: O) -> Self {
        Output {
            storage,
            start: 0,
            end: 0,
            payload: 0,
            payload_written: 0,
            payload_mask: None,
            masked_from: 0,
            masked_len: 0,
            masked_at: 0,
        }
    }

    /// Nothing staged and no payload owed.
    pub(crate) fn is_empty(&self) -> bool {
        self.start == self.end && self.payload == 0
    }

    /// Staged bytes plus owed payload.
    pub(crate) fn len(&self) -> u64 {
        (self.end - self.start) as u64 + self.payload
    }

    pub(crate) fn capacity(&self) -> usize {
        self.storage.as_ref().len()
    }

    /// Room to stage more bytes, after those staged (moved to the front first). Empty
    /// while a payload is owed: nothing may come between a header and its payload.
    pub(crate) fn space(&mut self) -> &mut [u8] {
        if self.payload != 0 {
            return &mut [];
        }
        if self.start > 0 {
            self.storage.as_mut().copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        &mut self.storage.as_mut()[self.end..]
    }

    /// `n` bytes were staged in [`space`](Self::space).
    pub(crate) fn staged(&mut self, n: usize) {
        self.end = (self.end + n).min(self.capacity());
    }

    /// The header just staged promises `len` payload bytes from the caller, masked on the
    /// wire with `mask`.
    pub(crate) fn payload_follows(&mut self, len: u64, mask: Option<[u8; 4]>) {
        self.payload = len;
        self.payload_written = 0;
        self.payload_mask = mask;
        self.masked_len = 0;
    }

    pub(crate) fn transmit(&self) -> Transmit<'_> {
        Transmit {
            staged: &self.storage.as_ref()[self.start..self.end],
            payload_offset: self.payload_written,
            payload_len: self.payload,
            payload_mask: self.payload_mask.filter(|_| self.payload > 0),
        }
    }

    /// The staged bytes, then the owed part of the plain `payload` as it goes on the
    /// wire: a server's borrowed from `payload`, a client's masked (RFC 6455 §5.3) into
    /// the free storage after the staged bytes, as much of it as fits there (nothing can
    /// be staged while a payload is owed, so that room is idle, and the staged bytes do
    /// not move: what was masked for a write cut short is used again).
    pub(crate) fn parts<'s>(&'s mut self, payload: &'s [u8]) -> [&'s [u8]; 2] {
        let owed = self.transmit().owed(payload);
        let Some(key) = self.transmit().payload_mask else {
            return [&self.storage.as_ref()[self.start..self.end], owed];
        };
        let at = self.payload_written;
        let masked = self.masked_from..self.masked_from + self.masked_len as u64;
        if !masked.contains(&at) {
            if self.start > 0 {
                self.storage.as_mut().copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            }
            let free = &mut self.storage.as_mut()[self.end..];
            let n = owed.len().min(free.len());
            // Masking from offset `at` is masking from 0 with the key turned by `at % 4`.
            let mut turned = key;
            turned.rotate_left((at % 4) as usize);
            crate::frame::copy_masked(&mut free[..n], &owed[..n], turned);
            (self.masked_from, self.masked_len, self.masked_at) = (at, n, self.end);
        }
        let skip = (at - self.masked_from) as usize;
        let storage = self.storage.as_ref();
        let ready = &storage[self.masked_at + skip..self.masked_at + self.masked_len];
        [
            &storage[self.start..self.end],
            &ready[..ready.len().min(owed.len())],
        ]
    }

    /// `n` bytes went out: staged ones first, then payload. Returns how many of them were
    /// payload (at most what is owed).
    pub(crate) fn wrote(&mut self, n: usize) -> u64 {
        let staged = n.min(self.end - self.start);
        self.start += staged;
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
        let payload = ((n - staged) as u64).min(self.payload);
        self.payload -= payload;
        self.payload_written += payload;
        payload
    }

    pub(crate) fn into_inner(self) -> O {
        self.storage
    }

    /// Keep the staged bytes in `storage` instead (moved to its front), and give the old
    /// storage back. Refused, `storage` given back, while a payload is owed (its header's
    /// place must not move under a partial write's count), or if `storage` is shorter
    /// than `minimum` or than the staged bytes.
    pub(crate) fn replace_storage(&mut self, mut storage: O, minimum: usize) -> Result<O, O> {
        let staged = self.end - self.start;
        if self.payload != 0 || storage.as_ref().len() < minimum.max(staged) {
            return Err(storage);
        }
        storage.as_mut()[..staged].copy_from_slice(&self.storage.as_ref()[self.start..self.end]);
        self.start = 0;
        self.end = staged;
        Ok(core::mem::replace(&mut self.storage, storage))
    }

    /// Forget everything owed: the transport will not take it.
    pub(crate) fn clear(&mut self) {
        self.start = 0;
        self.end = 0;
        self.payload = 0;
        self.payload_written = 0;
        self.masked_len = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn staged_bytes_then_payload_are_written_in_order_across_partial_writes() {
        let mut output = Output::new([0u8; 16]);
        assert!(output.is_empty());
        output.space()[..3].copy_from_slice(b"abc");
        output.staged(3);
        output.payload_follows(5, None);
        assert!(
            output.space().is_empty(),
            "nothing between a header and its payload"
        );
        let t = output.transmit();
        assert_eq!(
            (t.staged, t.payload_offset, t.payload_len),
            (&b"abc"[..], 0, 5)
        );
        assert_eq!(output.wrote(2), 0);
        assert_eq!(output.wrote(3), 2);
        let t = output.transmit();
        assert_eq!(
            (t.staged, t.payload_offset, t.payload_len),
            (&b""[..], 2, 3)
        );
        assert_eq!(output.wrote(10), 3);
        assert!(output.is_empty());
        assert_eq!(output.space().len(), 16);
    }

    #[test]
    fn a_masked_payload_goes_out_masked_at_its_offset_through_writes_cut_anywhere() {
        let payload: std::vec::Vec<u8> = (0..200u8).collect();
        let key = [1, 2, 3, 4];
        let mut expected = payload.clone();
        crate::frame::apply_mask(&mut expected, key, 0);
        for cut in [1, 3, 7, 50, 1000] {
            let mut output = Output::new([0u8; 24]);
            output.space()[..2].copy_from_slice(b"hd");
            output.staged(2);
            output.payload_follows(200, Some(key));
            let mut wire = std::vec::Vec::new();
            while !output.is_empty() {
                let [staged, owed] = output.parts(&payload);
                assert!(!(staged.is_empty() && owed.is_empty()), "cut {cut}: stuck");
                let both: std::vec::Vec<u8> = staged.iter().chain(owed).copied().collect();
                let n = both.len().min(cut);
                wire.extend_from_slice(&both[..n]);
                output.wrote(n);
            }
            assert_eq!(&wire[..2], b"hd", "cut {cut}");
            assert_eq!(wire[2..], expected[..], "cut {cut}");
        }
    }

    #[test]
    fn an_unmasked_payload_is_borrowed_as_it_lies() {
        let mut output = Output::new([0u8; 8]);
        output.payload_follows(5, None);
        output.wrote(2);
        let [staged, owed] = output.parts(b"abcdef");
        assert_eq!((staged, owed), (&b""[..], &b"cde"[..]));
        assert_eq!(
            output.transmit().owed(b"ab"),
            b"",
            "a payload shorter than promised"
        );
    }

    #[test]
    fn replaced_storage_keeps_the_staged_bytes_and_is_refused_while_a_payload_is_owed() {
        let mut output = Output::new(std::vec![0u8; 8]);
        output.space()[..5].copy_from_slice(b"abcde");
        output.staged(5);
        output.wrote(2);
        let short = std::vec![0u8; 2];
        assert_eq!(
            output.replace_storage(short.clone(), 2),
            Err(short),
            "cde does not fit"
        );
        let old = output.replace_storage(std::vec![0u8; 4], 4).expect("fits");
        assert_eq!(&old[..5], b"abcde");
        assert_eq!(output.transmit().staged, b"cde");
        assert_eq!(output.space().len(), 1);
        output.payload_follows(3, None);
        assert!(output.replace_storage(std::vec![0u8; 8], 4).is_err());
    }

    #[test]
    fn space_moves_the_unwritten_tail_to_the_front() {
        let mut output = Output::new([0u8; 8]);
        output.space()[..6].copy_from_slice(b"abcdef");
        output.staged(6);
        output.wrote(4);
        assert_eq!(output.space().len(), 6);
        assert_eq!(output.transmit().staged, b"ef");
        assert_eq!(output.len(), 2);
    }
}
