package builder

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"
)

// resultCache keeps built results by content: one directory per key
// (key.go's cacheKey) holding the artefact, its SBOM and meta.json. It
// holds at most max bytes; the least recently used entries go first. Use
// is recorded as meta.json's modification time, so the order survives a
// restart.
type resultCache struct {
	dir     string
	max     int64
	metrics *webMetrics

	mu      sync.Mutex
	entries map[string]*cacheEntry
	size    int64
}

// builtFile is what a build made, as the cache keeps it (meta.json) and
// the page shows it (apiResult): the fields are the same in both.
type builtFile struct {
	File     string   `json:"file"` // the artefact's file name
	Size     int64    `json:"size"`
	SHA256   string   `json:"sha256"`
	Artifact string   `json:"artifact"`
	Platform string   `json:"platform"`
	Features []string `json:"features"`
	// FeaturesText is what the binary's --features printed, or, for a
	// binary that cannot run here, what its build information says.
	FeaturesText string `json:"features_text"`
}

// cacheEntry describes one cached result (meta.json).
type cacheEntry struct {
	Key string `json:"key"`
	builtFile
	BuiltIn time.Duration `json:"built_in_ns"`
	Built   time.Time     `json:"built"`

	used time.Time
}

// sbomFile is the SBOM's name in an entry's directory.
const sbomFile = "navius.cdx.json"

func openCache(dir string, max int64, metrics *webMetrics) (*resultCache, error) {
	c := &resultCache{dir: dir, max: max, metrics: metrics, entries: map[string]*cacheEntry{}}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	// Leftovers of builds a crash interrupted.
	if err := os.RemoveAll(c.tmpDir()); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(c.tmpDir(), 0o700); err != nil {
		return nil, err
	}
	dirs, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	for _, d := range dirs {
		if !d.IsDir() || d.Name() == "tmp" {
			continue
		}
		e, err := readEntry(filepath.Join(dir, d.Name()))
		if err != nil || e.Key != d.Name() {
			// Not one of ours, or half written: a stray the cache never serves.
			_ = os.RemoveAll(filepath.Join(dir, d.Name()))
			continue
		}
		c.entries[e.Key] = e
		c.size += e.Size
	}
	c.evict("")
	c.report()
	return c, nil
}

func readEntry(dir string) (*cacheEntry, error) {
	meta := filepath.Join(dir, "meta.json")
	data, err := os.ReadFile(meta)
	if err != nil {
		return nil, err
	}
	var e cacheEntry
	if err := json.Unmarshal(data, &e); err != nil {
		return nil, err
	}
	st, err := os.Stat(filepath.Join(dir, e.File))
	if err != nil || st.Size() != e.Size {
		return nil, errors.New("artefact missing or of another size")
	}
	if mt, err := os.Stat(meta); err == nil {
		e.used = mt.ModTime()
	}
	return &e, nil
}

// sweepTmp empties tmp/ while no build runs: a go build killed by a
// cancellation cannot remove its own work directory.
func (c *resultCache) sweepTmp() {
	entries, _ := os.ReadDir(c.tmpDir())
	for _, e := range entries {
		_ = os.RemoveAll(filepath.Join(c.tmpDir(), e.Name()))
	}
}

// tmpDir is where builds make their temporary directories.
func (c *resultCache) tmpDir() string { return filepath.Join(c.dir, "tmp") }

// path is the artefact's path in the cache.
func (c *resultCache) path(e *cacheEntry, name string) string {
	return filepath.Join(c.dir, e.Key, name)
}

// get returns the entry of key, marking it used; nil when absent.
func (c *resultCache) get(key string) *cacheEntry {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.entries[key]
	if e != nil {
		c.touch(e)
	}
	return e
}

func (c *resultCache) touch(e *cacheEntry) {
	e.used = time.Now()
	_ = os.Chtimes(filepath.Join(c.dir, e.Key, "meta.json"), e.used, e.used)
}

// put moves the directory staged (holding e.File and the SBOM) into the
// cache as e's entry and evicts the least recently used entries beyond
// the bound.
func (c *resultCache) put(e *cacheEntry, staged string) (*cacheEntry, error) {
	data, err := json.MarshalIndent(e, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(staged, "meta.json"), data, 0o644); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if old := c.entries[e.Key]; old != nil {
		c.touch(old)
		return old, nil
	}
	if err := os.Rename(staged, filepath.Join(c.dir, e.Key)); err != nil {
		return nil, fmt.Errorf("storing the result in the cache: %v", err)
	}
	c.entries[e.Key] = e
	c.size += e.Size
	c.touch(e)
	c.evict(e.Key)
	c.report()
	return e, nil
}

// evict removes least recently used entries until the cache is within its
// bound, never keep (the entry just added, even when it alone is larger).
// A file being downloaded stays readable until its download ends.
func (c *resultCache) evict(keep string) {
	if c.size <= c.max {
		return
	}
	var order []*cacheEntry
	for _, e := range c.entries {
		order = append(order, e)
	}
	sort.Slice(order, func(i, j int) bool { return order[i].used.Before(order[j].used) })
	for _, e := range order {
		if c.size <= c.max {
			break
		}
		if e.Key == keep {
			continue
		}
		if err := os.RemoveAll(filepath.Join(c.dir, e.Key)); err != nil {
			continue
		}
		delete(c.entries, e.Key)
		c.size -= e.Size
		c.metrics.add(&c.metrics.evictions, 1)
	}
}

func (c *resultCache) report() {
	c.metrics.setCache(int64(len(c.entries)), c.size)
}
