//! Memory use measured on the target: flash and static RAM from the section symbols of
//! cortex-m-rt's linker script, and stack use by painting: the free stack is filled with a
//! pattern, the code runs, and the lowest address whose pattern was overwritten is the
//! deepest the stack went.
//!
//! The only `unsafe` of the firmware is here (the sockless crate itself forbids it): the
//! addresses of linker symbols, and reads and writes of stack memory below the stack
//! pointer, which nothing else uses (no interrupt is enabled in this firmware).

use core::ptr::{addr_of, read_volatile, write_volatile};
use core::sync::atomic::{AtomicUsize, Ordering};

const PAINT: u32 = 0x5A5A_A5A5;

unsafe extern "C" {
    // The section bounds cortex-m-rt's link.x defines (only their addresses are used).
    static __stext: u8;
    static __etext: u8;
    static __srodata: u8;
    static __erodata: u8;
    static __sdata: u8;
    static __edata: u8;
    static __sidata: u8;
    static __sbss: u8;
    static __ebss: u8;
    static _stack_end: u8;
    static _stack_start: u8;
}

/// The address of a linker symbol.
macro_rules! at {
    ($symbol:ident) => {
        // Only the address is taken (safe since Rust 2024's `&raw`): never read.
        addr_of!($symbol) as usize
    };
}

/// What the image takes, from the linker's section bounds.
pub struct Sections {
    /// Code (`.text`).
    pub text: usize,
    /// Constants (`.rodata`).
    pub rodata: usize,
    /// Initialised statics (`.data`): in flash (their initial values) and in RAM.
    pub data: usize,
    /// Zeroed statics (`.bss`).
    pub bss: usize,
    /// Flash used: the vector table, `.text`, `.rodata` and `.data`'s initial values.
    pub flash: usize,
    /// The stack: everything between the statics and the top of RAM.
    pub stack: usize,
}

/// The sizes of the image's sections, as linked.
pub fn sections() -> Sections {
    let data = at!(__edata) - at!(__sdata);
    Sections {
        text: at!(__etext) - at!(__stext),
        rodata: at!(__erodata) - at!(__srodata),
        data,
        bss: at!(__ebss) - at!(__sbss),
        // Flash starts at address 0 on this chip (memory.x); `.data`'s initial values
        // come last.
        flash: at!(__sidata) + data,
        stack: at!(_stack_start) - at!(_stack_end),
    }
}

/// The current stack pointer.
#[inline(always)]
fn stack_pointer() -> usize {
    cortex_m::register::msp::read() as usize
}

/// How deep the stack is where this is called, in bytes below its top.
#[inline(always)]
pub fn stack_depth() -> usize {
    at!(_stack_start) - stack_pointer()
}

/// Fill the free stack below the caller with the pattern, leaving the 64 bytes just
/// below the stack pointer alone.
#[inline(never)]
pub fn paint_free_stack() {
    const MARGIN: usize = 64;
    let top = (stack_pointer() - MARGIN) & !3;
    let mut at = (at!(_stack_end) + 3) & !3;
    while at < top {
        // SAFETY: between the end of the statics and (below) the stack pointer: memory no
        // live value uses, word-aligned.
        unsafe { write_volatile(at as *mut u32, PAINT) };
        at += 4;
    }
}

/// The deepest the stack went since [`paint_free_stack`], in bytes below the top of the
/// stack (the initial stack pointer): the stack high-water mark.
pub fn stack_high_water() -> usize {
    let top = at!(_stack_start);
    let lowest = first_used((at!(_stack_end) + 3) & !3, top);
    top - lowest.min(LOWEST.load(Ordering::Relaxed))
}

/// What a measured call belongs to.
#[derive(Clone, Copy)]
pub enum Phase {
    /// A call made while the opening handshake runs (the HTTP head parsed or written).
    Handshake = 0,
    /// A call made on the open connection (frames, messages, the closing handshake).
    Open = 1,
}

/// The deepest stack use seen by [`measured`] per [`Phase`], in bytes below its caller.
static DEEPEST_CALL: [AtomicUsize; 2] = [AtomicUsize::new(0), AtomicUsize::new(0)];

/// The lowest address written to in a window [`measured`] painted again, so that
/// [`stack_high_water`] still sees it.
static LOWEST: AtomicUsize = AtomicUsize::new(usize::MAX);

/// How far below the caller [`measured`] looks: more than any call it wraps may use (it
/// reports a use that reaches the end of the window as the whole window).
const WINDOW: usize = 4096;

/// The first word from `bottom` up to `top` that is not the pattern (`top` if none).
fn first_used(bottom: usize, top: usize) -> usize {
    let mut at = bottom;
    // SAFETY: word-aligned reads of free stack below the caller (callers keep to it).
    while at < top && unsafe { read_volatile(at as *const u32) } == PAINT {
        at += 4;
    }
    at
}

/// Run `f` and record how deep below this call its stack went, under `phase`: the window
/// under the stack pointer is painted first (after what earlier code left there was
/// folded into the high-water mark), then scanned. The work of `f` runs in a frame of
/// its own, below this function's, so that none of it hides in a frame allocated before
/// the stack pointer was read.
#[inline(never)]
pub fn measured<R>(phase: Phase, f: impl FnOnce() -> R) -> R {
    let base = stack_pointer() & !3;
    // Never below the statics, however deep the caller is.
    let bottom = (base - WINDOW).max((at!(_stack_end) + 3) & !3);
    LOWEST.fetch_min(first_used(bottom, base), Ordering::Relaxed);
    let mut at = bottom;
    while at < base {
        // SAFETY: the window below the stack pointer: free stack, word-aligned, above the
        // statics.
        unsafe { write_volatile(at as *mut u32, PAINT) };
        at += 4;
    }
    let result = call(f);
    DEEPEST_CALL[phase as usize].fetch_max(base - first_used(bottom, base), Ordering::Relaxed);
    result
}

#[inline(never)]
fn call<R>(f: impl FnOnce() -> R) -> R {
    f()
}

/// The deepest any [`measured`] call of `phase` went, in bytes below its caller.
pub fn deepest_call(phase: Phase) -> usize {
    DEEPEST_CALL[phase as usize].load(Ordering::Relaxed)
}
