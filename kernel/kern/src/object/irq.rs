//! Interrupts: the PLIC, the IRQ control capability, and IRQ handler capabilities.
//!
//! An interrupt the kernel takes is claimed from the PLIC and signalled to the notification
//! its handler capability named (with that capability's badge); the source stays masked
//! (claimed, not completed) until user level acknowledges it through the handler. So a
//! driver sees one signal per interrupt and can never be flooded.
//!
//! Invariants: `handlers[irq].taken` iff an IRQ handler capability for `irq` exists
//! (`references` counts them); a source is enabled in the PLIC iff it has a notification.

use kernel_abi::invocation::{IrqControlOp, IrqHandlerOp};
use kernel_abi::{Error, Rights};
use kernel_core::board::Plic;
use kernel_core::capability::{Capability, SlotId};

use super::notification::{self, Notification};
use super::{ObjectRef, cnode};
use crate::Kernel;
use crate::memory::direct_map;

/// Interrupt sources the kernel manages (PLIC sources 1..MAX_IRQS).
pub const MAX_IRQS: usize = 128;

/// One interrupt source.
#[derive(Clone, Copy, Debug, Default)]
pub struct Handler {
    /// An IRQ handler capability exists.
    pub taken: bool,
    /// How many.
    pub references: usize,
    /// The notification to signal (0: none).
    pub notification: usize,
    /// The badge to signal with.
    pub badge: usize,
}

/// The PLIC and the handler table.
pub struct Interrupts {
    plic: usize,
    sources: usize,
    context: usize,
    handlers: [Handler; MAX_IRQS],
}

const ENABLE_BASE: usize = 0x2000;
const ENABLE_STRIDE: usize = 0x80;
const CONTEXT_BASE: usize = 0x20_0000;
const CONTEXT_STRIDE: usize = 0x1000;

impl Interrupts {
    /// No PLIC yet.
    pub const fn new() -> Self {
        Self {
            plic: 0,
            sources: 0,
            context: 0,
            handlers: [Handler { taken: false, references: 0, notification: 0, badge: 0 }; MAX_IRQS],
        }
    }

    /// Uses `plic` for the S-mode context of `hart` (context `2 * hart + 1`, as on QEMU
    /// `virt`), with every source disabled and the threshold at 0.
    pub fn init(&mut self, plic: &Plic, hart: usize) {
        self.plic = direct_map(plic.registers.start);
        self.sources = (plic.sources as usize).min(MAX_IRQS);
        self.context = 2 * hart + 1;
        for irq in 1..self.sources {
            self.set_enabled(irq, false);
            self.write(4 * irq, 1); // priority 1: above the threshold
        }
        self.write(CONTEXT_BASE + CONTEXT_STRIDE * self.context, 0);
    }

    fn write(&self, offset: usize, value: u32) {
        // SAFETY: `plic` is the direct-mapped PLIC register block from the device tree,
        // mapped read-write in the kernel half; every offset used is a register of the
        // sources and context the kernel owns.
        unsafe { core::ptr::write_volatile((self.plic + offset) as *mut u32, value) }
    }

    fn read(&self, offset: usize) -> u32 {
        // SAFETY: as in `write`.
        unsafe { core::ptr::read_volatile((self.plic + offset) as *const u32) }
    }

    fn set_enabled(&self, irq: usize, enabled: bool) {
        let offset = ENABLE_BASE + ENABLE_STRIDE * self.context + 4 * (irq / 32);
        let bits = self.read(offset);
        let bit = 1u32 << (irq % 32);
        self.write(offset, if enabled { bits | bit } else { bits & !bit });
    }

    fn complete(&self, irq: usize) {
        self.write(CONTEXT_BASE + CONTEXT_STRIDE * self.context + 4, u32::try_from(irq).unwrap_or(0));
    }

    /// Takes the pending interrupt from the PLIC, if any.
    fn claim(&self) -> Option<usize> {
        if self.plic == 0 {
            return None;
        }
        let irq = self.read(CONTEXT_BASE + CONTEXT_STRIDE * self.context + 4) as usize;
        (irq != 0).then_some(irq)
    }

    /// Forgets `notification` wherever a handler names it (it is being destroyed).
    pub fn forget_notification(&mut self, notification: usize) {
        for irq in 0..MAX_IRQS {
            if self.handlers[irq].notification == notification {
                self.handlers[irq].notification = 0;
                self.set_enabled(irq, false);
            }
        }
    }

    /// Counts a new handler capability for `irq`.
    pub fn retain(&mut self, irq: u16) {
        if let Some(handler) = self.handlers.get_mut(usize::from(irq)) {
            handler.references += 1;
        }
    }

    /// Drops a handler capability for `irq`; the last frees the source.
    pub fn release(&mut self, irq: u16) {
        let irq = usize::from(irq);
        let Some(handler) = self.handlers.get_mut(irq) else { return };
        handler.references = handler.references.saturating_sub(1);
        if handler.references == 0 {
            *handler = Handler::default();
            self.set_enabled(irq, false);
            self.complete(irq);
        }
    }
}

/// An external interrupt arrived: signal every claimed source's notification.
pub fn handle(kernel: &mut Kernel) {
    while let Some(irq) = kernel.interrupts.claim() {
        let handler = kernel.interrupts.handlers.get(irq).copied().unwrap_or_default();
        match ObjectRef::<Notification>::from_link(handler.notification) {
            // Left claimed (masked) until the driver acknowledges it.
            Some(target) => notification::signal(kernel, target, handler.badge),
            None => {
                // Nobody handles it: mask it, so that it cannot storm.
                kernel.interrupts.set_enabled(irq, false);
                kernel.interrupts.complete(irq);
            }
        }
    }
}

/// A decoded IRQ invocation.
pub enum Invocation {
    /// Make a handler capability for `irq` in `slot`.
    Get { irq: usize, slot: SlotId },
    /// Signal `notification` with `badge` on interrupts of `irq`.
    SetNotification { irq: usize, notification: usize, badge: usize },
    /// Complete (unmask) `irq`.
    Acknowledge(usize),
    /// Stop signalling for `irq`.
    Clear(usize),
}

/// Checks a `call` on the IRQ control or an IRQ handler capability.
pub fn decode(
    kernel: &Kernel,
    capability: &Capability,
    label: usize,
    words: &[usize],
    resolve: impl Fn(usize) -> Result<SlotId, Error>,
) -> Result<Invocation, Error> {
    let word = |index: usize| words.get(index).copied().ok_or(Error::InvalidArgument);
    match *capability {
        Capability::IrqControl => {
            if label != IrqControlOp::Get as usize {
                return Err(Error::IllegalOperation);
            }
            let irq = word(0)?;
            if irq == 0 || irq >= kernel.interrupts.sources {
                return Err(Error::RangeError);
            }
            if kernel.interrupts.handlers[irq].taken {
                return Err(Error::RevokeFirst);
            }
            let destination = cnode::load(resolve(word(1)?)?);
            let slot = cnode::slot_id(&destination, word(2)?)?;
            if !cnode::load(slot).is_null() {
                return Err(Error::DeleteFirst);
            }
            Ok(Invocation::Get { irq, slot })
        }
        Capability::IrqHandler { irq } => {
            let irq = usize::from(irq);
            match label {
                l if l == IrqHandlerOp::SetNotification as usize => match cnode::load(resolve(word(0)?)?) {
                    Capability::Notification { object, rights, badge } => {
                        if !rights.contains(Rights::WRITE) {
                            return Err(Error::InsufficientRights);
                        }
                        Ok(Invocation::SetNotification { irq, notification: object, badge })
                    }
                    Capability::Null => Err(Error::InvalidCapability),
                    _ => Err(Error::IllegalOperation),
                },
                l if l == IrqHandlerOp::Acknowledge as usize => Ok(Invocation::Acknowledge(irq)),
                l if l == IrqHandlerOp::Clear as usize => Ok(Invocation::Clear(irq)),
                _ => Err(Error::IllegalOperation),
            }
        }
        _ => Err(Error::IllegalOperation),
    }
}

/// Performs an IRQ invocation.
pub fn invoke(kernel: &mut Kernel, invocation: Invocation) -> Result<(), Error> {
    let interrupts = &mut kernel.interrupts;
    match invocation {
        Invocation::Get { irq, slot } => {
            interrupts.handlers[irq].taken = true;
            let irq = u16::try_from(irq).map_err(|_| Error::RangeError)?;
            cnode::insert(kernel, 0, slot, Capability::IrqHandler { irq });
        }
        Invocation::SetNotification { irq, notification, badge } => {
            interrupts.handlers[irq].notification = notification;
            interrupts.handlers[irq].badge = badge;
            interrupts.set_enabled(irq, true);
        }
        Invocation::Acknowledge(irq) => interrupts.complete(irq),
        Invocation::Clear(irq) => {
            interrupts.handlers[irq].notification = 0;
            interrupts.set_enabled(irq, false);
        }
    }
    Ok(())
}
