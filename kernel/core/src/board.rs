//! What the kernel needs to know about the machine, read from the flattened device tree.
//!
//! The kernel never hard-codes a board: memory, harts, the timer frequency and every device
//! it reports come from here. Parsing is done once at boot into fixed-capacity tables; a
//! device tree the kernel cannot use gives a [`BoardError`] that names what is missing.

use arrayvec::ArrayVec;
use flat_device_tree::Fdt;
use flat_device_tree::node::FdtNode;

/// Most RAM banks the kernel tracks.
pub const MAX_MEMORY_REGIONS: usize = 8;
/// Most reserved ranges (firmware, reservation block) the kernel tracks.
pub const MAX_RESERVED_REGIONS: usize = 16;
/// Most harts the kernel records.
pub const MAX_HARTS: usize = 16;
/// Most virtio-mmio transports the kernel records.
pub const MAX_VIRTIO_DEVICES: usize = 16;

/// A physical address range `[start, start + size)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Region {
    /// First byte.
    pub start: usize,
    /// Length in bytes.
    pub size: usize,
}

impl Region {
    /// One past the last byte, saturating at the top of the address space.
    pub const fn end(&self) -> usize {
        self.start.saturating_add(self.size)
    }

    /// Whether the two ranges share at least one byte.
    pub const fn overlaps(&self, other: &Region) -> bool {
        self.start < other.end() && other.start < self.end()
    }
}

/// A 16550-compatible UART.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Uart {
    /// Registers.
    pub registers: Region,
    /// Registers are `1 << reg_shift` bytes apart.
    pub reg_shift: u32,
    /// PLIC source number, if the device tree gives one.
    pub interrupt: Option<u32>,
}

/// The platform-level interrupt controller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Plic {
    /// Registers.
    pub registers: Region,
    /// Number of interrupt sources (`riscv,ndev`).
    pub sources: u32,
}

/// A virtio device behind the MMIO transport.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VirtioMmio {
    /// Registers.
    pub registers: Region,
    /// PLIC source number.
    pub interrupt: Option<u32>,
}

/// Everything the kernel reads from the device tree.
#[derive(Clone, Debug)]
pub struct BoardInfo<'a> {
    /// The root node's `model`, e.g. `riscv-virtio,qemu`.
    pub model: &'a str,
    /// RAM banks, in device tree order.
    pub memory: ArrayVec<Region, MAX_MEMORY_REGIONS>,
    /// Ranges the kernel must not hand out: the reservation block and `/reserved-memory`.
    pub reserved: ArrayVec<Region, MAX_RESERVED_REGIONS>,
    /// Hart ids of the enabled harts.
    pub harts: ArrayVec<usize, MAX_HARTS>,
    /// Harts listed beyond [`MAX_HARTS`] (reported, not used).
    pub harts_ignored: usize,
    /// Frequency of the `time` CSR, in Hz.
    pub timebase_hz: u64,
    /// The console UART, if it is one the kernel can drive.
    pub uart: Option<Uart>,
    /// The interrupt controller.
    pub plic: Option<Plic>,
    /// virtio-mmio transports, in device tree order.
    pub virtio: ArrayVec<VirtioMmio, MAX_VIRTIO_DEVICES>,
    /// The SiFive test device, through which the kernel can power off with an exit status.
    pub exit_device: Option<Region>,
    /// The kernel command line (`/chosen/bootargs`), empty if absent.
    pub bootargs: &'a str,
}

/// Why the device tree could not be used.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum BoardError {
    /// The blob itself is malformed.
    Malformed(flat_device_tree::Error),
    /// No `/memory` node with a usable `reg`.
    NoMemory,
    /// No `timebase-frequency` in `/cpus` or the first cpu.
    NoTimebase,
    /// No enabled hart.
    NoHarts,
    /// More entries of a kind than the kernel has room for.
    TooMany(&'static str),
}

impl core::fmt::Display for BoardError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Malformed(error) => write!(f, "malformed device tree: {error}"),
            Self::NoMemory => write!(f, "device tree has no usable /memory node"),
            Self::NoTimebase => write!(f, "device tree has no timebase-frequency"),
            Self::NoHarts => write!(f, "device tree lists no enabled hart"),
            Self::TooMany(what) => write!(f, "device tree lists more {what} than the kernel supports"),
        }
    }
}

/// Nesting the parser crate can follow (it keeps a fixed stack of 64 parents).
const MAX_DEPTH: usize = 63;

fn be32(bytes: &[u8], at: usize) -> Option<usize> {
    let field = bytes.get(at..at.checked_add(4)?)?;
    Some(u32::from_be_bytes(field.try_into().ok()?) as usize)
}

/// Walks the whole blob once and rejects anything the parser crate would trip over: fields
/// outside the blob, unbalanced or too deep nesting, unterminated names, property names
/// outside the strings block. `flat_device_tree` trusts its input in places (it panics on an
/// unbalanced `END_NODE`), and a device tree can come from any bootloader.
fn check_structure(dtb: &[u8]) -> Result<(), BoardError> {
    use flat_device_tree::Error as FdtError;
    let malformed = BoardError::Malformed(FdtError::BufferTooSmall);
    if be32(dtb, 0) != Some(0xd00d_feed) {
        return Err(BoardError::Malformed(FdtError::BadMagic));
    }
    let total = be32(dtb, 4).ok_or(malformed)?;
    let dtb = dtb.get(..total).ok_or(malformed)?;
    let struct_offset = be32(dtb, 8).ok_or(malformed)?;
    let strings_offset = be32(dtb, 12).ok_or(malformed)?;
    let reservations_offset = be32(dtb, 16).ok_or(malformed)?;
    let strings_size = be32(dtb, 32).ok_or(malformed)?;
    let struct_size = be32(dtb, 36).ok_or(malformed)?;
    let structure =
        dtb.get(struct_offset..struct_offset.checked_add(struct_size).ok_or(malformed)?).ok_or(malformed)?;
    let strings = dtb
        .get(strings_offset..strings_offset.checked_add(strings_size).ok_or(malformed)?)
        .ok_or(malformed)?;
    // The reservation block: (address, size) pairs of u64 ending with a zero pair.
    let mut at = reservations_offset;
    loop {
        let pair = dtb.get(at..at.checked_add(16).ok_or(malformed)?).ok_or(malformed)?;
        if pair.iter().all(|&b| b == 0) {
            break;
        }
        at += 16;
    }
    let bad_structure = BoardError::Malformed(FdtError::BadPropTag((0, 0)));
    let mut at = 0;
    let mut depth = 0usize;
    loop {
        let token = be32(structure, at).ok_or(bad_structure)?;
        at += 4;
        match token {
            1 => {
                let name = structure.get(at..).ok_or(bad_structure)?;
                let length = name.iter().position(|&b| b == 0).ok_or(bad_structure)?;
                at = (at + length + 1).next_multiple_of(4);
                depth += 1;
                if depth > MAX_DEPTH {
                    return Err(bad_structure);
                }
            }
            2 => depth = depth.checked_sub(1).ok_or(bad_structure)?,
            3 => {
                if depth == 0 {
                    return Err(bad_structure);
                }
                let length = be32(structure, at).ok_or(bad_structure)?;
                let name_offset = be32(structure, at + 4).ok_or(bad_structure)?;
                let name = strings.get(name_offset..).ok_or(bad_structure)?;
                if !name.contains(&0) {
                    return Err(bad_structure);
                }
                at = at.checked_add(8 + length).ok_or(bad_structure)?.next_multiple_of(4);
                if at > structure.len() {
                    return Err(bad_structure);
                }
            }
            4 => {}
            9 if depth == 0 => return Ok(()),
            _ => return Err(bad_structure),
        }
    }
}

fn is_compatible(node: FdtNode<'_, '_>, names: &[&str]) -> bool {
    node.compatible().is_some_and(|c| c.all().any(|have| names.contains(&have)))
}

fn first_region(node: FdtNode<'_, '_>) -> Option<Region> {
    let reg = node.reg().next()?;
    Some(Region { start: reg.starting_address as usize, size: reg.size? })
}

fn enabled(node: FdtNode<'_, '_>) -> bool {
    node.property("status").and_then(|p| p.as_str()).is_none_or(|s| s == "okay" || s == "ok")
}

fn first_interrupt(node: FdtNode<'_, '_>) -> Option<u32> {
    node.interrupts().next().and_then(|irq| u32::try_from(irq).ok())
}

impl<'a> BoardInfo<'a> {
    /// Reads the device tree blob `dtb`.
    pub fn parse(dtb: &'a [u8]) -> Result<Self, BoardError> {
        check_structure(dtb)?;
        let fdt = Fdt::new(dtb).map_err(BoardError::Malformed)?;
        let model = fdt.root().map(|root| root.model()).unwrap_or("unknown");

        let mut memory = ArrayVec::new();
        for node in fdt
            .all_nodes()
            .filter(|n| n.property("device_type").and_then(|p| p.as_str()) == Some("memory") && enabled(*n))
        {
            for reg in node.reg() {
                let Some(size) = reg.size.filter(|&s| s > 0) else { continue };
                memory
                    .try_push(Region { start: reg.starting_address as usize, size })
                    .map_err(|_| BoardError::TooMany("memory regions"))?;
            }
        }
        if memory.is_empty() {
            return Err(BoardError::NoMemory);
        }

        let mut reserved = ArrayVec::new();
        for reservation in fdt.memory_reservations() {
            reserved
                .try_push(Region { start: reservation.address() as usize, size: reservation.size() })
                .map_err(|_| BoardError::TooMany("reserved regions"))?;
        }
        if let Some(node) = fdt.find_node("/reserved-memory") {
            for child in node.children() {
                for reg in child.reg() {
                    let Some(size) = reg.size else { continue };
                    reserved
                        .try_push(Region { start: reg.starting_address as usize, size })
                        .map_err(|_| BoardError::TooMany("reserved regions"))?;
                }
            }
        }

        let mut harts = ArrayVec::new();
        let mut harts_ignored = 0;
        let mut timebase_hz = None;
        for cpu in fdt.cpus() {
            let node_enabled = cpu.property("status").and_then(|p| p.as_str()).is_none_or(|s| s == "okay");
            if !node_enabled {
                continue;
            }
            if timebase_hz.is_none() {
                timebase_hz = cpu.timebase_frequency().ok();
            }
            let Ok(ids) = cpu.ids() else { continue };
            for id in ids.all() {
                if harts.try_push(id).is_err() {
                    harts_ignored += 1;
                }
            }
        }
        if harts.is_empty() {
            return Err(BoardError::NoHarts);
        }
        let timebase_hz = timebase_hz.filter(|&hz| hz > 0).ok_or(BoardError::NoTimebase)? as u64;

        // The console is the chosen stdout if it is a 16550; otherwise the first 16550.
        const UART_COMPATIBLE: &[&str] = &["ns16550a", "ns16550", "snps,dw-apb-uart"];
        let stdout = fdt.chosen().ok().and_then(|c| c.stdout()).map(|s| s.node());
        let uart_node = stdout
            .filter(|n| is_compatible(*n, UART_COMPATIBLE))
            .or_else(|| fdt.find_compatible(UART_COMPATIBLE));
        let uart = uart_node.and_then(|node| {
            Some(Uart {
                registers: first_region(node)?,
                reg_shift: node
                    .property("reg-shift")
                    .and_then(|p| p.as_usize())
                    .and_then(|v| u32::try_from(v).ok())
                    .unwrap_or(0),
                interrupt: first_interrupt(node),
            })
        });

        let plic = fdt.find_compatible(&["riscv,plic0", "sifive,plic-1.0.0"]).and_then(|node| {
            Some(Plic {
                registers: first_region(node)?,
                sources: node
                    .property("riscv,ndev")
                    .and_then(|p| p.as_usize())
                    .and_then(|v| u32::try_from(v).ok())
                    .unwrap_or(0),
            })
        });

        let mut virtio = ArrayVec::new();
        for node in fdt.all_nodes().filter(|n| is_compatible(*n, &["virtio,mmio"]) && enabled(*n)) {
            let Some(registers) = first_region(node) else { continue };
            virtio
                .try_push(VirtioMmio { registers, interrupt: first_interrupt(node) })
                .map_err(|_| BoardError::TooMany("virtio-mmio devices"))?;
        }
        virtio.sort_unstable_by_key(|device| device.registers.start);

        let exit_device = fdt.find_compatible(&["sifive,test0", "sifive,test1"]).and_then(first_region);
        let bootargs = fdt.chosen().ok().and_then(|c| c.bootargs()).unwrap_or("");

        Ok(Self {
            model,
            memory,
            reserved,
            harts,
            harts_ignored,
            timebase_hz,
            uart,
            plic,
            virtio,
            exit_device,
            bootargs,
        })
    }

    /// The value of `key=value` on the kernel command line, if present.
    pub fn bootarg(&self, key: &str) -> Option<&'a str> {
        self.bootargs.split_ascii_whitespace().find_map(|word| {
            let (name, value) = word.split_once('=')?;
            (name == key).then_some(value)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VIRT_256M: &[u8] = include_bytes!("../tests/data/qemu-virt-256m.dtb");
    /// QEMU `virt -m 512M -smp 2`, with a `/reserved-memory` node like the one OpenSBI adds
    /// and bootargs, as the kernel receives it.
    const VIRT_512M_SMP2: &[u8] = include_bytes!("../tests/data/qemu-virt-512m-smp2.dtb");

    #[test]
    fn reads_qemu_virt() {
        let board = BoardInfo::parse(VIRT_256M).unwrap();
        assert_eq!(board.model, "riscv-virtio,qemu");
        assert_eq!(&board.memory[..], &[Region { start: 0x8000_0000, size: 256 << 20 }]);
        assert_eq!(&board.harts[..], &[0]);
        assert_eq!(board.timebase_hz, 10_000_000);
        let uart = board.uart.unwrap();
        assert_eq!(uart.registers, Region { start: 0x1000_0000, size: 0x100 });
        assert_eq!(uart.interrupt, Some(10));
        let plic = board.plic.unwrap();
        assert_eq!(plic.registers.start, 0x0c00_0000);
        assert_eq!(plic.sources, 0x60);
        assert_eq!(board.virtio.len(), 8);
        assert_eq!(board.virtio[0].registers, Region { start: 0x1000_1000, size: 0x1000 });
        assert_eq!(board.virtio[0].interrupt, Some(1));
        assert_eq!(board.virtio[7].registers.start, 0x1000_8000);
        assert_eq!(board.virtio[7].interrupt, Some(8));
        assert_eq!(board.exit_device, Some(Region { start: 0x10_0000, size: 0x1000 }));
        assert!(board.reserved.is_empty());
        assert_eq!(board.bootargs, "");
    }

    #[test]
    fn memory_harts_reservations_and_bootargs_follow_the_tree() {
        let board = BoardInfo::parse(VIRT_512M_SMP2).unwrap();
        assert_eq!(&board.memory[..], &[Region { start: 0x8000_0000, size: 512 << 20 }]);
        assert_eq!(&board.harts[..], &[0, 1]);
        assert_eq!(&board.reserved[..], &[Region { start: 0x8000_0000, size: 0x4_0000 }]);
        assert_eq!(board.bootarg("lattice.boot"), Some("hello,crash"));
        assert_eq!(board.bootarg("lattice"), None);
        assert_eq!(board.bootarg("missing"), None);
    }

    #[test]
    fn garbage_and_truncation_are_errors_not_panics() {
        assert!(matches!(BoardInfo::parse(&[]), Err(BoardError::Malformed(_))));
        assert!(matches!(BoardInfo::parse(&[0u8; 64]), Err(BoardError::Malformed(_))));
        for cut in [8, 40, 100, 1000, VIRT_256M.len() - 1] {
            assert!(BoardInfo::parse(&VIRT_256M[..cut]).is_err(), "cut at {cut}");
        }
    }

    #[test]
    fn mutated_trees_never_panic() {
        let mut blob = VIRT_256M.to_vec();
        let mut random = crate::testing::Xorshift(0x9e37_79b9_7f4a_7c15);
        for _ in 0..3000 {
            // Leave the header alone so that most mutations reach the structure parser.
            let at = 40 + random.below(blob.len() - 40);
            let saved = blob[at];
            blob[at] = random.byte();
            let _ = BoardInfo::parse(&blob);
            blob[at] = saved;
        }
    }
}
