package redis

import (
	"context"
	"sync"

	goredis "github.com/redis/go-redis/v9"
)

// pipeline merges the commands of concurrent requests into shared
// pipelines. Alone, each request costs a write and a read system call on
// its connection, and those calls are most of a GET's CPU (PERF-NOTES.md);
// through a pipeline one write carries the commands of every request that
// was waiting, as rueidis does on its own. A request never waits for others
// to arrive: a worker takes whatever is queued when it becomes free, so at
// low load a command goes out at once, and under load batches grow by
// themselves.
type pipeline struct {
	c      client
	queue  chan *pipeCall
	wg     sync.WaitGroup
	mu     sync.RWMutex // held to send on queue, and to close it
	closed bool
}

// pipeCall is one request's commands; done closes once their replies (or
// errors) are in.
type pipeCall struct {
	ctx  context.Context
	cmds []goredis.Cmder
	done chan struct{}
}

// pipelineWorkers is how many shared pipelines a database keeps in flight
// (each on a connection of its own).
const pipelineWorkers = 4

// maxPipelined bounds the commands of one shared pipeline, so that one
// reply read stays bounded too.
const maxPipelined = 256

var callPool = sync.Pool{New: func() any { return &pipeCall{done: make(chan struct{}, 1)} }}

// newPipeline starts workers, each a connection's worth of pipelines in
// flight.
func newPipeline(c client, workers int) *pipeline {
	p := &pipeline{c: c, queue: make(chan *pipeCall, 4*maxPipelined)}
	for range max(workers, 1) {
		p.wg.Add(1)
		go p.work()
	}
	return p
}

// do runs cmds (their replies land in them) in a shared pipeline and
// returns the first command's error, as Process would.
func (p *pipeline) do(ctx context.Context, cmds ...goredis.Cmder) error {
	call := callPool.Get().(*pipeCall)
	call.ctx, call.cmds = ctx, cmds
	// Commands not sent carry the reason, as Process leaves it in them.
	unsent := func(err error) error {
		call.ctx, call.cmds = nil, nil
		callPool.Put(call)
		for _, c := range cmds {
			c.SetErr(err)
		}
		return err
	}
	p.mu.RLock()
	if p.closed {
		p.mu.RUnlock()
		return unsent(goredis.ErrClosed)
	}
	if err := ctx.Err(); err != nil {
		p.mu.RUnlock()
		return unsent(err)
	}
	select {
	case p.queue <- call:
		p.mu.RUnlock()
	case <-ctx.Done():
		p.mu.RUnlock()
		return unsent(ctx.Err())
	}
	// The worker signals done exactly once; waiting for it, whatever ctx
	// does, keeps the call (and its commands) from being reused while the
	// worker still writes into them. go-redis's own timeouts bound the wait.
	<-call.done
	call.ctx, call.cmds = nil, nil
	callPool.Put(call)
	for _, c := range cmds {
		if err := c.Err(); err != nil {
			return err
		}
	}
	return nil
}

// Process implements processor: one command through the shared pipeline.
func (p *pipeline) Process(ctx context.Context, cmd goredis.Cmder) error { return p.do(ctx, cmd) }

// tx runs cmds (each a command's arguments) as one MULTI/EXEC block in a
// shared pipeline: the block's commands are contiguous on the connection,
// so it stays atomic whatever shares the pipeline. It returns EXEC's
// replies, or the first error among them.
func (p *pipeline) tx(ctx context.Context, cmds ...[]any) ([]any, error) {
	all := make([]goredis.Cmder, 0, len(cmds)+2)
	all = append(all, goredis.NewStatusCmd(ctx, "multi"))
	for _, args := range cmds {
		all = append(all, goredis.NewStatusCmd(ctx, args...)) // each answers QUEUED
	}
	exec := goredis.NewSliceCmd(ctx, "exec")
	all = append(all, exec)
	if err := p.do(ctx, all...); err != nil {
		return nil, err
	}
	for _, r := range exec.Val() {
		if err, ok := r.(error); ok {
			return nil, err
		}
	}
	return exec.Val(), nil
}

func (p *pipeline) work() {
	defer p.wg.Done()
	batch := make([]*pipeCall, 0, 64)
	for first := range p.queue {
		batch = append(batch[:0], first)
		n := len(first.cmds)
	drain:
		for n < maxPipelined {
			select {
			case c, ok := <-p.queue:
				if !ok {
					break drain
				}
				batch = append(batch, c)
				n += len(c.cmds)
			default:
				break drain
			}
		}
		p.exec(batch)
		for _, c := range batch {
			c.done <- struct{}{}
		}
	}
}

// exec sends a batch: alone, a call's commands go as they would without
// the pipeline; together, in one pipeline. Calls whose context ended while
// queued are not sent.
func (p *pipeline) exec(batch []*pipeCall) {
	if len(batch) == 1 && len(batch[0].cmds) == 1 {
		c := batch[0]
		_ = p.c.Process(c.ctx, c.cmds[0])
		return
	}
	// One context for the pipeline: not a request's, which may end while
	// the others' replies are read; go-redis's read and write timeouts
	// bound it.
	var sent []goredis.Cmder
	_, err := p.c.Pipelined(context.Background(), func(pipe goredis.Pipeliner) error {
		for _, c := range batch {
			if err := c.ctx.Err(); err != nil {
				for _, cmd := range c.cmds {
					cmd.SetErr(err)
				}
				continue
			}
			for _, cmd := range c.cmds {
				_ = pipe.Process(context.Background(), cmd)
				sent = append(sent, cmd)
			}
		}
		return nil
	})
	// An error of the pipeline that no command carries (a Redis error
	// while go-redis readied a connection, e.g. LOADING during a
	// failover) leaves commands with neither a reply nor an error: they
	// get it, lest an unanswered command read as an empty reply.
	if err != nil && !carried(sent, err) {
		for _, cmd := range sent {
			if cmd.Err() == nil {
				cmd.SetErr(err)
			}
		}
	}
}

// carried reports whether one of cmds holds err.
func carried(cmds []goredis.Cmder, err error) bool {
	for _, c := range cmds {
		if c.Err() == err {
			return true
		}
	}
	return false
}

// close stops the workers once the queue is drained; later calls fail
// with go-redis's ErrClosed.
func (p *pipeline) close() {
	p.mu.Lock()
	if !p.closed {
		p.closed = true
		close(p.queue)
	}
	p.mu.Unlock()
	p.wg.Wait()
}
