/*
 * SSDT with the VMBus root device for a guest of QEMU + vmbus-user.
 *
 * Linux's hv_vmbus binds to an ACPI device whose _HID or _CID is "VMBUS" or
 * "VMBus" (vmbus_drv.c vmbus_acpi_device_ids); udev autoloads it through the
 * alias acpi*:VMBUS:*.  iasl rejects a 5-character string in Name(_HID), so
 * _HID is a method returning the string.  vmbus_acpi_add() fails with -ENODEV
 * without a _CRS; x86 Linux ignores a legacy IRQ() in it, QEMU and Hyper-V
 * put IRQ 7 there, and so do we.  (hyperv-guest-facts.md section 4.1)
 *
 * Build: iasl vmbus.asl -> vmbus.aml; pass with -acpitable file=vmbus.aml.
 */
DefinitionBlock ("vmbus.aml", "SSDT", 2, "VMBUSD", "VMBUS", 0x00000001)
{
    Scope (\_SB)
    {
        Device (VMBS)
        {
            Method (_HID, 0, NotSerialized)
            {
                Return ("VMBus")
            }
            Name (_UID, Zero)
            Name (_DDN, "VMBUS")
            Method (_STA, 0, NotSerialized)
            {
                Return (0x0F)
            }
            Name (_CRS, ResourceTemplate ()
            {
                IRQ (Edge, ActiveHigh, Exclusive, ) {7}
            })
        }
    }
}
