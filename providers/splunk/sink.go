package splunk

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/navius-dev/navius/internal/gzipbody"
	"github.com/navius-dev/navius/providers"
)

// ErrClosed is returned by Flush after Close.
var ErrClosed = errors.New("splunk: sink closed")

// Sink is a log sink that delivers to Splunk HEC. Create it with New.
type Sink struct {
	cfg     Config
	client  *http.Client
	enc     *encoder
	auth    string
	channel string // indexer-acknowledgement channel (a UUID), "" without ack

	eventURL, ackURL, healthURL string

	// mu guards closed against Writes racing Close, so every entry is
	// either queued before the final drain or counted as dropped.
	mu     sync.RWMutex
	closed bool
	queue  chan []byte

	queued, queuedBytes atomic.Int64
	accepted, dropped   atomic.Uint64
	sent, failed        atomic.Uint64
	batches, retries    atomic.Uint64

	droppedSinceWarn atomic.Uint64
	lastDropWarn     atomic.Int64
	lastRetryWarn    atomic.Int64

	flushes  chan chan struct{}
	stop     chan struct{}
	stopOnce sync.Once
	done     chan struct{}
	ctx      context.Context // cancelled when the shutdown deadline passes
	cancel   context.CancelFunc
	closeErr error

	// Owned by the sender goroutine.
	reported map[string]bool
	pending  map[int64]*pendingBatch
	zw       gzipbody.Compressor
	scratch  []byte
}

type pendingBatch struct {
	body    []byte // as sent (maybe gzipped)
	events  int
	raw     int64
	sentAt  time.Time
	resends int
}

// batch is events gathered for one request.
type batch struct {
	buf    bytes.Buffer
	events int
}

const maxPendingAcks = 64

// New checks cfg, fills in defaults and starts the sender goroutine.
func New(cfg Config) (*Sink, error) {
	c, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	client := c.Client
	if client == nil {
		tc, err := c.TLS.Config("splunk", "")
		if err != nil {
			return nil, err
		}
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig = tc
		tr.MaxIdleConnsPerHost = 4
		client = &http.Client{Transport: tr}
	}
	s := &Sink{
		cfg: c, client: client, enc: newEncoder(c), auth: "Splunk " + c.Token,
		eventURL: c.Endpoint + EventPath, ackURL: c.Endpoint + AckPath, healthURL: c.Endpoint + HealthPath,
		queue:    make(chan []byte, c.QueueSize),
		flushes:  make(chan chan struct{}),
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
		reported: map[string]bool{},
		pending:  map[int64]*pendingBatch{},
	}
	if c.Ack {
		s.channel = newUUID()
		s.ackURL += "?channel=" + s.channel
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	go s.run()
	return s, nil
}

func newUUID() string {
	var b [16]byte
	_, _ = crand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// Write queues one entry; it never waits on the network. When the queue is
// full (splunk.queue_size events or splunk.queue_bytes bytes) the entry is
// dropped and counted.
func (s *Sink) Write(e *providers.LogEntry) {
	b := s.enc.encode(make([]byte, 0, 256+len(e.Message)+64*len(e.Fields)), e)
	n := int64(len(b))
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		s.drop()
		return
	}
	if n > s.cfg.BatchBytes { // could never be sent
		s.drop()
		return
	}
	if s.queued.Add(1) > int64(s.cfg.QueueSize) {
		s.queued.Add(-1)
		s.drop()
		return
	}
	if s.queuedBytes.Add(n) > s.cfg.QueueBytes {
		s.queuedBytes.Add(-n)
		s.queued.Add(-1)
		s.drop()
		return
	}
	s.accepted.Add(1)
	s.queue <- b // never blocks: the counters keep it below its capacity
}

func (s *Sink) drop() {
	s.dropped.Add(1)
	since := s.droppedSinceWarn.Add(1)
	now := time.Now().UnixNano()
	last := s.lastDropWarn.Load()
	if now-last < int64(s.cfg.WarnInterval) || !s.lastDropWarn.CompareAndSwap(last, now) {
		return
	}
	s.droppedSinceWarn.Add(-since)
	s.cfg.Console(providers.LevelWarn, "splunk: dropping log entries: the log queue is full (Splunk HEC is slow or unreachable) or an entry exceeds splunk.batch_bytes", map[string]any{
		"dropped_since_last_warning": since, "dropped_total": s.dropped.Load(),
		"queue_size": s.cfg.QueueSize, "queue_bytes": s.cfg.QueueBytes, "endpoint": providers.Redact(s.cfg.Endpoint),
	})
}

// Stats returns the delivery counters.
func (s *Sink) Stats() providers.LogSinkStats {
	return providers.LogSinkStats{
		Accepted: s.accepted.Load(), Dropped: s.dropped.Load(),
		Sent: s.sent.Load(), Failed: s.failed.Load(),
		Queued: s.queued.Load(), QueuedBytes: s.queuedBytes.Load(),
		Batches: s.batches.Load(), Retries: s.retries.Load(),
	}
}

// Flush delivers everything queued before the call (and waits for its
// acknowledgement with ack on), or returns an error when ctx ends first or
// splunk.shutdown_timeout passes (navius flushes at shutdown, which that
// option bounds); delivery then goes on in the background.
func (s *Sink) Flush(ctx context.Context) error {
	ctx, cancel := context.WithTimeoutCause(ctx, s.cfg.ShutdownTimeout,
		fmt.Errorf("queued entries undelivered within splunk.shutdown_timeout (%s)", s.cfg.ShutdownTimeout))
	defer cancel()
	done := make(chan struct{})
	select {
	case s.flushes <- done:
	case <-s.done:
		return ErrClosed
	case <-ctx.Done():
		return context.Cause(ctx)
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// Close stops accepting entries and delivers the queue within the
// configured shutdown deadline (or ctx's, if sooner). Entries still
// undelivered then are counted as failed and reported on the console.
func (s *Sink) Close(ctx context.Context) error {
	s.stopOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
		failedBefore := s.failed.Load()
		dctx, cancel := context.WithTimeout(ctx, s.cfg.ShutdownTimeout)
		defer cancel()
		close(s.stop)
		select {
		case <-s.done:
		case <-dctx.Done():
			s.cancel() // abort the request or retry in progress
			<-s.done
		}
		s.cancel()
		// Whatever the sender did not get to is lost.
		lost := uint64(0)
		for {
			select {
			case b := <-s.queue:
				lost++
				s.release(1, int64(len(b)))
				continue
			default:
			}
			break
		}
		for id, p := range s.pending {
			lost += uint64(p.events)
			s.release(p.events, p.raw)
			delete(s.pending, id)
		}
		if lost > 0 {
			s.failed.Add(lost)
		}
		lost = s.failed.Load() - failedBefore // given up while closing, or never sent
		if st := s.Stats(); st.Failed > 0 || st.Dropped > 0 || lost > 0 {
			s.cfg.Console(providers.LevelWarn, "splunk: log sink closed with undelivered entries", map[string]any{
				"lost_at_shutdown": lost, "failed_total": st.Failed, "dropped_total": st.Dropped, "sent_total": st.Sent,
				"shutdown_timeout": s.cfg.ShutdownTimeout.String(),
			})
			if lost > 0 {
				s.closeErr = fmt.Errorf("splunk: %d log entries not delivered within splunk.shutdown_timeout (%s)", lost, s.cfg.ShutdownTimeout)
			}
		}
		s.client.CloseIdleConnections()
	})
	return s.closeErr
}

func (s *Sink) release(events int, raw int64) {
	s.queued.Add(-int64(events))
	s.queuedBytes.Add(-raw)
}

// run is the sender goroutine: it gathers batches from the queue and sends
// them when full, on the flush interval, on Flush and on Close.
func (s *Sink) run() {
	defer close(s.done)
	b := &batch{}
	tick := time.NewTicker(s.cfg.FlushInterval)
	defer tick.Stop()
	var ackTick <-chan time.Time
	if s.cfg.Ack {
		t := time.NewTicker(s.cfg.AckPollInterval)
		defer t.Stop()
		ackTick = t.C
	}
	for {
		select {
		case e := <-s.queue:
			s.add(s.ctx, b, e)
		case <-tick.C:
			s.send(s.ctx, b)
		case <-ackTick:
			s.pollAcks(s.ctx)
		case done := <-s.flushes:
			s.drain(s.ctx, b, len(s.queue))
			s.waitAcks(s.ctx, nil)
			close(done)
		case <-s.stop:
			s.drain(s.ctx, b, -1)
			s.waitAcks(s.ctx, nil)
			return
		}
	}
}

// drain moves up to n queued entries (all with n < 0, the queue being
// closed to writers) into batches and sends them.
func (s *Sink) drain(ctx context.Context, b *batch, n int) {
	for i := 0; n < 0 || i < n; i++ {
		select {
		case e := <-s.queue:
			s.add(ctx, b, e)
			continue
		default:
		}
		break
	}
	s.send(ctx, b)
}

func (s *Sink) add(ctx context.Context, b *batch, e []byte) {
	if b.events > 0 && int64(b.buf.Len()+len(e)) > s.cfg.BatchBytes {
		s.send(ctx, b)
	}
	b.buf.Write(e)
	b.events++
	if b.events >= s.cfg.BatchSize {
		s.send(ctx, b)
	}
}

// send delivers the batch (with retries) and empties it.
func (s *Sink) send(ctx context.Context, b *batch) {
	if b.events == 0 {
		return
	}
	raw := int64(b.buf.Len())
	body := b.buf.Bytes()
	if s.cfg.Gzip {
		body = s.zw.Compress(body)
	} else {
		body = bytes.Clone(body)
	}
	events := b.events
	b.buf.Reset()
	b.events = 0
	if s.cfg.Ack {
		for len(s.pending) >= maxPendingAcks && ctx.Err() == nil {
			s.waitAcks(ctx, func() bool { return len(s.pending) < maxPendingAcks })
		}
	}
	s.deliver(ctx, &pendingBatch{body: body, events: events, raw: raw})
}

// outcome of one POST.
type outcome struct {
	status     int
	code       int
	ackID      int64
	retryAfter time.Duration
	err        error // transport error
	body       []byte
}

func (s *Sink) post(ctx context.Context, url string, body []byte, gzipped bool) outcome {
	rctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return outcome{err: err, code: -1, ackID: -1}
	}
	req.Header.Set("Authorization", s.auth)
	req.Header.Set("Content-Type", "application/json")
	if gzipped {
		req.Header.Set("Content-Encoding", "gzip")
	}
	if s.channel != "" {
		req.Header.Set("X-Splunk-Request-Channel", s.channel)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return outcome{err: err, code: -1, ackID: -1}
	}
	defer resp.Body.Close()
	rb, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	r, code := parseReply(rb)
	o := outcome{status: resp.StatusCode, code: code, ackID: -1, body: rb, retryAfter: retryAfter(resp.Header, time.Now())}
	if r.AckID != nil {
		o.ackID = *r.AckID
	}
	return o
}

// deliver posts a batch until it succeeds, is rejected for good, runs out
// of retries or ctx ends. Success without ack counts the events as sent;
// with ack the batch waits in s.pending for its acknowledgement.
func (s *Sink) deliver(ctx context.Context, p *pendingBatch) {
	backoff := s.cfg.RetryBackoff
	for attempt := 0; ; attempt++ {
		o := s.post(ctx, s.eventURL, p.body, s.cfg.Gzip)
		switch {
		case o.err == nil && o.status/100 == 2:
			s.batches.Add(1)
			clear(s.reported)
			if s.cfg.Ack && o.ackID >= 0 {
				p.sentAt = time.Now()
				s.pending[o.ackID] = p
				return
			}
			s.sent.Add(uint64(p.events))
			s.release(p.events, p.raw)
			return
		case o.err == nil && !transient(o.status):
			s.fail(p)
			s.reportOnce(o.status, o.code, o.body)
			return
		}
		// Transient: unreachable, 429, 500, 503, ...
		if ctx.Err() != nil { // the shutdown deadline passed; Close reports the loss
			s.fail(p)
			return
		}
		if s.cfg.MaxRetries > 0 && attempt >= s.cfg.MaxRetries {
			s.fail(p)
			s.cfg.Console(providers.LevelError, "splunk: giving up on a batch of log entries", map[string]any{
				"events": p.events, "attempts": attempt + 1, "last_error": s.describe(o), "endpoint": providers.Redact(s.cfg.Endpoint),
			})
			return
		}
		wait := backoff
		if o.retryAfter > 0 {
			wait = min(o.retryAfter, 5*time.Minute)
		} else {
			wait = wait/2 + rand.N(wait/2+1) // jitter
			backoff = min(backoff*2, s.cfg.RetryMaxBackoff)
		}
		s.retries.Add(1)
		s.warnRetry(o, wait)
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
		}
	}
}

func (s *Sink) fail(p *pendingBatch) {
	s.failed.Add(uint64(p.events))
	s.release(p.events, p.raw)
}

// describe renders an outcome for the console; the token never appears
// (receivers may echo the Authorization header back).
func (s *Sink) describe(o outcome) string {
	if o.err != nil {
		return s.scrub(o.err.Error())
	}
	return describeStatus(o.status, o.code)
}

func (s *Sink) scrub(msg string) string {
	if s.cfg.Token != "" {
		msg = strings.ReplaceAll(msg, s.cfg.Token, "xxxxx")
	}
	return msg
}

func (s *Sink) warnRetry(o outcome, wait time.Duration) {
	now := time.Now().UnixNano()
	last := s.lastRetryWarn.Load()
	if now-last < int64(s.cfg.WarnInterval) || !s.lastRetryWarn.CompareAndSwap(last, now) {
		return
	}
	s.cfg.Console(providers.LevelWarn, "splunk: HEC did not take a batch of log entries; retrying", map[string]any{
		"reason": s.describe(o), "retry_in": wait.String(), "endpoint": providers.Redact(s.cfg.Endpoint),
	})
}

// reportOnce reports a permanent rejection once per HTTP status and HEC
// code (again only after a batch went through in between).
func (s *Sink) reportOnce(status, code int, body []byte) {
	key := strconv.Itoa(status) + "/" + strconv.Itoa(code)
	if s.reported[key] {
		return
	}
	s.reported[key] = true
	fields := map[string]any{
		"http_status": status, "hec_code": code, "meaning": Meaning(code),
		"fix": hint(status, code), "endpoint": providers.Redact(s.cfg.Endpoint),
	}
	if code < 0 {
		fields["meaning"] = http.StatusText(status)
		if txt := strings.TrimSpace(s.scrub(string(body))); txt != "" {
			fields["reply"] = truncate(txt, 200)
		}
	}
	s.cfg.Console(providers.LevelError, "splunk: HEC rejected a batch of log entries ("+describeStatus(status, code)+"); the batch is dropped, later rejections with this code are only counted", fields)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// pollAcks asks HEC which pending batches are indexed, and resends those
// waiting longer than splunk.ack_timeout.
func (s *Sink) pollAcks(ctx context.Context) {
	if len(s.pending) == 0 {
		return
	}
	s.scratch = append(s.scratch[:0], `{"acks":[`...)
	first := true
	for id := range s.pending {
		if !first {
			s.scratch = append(s.scratch, ',')
		}
		first = false
		s.scratch = strconv.AppendInt(s.scratch, id, 10)
	}
	s.scratch = append(s.scratch, "]}"...)
	o := s.post(ctx, s.ackURL, s.scratch, false)
	if o.err == nil && o.status == http.StatusOK {
		var r struct {
			Acks map[string]bool `json:"acks"`
		}
		if jsonUnmarshal(o.body, &r) == nil {
			for k, ok := range r.Acks {
				id, err := strconv.ParseInt(k, 10, 64)
				if p := s.pending[id]; err == nil && ok && p != nil {
					s.sent.Add(uint64(p.events))
					s.release(p.events, p.raw)
					delete(s.pending, id)
				}
			}
		}
	} else if o.err == nil && !transient(o.status) {
		s.reportOnce(o.status, o.code, o.body)
	}
	now := time.Now()
	for id, p := range s.pending {
		if now.Sub(p.sentAt) < s.cfg.AckTimeout || ctx.Err() != nil {
			continue
		}
		delete(s.pending, id)
		p.resends++
		if s.cfg.MaxRetries > 0 && p.resends > s.cfg.MaxRetries {
			s.fail(p)
			s.cfg.Console(providers.LevelError, "splunk: giving up on a batch HEC never acknowledged", map[string]any{"events": p.events, "resends": p.resends - 1})
			continue
		}
		s.retries.Add(1)
		s.deliver(ctx, p)
	}
}

// waitAcks polls until no batch awaits acknowledgement (or until ok says
// enough), or ctx ends.
func (s *Sink) waitAcks(ctx context.Context, ok func() bool) {
	for len(s.pending) > 0 && (ok == nil || !ok()) && ctx.Err() == nil {
		s.pollAcks(ctx)
		if len(s.pending) == 0 || (ok != nil && ok()) {
			return
		}
		t := time.NewTimer(min(s.cfg.AckPollInterval, 200*time.Millisecond))
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
		}
	}
}
