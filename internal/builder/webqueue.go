package builder

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/sirupsen/logrus"
)

// buildRequest is one checked build request.
type buildRequest struct {
	sel      *selection
	platform string // goos/goarch
	artifact string // binary, archive, image
	key      string // the result cache's key (cacheKey)
	client   string // who asked, for the per-client limit
}

// job is a build in the queue, running, or finished. Its id is random and
// unguessable: its events, status and download are reached by it.
type job struct {
	id      string
	req     buildRequest
	created time.Time
	ctx     context.Context
	cancel  context.CancelFunc

	mu      sync.Mutex
	events  []jobEvent
	changed chan struct{} // closed and replaced at each event
	state   string        // queued, running, done, failed, cancelled
	result  *cacheEntry
	err     string
	// errStatus answers a failed job: 422 for a module its verification
	// refused, 500 for a build that failed.
	errStatus int
}

// jobEvent is one server-sent event of a job's progress.
type jobEvent struct {
	ID   int
	Type string // queued, stage, log, done, failed
	Data any
}

// finished reports whether the job ended (done, failed or cancelled).
func (j *job) finished() bool {
	return j.state == "done" || j.state == "failed" || j.state == "cancelled"
}

// emit appends an event and wakes the job's listeners.
func (j *job) emit(typ string, data any) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.events = append(j.events, jobEvent{ID: len(j.events) + 1, Type: typ, Data: data})
	close(j.changed)
	j.changed = make(chan struct{})
}

// since returns the events after id, whether the job has ended, and a
// channel closed at the next event.
func (j *job) since(id int) ([]jobEvent, bool, <-chan struct{}) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if id < 0 || id > len(j.events) {
		id = 0
	}
	return append([]jobEvent(nil), j.events[id:]...), j.finished(), j.changed
}

// status is GET /api/builds/{id}.
type jobStatus struct {
	ID       string     `json:"id"`
	State    string     `json:"state"`
	Features []string   `json:"features"`
	Platform string     `json:"platform"`
	Artifact string     `json:"artifact"`
	Error    string     `json:"error,omitempty"`
	Result   *apiResult `json:"result,omitempty"`
	Position int        `json:"position,omitempty"`
	Events   string     `json:"events"`
}

// buildQueue runs jobs, at most limit at once, in the order they came. A
// request for a result already being built joins that job.
type buildQueue struct {
	limit, maxWaiting, perClient int
	run                          func(context.Context, *job) (*cacheEntry, error)
	metrics                      *webMetrics
	log                          *logrus.Logger
	// idle runs, under the queue's lock, whenever no build is running.
	idle func()

	mu      sync.Mutex
	waiting []*job
	running int
	active  map[string]*job // by cache key, queued or running
	byID    map[string]*job // active and the most recent finished ones
	done    []string        // finished ids, oldest first
	stopped bool
	wg      sync.WaitGroup
}

// keepFinished bounds the finished jobs remembered by id.
const keepFinished = 512

func newBuildQueue(limit, maxWaiting, perClient int, run func(context.Context, *job) (*cacheEntry, error), m *webMetrics, log *logrus.Logger) *buildQueue {
	return &buildQueue{limit: limit, maxWaiting: maxWaiting, perClient: perClient, run: run, metrics: m, log: log,
		active: map[string]*job{}, byID: map[string]*job{}}
}

// limitError is a refusal for a limit, with the status to answer.
func limitError(status int, format string, args ...any) error {
	return &requestError{status: status, msg: fmt.Sprintf(format, args...)}
}

// submit queues req, or joins the job already building the same result.
func (q *buildQueue) submit(req buildRequest) (*job, bool, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.stopped {
		return nil, false, limitError(http.StatusServiceUnavailable, "the builder is shutting down")
	}
	if j := q.active[req.key]; j != nil {
		return j, true, nil
	}
	mine := 0
	for _, j := range q.active {
		if j.req.client == req.client {
			mine++
		}
	}
	if mine >= q.perClient {
		return nil, false, limitError(http.StatusTooManyRequests, "you have %d builds queued or running, and this builder allows %d per client: wait for one to finish (or cancel one), then ask again", mine, q.perClient)
	}
	if len(q.waiting) >= q.maxWaiting {
		return nil, false, limitError(http.StatusServiceUnavailable, "the build queue is full (%d builds waiting): try again in a minute", len(q.waiting))
	}
	id := make([]byte, 16)
	_, _ = rand.Read(id)
	ctx, cancel := context.WithCancel(context.Background())
	j := &job{id: hex.EncodeToString(id), req: req, created: time.Now(), ctx: ctx, cancel: cancel, changed: make(chan struct{}), state: "queued"}
	q.active[req.key] = j
	q.byID[j.id] = j
	q.waiting = append(q.waiting, j)
	q.dispatch()
	return j, false, nil
}

// dispatch starts waiting jobs while there is room, and tells each
// waiting one its place. q.mu is held.
func (q *buildQueue) dispatch() {
	for !q.stopped && q.running < q.limit && len(q.waiting) > 0 {
		j := q.waiting[0]
		q.waiting = q.waiting[1:]
		q.running++
		q.wg.Add(1)
		go q.execute(j)
	}
	for i, j := range q.waiting {
		j.emit("queued", map[string]int{"position": i + 1, "waiting": len(q.waiting), "running": q.running})
	}
	q.metrics.setQueue(len(q.waiting), q.running)
}

func (q *buildQueue) execute(j *job) {
	defer q.wg.Done()
	j.mu.Lock()
	j.state = "running"
	j.mu.Unlock()
	// No event here: the job's first stage (resolving) says it started.
	start := time.Now()
	entry, err := q.run(j.ctx, j)
	if err != nil && j.ctx.Err() != nil {
		err = context.Canceled // go build reports its kill, not why
	}
	j.cancel()
	fields := logrus.Fields{"build": j.id[:8], "features": j.req.sel.Spec, "platform": j.req.platform, "artifact": j.req.artifact,
		"client": j.req.client, "duration": time.Since(start).Round(time.Millisecond).String()}
	switch {
	case err == nil:
		q.metrics.observeBuild(time.Since(start))
		q.log.WithFields(fields).WithField("sha256", entry.SHA256).Info("build done")
	case errors.Is(err, context.Canceled):
		q.metrics.add(&q.metrics.cancelled, 1)
		q.log.WithFields(fields).Warn("build cancelled")
	default:
		q.metrics.add(&q.metrics.failed, 1)
		q.log.WithFields(fields).WithField("error", err.Error()).Warn("build failed")
	}
	j.finish(entry, err)
	q.mu.Lock()
	defer q.mu.Unlock()
	q.running--
	if q.running == 0 && q.idle != nil {
		q.idle() // no build runs: what a killed go build left can go
	}
	delete(q.active, j.req.key)
	q.done = append(q.done, j.id)
	if len(q.done) > keepFinished {
		delete(q.byID, q.done[0])
		q.done = q.done[1:]
	}
	q.dispatch()
}

// finish records the outcome and sends the last event.
func (j *job) finish(entry *cacheEntry, err error) {
	j.mu.Lock()
	switch {
	case err == nil:
		j.state, j.result = "done", entry
	case errors.Is(err, context.Canceled):
		j.state, j.err, j.errStatus = "cancelled", "the build was cancelled", http.StatusConflict
	default:
		j.state, j.err, j.errStatus = "failed", err.Error(), http.StatusInternalServerError
		var re *requestError
		if errors.As(err, &re) {
			j.errStatus = re.status
		}
	}
	state, msg := j.state, j.err
	j.mu.Unlock()
	if state == "done" {
		j.emit("done", map[string]string{"id": j.id})
	} else {
		j.emit("failed", map[string]string{"error": msg, "state": state})
	}
}

// finishedFrom makes an ended job of a cached result, so that a cache hit
// has an id like any build.
func (q *buildQueue) finishedFrom(req buildRequest, e *cacheEntry) *job {
	id := make([]byte, 16)
	_, _ = rand.Read(id)
	j := &job{id: hex.EncodeToString(id), req: req, created: time.Now(), changed: make(chan struct{})}
	j.ctx, j.cancel = context.WithCancel(context.Background())
	j.cancel()
	j.finish(e, nil)
	q.mu.Lock()
	defer q.mu.Unlock()
	q.byID[j.id] = j
	q.done = append(q.done, j.id)
	if len(q.done) > keepFinished {
		delete(q.byID, q.done[0])
		q.done = q.done[1:]
	}
	return j
}

// get finds a job by id.
func (q *buildQueue) get(id string) *job {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.byID[id]
}

// position is a queued job's place (1 is next), 0 when not waiting.
func (q *buildQueue) position(j *job) int {
	q.mu.Lock()
	defer q.mu.Unlock()
	for i, w := range q.waiting {
		if w == j {
			return i + 1
		}
	}
	return 0
}

// cancelJob cancels a queued or running job.
func (q *buildQueue) cancelJob(j *job) {
	q.mu.Lock()
	for i, w := range q.waiting {
		if w == j {
			q.waiting = append(q.waiting[:i], q.waiting[i+1:]...)
			delete(q.active, j.req.key)
			q.done = append(q.done, j.id)
			q.mu.Unlock()
			j.cancel()
			q.metrics.add(&q.metrics.cancelled, 1)
			j.finish(nil, context.Canceled)
			q.mu.Lock()
			q.dispatch()
			q.mu.Unlock()
			return
		}
	}
	q.mu.Unlock()
	j.cancel() // a running one ends through execute
}

// stop cancels every job and waits for the running ones to clean up.
func (q *buildQueue) stop() {
	q.mu.Lock()
	if q.stopped {
		q.mu.Unlock()
		return
	}
	q.stopped = true
	waiting := q.waiting
	q.waiting = nil
	var all []*job
	for _, j := range q.active {
		all = append(all, j)
	}
	q.mu.Unlock()
	for _, j := range all {
		j.cancel()
	}
	for _, j := range waiting {
		j.finish(nil, context.Canceled)
	}
	q.wg.Wait()
}

// jsonData renders an event's data.
func (e jobEvent) jsonData() string {
	data, _ := json.Marshal(e.Data)
	return string(data)
}
