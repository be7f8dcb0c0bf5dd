/* SPDX-License-Identifier: GPL-2.0 */
/*
 * hmm_dmirror private structures and the rules that tie them together.
 */
#ifndef _HMM_DMIRROR_DMIRROR_H
#define _HMM_DMIRROR_DMIRROR_H

#include <linux/atomic.h>
#include <linux/cdev.h>
#include <linux/device.h>
#include <linux/hmm.h>
#include <linux/list.h>
#include <linux/memremap.h>
#include <linux/mm.h>
#include <linux/mm_types.h>
#include <linux/mmu_notifier.h>
#include <linux/mutex.h>
#include <linux/sched/signal.h>
#include <linux/string.h>
#include <linux/types.h>
#include <linux/workqueue.h>
#include <linux/xarray.h>

#include "compat.h"
#include "hmm_dmirror.h"

/**
 * DOC: objects, lifetimes and lock order
 *
 * struct dmirror_device - one emulated device, /dev/hmm_dmirrorN (chardev.c).
 * Created at module load, removed at unload. Its lifetime is that of its
 * embedded struct device: every open file holds a reference, so the
 * structure outlives any file that still points at it.
 *
 * struct dmirror_mm - what is per address space by nature (mm.c): the list
 * of that mm's mirrors on every device, mm-wide counters, and what happens
 * when the mm exits while files are still open. One per mm, shared by every
 * open of every device from that mm, obtained with mmu_notifier_get() and
 * given back with mmu_notifier_put(); the core frees it (free_notifier)
 * after an SRCU grace period, which module exit waits for with
 * mmu_notifier_synchronize().
 *
 * struct dmirror - one open file: a mirror of one mm on one device
 * (mirror.c). It owns the device page table (@pt, pagetable.c) and the
 * interval notifier that keeps it coherent with the CPU page tables. A request that reads
 * the CPU page tables does so under a watch (struct dmirror_watch, on the
 * caller's stack): a second interval notifier, over its range only, that
 * lives as long as the request needs it. It holds an mmgrab()
 * reference on its mm (the pointer stays valid, the memory does not), a
 * reference on its device and one on its dmirror_mm. Only a caller running
 * in that mm may issue ioctls on it (ioctl.c), so while an ioctl runs the
 * mm's users count is not zero.
 *
 * The device page table holds no page references, like a real device's:
 * an entry is valid only while the interval notifier has not invalidated
 * it, and the notifier runs before the core frees or moves a page. Data is
 * therefore copied to or from a page only under the mirror lock, with the
 * entry looked up under that same lock.
 *
 * Lock order (outermost first):
 *
 * 1. dmirror_coherent_sem (migrate_dev.c): EXCLUSIVE (write) against
 *    migrations to device-coherent memory (read).
 * 2. dmirror_mm_mutex (mm.c): the files count and debugfs directory of
 *    every dmirror_mm. Held only around that bookkeeping: never across
 *    mmu_notifier_get()/_put() and never with an mmap_lock held. It comes
 *    before 7 and 8 only because removing a directory waits for its file
 *    operations (nonblock_selftest takes 7 and 8).
 * 3. mmap_lock of the mm (taken by mmu_notifier_get(), hmm_range_fault(),
 *    migrations).
 * 4. page locks (migration, the CPU fault handler).
 * 5. dmirror_devmem.chunk_lock (chunk.c): adding and removing chunks, and
 *    every eviction, which only trylocks device pages; a migration to the
 *    device takes it to add a chunk or make room, holding 3 and 4.
 * 6. dmirror_device.mirrors_lock: the device's list of mirrors.
 * 7. dmirror_mm.lock: the mm's list of mirrors.
 * 8. dmirror.lock, "the mirror lock": the device page table. Taken by the
 *    invalidate callbacks (the mirror's notifier and its watches), i.e.
 *    under mmap_lock, page locks and from reclaim, so nothing under it may
 *    allocate with reclaim, take mmap_lock, lock a page or touch user
 *    memory. Inserting a watch may take mmap_lock (so no mmap_lock is held
 *    then); removing one waits for a running invalidation (so nothing an
 *    invalidation takes is held then).
 * 9. dmirror_devmem.lock (a spinlock, irq-safe): free bitmaps, page
 *    records and counts.
 * 10. dmirror_split_queue.lock (a spinlock): split requests; innermost.
 *
 * split.c takes an mmap_lock only with mmap_read_trylock(), so it may run
 * where waiting for one would break the order above (under page locks, or
 * another mm's mmap_lock); it read-trylocks the anon_vma of a folio it
 * holds locked, as the kernel's rmap walk does.
 */

/**
 * DOC: layers
 *
 * The files of the module form layers, lowest first. A file calls (or
 * refers to data of) files of its own layer and of lower layers only, and
 * no call path leads from a file back to itself. scripts/layers.sh (make
 * layers, part of make lint) reads this table and checks both against the
 * symbols the object files define and use.
 *
 * L0 leaves: stats.c trace.c compat_fault.c registry.c inject.c peer.c
 * L1 device memory: split.c chunk.c evict.c devmem.c
 * L2 device page table: pagetable.c mm.c mirror.c devfault.c datapath.c
 *    snapshot.c
 * L3 migration and exclusive access: migrate.c migrate_dev.c
 *    migrate_sys.c cpufault.c exclusive.c
 * L4 user interface: ioctl.c mmap.c chardev.c main.c
 *
 * L0: counters and debugfs, tracepoints, the kernel-version shims that
 * need a file, the table of devices by number, peer groups (which look
 * peers up in that table); anyone may call them, they call nothing of
 * ours above L0. L1: chunks of ZONE_DEVICE memory and their pgmap
 * callbacks (chunk.c), the page allocator (devmem.c), eviction, which
 * moves pages home by itself with migrate_device_range() (evict.c), and
 * the splitting of large device folios (split.c). L2: a file's device page
 * table and the notifiers that keep it coherent (pagetable.c), the per-mm
 * state (mm.c), a mirror's lifetime (mirror.c), device faults
 * (devfault.c), READ/WRITE and the read-back (datapath.c), SNAPSHOT.
 * L3: migration to the device and back, the CPU fault on a device page,
 * EXCLUSIVE. L4: the ioctl dispatch, mmap of the device, the character
 * devices and module init, which wire the layers together.
 *
 * One call goes up: the core's CPU fault on a device-private page calls
 * the pgmap's migrate_to_ram, which chunk.c owns and which must move the
 * page with the migration code of L3. chunk.c calls it through
 * dmirror_devmem.ops, the table chardev.c hands to dmirror_devmem_init()
 * (DOC: device memory chunks in chunk.c says why that is sound). No lower
 * layer waits for an upper one through it: device memory never calls it
 * itself, only the core does, holding what any fault holds.
 */

/* Number of device nodes the module can create: 2 private + 2 coherent. */
#define DMIRROR_NDEVICES	4
#define DMIRROR_NPRIVATE	2
static_assert(DMIRROR_NDEVICES <= BITS_PER_LONG);	/* dmirror_mm */

/* Size of a device-coherent window given by spm_addr_devN. */
#define DMIRROR_SPM_SIZE	(256UL << 20)

/* Pages per hmm_range_fault() call (one PMD). */
#define DMIRROR_WINDOW_PAGES	512
/* Pages of data an ioctl moves per batch between user and kernel. */
#define DMIRROR_BATCH_PAGES	64
/*
 * An unstable range is given up (-EBUSY) after this long and at least
 * this many attempts: see struct dmirror_busy (dmirror_busy.h).
 */
#define DMIRROR_BUSY_MS		1000
#define DMIRROR_BUSY_TRIES	16
/* Device memory is allocated and evicted in blocks of this many pages. */
#define DMIRROR_BLOCK_PAGES	512
/* Upper bound of chunks per device (devmem_mib / chunk_mib). */
#define DMIRROR_MAX_CHUNKS	64

/**
 * enum dmirror_stat - counters kept per device and per mm
 * @DMIRROR_STAT_INVALIDATE: invalidations that cleared device entries
 * @DMIRROR_STAT_OWN_MIGRATE: MMU_NOTIFY_MIGRATE events of our own
 *                            migrations, skipped
 * @DMIRROR_STAT_NONBLOCK: non-blockable invalidations handled
 * @DMIRROR_STAT_NONBLOCK_REFUSED: non-blockable invalidations refused
 *                                 because the mirror lock was busy
 * @DMIRROR_STAT_FAULT_ROUNDS: device fault rounds (hmm_range_fault sequences)
 * @DMIRROR_STAT_PAGES_FAULTED: pages entered in a device page table by faults
 * @DMIRROR_STAT_MIRRORS: open mirrors (a gauge, not a counter)
 * @DMIRROR_STAT_PEER_READ: pages in a peer device's memory that READ read
 * @DMIRROR_STAT_PEER_WRITTEN: pages in a peer device's memory that WRITE
 *                             wrote
 * @DMIRROR_NR_MM_STATS: counters above this are kept per device only
 * @DMIRROR_STAT_RESIDENT: device pages in use (gauge)
 * @DMIRROR_STAT_CHUNKS: device memory chunks (gauge)
 * @DMIRROR_STAT_CAPACITY: device memory capacity in pages (constant)
 * @DMIRROR_STAT_EVICTED: pages moved back by eviction, RELEASE or close
 * @DMIRROR_STAT_MIGRATED_TO_DEV: pages migrated to the device
 * @DMIRROR_STAT_MIGRATED_TO_SYS: pages moved back by MIGRATE_TO_SYS
 * @DMIRROR_STAT_CPU_FAULTS: pages moved back by CPU faults
 * @DMIRROR_STAT_FROM_PEER: pages MIGRATE_TO_DEV took straight from the
 *                          peer device's memory (also in MIGRATED_TO_DEV)
 * @DMIRROR_STAT_TO_PEER: pages that left for the peer device that way
 * @DMIRROR_NR_STATS: number of counters
 */
enum dmirror_stat {
	DMIRROR_STAT_INVALIDATE,
	DMIRROR_STAT_OWN_MIGRATE,
	DMIRROR_STAT_NONBLOCK,
	DMIRROR_STAT_NONBLOCK_REFUSED,
	DMIRROR_STAT_FAULT_ROUNDS,
	DMIRROR_STAT_PAGES_FAULTED,
	DMIRROR_STAT_MIRRORS,
	DMIRROR_STAT_PEER_READ,
	DMIRROR_STAT_PEER_WRITTEN,
	DMIRROR_NR_MM_STATS,
	DMIRROR_STAT_RESIDENT = DMIRROR_NR_MM_STATS,
	DMIRROR_STAT_CHUNKS,
	DMIRROR_STAT_CAPACITY,
	DMIRROR_STAT_EVICTED,
	DMIRROR_STAT_MIGRATED_TO_DEV,
	DMIRROR_STAT_MIGRATED_TO_SYS,
	DMIRROR_STAT_CPU_FAULTS,
	DMIRROR_STAT_FROM_PEER,
	DMIRROR_STAT_TO_PEER,
	DMIRROR_NR_STATS
};

/**
 * struct dmirror_stats - a set of counters, readable in debugfs
 * @val: one atomic counter per enum dmirror_stat
 */
struct dmirror_stats {
	atomic64_t val[DMIRROR_NR_STATS];
};

/**
 * struct dmirror_span - a virtual address range of one address space
 * @mm:    the address space (compared, never dereferenced)
 * @start: first address
 * @end:   end of the range (exclusive)
 */
struct dmirror_span {
	const struct mm_struct *mm;
	unsigned long start;
	unsigned long end;
};

/**
 * struct dmirror_page_rec - where a device page came from (devmem.c)
 * @mm:   the address space whose migration put it on the device
 *        (compared, never dereferenced)
 * @addr: the virtual address it was migrated to; a hint (mremap() moves
 *        the page, not the record)
 */
struct dmirror_page_rec {
	const struct mm_struct *mm;
	unsigned long addr;
};

/**
 * struct dmirror_chunk - one range of device memory (chunk.c)
 * @pgmap:       the ZONE_DEVICE pagemap; its owner is the device
 * @mdev:        the device (reference held)
 * @res:         the physical address range
 * @vram:        storage of the pages' contents, PAGE_SIZE per page
 * @base_pfn:    first pfn
 * @npages:      pages in the chunk
 * @free:        bitmap of free pages
 * @nr_free:     free pages
 * @hint:        where the next allocation starts looking
 * @block_stamp: per block, when a page was last allocated from it
 * @block_used:  per block, pages in use
 * @large_stale: per block, freed as a large folio and its head page not
 *               handed out since (see devmem.c)
 * @rec:         per page, where it came from
 * @large_ok:    whole blocks may be handed out as large device folios
 * @dying:       being released: no allocation from it
 * @coherent:    MEMORY_DEVICE_COHERENT: @vram is the CPU mapping of the
 *               pages themselves, @res is NULL
 */
struct dmirror_chunk {
	struct dev_pagemap pgmap;
	struct dmirror_device *mdev;
	struct resource *res;
	void *vram;
	unsigned long base_pfn;
	unsigned long npages;
	unsigned long *free;
	unsigned long nr_free;
	unsigned long hint;
	u64 *block_stamp;
	unsigned int *block_used;
	unsigned long *large_stale;
	struct dmirror_page_rec *rec;
	bool large_ok;
	bool dying;
	bool coherent;
};

/* The chunk a device page of ours belongs to. */
static inline struct dmirror_chunk *dmirror_page_chunk(struct page *page)
{
	return container_of(dmirror_page_pgmap(page), struct dmirror_chunk,
			    pgmap);
}

/* The device a device page of ours belongs to. */
static inline struct dmirror_device *dmirror_page_device(struct page *page)
{
	return dmirror_page_chunk(page)->mdev;
}

/* Mappings of one large device folio a split request remembers. */
#define DMIRROR_SPLIT_WAYS	4
/* Split requests of CPU faults a device keeps at once. */
#define DMIRROR_SPLIT_SLOTS	8

/**
 * struct dmirror_split_req - where a large device folio can be split
 * @pfn:  its first pfn; 0 for a free slot
 * @busy: being performed by the work item
 * @nr:   entries used in @mm and @addr
 * @mm:   address spaces that map it (mmgrab() references)
 * @addr: an address of one of its pages in each
 */
struct dmirror_split_req {
	unsigned long pfn;
	bool busy;
	unsigned int nr;
	struct mm_struct *mm[DMIRROR_SPLIT_WAYS];
	unsigned long addr[DMIRROR_SPLIT_WAYS];
};

/**
 * struct dmirror_split_queue - splits that CPU faults asked for (split.c)
 * @lock: protects @req
 * @req:  the requests
 * @work: performs them
 */
struct dmirror_split_queue {
	spinlock_t lock;		/* @req */
	struct dmirror_split_req req[DMIRROR_SPLIT_SLOTS];
	struct work_struct work;
};

/**
 * struct dmirror_devmem_ops - what device memory asks of the layers above
 * @migrate_to_ram: the CPU touched a device-private page: move it to
 *                  system memory (the pgmap's migrate_to_ram; see DOC:
 *                  device memory in devmem.c)
 */
struct dmirror_devmem_ops {
	vm_fault_t (*migrate_to_ram)(struct vm_fault *vmf);
};

/**
 * struct dmirror_devmem - the device memory of one device (devmem.c)
 * @ops:        the upper layers' operations, set at init, never changed
 * @lock:       protects the chunks' bitmaps, blocks and counts, @chunks
 *              slots and @stamp
 * @chunk_lock: serialises adding and removing chunks
 * @chunks:     the chunks, NULL where none
 * @max_chunks: capacity in chunks
 * @stamp:      allocation clock for the blocks' ages
 * @split:      large device folios CPU faults want split (split.c)
 */
struct dmirror_devmem {
	const struct dmirror_devmem_ops *ops;
	spinlock_t lock;		/* bitmaps, blocks, @chunks slots */
	struct mutex chunk_lock;	/* adding and removing chunks */
	struct dmirror_chunk *chunks[DMIRROR_MAX_CHUNKS];
	unsigned int max_chunks;
	u64 stamp;
	struct dmirror_split_queue split;
};

/**
 * struct dmirror_device - one emulated HMM device
 * @dev:      device model object; owns the lifetime of this structure
 * @cdev:     character device behind /dev/hmm_dmirror@id
 * @id:       device number (the minor)
 * @mtype:    HMM_DMIRROR_MEMORY_DEVICE_PRIVATE or _COHERENT
 * @spm_base: physical base of the coherent window (coherent devices only)
 * @owner:    the pgmap owner of its memory: the device itself, or its peer
 *            group (DOC: peer groups in peer.c); set before its memory
 *            exists, never changed
 * @stats:    device-wide counters
 * @debugfs:  this device's debugfs directory
 * @mem:      device memory
 * @mirrors_lock: protects @mirrors
 * @mirrors:  every open mirror of this device
 */
struct dmirror_device {
	struct device dev;
	struct cdev cdev;
	unsigned int id;
	enum hmm_dmirror_memory_type mtype;
	phys_addr_t spm_base;
	void *owner;
	struct dmirror_stats stats;
	struct dentry *debugfs;
	struct dmirror_devmem mem;
	struct mutex mirrors_lock;	/* protects @mirrors */
	struct list_head mirrors;
};

/*
 * Is @page in the memory of another device of @mdev's peer group? Any
 * page may be asked about: a ZONE_DEVICE page of someone else has another
 * owner.
 */
static inline bool dmirror_page_is_peer(struct dmirror_device *mdev,
					struct page *page)
{
	return is_zone_device_page(page) && mdev->owner != mdev &&
	       dmirror_page_owner(page) == mdev->owner &&
	       dmirror_page_device(page) != mdev;
}

/**
 * struct dmirror_mm - per address space state
 * @mn:       our mmu_notifier subscription on the mm (mmu_notifier_get())
 * @lock:     protects @mirrors
 * @mirrors:  every struct dmirror of this mm, on any device
 * @nr_files: open files using this object; under dmirror_mm_mutex
 * @stats:    mm-wide counters
 * @debugfs:  this mm's debugfs directory; under dmirror_mm_mutex
 * @devices_used: bit N set (atomically, never cleared) before this mm's
 *            first MIGRATE_TO_DEV to device N, i.e. before any page of
 *            that device is recorded as this mm's; close-time eviction
 *            skips a device whose bit is clear
 */
struct dmirror_mm {
	struct mmu_notifier mn;
	struct mutex lock;		/* @mirrors */
	struct list_head mirrors;
	unsigned long devices_used;
	unsigned int nr_files;
	struct dmirror_stats stats;
	struct dentry *debugfs;
};

/**
 * struct dmirror - one open file: the mirror of one mm on one device
 * @mdev:     the device (reference held)
 * @dmm:      per-mm state (reference held)
 * @mm:       the bound mm (mmgrab() reference held)
 * @notifier: interval notifier over the whole user address space: clears
 *            entries; whether a request reads again is its watch's call
 * @lock:     the mirror lock: protects @pt (see the lock order above)
 * @pt:       device page table: index = virtual address >> PAGE_SHIFT,
 *            entry = struct page pointer tagged with a DMIRROR_PT_* access
 * @mm_link:  entry in @dmm->mirrors, under @dmm->lock
 * @dev_link: entry in @mdev->mirrors, under @mdev->mirrors_lock
 * @flags:    HMM_DMIRROR_FLAG_* word set by HMM_DMIRROR_FLAGS
 */
struct dmirror {
	struct dmirror_device *mdev;
	struct dmirror_mm *dmm;
	struct mm_struct *mm;
	struct mmu_interval_notifier notifier;
	struct mutex lock;		/* the mirror lock: @pt */
	struct xarray pt;
	struct list_head mm_link;
	struct list_head dev_link;
	u64 flags;
};

/**
 * struct dmirror_watch - a temporary interval notifier over the range one
 * request reads the CPU page tables of (pagetable.c)
 * @mni:   the notifier; its sequence decides whether what was read may be
 *         stored
 * @dm:    the mirror
 * @start: first address watched
 * @end:   end of the range watched
 */
struct dmirror_watch {
	struct mmu_interval_notifier mni;
	struct dmirror *dm;
	unsigned long start;
	unsigned long end;
};

/*
 * Access an entry of the device page table grants, kept in the two tag bits
 * of an xarray tagged pointer. Tag 2 is never used: the xarray reserves
 * that pattern for its internal entries.
 */
#define DMIRROR_PT_READ		0
#define DMIRROR_PT_WRITE	1
#define DMIRROR_PT_ATOMIC	3	/* write access, device-exclusive */

/* A device page-table entry: a struct page pointer tagged with its access. */
static inline void *dmirror_pt_entry(struct page *page, unsigned int access)
{
	return xa_tag_pointer(page, access);
}

/* The page and the access (DMIRROR_PT_*) of a device page-table entry. */
static inline struct page *dmirror_pt_page(void *entry)
{
	return xa_untag_pointer(entry);
}

static inline unsigned int dmirror_pt_access(void *entry)
{
	return xa_pointer_tag(entry);
}

/*
 * Between two steps of a loop whose length the request decides: give the
 * CPU away, and stop for a fatal signal. Return: 0 or -EINTR.
 */
static inline int dmirror_loop_check(void)
{
	if (fatal_signal_pending(current))
		return -EINTR;
	cond_resched();
	return 0;
}

/*
 * Copy one page of data. Device storage, kernel mappings of pages and
 * the bounce buffer are page aligned, and then copy_page() is the kernel's
 * own page copy (on x86 with REP_GOOD a "rep movsq", which QEMU TCG also
 * runs twice as fast as memcpy()'s register loop); a user buffer that
 * starts inside a page needs memcpy().
 */
static inline void dmirror_copy_data(void *dst, const void *src)
{
	if (PAGE_ALIGNED(dst) && PAGE_ALIGNED(src))
		copy_page(dst, (void *)src);
	else
		memcpy(dst, src, PAGE_SIZE);
}

/* registry.c */
void dmirror_registry_set(unsigned int id, struct dmirror_device *mdev);
struct dmirror_device *dmirror_registry_get(unsigned int id);

/* peer.c */
void *dmirror_peer_owner(struct dmirror_device *mdev);
struct dmirror_device *dmirror_peer_get(struct dmirror_device *mdev);

/* stats.c */
void dmirror_stat_add(struct dmirror *dm, enum dmirror_stat stat, s64 n);
int dmirror_debugfs_init(void);
void dmirror_debugfs_exit(void);
struct dentry *dmirror_debugfs_dir(void);
void dmirror_debugfs_add_device(struct dmirror_device *mdev);
void dmirror_debugfs_add_mm(struct dmirror_mm *dmm);
bool dmirror_debugfs_fail_sys_thp(void);

/* mm.c */
struct dmirror_mm *dmirror_mm_get(struct mm_struct *mm);
void dmirror_mm_put(struct dmirror_mm *dmm);
void dmirror_mm_add_mirror(struct dmirror_mm *dmm, struct dmirror *dm);
void dmirror_mm_del_mirror(struct dmirror_mm *dmm, struct dmirror *dm);

/* pagetable.c */
int dmirror_mirror_notifier_insert(struct dmirror *dm);
void dmirror_mirror_zap_all(struct dmirror *dm);
bool dmirror_mirror_lock_for_invalidate(struct dmirror *dm,
					const struct mmu_notifier_range *range);
int dmirror_mirror_store(struct dmirror_watch *w, unsigned long addr,
			 struct page *page, unsigned int access,
			 unsigned long seq);
int dmirror_watch_start(struct dmirror *dm, struct dmirror_watch *w,
			unsigned long start, unsigned long end);
void dmirror_watch_stop(struct dmirror_watch *w);
void dmirror_mirror_forget_filled(struct dmirror_device *mdev,
				  struct mm_struct *mm,
				  const struct migrate_vma *args);

/* devfault.c */
int dmirror_devfault(struct dmirror *dm, unsigned long *pfns,
		     unsigned long start, unsigned long end, bool write,
		     bool unlocked);
int dmirror_devfault_own(struct dmirror *dm, unsigned long *pfns,
			 unsigned long start, unsigned long end);

/* datapath.c */
int dmirror_mirror_read(struct dmirror *dm, struct hmm_dmirror_cmd *cmd);
int dmirror_mirror_read_unlocked(struct dmirror *dm,
				 struct hmm_dmirror_cmd *cmd);
int dmirror_mirror_write(struct dmirror *dm, struct hmm_dmirror_cmd *cmd);
int dmirror_mirror_readback(struct dmirror *dm, struct hmm_dmirror_cmd *cmd);
int dmirror_mirror_copy_out(struct dmirror *dm, struct hmm_dmirror_cmd *cmd);

/* mirror.c */
struct dmirror *dmirror_mirror_create(struct dmirror_device *mdev);
void dmirror_mirror_destroy(struct dmirror *dm);

/* compat_fault.c */
int dmirror_compat_range_fault_unlocked(struct hmm_range *range);

/* chunk.c */
int dmirror_devmem_check_params(void);
bool dmirror_devmem_large_enabled(void);
int dmirror_devmem_init(struct dmirror_device *mdev,
			const struct dmirror_devmem_ops *ops);
int dmirror_devmem_grow(struct dmirror_device *mdev);
void dmirror_chunk_destroy(struct dmirror_chunk *chunk);
void *dmirror_devmem_page_data(struct page *page);
void dmirror_copy_device_to_page(struct page *spage, struct page *dpage);

/* evict.c */
bool dmirror_devmem_evict_oldest(struct dmirror_device *mdev,
				 const struct dmirror_span *req, u64 *floor);
unsigned long dmirror_devmem_evict_range(struct dmirror_device *mdev,
					 unsigned long first_pfn,
					 unsigned long npages);
long dmirror_devmem_evict_mm(struct dmirror_device *mdev,
			     const struct mm_struct *mm);

/* devmem.c */
unsigned int dmirror_devmem_alloc(struct dmirror_device *mdev,
				  struct page **pages, unsigned int n,
				  const struct dmirror_span *req);
void dmirror_devmem_set_addr(struct page *page, unsigned long addr,
			     unsigned long nr);
struct page *dmirror_devmem_alloc_large(struct dmirror_device *mdev,
					const struct mm_struct *mm);
int dmirror_devmem_release(struct dmirror_device *mdev, bool wait);

/* split.c */
void dmirror_split_init(struct dmirror_device *mdev);
void dmirror_split_flush(struct dmirror_device *mdev);
bool dmirror_split_folio(struct dmirror_device *mdev, struct folio *folio);
bool dmirror_split_pending(struct dmirror_device *mdev, struct folio *folio);
void dmirror_split_fault(struct dmirror_device *mdev, struct vm_fault *vmf);

/* migrate_dev.c */
int dmirror_migrate_to_dev(struct dmirror *dm, struct hmm_dmirror_cmd *cmd);
void dmirror_coherent_exclude_begin(void);
void dmirror_coherent_exclude_end(void);

/* migrate_sys.c */
int dmirror_migrate_to_sys(struct dmirror *dm, struct hmm_dmirror_cmd *cmd);
void dmirror_migrate_evict_mm(struct dmirror *dm);
void dmirror_migrate_coherent_home(struct mm_struct *mm, unsigned long start,
				   unsigned long end);

/* cpufault.c */
vm_fault_t dmirror_migrate_to_ram(struct vm_fault *vmf);

/* exclusive.c */
int dmirror_exclusive(struct dmirror *dm, struct hmm_dmirror_cmd *cmd);
int dmirror_check_exclusive(struct dmirror *dm, struct hmm_dmirror_cmd *cmd);

/* mmap.c */
int dmirror_mmap(struct file *filp, struct vm_area_struct *vma);

/* snapshot.c */
int dmirror_snapshot(struct dmirror *dm, struct hmm_dmirror_cmd *cmd);

/* chardev.c */
int dmirror_chardev_init(void);
void dmirror_chardev_exit(void);
int dmirror_chardev_add(unsigned int id, enum hmm_dmirror_memory_type mtype,
			phys_addr_t spm_base);

/* ioctl.c */
long dmirror_ioctl(struct file *filp, unsigned int cmd, unsigned long arg);

#endif /* _HMM_DMIRROR_DMIRROR_H */
