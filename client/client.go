// Package client is a Go client for navius's HTTP API, on the standard
// library alone.
//
// It reads and writes values with their ETags (Get, Put, Delete), walks a
// collection page by page (List), applies batches all or nothing (Batch),
// streams a collection's changes (Watch), and does the read-modify-write
// loop with If-Match that keeps concurrent updates from being lost
// (Update).
//
// Errors answer errors.Is for ErrNotFound (404), ErrPrecondition (412: an
// If-Match or create-only write lost to another) and ErrUnavailable (503,
// 429 and network failures), and errors.As for *Error, which carries the
// server's code, message, request ID and, on 412, the current ETag.
//
// Retries: a read (Get, List pages, Watch's connection) is retried on
// ErrUnavailable with a growing pause, or the pause the server asks for
// with Retry-After. A write is retried only when it certainly did not take
// effect: the connection could not be made, or the server refused it with
// Retry-After before doing any work (load shedding). A 503 without
// Retry-After may come after the database applied the write, so the write
// is not repeated; the error says so.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Options configure a Client.
type Options struct {
	// Token is sent as a bearer token (the server's auth.tokens); empty
	// sends none.
	Token string
	// HTTPClient makes the requests; nil uses http.DefaultClient. Its
	// Timeout, if any, also bounds Watch's streams: leave it zero and
	// bound calls with their context.
	HTTPClient *http.Client
	// Retry says how failed requests are tried again.
	Retry Retry
	// MaxConflicts bounds how often Update reads again after another
	// writer won (412); 0 means 100.
	MaxConflicts int
}

// Retry is a retry policy: up to Attempts tries of one request, pausing
// between them from MinBackoff, doubled each time up to MaxBackoff, with
// jitter; a Retry-After from the server takes the place of the pause.
type Retry struct {
	// Attempts is the most tries of one request, the first included; 0
	// means 4, 1 means no retry.
	Attempts int
	// MinBackoff and MaxBackoff bound the pause; 0 means 50ms and 2s.
	MinBackoff, MaxBackoff time.Duration
}

func (r Retry) withDefaults() Retry {
	if r.Attempts <= 0 {
		r.Attempts = 4
	}
	if r.MinBackoff <= 0 {
		r.MinBackoff = 50 * time.Millisecond
	}
	if r.MaxBackoff <= 0 {
		r.MaxBackoff = 2 * time.Second
	}
	r.MaxBackoff = max(r.MaxBackoff, r.MinBackoff)
	return r
}

// backoff is the pause before try n (1 for the second try): exponential
// with full jitter.
func (r Retry) backoff(n int) time.Duration {
	d := r.MinBackoff << min(n-1, 20)
	if d <= 0 || d > r.MaxBackoff {
		d = r.MaxBackoff
	}
	return d/2 + rand.N(d/2+1)
}

// Client talks to one navius server (or a load balancer in front of
// several). It is safe for concurrent use.
type Client struct {
	base *url.URL
	opts Options
	hc   *http.Client
}

// New returns a client for the server at baseURL, e.g.
// "http://127.0.0.1:8080".
func New(baseURL string, opts Options) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("navius client: base URL %q is not an http:// or https:// URL with a host, e.g. http://127.0.0.1:8080", baseURL)
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	opts.Retry = opts.Retry.withDefaults()
	if opts.MaxConflicts <= 0 {
		opts.MaxConflicts = 100
	}
	hc := opts.HTTPClient
	if hc == nil {
		hc = http.DefaultClient
	}
	return &Client{base: u, opts: opts, hc: hc}, nil
}

var (
	// ErrNotFound: the key does not exist (or has expired).
	ErrNotFound = errors.New("navius: not found")
	// ErrPrecondition: an If-Match or create-only condition did not hold;
	// nothing was written.
	ErrPrecondition = errors.New("navius: precondition failed")
	// ErrUnavailable: the server or its database cannot serve now (503,
	// 429) or could not be reached.
	ErrUnavailable = errors.New("navius: unavailable")
)

// Error is an error answer of the server.
type Error struct {
	// Status is the HTTP status.
	Status int
	// Code, Message and RequestID are the JSON error body's.
	Code, Message, RequestID string
	// ETag is, on a 412, the key's current ETag when it exists.
	ETag string
	// Operation is, on a batch's 412, the index of the operation whose
	// condition failed; -1 otherwise.
	Operation int
	// RetryAfter is the pause the server asked for (503, 429), or 0.
	RetryAfter time.Duration
	// refused: the answer had Retry-After, which navius sends only when it
	// refused a request before doing any of its work.
	refused bool
}

func (e *Error) Error() string {
	s := fmt.Sprintf("navius: %d %s: %s", e.Status, e.Code, e.Message)
	if e.RequestID != "" {
		s += " (request " + e.RequestID + ")"
	}
	return s
}

// Is maps the status to ErrNotFound, ErrPrecondition or ErrUnavailable.
func (e *Error) Is(target error) bool {
	switch target {
	case ErrNotFound:
		return e.Status == http.StatusNotFound
	case ErrPrecondition:
		return e.Status == http.StatusPreconditionFailed
	case ErrUnavailable:
		return e.Status == http.StatusServiceUnavailable || e.Status == http.StatusTooManyRequests
	}
	return false
}

// netError is a request that got no answer.
type netError struct {
	err  error
	sent bool // the request may have reached the server
}

func (e *netError) Error() string {
	if e.sent {
		return "navius: no answer (the request may have been applied): " + e.err.Error()
	}
	return "navius: unreachable: " + e.err.Error()
}
func (e *netError) Unwrap() error { return e.err }
func (e *netError) Is(target error) bool {
	return target == ErrUnavailable
}

// request is one API call, replayable for retries.
type request struct {
	method, path string
	query        url.Values
	header       http.Header
	body         []byte
	// idempotent requests are retried on any ErrUnavailable; others only
	// when they certainly did not take effect.
	idempotent bool
}

// do sends req, retrying as the policy allows, and returns a 2xx or 304
// response (the caller closes its body) or an error.
func (c *Client) do(ctx context.Context, req request) (*http.Response, error) {
	var err error
	for try := 1; ; try++ {
		var resp *http.Response
		resp, err = c.send(ctx, req)
		if err == nil {
			return resp, nil
		}
		if try >= c.opts.Retry.Attempts || !retryable(err, req.idempotent) || !c.pause(ctx, err, try) {
			return nil, err
		}
	}
}

// pause waits before the next try after try failed with err: as long as
// the server's Retry-After, else the backoff. It is false when ctx ends
// first.
func (c *Client) pause(ctx context.Context, err error, try int) bool {
	d := c.opts.Retry.backoff(try)
	var ae *Error
	if errors.As(err, &ae) && ae.RetryAfter > 0 {
		d = ae.RetryAfter
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// retryable: any unavailability for an idempotent request; for others,
// only a refusal before any work (no connection, or Retry-After).
func retryable(err error, idempotent bool) bool {
	if !errors.Is(err, ErrUnavailable) {
		return false
	}
	if idempotent {
		return true
	}
	var ne *netError
	var ae *Error
	return errors.As(err, &ne) && !ne.sent || errors.As(err, &ae) && ae.refused
}

func (c *Client) send(ctx context.Context, req request) (*http.Response, error) {
	u := *c.base
	u.Path, u.RawPath = c.base.Path+req.path, ""
	if len(req.query) > 0 {
		u.RawQuery = req.query.Encode()
	}
	var body io.Reader
	if req.body != nil {
		body = bytes.NewReader(req.body)
	}
	hr, err := http.NewRequestWithContext(ctx, req.method, u.String(), body)
	if err != nil {
		return nil, err
	}
	for k, v := range req.header {
		hr.Header[k] = v
	}
	if c.opts.Token != "" {
		hr.Header.Set("Authorization", "Bearer "+c.opts.Token)
	}
	hr.Header.Set("User-Agent", "navius-go-client")
	resp, err := c.hc.Do(hr)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, &netError{err: err, sent: !isDialError(err)}
	}
	if resp.StatusCode < 300 || resp.StatusCode == http.StatusNotModified {
		return resp, nil
	}
	defer resp.Body.Close()
	return nil, readError(resp)
}

// isDialError reports a failure to connect, after which the server has
// seen nothing.
func isDialError(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// readError turns an error answer into an *Error.
func readError(resp *http.Response) error {
	e := &Error{Status: resp.StatusCode, Operation: -1, ETag: resp.Header.Get("ETag")}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var body struct {
		Error struct {
			Code      string `json:"code"`
			Message   string `json:"message"`
			RequestID string `json:"request_id"`
			Operation *int   `json:"operation"`
		} `json:"error"`
	}
	if json.Unmarshal(b, &body) == nil && body.Error.Code != "" {
		e.Code, e.Message, e.RequestID = body.Error.Code, body.Error.Message, body.Error.RequestID
		if body.Error.Operation != nil {
			e.Operation = *body.Error.Operation
		}
	} else {
		e.Code, e.Message = strings.ToLower(strings.ReplaceAll(http.StatusText(resp.StatusCode), " ", "_")), strings.TrimSpace(string(b))
	}
	if e.RequestID == "" {
		e.RequestID = resp.Header.Get("X-Request-ID")
	}
	if ra := resp.Header.Get("Retry-After"); ra != "" {
		e.refused = true
		if s, err := strconv.Atoi(ra); err == nil && s >= 0 {
			e.RetryAfter = time.Duration(s) * time.Second
		} else if t, err := http.ParseTime(ra); err == nil {
			e.RetryAfter = max(time.Until(t), 0)
		}
	}
	return e
}

func keyPath(collection, key string) string { return "/api/v1/" + collection + "/" + key }
