/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * hmm_dmirror user ABI.
 *
 * Binary compatible with the HMM test device ABI of the kernel's in-tree
 * test module (HMM_DMIRROR_* ioctls as of Linux 7.3): a program built
 * against that ABI runs unchanged on /dev/hmm_dmirrorN provided by the
 * hmm_dmirror module. Extensions only ever use new ioctl numbers.
 */
#ifndef _UAPI_HMM_DMIRROR_H
#define _UAPI_HMM_DMIRROR_H

#include <linux/const.h>
#include <linux/types.h>
#include <linux/ioctl.h>

/**
 * HMM_DMIRROR_UAPI_VERSION - version of this header
 *
 * Raised whenever something is added. Version 1 is the ABI of the kernel's
 * own test device (ioctls 0x00-0x09). Version 2 adds the snapshot values
 * of peer groups (HMM_DMIRROR_PROT_DEV_PRIVATE_PEER and
 * HMM_DMIRROR_PROT_DEV_COHERENT_PEER).
 */
#define HMM_DMIRROR_UAPI_VERSION	2

/**
 * struct hmm_dmirror_cmd - argument block of every hmm_dmirror ioctl
 * @addr:   in: first virtual address of the range, page aligned, in the
 *          address space (mm) the file was opened in
 * @ptr:    in: user buffer the ioctl copies data or result bytes to or from
 * @npages: in: length of the range in pages; for HMM_DMIRROR_FLAGS the flag
 *          word instead
 * @cpages: out: pages processed (the meaning is per ioctl)
 * @faults: out: device page-fault rounds taken
 *
 * The block is 40 bytes without padding. @cpages and @faults are ignored on
 * input. The block is copied back to user space only when the ioctl
 * succeeds.
 *
 * Rules shared by all ioctls, checked in this order:
 *
 * - an ioctl number this header does not define: -ENOTTY;
 * - the block cannot be read: -EFAULT;
 * - the calling process does not run in the mm the file was opened in
 *   (a descriptor inherited across fork() or received over a socket):
 *   -EPERM. Once that mm has exited every ioctl fails this way too, since
 *   no caller can run in it any more;
 * - @addr not page aligned, @npages zero (except HMM_DMIRROR_FLAGS), or the
 *   range wrapping or reaching past the end of the user address space:
 *   -EINVAL.
 */
struct hmm_dmirror_cmd {
	__u64 addr;
	__u64 ptr;
	__u64 npages;
	__u64 cpages;
	__u64 faults;
};

/* The ioctls. All are _IOWR('H', nr, struct hmm_dmirror_cmd). */

/**
 * HMM_DMIRROR_READ - read the range through the device's page table
 *
 * Pages the device does not map yet are faulted in for reading. @ptr
 * receives npages * page size bytes, only when every page was read.
 * @cpages = pages read, @faults = fault rounds.
 * Errors: -EFAULT (no VMA, PROT_NONE, a fault failed, @ptr not writable),
 * -EBUSY (the range kept being invalidated for a second), -ENOMEM, -EINTR
 * (fatal signal).
 *
 * Only invalidations that overlap the range make a fault read the CPU
 * page tables again (this holds for every ioctl below); what happens
 * elsewhere in the address space never leads to -EBUSY.
 *
 * A page in the private memory of another device is faulted back to
 * system memory first, unless that device is in this device's peer group
 * (module parameter peer_group): then the device maps it where it is and
 * reads (or, for WRITE, writes) the peer's memory; the page stays there.
 */
#define HMM_DMIRROR_READ		_IOWR('H', 0x00, struct hmm_dmirror_cmd)

/**
 * HMM_DMIRROR_WRITE - write the range through the device's page table
 *
 * @ptr supplies npages * page size bytes. Pages are faulted in for writing
 * (which breaks copy-on-write); a page in this device's private memory that
 * the CPU maps read-only (after fork or mprotect) is first moved back to
 * system memory. Errors as for HMM_DMIRROR_READ, plus -EPERM when a VMA of
 * the range is not writable.
 */
#define HMM_DMIRROR_WRITE		_IOWR('H', 0x01, struct hmm_dmirror_cmd)

/**
 * HMM_DMIRROR_MIGRATE_TO_DEV - migrate the range into device memory
 *
 * Private anonymous pages (including never-touched and zero pages) move to
 * the device; a full device first evicts the memory it filled longest ago
 * (of any process) back to system memory, but never device pages of this
 * range (what this request moved already, or what was there before).
 * Afterwards the device's view of the range is copied to @ptr; @cpages =
 * npages. A page the kernel could not take at that moment (locked or
 * referenced by someone else, a THP it could not split), and device memory
 * busy when room was needed, are tried again, a few times at most (in
 * anonymous memory only). Errors: -ENOENT when some page is neither on the
 * device nor mapped by it (shared memory, a page of another device, a page
 * that stayed busy; nothing is copied to @ptr), -ENOMEM when @npages is
 * more than the device holds (its capacity_pages in debugfs; checked
 * before anything moves) or the device could not make room (the rest of
 * its memory busy), -EINVAL for holes, PROT_NONE and VMAs migration cannot
 * handle (hugetlb, I/O mappings), -EINTR on a fatal signal. Pages moved
 * before an error stay moved. The read-back retries while invalidations
 * race it: never -EBUSY.
 *
 * Where the kernel supports compound device-private migration (module
 * parameter thp_migration reads Y), a PMD-mapped THP, or an empty or huge
 * zero 2 MiB unit of a VMA not marked MADV_NOHUGEPAGE, moves into one large
 * device page mapped by a device-private PMD (SNAPSHOT: PMD bit) when the
 * range covers the whole aligned 2 MiB and a free 2 MiB device block
 * exists; otherwise it moves as 512 base pages.
 *
 * In a peer group (module parameter peer_group), pages in the memory of
 * the other device of the group move too, device to device, without
 * passing through system memory (counted in migrated_from_peer).
 */
#define HMM_DMIRROR_MIGRATE_TO_DEV	_IOWR('H', 0x02, struct hmm_dmirror_cmd)

/**
 * HMM_DMIRROR_MIGRATE_TO_SYS - migrate this device's pages in the range
 * back to system memory
 *
 * Other pages, those of a peer device included, are left alone. @cpages =
 * 4 KiB pages moved (512 for a
 * device THP that comes back whole). A page for which no system memory
 * could be had stays on the device, not counted. @ptr is unused. -EINVAL
 * when the core's migration refuses a part of the range (no VMA there, a
 * VMA migration cannot handle), -ENOMEM, -EINTR on a fatal signal; pages
 * moved before an error stay moved.
 */
#define HMM_DMIRROR_MIGRATE_TO_SYS	_IOWR('H', 0x03, struct hmm_dmirror_cmd)

/**
 * HMM_DMIRROR_SNAPSHOT - describe the CPU page table without faulting
 *
 * Writes one byte per page to @ptr, built from the HMM_DMIRROR_PROT_*
 * values. @cpages = npages. Errors: -EFAULT (@ptr not writable), -EBUSY
 * (a part of the range kept being invalidated for a second), -ENOMEM,
 * -EINTR (fatal signal).
 */
#define HMM_DMIRROR_SNAPSHOT		_IOWR('H', 0x04, struct hmm_dmirror_cmd)

/**
 * HMM_DMIRROR_EXCLUSIVE - make the pages device-exclusive (for atomics)
 *
 * A later CPU access (or fork, mprotect, ...) revokes the exclusive access.
 * Pages in device memory are moved to system memory first (coherent ones
 * too: they are not converted in place). The data is copied to @ptr;
 * @cpages = npages. Errors, checked before any
 * page is converted: -EFAULT (no VMA, PROT_NONE, read-only), -EOPNOTSUPP
 * (shared memory, hugetlb). Later: -EBUSY (a page could not be converted,
 * or kept being taken back by the CPU or another device for a second;
 * kernels before 6.15 report every failure so), -ENOENT (the CPU took a
 * page back before the read-back), -EINTR (fatal signal), -ENOMEM (no
 * memory for the page the write fault needs, for the device page-table
 * entry, or for the copy to @ptr). Pages converted before an error stay
 * exclusive.
 */
#define HMM_DMIRROR_EXCLUSIVE		_IOWR('H', 0x05, struct hmm_dmirror_cmd)

/**
 * HMM_DMIRROR_CHECK_EXCLUSIVE - check that atomic access was revoked
 *
 * Returns -EPERM while some page of the range still has device-atomic
 * access in the device's page table, 0 once none has (-EINTR on a fatal
 * signal).
 */
#define HMM_DMIRROR_CHECK_EXCLUSIVE	_IOWR('H', 0x06, struct hmm_dmirror_cmd)

/**
 * HMM_DMIRROR_RELEASE - evict everything this device holds
 *
 * Every page in the device's memory, whoever put it there, goes back to
 * system memory and the device memory is freed. @addr and @npages are
 * validated and otherwise ignored. -EBUSY if some memory stayed busy
 * (locked or referenced) for a second, in all however many chunks are
 * busy (that memory is kept; nothing waits forever); -EINTR on a fatal
 * signal (what was not freed by then is kept).
 *
 * Closing a file does the same for the pages that file's address space put
 * on this device, found by the device's own records: it costs what those
 * pages cost, however large the address space, and a fatal signal cuts it
 * short (the pages left go when the address space does, or are evicted).
 */
#define HMM_DMIRROR_RELEASE		_IOWR('H', 0x07, struct hmm_dmirror_cmd)

/**
 * HMM_DMIRROR_FLAGS - set the flag word of this open file
 *
 * @npages carries the word (HMM_DMIRROR_FLAG_*); zero clears it; undefined
 * bits are -EINVAL. @npages is not range-checked for this ioctl.
 */
#define HMM_DMIRROR_FLAGS		_IOWR('H', 0x08, struct hmm_dmirror_cmd)

/**
 * HMM_DMIRROR_READ_UNLOCKED - like HMM_DMIRROR_READ, but faults may drop
 * the mmap lock and wait, so memory whose faults are resolved by another
 * thread (userfaultfd) can be read
 *
 * Available on every supported kernel (emulated where the kernel lacks
 * hmm_range_fault_unlocked_timeout()). No -EBUSY deadline; -EINTR on a
 * fatal signal.
 */
#define HMM_DMIRROR_READ_UNLOCKED	_IOWR('H', 0x09, struct hmm_dmirror_cmd)

/**
 * DOC: mmap() of a device file
 *
 * mmap() of /dev/hmm_dmirrorN maps system memory: every page of the
 * mapping is a freshly allocated, zeroed ordinary page, present in the
 * page tables when mmap() returns (HMM_DMIRROR_SNAPSHOT sees it without a
 * fault). The file offset is ignored, and the pages have nothing to do
 * with the device, its memory or the file's mirror. They are freed when
 * their last mapping goes (munmap(), exit); they are charged to the
 * caller's memory cgroup. The mapping holds the file open.
 *
 * - MAP_PRIVATE: the pages are mapped read-only even with PROT_WRITE
 *   (SNAPSHOT: HMM_DMIRROR_PROT_READ); a CPU or device write copies a page
 *   into an anonymous one (then HMM_DMIRROR_PROT_WRITE). After fork() the
 *   untouched pages are shared read-only and each process copies its own.
 * - MAP_SHARED: mapped with the mapping's protection (writable:
 *   HMM_DMIRROR_PROT_WRITE); after fork() both processes see one memory.
 * - The mapping is not anonymous memory: HMM_DMIRROR_MIGRATE_TO_DEV and
 *   HMM_DMIRROR_MIGRATE_TO_SYS on it fail with -EINVAL; READ, WRITE and
 *   SNAPSHOT work, and so does EXCLUSIVE on a private writable mapping
 *   (after copying the pages), but not on a shared one (-EOPNOTSUPP).
 * - It cannot grow: mremap() to a larger size fails with -EFAULT. A page
 *   taken out later with MADV_DONTNEED is not mapped again: touching it
 *   raises SIGBUS.
 * - One mapping is at most mmap_max_mib MiB (module parameter, default
 *   64; /sys/module/hmm_dmirror/parameters/mmap_max_mib). Errors: -ENOMEM
 *   (larger than that, checked before anything is allocated, or out of
 *   memory), -EINTR (a fatal signal while the pages are allocated).
 */

/**
 * HMM_DMIRROR_FLAG_FAIL_ALLOC - make the next PMD-sized allocation fail
 * once, so the fall-back to base pages is exercised
 *
 * Consumed by the next large device page a MIGRATE_TO_DEV of this file
 * would allocate (the THP or empty 2 MiB unit then migrates as 512 base
 * device pages), or the next system THP its MIGRATE_TO_SYS would allocate
 * (the device THP comes back as base pages). Base-page allocations, CPU
 * faults and eviction never consult it. Where the module uses no large
 * device pages (module parameter thp_migration reads N) there is no
 * PMD-sized allocation, and the flag has no effect.
 */
#define HMM_DMIRROR_FLAG_FAIL_ALLOC	_BITULL(0)

/**
 * enum hmm_dmirror_snapshot_prot - byte values of HMM_DMIRROR_SNAPSHOT
 * @HMM_DMIRROR_PROT_ERROR: the walk reported an error for the page
 *                          (no VMA, PROT_NONE, a page without struct page)
 * @HMM_DMIRROR_PROT_NONE: nothing usable is mapped
 * @HMM_DMIRROR_PROT_READ: mapped read-only
 * @HMM_DMIRROR_PROT_WRITE: mapped writable
 * @HMM_DMIRROR_PROT_PMD: mapped by a PMD-sized entry
 * @HMM_DMIRROR_PROT_PUD: mapped by a PUD-sized entry
 * @HMM_DMIRROR_PROT_ZERO: the shared zero page
 * @HMM_DMIRROR_PROT_DEV_PRIVATE_LOCAL: device-private memory of this device
 * @HMM_DMIRROR_PROT_DEV_PRIVATE_REMOTE: device-private memory of another
 *                                       device
 * @HMM_DMIRROR_PROT_DEV_COHERENT_LOCAL: device-coherent memory of this device
 * @HMM_DMIRROR_PROT_DEV_COHERENT_REMOTE: device-coherent memory of another
 *                                        device
 * @HMM_DMIRROR_PROT_DEV_PRIVATE_PEER: device-private memory of another
 *                                     device of this device's peer group
 * @HMM_DMIRROR_PROT_DEV_COHERENT_PEER: device-coherent memory of another
 *                                      device of this device's peer group
 *
 * A byte is ERROR alone, NONE alone, or the OR of one location value
 * (NONE, ZERO or one of the DEV_* values), one access value (READ or
 * WRITE) and PMD or PUD when the page is mapped at that size.
 *
 * Peer groups (module parameter peer_group): the two device-private
 * devices share one pgmap owner, and so do the two device-coherent ones.
 * A device then maps its peer's pages where they are, and SNAPSHOT
 * reports them as _PEER. Without a group, another device's private pages
 * are never reported (NONE) and its coherent pages are _REMOTE.
 */
enum hmm_dmirror_snapshot_prot {
	HMM_DMIRROR_PROT_ERROR			= 0xFF,
	HMM_DMIRROR_PROT_NONE			= 0x00,
	HMM_DMIRROR_PROT_READ			= 0x01,
	HMM_DMIRROR_PROT_WRITE			= 0x02,
	HMM_DMIRROR_PROT_PMD			= 0x04,
	HMM_DMIRROR_PROT_PUD			= 0x08,
	HMM_DMIRROR_PROT_ZERO			= 0x10,
	HMM_DMIRROR_PROT_DEV_PRIVATE_LOCAL	= 0x20,
	HMM_DMIRROR_PROT_DEV_PRIVATE_REMOTE	= 0x30,
	HMM_DMIRROR_PROT_DEV_COHERENT_LOCAL	= 0x40,
	HMM_DMIRROR_PROT_DEV_COHERENT_REMOTE	= 0x50,
	HMM_DMIRROR_PROT_DEV_PRIVATE_PEER	= 0x60,
	HMM_DMIRROR_PROT_DEV_COHERENT_PEER	= 0x70,
};

/**
 * enum hmm_dmirror_memory_type - kind of memory behind a device
 * @HMM_DMIRROR_MEMORY_DEVICE_PRIVATE: the CPU cannot address it
 * @HMM_DMIRROR_MEMORY_DEVICE_COHERENT: the CPU can address it directly
 *
 * Zero is reserved.
 */
enum hmm_dmirror_memory_type {
	HMM_DMIRROR_MEMORY_DEVICE_PRIVATE	= 1,
	HMM_DMIRROR_MEMORY_DEVICE_COHERENT	= 2,
};

#endif /* _UAPI_HMM_DMIRROR_H */
