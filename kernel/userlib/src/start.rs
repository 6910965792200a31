//! What a program receives at start from whoever built it (the root task or the process
//! manager): its name, arguments and environment, where its IPC buffer and heap are. One
//! read-only page at [`START_INFO_ADDRESS`], whose address arrives in `a0`.
//!
//! Layout: a header of words, then `data`: the name, then each argument, then each
//! `KEY=value` environment entry, then the name of each service it was given an endpoint
//! to, every string followed by a NUL byte. Service `i` is the capability in slot
//! [`FIRST_SERVICE_SLOT`]` + i`, so a program asks for `"donor"` ([`service`]), never for a
//! slot number.

use core::sync::atomic::{AtomicU64, Ordering};

/// Where the start info page is mapped in every program the process builder makes.
pub const START_INFO_ADDRESS: usize = 0x3f_fff0_0000;
/// Where the process builder maps a program's IPC buffer.
pub const IPC_BUFFER_ADDRESS: usize = 0x3f_fff0_1000;
/// Where the process builder maps a program's heap.
pub const HEAP_ADDRESS: usize = 0x10_0000_0000;
/// The slot of the first service capability a program starts with (the names are in the
/// start info, [`StartInfo::services`]).
pub const FIRST_SERVICE_SLOT: usize = 16;
/// Most services a program starts with (the slots up to the builder's first free one).
pub const MAX_SERVICES: usize = 16;
/// The first word of a valid start info page.
pub const START_INFO_MAGIC: usize = 0x5354_4152_5431_0001;
/// The start info page of this program, if it was made by the process builder (not for the
/// root task, whose page at the same address is the kernel's boot info).
pub fn info() -> Option<&'static StartInfo> {
    // SAFETY: every program has a page mapped read-only at START_INFO_ADDRESS (the kernel's
    // boot info for the root task, the process builder's start info for the others, and
    // boot programs other than the root task never call this: `begin` checks the address
    // the builder passed in a0 first). The magic word tells which it is.
    let info = unsafe { &*(START_INFO_ADDRESS as *const StartInfo) };
    (info.magic == START_INFO_MAGIC).then_some(info)
}

/// Called by the entry point with the `a0` the program started with: when it is the start
/// info page, registers the IPC buffer and makes the heap region the heap.
pub fn begin(a0: usize) {
    STARTED_AT.store(crate::syscall::instructions_retired(), Ordering::Relaxed);
    if a0 != START_INFO_ADDRESS {
        return;
    }
    let Some(info) = info() else { return };
    crate::time::set_timebase_hz(info.timebase_hz as u64);
    let buffer_end = info.ipc_buffer.saturating_add(kernel_abi::ipc_buffer::IPC_BUFFER_SIZE);
    if info.ipc_buffer != 0 && !crate::memory::overlaps_program(info.ipc_buffer, buffer_end) {
        // SAFETY: the process builder configured this thread with its IPC buffer frame
        // mapped read-write at the address it wrote here (`loader::build`), a page of its
        // own outside the image and stack (checked) and the heap (set up below, elsewhere).
        unsafe { crate::ipc::set_ipc_buffer(info.ipc_buffer) };
    }
    if info.heap_size != 0 {
        // The builder mapped the region read-write for this program alone. If it is refused
        // the program runs without a heap: its first allocation says so, and panics.
        let _ = crate::heap::init(info.heap_address, info.heap_size);
    }
}

/// The hart's instruction count when the program's first Rust code ran (see [`started_at`]).
static STARTED_AT: AtomicU64 = AtomicU64::new(0);

/// The instruction count (`rdinstret`, exact under QEMU `-icount`) when this program's
/// first Rust code ran, a few instructions after its entry point; 0 before. The `spawn`
/// benchmark measures from a `Spawn` request to this moment.
pub fn started_at() -> u64 {
    STARTED_AT.load(Ordering::Relaxed)
}

/// Bytes of strings the page holds.
pub const DATA_SIZE: usize = 4096 - 8 * HEADER_WORDS;
const HEADER_WORDS: usize = 9;

/// The name, arguments or environment do not fit in the page, contain a NUL byte, or an
/// environment key is empty or contains `=`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BadStrings;

/// The start info page.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct StartInfo {
    /// [`START_INFO_MAGIC`].
    pub magic: usize,
    /// Address of the thread's IPC buffer (0: none).
    pub ipc_buffer: usize,
    /// Address of the heap region (0: none).
    pub heap_address: usize,
    /// Bytes of the heap region.
    pub heap_size: usize,
    /// Number of arguments (after the name).
    pub argument_count: usize,
    /// Number of environment entries.
    pub environment_count: usize,
    /// Bytes of `data` in use.
    pub data_length: usize,
    /// Number of service names (after the environment).
    pub service_count: usize,
    /// `rdtime` units per second (0: not told), for `crate::time`.
    pub timebase_hz: usize,
    /// The strings.
    pub data: [u8; DATA_SIZE],
}

const _: () = assert!(core::mem::size_of::<StartInfo>() == 4096);

impl StartInfo {
    /// An empty page with `ipc_buffer` and heap set.
    pub const fn new(ipc_buffer: usize, heap_address: usize, heap_size: usize) -> Self {
        Self {
            magic: START_INFO_MAGIC,
            ipc_buffer,
            heap_address,
            heap_size,
            argument_count: 0,
            environment_count: 0,
            data_length: 0,
            service_count: 0,
            timebase_hz: 0,
            data: [0; DATA_SIZE],
        }
    }

    fn push(&mut self, text: &str) -> Result<(), BadStrings> {
        let bytes = text.as_bytes();
        if bytes.contains(&0) || self.data_length + bytes.len() + 1 > DATA_SIZE {
            return Err(BadStrings);
        }
        self.data[self.data_length..self.data_length + bytes.len()].copy_from_slice(bytes);
        self.data_length += bytes.len() + 1;
        Ok(())
    }

    /// Writes the name, arguments and environment. Fails (writing nothing usable) if they do
    /// not fit in the page or contain NUL bytes.
    pub fn set_strings<'a>(
        &mut self,
        name: &str,
        arguments: impl IntoIterator<Item = &'a str>,
        environment: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<(), BadStrings> {
        self.data_length = 0;
        self.push(name)?;
        self.argument_count = 0;
        for argument in arguments {
            self.push(argument)?;
            self.argument_count += 1;
        }
        self.environment_count = 0;
        for (key, value) in environment {
            if key.contains('=') || key.is_empty() {
                return Err(BadStrings);
            }
            let start = self.data_length;
            self.push(key)?;
            // Replace the NUL after the key with '=' and append the value.
            self.data_length -= 1;
            self.data[self.data_length] = b'=';
            self.data_length += 1;
            self.push(value).inspect_err(|_| self.data_length = start)?;
            self.environment_count += 1;
        }
        self.service_count = 0;
        Ok(())
    }

    /// Writes the names of the services the program starts with, in slot order from
    /// [`FIRST_SERVICE_SLOT`] (after [`StartInfo::set_strings`], which clears them). Fails if
    /// they do not fit, contain NUL bytes or are more than [`MAX_SERVICES`].
    pub fn set_services<'a>(
        &mut self,
        services: impl IntoIterator<Item = &'a str>,
    ) -> Result<(), BadStrings> {
        for service in services {
            if self.service_count == MAX_SERVICES {
                return Err(BadStrings);
            }
            self.push(service)?;
            self.service_count += 1;
        }
        Ok(())
    }

    /// The page as words, for copying into a frame.
    pub fn words(&self) -> impl Iterator<Item = usize> + '_ {
        let header = [
            self.magic,
            self.ipc_buffer,
            self.heap_address,
            self.heap_size,
            self.argument_count,
            self.environment_count,
            self.data_length,
            self.service_count,
            self.timebase_hz,
        ];
        header.into_iter().chain(self.data.chunks_exact(8).map(|chunk| {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            usize::from_le_bytes(word)
        }))
    }

    fn strings(&self) -> impl Iterator<Item = &str> {
        let used = &self.data[..self.data_length.min(DATA_SIZE)];
        used.split(|&byte| byte == 0).map(|bytes| core::str::from_utf8(bytes).unwrap_or(""))
    }

    /// The program's name.
    pub fn name(&self) -> &str {
        self.strings().next().unwrap_or("")
    }

    /// The arguments (without the name).
    pub fn arguments(&self) -> impl Iterator<Item = &str> {
        self.strings().skip(1).take(self.argument_count)
    }

    /// The environment, as `(key, value)`.
    pub fn environment(&self) -> impl Iterator<Item = (&str, &str)> {
        self.strings()
            .skip(1 + self.argument_count)
            .take(self.environment_count)
            .filter_map(|entry| entry.split_once('='))
    }

    /// The names of the services the program starts with, in slot order.
    pub fn services(&self) -> impl Iterator<Item = &str> {
        self.strings().skip(1 + self.argument_count + self.environment_count).take(self.service_count)
    }

    /// The slot of the capability to `name`, if the program was given one.
    pub fn service_slot(&self, name: &str) -> Option<usize> {
        self.services().position(|service| service == name).map(|index| FIRST_SERVICE_SLOT + index)
    }
}

/// The slot of this program's capability to service `name` (`"security"`, `"donor"`), from
/// its start info: `None` if it was given none (or has no start info: the root task).
pub fn service(name: &str) -> Option<usize> {
    info()?.service_slot(name)
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::string::String;

    #[test]
    fn strings_round_trip() {
        let mut info = StartInfo::new(1, 2, 3);
        info.set_strings("hello", ["a", "b c"], [("HOME", "/home"), ("X", "")]).unwrap();
        assert_eq!(info.name(), "hello");
        assert!(info.arguments().eq(["a", "b c"]));
        assert!(info.environment().eq([("HOME", "/home"), ("X", "")]));
        assert_eq!(info.words().count(), 512);
        assert_eq!(info.services().count(), 0);
    }

    #[test]
    fn services_are_found_by_name_in_slot_order() {
        let mut info = StartInfo::new(1, 2, 3);
        info.set_strings("console", ["--trace", "debug"], [("K", "v")]).unwrap();
        info.set_services(["security", "donor"]).unwrap();
        assert!(info.services().eq(["security", "donor"]));
        assert_eq!(info.service_slot("security"), Some(FIRST_SERVICE_SLOT));
        assert_eq!(info.service_slot("donor"), Some(FIRST_SERVICE_SLOT + 1));
        assert_eq!(info.service_slot("fs"), None);
        // The other strings are untouched.
        assert!(info.arguments().eq(["--trace", "debug"]));
        assert!(info.environment().eq([("K", "v")]));
        // Writing the strings again clears the services.
        info.set_strings("x", [], []).unwrap();
        assert_eq!(info.service_slot("security"), None);
        let many = ["s"; MAX_SERVICES + 1];
        assert!(info.set_services(many).is_err());
    }

    #[test]
    fn refuses_what_does_not_fit_or_has_nul() {
        let mut info = StartInfo::new(0, 0, 0);
        assert!(info.set_strings("x", ["a\0b"], []).is_err());
        let long: String = "y".repeat(DATA_SIZE);
        assert!(info.set_strings("x", [long.as_str()], []).is_err());
        assert!(info.set_strings("x", [], [("K=V", "1")]).is_err());
    }
}
