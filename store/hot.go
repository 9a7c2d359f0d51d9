package store

import (
	"container/list"
	"crypto/cipher"
	"sync"
)

// hotCache keeps the sealed chunks of recently committed messages in
// memory, so that the common case, a recipient fetching a message moments
// after it was committed, costs no database read. (Each read transaction
// after a commit finds the WAL changed, drops its page cache and re-reads
// every page: profiling showed reads taking more CPU than writes.)
//
// It holds ciphertext only, plus each message's recipients, which
// ReadFor checks on every request exactly as the database query does.
// Every change to a cached message's readers must go through the store
// and evict it here; today deliveries are only ever added at commit.
type hotCache struct {
	mu    sync.Mutex
	max   int
	used  int
	items map[string]*list.Element
	order *list.List // oldest first
}

type hotMessage struct {
	id         string
	aead       cipher.AEAD
	size       int64
	chunkSize  int
	chunks     [][]byte // sealed, by seq
	recipients map[string]bool
	bytes      int
}

func newHotCache(max int) *hotCache {
	return &hotCache{max: max, items: map[string]*list.Element{}, order: list.New()}
}

func (c *hotCache) put(m *hotMessage) {
	if c.max <= 0 || m.bytes > c.max/4 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.items[m.id]; ok {
		return
	}
	c.items[m.id] = c.order.PushBack(m)
	c.used += m.bytes
	for c.used > c.max {
		c.removeLocked(c.order.Front())
	}
}

func (c *hotCache) get(id string) *hotMessage {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.items[id]; ok {
		return e.Value.(*hotMessage)
	}
	return nil
}

func (c *hotCache) evict(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.items[id]; ok {
		c.removeLocked(e)
	}
}

// played drops a recipient's claim; the message leaves the cache once
// every recipient has played it.
func (c *hotCache) played(id, recipient string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.items[id]
	if !ok {
		return
	}
	m := e.Value.(*hotMessage)
	m.recipients[recipient] = false
	for _, waiting := range m.recipients {
		if waiting {
			return
		}
	}
	c.removeLocked(e)
}

func (c *hotCache) removeLocked(e *list.Element) {
	m := c.order.Remove(e).(*hotMessage)
	delete(c.items, m.id)
	c.used -= m.bytes
}
