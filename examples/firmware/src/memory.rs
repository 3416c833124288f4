//! Memory use measured on the target: flash and static RAM from the section symbols of
//! cortex-m-rt's linker script, and stack use by painting: the free stack is filled with a
//! pattern, the code runs, and the lowest address whose pattern was overwritten is the
//! deepest the stack went.
//!
//! The only `unsafe` of the firmware is here (the sockless crate itself forbids it): the
//! addresses of linker symbols, and reads and writes of stack memory below the stack
//! pointer, which nothing else uses (no interrupt is enabled in this firmware).

use core::ptr::{addr_of, read_volatile, write_volatile};

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

/// Fill the free stack below the caller with the pattern, keeping `margin` bytes below
/// the stack pointer for this function's own use.
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
    let mut at = (at!(_stack_end) + 3) & !3;
    let top = at!(_stack_start);
    // SAFETY: word-aligned reads of the free stack, below every live frame (the first
    // word that is not the pattern is at or above the deepest point the stack reached).
    while at < top && unsafe { read_volatile(at as *const u32) } == PAINT {
        at += 4;
    }
    top - at
}
